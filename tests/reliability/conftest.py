"""Session fixtures of the reliability suite: one small synthetic granule, its scene, a clean
product made from them (the reference every fault and determinism case is compared with).

Everything is built once per session under a pytest temporary folder; the cases copy and
damage these files, never the originals.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from relhelpers import BEAMS, LENGTH_KM, SEED, Inputs, product_beam, run_config  # noqa: E402


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> Inputs:
    from icefb.pipeline import run
    from icefb.synth import make_granule, make_scene

    root = tmp_path_factory.mktemp("reliability")
    granule = make_granule(root / "ATL03_rel.h5", seed=SEED, length_km=LENGTH_KM)
    scene = make_scene(root / "scene.tif", granule).path
    product = root / "clean.zarr"
    run(granule, product, scenes=scene, config=run_config(), backend="serial", progress=False)
    for beam in BEAMS:  # the reference exercises every stage: leads, sea surface, freeboard
        ds = product_beam(product, beam)
        assert int(np.isfinite(ds["freeboard"].values).sum()) > 100, beam
        assert (ds["label_flag"].values == 0).any(), beam
    return Inputs(root=root, granule=Path(granule), scene=Path(scene), product=product)


@pytest.fixture
def work(tmp_path, inputs) -> Path:
    """A private copy of the granule (and its truth sidecar) to damage."""
    from icefb.synth import truth_path

    dst = tmp_path / inputs.granule.name
    shutil.copy(inputs.granule, dst)
    tp = Path(truth_path(inputs.granule))
    if tp.exists():
        shutil.copy(tp, Path(truth_path(dst)))
    return dst
