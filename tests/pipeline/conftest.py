"""A small synthetic granule + scene shared by the pipeline tests (made once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """(granule, scene SceneInfo) for a 4 km granule with two beams (one pair)."""
    from icefb.synth import make_granule, make_scene

    d = tmp_path_factory.mktemp("pipeline-world")
    granule = make_granule(d / "ATL03_small.h5", seed=11, length_km=4, beams=("gt2l", "gt2r"))
    (d / "scenes").mkdir()
    scene = make_scene(d / "scenes" / "scene.tif", granule)
    return granule, scene


@pytest.fixture(scope="session")
def serial_product(small_world, tmp_path_factory):
    """The product of a serial run on ``small_world`` (reference for engine equivalence)."""
    from icefb.pipeline import run

    granule, scene = small_world
    out = tmp_path_factory.mktemp("serial") / "p.zarr"
    result = run(granule, out, scenes=scene.path, backend="serial", progress=False)
    return out, result
