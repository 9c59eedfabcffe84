"""End-to-end runs: truth, engines, the product layout, resume and safety."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

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
    before = _beams(out)
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
    # the redone beam still pooled its sea surface with the (re-read, not rewritten) gt2l
    after = _beams(out)
    assert after["gt2r"]["ssh"].attrs["pair_beam"] == "gt2l"
    xr.testing.assert_identical(_strip_volatile(after["gt2r"]), _strip_volatile(before["gt2r"]))
    assert not (out.parent / "p.zarr.partial").exists()
    # other parameters: nothing is skipped
    cfg = RunConfig(surface_source="s2_label")
    fourth = run(granule, out, scenes=scene.path, config=cfg, backend="serial", progress=False)
    assert len(fourth.beams) == 2


@pytest.fixture(scope="module")
def lead_poor_pair(tmp_path_factory):
    """A 30 km granule with few leads (seed 7), one pair (gt1l strong, gt1r weak), run with
    and without pooling the pair's leads (classified surface, no scene)."""
    from icefb.synth import make_granule

    d = tmp_path_factory.mktemp("pair-run")
    granule = make_granule(d / "ATL03_pair.h5", seed=7, length_km=30.0, beams=("gt1l", "gt1r"))
    paired, alone = d / "paired.zarr", d / "alone.zarr"
    run(granule, paired, backend="serial", progress=False)
    cfg = RunConfig(ssh=dataclasses.replace(RunConfig().ssh, pair_leads=False,
                                            cross_pairs=False))
    run(granule, alone, config=cfg, backend="serial", progress=False)
    return granule, _beams(paired), _beams(alone)


def test_pair_beams_share_their_leads(lead_poor_pair):
    # gt1l/gt1r run as one unit: one sea surface from the leads of both beams (equal at equal
    # segment, flagged 4/5 where pooled), closer to the true sea surface on the weak beam;
    # pair_leads=False processes them alone
    granule, paired, alone = lead_poor_pair
    left, right = paired["gt1l"], paired["gt1r"]
    assert left["ssh"].attrs["pair_beam"] == "gt1r" and right["ssh"].attrs["pair_beam"] == "gt1l"
    seg = np.intersect1d(left["segment"].values, right["segment"].values)
    assert seg.size > 10_000
    sl, sr = left["ssh"].sel(segment=seg).values, right["ssh"].sel(segment=seg).values
    ok = np.isfinite(sl)
    assert ok.mean() > 0.9
    np.testing.assert_array_equal(sl[ok], sr[ok])
    assert np.isin(right["ssh_flag"].values, (4, 5)).mean() > 0.2
    assert "pair_beam" not in alone["gt1r"]["ssh"].attrs
    assert set(np.unique(alone["gt1r"]["ssh_flag"].values)) <= {0, 1, 2, 3}
    # the classification does not depend on the pairing, only the sea surface does
    np.testing.assert_array_equal(alone["gt1r"]["surface_type"].values,
                                  right["surface_type"].values)

    def rmse(ds, beam):
        _, truth = read_truth(granule, beam)
        common = np.intersect1d(ds["segment"].values, truth["segment"].values)
        e = ds["ssh"].sel(segment=common).values - truth["ssh"].sel(segment=common).values
        e = e[np.isfinite(e)]
        assert e.size > 10_000
        return float(np.sqrt(np.mean(e**2)))

    assert rmse(right, "gt1r") < 0.8 * rmse(alone["gt1r"], "gt1r")
    assert rmse(left, "gt1l") <= rmse(alone["gt1l"], "gt1l") + 0.003


def test_beam_subset_still_pools_with_its_partner(lead_poor_pair, tmp_path):
    # asking for the weak beam alone: its partner is read for its leads, not written, and the
    # weak beam's sea surface is the one of the full run
    granule, paired, _ = lead_poor_pair
    out = tmp_path / "weak.zarr"
    res = run(granule, out, config=RunConfig(beams=("gt1r",)), backend="serial",
              progress=False)
    assert [b["group"] for b in res.beams] == ["gt1r"]
    got = _beams(out)
    assert sorted(got) == ["gt1r"]
    np.testing.assert_array_equal(got["gt1r"]["ssh"].values, paired["gt1r"]["ssh"].values)
    np.testing.assert_array_equal(got["gt1r"]["ssh_flag"].values,
                                  paired["gt1r"]["ssh_flag"].values)


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


