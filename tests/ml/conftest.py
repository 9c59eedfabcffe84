"""Fixtures for the classification tests.

``toy_tracks`` builds segment Datasets straight from per-class distributions
(:mod:`icefb.ml._toyworld`, cheap); ``synth_tracks`` runs the real chain on the synthetic world
(make_granule -> open_atl03 -> resample, truth surface type as labels).
"""

from __future__ import annotations

import pytest

from icefb.ml._toyworld import toy_segments


@pytest.fixture(scope="session")
def toy_tracks():
    """Five labeled training tracks (3 granules, strong and weak beams)."""
    return [
        toy_segments(s, 2500, granule=f"toy{s // 2}", beam=("gt1l", "gt1r")[s % 2],
                     weak=bool(s % 2))
        for s in range(5)
    ]


@pytest.fixture(scope="session")
def toy_heldout():
    """A held-out beam from a seed never used in training."""
    return toy_segments(1234, 6000, granule="held", beam="gt2l")


@pytest.fixture(scope="session")
def synth_heldout(tmp_path_factory):
    """Two beams of a synthetic granule with a seed the shipped model never saw."""
    from icefb.ml.pretrained import synthetic_tracks

    return synthetic_tracks([777], length_km=6.0, beams=("gt1l", "gt2l"),
                            workdir=tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def trained_lstm(toy_tracks):
    from icefb.ml.train import TrainConfig, train

    return train(TrainConfig(model="lstm", epochs=4, seed=0), toy_tracks)


@pytest.fixture(scope="session")
def trained_mlp(toy_tracks):
    from icefb.ml.train import TrainConfig, train

    return train(TrainConfig(model="mlp", epochs=4, seed=0, progress_bar=False), toy_tracks)
