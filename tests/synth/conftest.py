"""Fixtures for the synthetic-world tests: one small granule per session."""

from __future__ import annotations

import pytest

from icefb.synth import GranuleConfig, make_granule


@pytest.fixture(scope="session")
def granule(tmp_path_factory):
    """A 6 km synthetic Arctic granule (seed 11, backward orientation, some telemetry gaps)."""
    return make_granule(tmp_path_factory.mktemp("synth") / "ATL03_synth.h5", seed=11,
                        length_km=6.0, config=GranuleConfig(gaps_per_km=1.0))