@pytest.fixture(scope="module")
def cross_world(tmp_path_factory):
    """A lead-poor six-beam granule and its serial cross-pair run."""
    from icefb.seasurface import SSHConfig
    from icefb.synth import make_granule

    tmp = tmp_path_factory.mktemp("cross")
    granule = make_granule(tmp / "ATL03_x.h5", seed=7, length_km=12.0)
    cfg = RunConfig(ssh=SSHConfig(cross_pairs=True))
    full = tmp / "full.zarr"
    res = run(granule, full, config=cfg, backend="serial", progress=False)
    return granule, cfg, full, res


def test_cross_pairs_run_equals_the_whole_granule_tree(cross_world):
    # the run keeps one unit per pair (the pairs meet through their window sea surface on
    # the driver); it must give exactly what the whole granule's tree gives in one process
    from icefb.backends import WorkUnit
    from icefb.pipeline.units import process_beams

    granule, cfg, full, res = cross_world
    beams = ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r")
    ref = dict(zip(beams, process_beams([WorkUnit(str(granule), b) for b in beams], cfg),
                   strict=True))
    got = _beams(full)
    assert sorted(got) == sorted(beams) and len(res.beams) == 6
    flags = np.concatenate([got[b]["ssh_flag"].values for b in beams])
    assert (flags == 6).any()  # some windows of some pair took the other pairs' sea surface
    for b in beams:
        seg = ref[b][0]
        assert got[b]["ssh"].attrs["cross_pairs"] == "gt1l+gt1r gt2l+gt2r gt3l+gt3r"
        for v in ("ssh", "ssh_uncertainty", "ssh_flag", "freeboard", "freeboard_uncertainty"):
            np.testing.assert_array_equal(got[b][v].values, seg[v].values, err_msg=f"{b} {v}")


def test_cross_pairs_beam_asked_alone_gets_the_full_run(cross_world, tmp_path):
    # a beam asked for alone still gets the sea surface of the whole-granule run (the other
    # beams are read for their leads, not written), and it differs from the pair-only one
    from icefb.seasurface import SSHConfig

    granule, cfg, full, _ = cross_world
    one, plain = tmp_path / "one.zarr", tmp_path / "plain.zarr"
    res = run(granule, one, config=dataclasses.replace(cfg, beams=("gt2r",)),
              backend="serial", progress=False)
    run(granule, plain, config=RunConfig(beams=("gt2r",), ssh=SSHConfig(cross_pairs=False)),
        backend="serial", progress=False)
    assert [b["group"] for b in res.beams] == ["gt2r"]
    got, ref, base = _beams(one)["gt2r"], _beams(full)["gt2r"], _beams(plain)["gt2r"]
    assert sorted(_beams(one)) == ["gt2r"]
    assert got["ssh"].attrs["cross_pairs"] == "gt1l+gt1r gt2l+gt2r gt3l+gt3r"
    np.testing.assert_array_equal(got["ssh"].values, ref["ssh"].values)
    np.testing.assert_array_equal(got["ssh_flag"].values, ref["ssh_flag"].values)
    assert "cross_pairs" not in base["ssh"].attrs
    assert not np.array_equal(got["ssh"].values, base["ssh"].values, equal_nan=True)


def test_cross_pairs_on_dask_and_spark_match_serial(cross_world, dask_backend, spark_backend,
                                                    tmp_path):
    # the classified segments stay on the workers between the phases (Backend.persist), the
    # combined windows go back to each unit (map over the resident results with per_unit)
    granule, cfg, full, _ = cross_world
    for be in (dask_backend, spark_backend):
        out = tmp_path / f"{be.name}.zarr"
        run(granule, out, config=cfg, backend=be, progress=False)
        assert_products_identical(out, full)


def test_cross_pairs_resume_reprocesses_the_granule_but_writes_only_missing(cross_world,
                                                                           tmp_path):
    import shutil

    from icefb.pipeline import product as _product

    granule, cfg, full, _ = cross_world
    out = tmp_path / "resume.zarr"
    shutil.copytree(full, out)
    shutil.rmtree(out / "gt3l")  # as if the run had died before writing gt3l
    _product.cleanup_partial(out)
    res = run(granule, out, config=cfg, backend="serial", progress=False)
    assert [b["group"] for b in res.beams] == ["gt3l"]
    assert sorted(res.skipped) == ["gt1l", "gt1r", "gt2l", "gt2r", "gt3r"]
    assert_products_identical(out, full)


