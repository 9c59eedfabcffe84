"""Determinism: the same inputs and parameters give a bit-identical product (every array, every
attribute but ``date_created``) across runs, worker counts and engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from relhelpers import Inputs, assert_same_product, run_config


def test_rerun_into_new_store_is_identical(inputs: Inputs, tmp_path: Path) -> None:
    """Two serial runs (one worker) into two stores."""
    from icefb.pipeline import run

    out = tmp_path / "again.zarr"
    run(inputs.granule, out, scenes=inputs.scene, config=run_config(), backend="serial",
        progress=False)
    assert_same_product(out, inputs.product)


def test_dask_two_workers_equals_serial(inputs: Inputs, dask_backend, tmp_path: Path) -> None:
    """Two dask worker processes (beams computed concurrently) vs one serial worker."""
    from icefb.pipeline import run

    out = tmp_path / "dask.zarr"
    run(inputs.granule, out, scenes=inputs.scene, config=run_config(), backend=dask_backend,
        progress=False)
    assert_same_product(out, inputs.product)


@pytest.mark.slow
def test_dask_one_worker_equals_two(inputs: Inputs, dask_backend, tmp_path: Path) -> None:
    """A one-worker LocalCluster vs the session's two-worker cluster."""
    from icefb.backends.dask import DaskBackend
    from icefb.pipeline import run

    one, two = tmp_path / "one.zarr", tmp_path / "two.zarr"
    with DaskBackend(n_workers=1, progress=False) as be:
        run(inputs.granule, one, scenes=inputs.scene, config=run_config(), backend=be,
            progress=False)
    run(inputs.granule, two, scenes=inputs.scene, config=run_config(), backend=dask_backend,
        progress=False)
    assert_same_product(one, two)


@pytest.mark.slow
@pytest.mark.spark
def test_spark_equals_dask(inputs: Inputs, dask_backend, spark_backend, tmp_path: Path) -> None:
    """The same units on Spark executors and on dask workers."""
    from icefb.pipeline import run

    sp, dk = tmp_path / "spark.zarr", tmp_path / "dask.zarr"
    run(inputs.granule, sp, scenes=inputs.scene, config=run_config(), backend=spark_backend,
        progress=False)
    run(inputs.granule, dk, scenes=inputs.scene, config=run_config(), backend=dask_backend,
        progress=False)
    assert_same_product(sp, dk)
    assert_same_product(sp, inputs.product)


def test_other_parameters_are_not_mixed(inputs: Inputs, tmp_path: Path) -> None:
    """Re-running into a product with other parameters redoes every beam (no stale beam made
    with the old parameters survives), and the config digest records the new ones."""
    import shutil

    from icefb.pipeline import open_product, run
    from icefb.segments import BinningConfig

    out = tmp_path / "p.zarr"
    shutil.copytree(inputs.product, out)
    cfg = run_config(binning=BinningConfig(window=4.0))
    res = run(inputs.granule, out, scenes=inputs.scene, config=cfg, backend="serial",
              progress=False)
    assert res.skipped == [] and len(res.beams) == 2
    tree = open_product(out)
    assert tree.attrs["config_digest"] == cfg.digest()
    for b in ("gt1l", "gt2l"):
        assert tree[b].attrs["icefb_config_digest"] == cfg.digest()
        assert float(tree[b]["x_atc"].diff("segment").min()) >= 4.0 - 1e-6
