"""Determinism: the same inputs and parameters give a bit-identical product (every array, every
attribute but ``date_created``) across runs, worker counts and engines."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from relhelpers import (
    BEAMS,
    LENGTH_KM,
    SEED,
    Inputs,
    assert_same_product,
    product_beam,
    run_config,
)


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


def test_a_subset_run_with_other_parameters_is_refused(inputs: Inputs, tmp_path: Path) -> None:
    """New parameters on one beam of a two-beam product would leave the other beam made with
    the old ones under root metadata naming the new ones: refused, the product untouched."""
    import shutil

    from icefb.errors import ProductError
    from icefb.pipeline import run
    from icefb.segments import BinningConfig

    out = tmp_path / "p.zarr"
    shutil.copytree(inputs.product, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    cfg = run_config(beams=(BEAMS[0],), binning=BinningConfig(min_conf=4))
    with pytest.raises(ProductError) as info:
        run(inputs.granule, out, scenes=inputs.scene, config=cfg, backend="serial",
            progress=False)
    assert BEAMS[1] in str(info.value) and "other parameters" in str(info.value)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_another_granule_into_the_same_product_is_redone(inputs: Inputs, tmp_path: Path) -> None:
    """Same parameters, same beam names, another granule: its beams are made, not skipped as
    complete, and each beam records the granule it came from."""
    import shutil

    from icefb.pipeline import open_product, run
    from icefb.synth import make_granule, make_scene

    out = tmp_path / "p.zarr"
    shutil.copytree(inputs.product, out)
    other = make_granule(tmp_path / "ATL03_other.h5", seed=SEED + 1, length_km=LENGTH_KM)
    res = run(other, out, config=run_config(), backend="serial", progress=False)
    assert res.skipped == [] and sorted(b["group"] for b in res.beams) == sorted(BEAMS)
    tree = open_product(out)
    assert tree.attrs["input_granules"] == ["ATL03_other.h5"]
    for b in BEAMS:
        assert tree[b].attrs["icefb_source"].startswith("ATL03_other.h5:")
        assert "s2_label" not in tree[b]  # no scene in this run: nothing left from the old one
    # a scene given where there was none is an input too
    scene = make_scene(tmp_path / "other.tif", other).path
    res = run(other, out, scenes=scene, config=run_config(), backend="serial", progress=False)
    assert res.skipped == [] and all("s2_label" in open_product(out)[b] for b in BEAMS)
    # the same inputs again: complete, skipped
    res = run(other, out, scenes=scene, config=run_config(), backend="serial", progress=False)
    assert sorted(res.skipped) == sorted(BEAMS) and res.beams == []


def test_beams_added_by_a_later_run_join_the_product(inputs: Inputs, tmp_path: Path) -> None:
    """``beams`` picks what a run makes, not how: a second run for the other beam adds it,
    and the product equals the two-beam run."""
    from icefb.pipeline import run

    out = tmp_path / "p.zarr"
    for b in BEAMS:
        res = run(inputs.granule, out, scenes=inputs.scene, config=run_config(beams=(b,)),
                  backend="serial", progress=False)
        assert res.skipped == [] and [r["group"] for r in res.beams] == [b]
    res = run(inputs.granule, out, scenes=inputs.scene, config=run_config(), backend="serial",
              progress=False)
    assert sorted(res.skipped) == sorted(BEAMS)
    for b in BEAMS:
        xr.testing.assert_identical(product_beam(out, b), product_beam(inputs.product, b))