def test_cross_pairs_runs_granules_in_batches(tmp_path):
    # three granules on a one-worker engine go through the phases two granules at a time;
    # each granule's sea surface is its own (equal to running it alone)
    from icefb.synth import make_granule

    paths = [make_granule(tmp_path / f"ATL03_{s}.h5", seed=s, length_km=4.0) for s in (3, 5, 7)]
    both = tmp_path / "all.zarr"
    res = run(paths, both, backend="serial", progress=False)
    assert len(res.beams) == 18
    alone = tmp_path / "alone.zarr"
    run(paths[2], alone, backend="serial", progress=False)
    got, ref = _beams(both), _beams(alone)
    for beam, ds in ref.items():
        g = got[f"ATL03_7/{beam}"]
        assert g["ssh"].attrs["cross_pairs"] == "gt1l+gt1r gt2l+gt2r gt3l+gt3r"
        for v in ("ssh", "ssh_flag", "freeboard"):
            np.testing.assert_array_equal(g[v].values, ds[v].values, err_msg=f"{beam} {v}")


def test_a_glob_leaves_out_synthetic_truth_sidecars(tmp_path: Path) -> None:
    """``ATL03_*.h5`` also matches ``ATL03_x.h5.truth.h5`` (icefb.synth's truth file)."""
    from icefb.io.atl03 import glob_granules
    from icefb.pipeline.run import expand_granules
    from icefb.synth import truth_path

    for name in ("ATL03_b.h5", "ATL03_a.h5"):
        (tmp_path / name).write_bytes(b"")
        Path(truth_path(tmp_path / name)).write_bytes(b"")
    want = [str(tmp_path / "ATL03_a.h5"), str(tmp_path / "ATL03_b.h5")]
    assert expand_granules(str(tmp_path / "ATL03_*.h5")) == want
    assert glob_granules(str(tmp_path / "ATL03_*")) == want
    # named explicitly, a sidecar is still passed on (and fails as "not ATL03" when opened)
    side = str(truth_path(tmp_path / "ATL03_a.h5"))
    assert expand_granules(side) == [side]


def test_rerun_after_the_model_changed_redoes_every_beam(small_world, tmp_path):
    """The run's digest holds the classifier's weights: a model saved again at the same path
    (retrained, or a new release's shipped model) is not mixed with products of the old one."""
    import torch

    from icefb.ml import load_model
    from icefb.ml.io import recorded_checksum, save_model

    granule, _ = small_world
    path = tmp_path / "model"
    model = load_model("lstm-synthetic")
    save_model(model, path)
    cfg = RunConfig(model=str(path))
    out = tmp_path / "p.zarr"
    first = run(granule, out, config=cfg, backend="serial", progress=False)
    assert len(first.beams) == 2
    before = _beams(out)
    assert run(granule, out, config=cfg, backend="serial", progress=False).beams == []
    with torch.no_grad():
        model.head[-1].bias.add_(torch.tensor([-3.0, 0.0, 3.0]))  # favour open water
    save_model(model, path)
    third = run(granule, out, config=cfg, backend="serial", progress=False)
    assert sorted(b["group"] for b in third.beams) == ["gt2l", "gt2r"] and third.skipped == []
    after = _beams(out)
    assert open_product(out).attrs["model_checksum_sha256"] == recorded_checksum(path)
    for b in ("gt2l", "gt2r"):  # classified with the new weights, not a cached old model
        water = int(SurfaceType.OPEN_WATER)
        assert int((after[b]["surface_type"] == water).sum()) > int(
            (before[b]["surface_type"] == water).sum())


def test_missing_model_is_refused_before_anything_is_written(small_world, tmp_path):
    from icefb.errors import CorruptFileError

    granule, _ = small_world
    out = tmp_path / "p.zarr"
    with pytest.raises(CorruptFileError, match="model metadata not readable") as info:
        run(granule, out, config=RunConfig(model=str(tmp_path / "nope")), backend="serial",
            progress=False)
    assert "nope.json" in str(info.value)
    assert not out.exists()
