"""End-to-end runs: truth, engines, the product layout, resume and safety."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from icefb.constants import SurfaceType
from icefb.errors import ConfigError, MissingBeamError, ProductError
from icefb.pipeline import RunConfig, open_product, run
from icefb.pipeline.demo import truth_scores
from icefb.pipeline.product import product_beams
from icefb.synth import read_truth
from icefb.testing import assert_products_identical


def _beams(store):
    tree = open_product(store)
    return {g: ds.load() for g, ds in product_beams(tree)}


def _strip_volatile(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("t_")}
    return ds


def test_product_layout_and_cf_attributes(serial_product):
    store, result = serial_product
    tree = open_product(store)
    assert tree.attrs["status"] == "complete"
    assert tree.attrs["input_granules"] == ["ATL03_small.h5"]
    assert tree.attrs["model_checksum_sha256"] and tree.attrs["config_digest"]
    assert json.loads(json.dumps(tree.attrs["parameters"]))["binning"]["window"] == 2.0
    beams = _beams(store)
    assert sorted(beams) == ["gt2l", "gt2r"] == sorted(b["group"] for b in result.beams)
    for ds in beams.values():
        assert {"lat", "lon", "time", "x_atc"} <= set(ds.coords)
        for name in ("surface_type", "s2_label", "ssh", "ssh_uncertainty", "ssh_flag",
                     "freeboard", "freeboard_uncertainty", "h_cor_mean", "n_photons"):
            assert name in ds, name
            if name not in ("n_photons",):
                assert "long_name" in ds[name].attrs, name
        st = ds["surface_type"]
        assert list(st.attrs["flag_values"]) == [-1, 0, 1, 2]
        assert st.attrs["flag_meanings"].split()[1] == "thick_ice"
        assert ds["ssh"].attrs["units"] == "m"
        assert np.all(np.diff(ds["x_atc"].values) == 2.0)  # a regular 2 m grid
    # plain xarray can open it too
    plain = xr.open_datatree(store, engine="zarr")
    assert "gt2l" in plain.children


def test_product_matches_truth(small_world, serial_product):
    granule, _ = small_world
    store, _ = serial_product
    for group, ds in _beams(store).items():
        _, truth = read_truth(granule, group)
        s = truth_scores(ds, truth)
        assert s["segments"] > 500
        assert s["accuracy"] > 0.8, s
        assert s["recall_thick_ice"] > 0.85, s
        # freeboard is the segment height above the local sea surface, on ice only
        fb = ds["freeboard"].values
        ice = np.isin(ds["surface_type"].values, [SurfaceType.THICK_ICE, SurfaceType.THIN_ICE])
        expect = ds["h_cor_mean"].values - ds["ssh"].values
        np.testing.assert_allclose(fb[ice], expect[ice], rtol=0, atol=1e-5)
        assert np.all(np.isnan(fb[ds["surface_type"].values == SurfaceType.OPEN_WATER]))
        # where the sea surface is unknown it says so, never a number
        none = ds["ssh_flag"].values == 3
        assert np.all(np.isnan(ds["ssh"].values[none]))


def test_dask_and_spark_match_serial(small_world, serial_product, dask_backend, spark_backend,
                                     tmp_path):
    granule, scene = small_world
    ref = _beams(serial_product[0])
    for be in (dask_backend, spark_backend):
        out = tmp_path / f"{be.name}.zarr"
        run(granule, out, scenes=scene.path, backend=be, progress=False)
        got = _beams(out)
        assert sorted(got) == sorted(ref)
        for g in ref:
            xr.testing.assert_identical(_strip_volatile(got[g]), _strip_volatile(ref[g]))
        assert_products_identical(out, serial_product[0])


def test_rerun_skips_complete_beams_and_redoes_interrupted(small_world, tmp_path):
    granule, scene = small_world
    out = tmp_path / "p.zarr"
    first = run(granule, out, scenes=scene.path, backend="serial", progress=False)
    assert len(first.beams) == 2 and not first.skipped
    again = run(granule, out, scenes=scene.path, backend="serial", progress=False)
    assert again.beams == [] and sorted(again.skipped) == ["gt2l", "gt2r"]
    # an interrupted beam: present but not marked complete -> redone
    meta = out / "gt2r" / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["icefb_complete"] = 0
    meta.write_text(json.dumps(doc))
    (out.parent / "p.zarr.partial").mkdir()
    (out.parent / "p.zarr.partial" / "gt2l.deadbeef").mkdir()  # leftover of a killed write
    third = run(granule, out, scenes=scene.path, backend="serial", progress=False)
    assert [b["group"] for b in third.beams] == ["gt2r"] and third.skipped == ["gt2l"]
    assert not (out.parent / "p.zarr.partial").exists()
    # other parameters: nothing is skipped
    cfg = RunConfig(surface_source="s2_label")
    fourth = run(granule, out, scenes=scene.path, config=cfg, backend="serial", progress=False)
    assert len(fourth.beams) == 2


def test_refuses_to_write_into_a_non_product(small_world, tmp_path):
    granule, _ = small_world
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    with pytest.raises(ProductError, match="not an icefb product"):
        run(granule, other, backend="serial", progress=False)
    assert (other / "thesis.tex").read_text() == "keep me"
    assert not (tmp_path / "precious.partial").exists()


def test_bad_arguments_are_clear(small_world, tmp_path):
    granule, _ = small_world
    with pytest.raises(MissingBeamError, match="gt1l"):
        run(granule, tmp_path / "p.zarr", config=RunConfig(beams=("gt1l",)), backend="serial")
    with pytest.raises(ConfigError, match="no granule matches"):
        run(str(tmp_path / "nothing*.h5"), tmp_path / "q.zarr", backend="serial")
    with pytest.raises(ConfigError, match="surface_source"):
        RunConfig(surface_source="truth")


def test_summary_table_lists_every_beam(serial_product):
    _, result = serial_product
    table = result.table()
    for b in result.beams:
        assert b["group"] in table
        total = b["frac_thick_ice"] + b["frac_thin_ice"] + b["frac_open_water"]
        assert total == pytest.approx(1.0)
    assert "read+resample" in table


def test_s2_label_surface_source_uses_labels(small_world, tmp_path):
    granule, scene = small_world
    out = tmp_path / "lab.zarr"
    run(granule, out, scenes=scene.path, config=RunConfig(surface_source="s2_label"),
        backend="serial", progress=False)
    for ds in _beams(out).values():
        lead = ds["s2_label"].values == SurfaceType.OPEN_WATER
        assert np.all(np.isnan(ds["freeboard"].values[lead]))


def test_scheduler_address_connects_to_a_running_cluster(small_world, serial_product,
                                                         dask_backend, tmp_path):
    """``--scheduler ADDRESS``: the run joins an existing cluster and leaves it running."""
    granule, scene = small_world
    address = dask_backend.client.scheduler.address
    out = tmp_path / "remote.zarr"
    run(granule, out, scenes=scene.path, backend="dask", scheduler=address, progress=False)
    assert dask_backend.client.status == "running"  # not shut down by the run
    got = _beams(out)["gt2l"]
    ref = _beams(serial_product[0])["gt2l"]
    xr.testing.assert_identical(_strip_volatile(got), _strip_volatile(ref))
