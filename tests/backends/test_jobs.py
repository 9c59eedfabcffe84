"""The auto-labeling and freeboard jobs: identical on serial, dask and Spark; blocked == unblocked;
labels and freeboard checked against the synthetic world's truth."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from icefb.backends import WorkUnit, get_backend
from icefb.backends.jobs import (
    JobConfig,
    LoadedUnit,
    autolabel_job,
    combine_blocks,
    freeboard_job,
    load_job,
    load_unit,
    load_units,
    persist_units,
    plan_units,
)
from icefb.constants import SurfaceType
from icefb.errors import ConfigError, MissingBeamError
from icefb.labeling import LabelConfig
from icefb.seasurface import SSHConfig

BEAMS = ("gt1l", "gt2r")  # one strong, one weak
LABEL = LabelConfig()
SSH = SSHConfig(window=2000.0, stride=1000.0, max_gap=2000.0)  # halo 5 km: blocks are real


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from icefb.synth import make_granule, make_scene

    d = tmp_path_factory.mktemp("jobs")
    g = make_granule(d / "ATL03_jobs.h5", seed=21, length_km=6.0, beams=BEAMS)
    info = make_scene(d / "scene.tif", g, time_offset_s=-1800.0)
    return str(g), str(info.path), info


@pytest.fixture(scope="module")
def serial():
    return get_backend("serial")


def _reference(granule: str, beam: str, cfg: JobConfig) -> xr.Dataset:
    """Unblocked, in-process: resample -> truth surface -> freeboard(sea_surface(...))."""
    from icefb.freeboard import freeboard
    from icefb.io import open_atl03_beam
    from icefb.seasurface import sea_surface
    from icefb.segments import resample
    from icefb.synth import read_truth

    seg = resample(open_atl03_beam(granule, beam).load(), cfg.binning)
    _, truth = read_truth(granule, beam)
    st = truth["surface_type"].reindex(segment=seg.segment.values, fill_value=-1)
    seg = seg.assign(surface_type=("segment", st.values.astype(np.int8), truth.surface_type.attrs))
    return freeboard(sea_surface(seg, cfg.ssh), cfg.ssh)


def _no_global_attrs(ds: xr.Dataset) -> xr.Dataset:
    # the dataset-level ``ground_speed`` is a per-block estimate; every variable (values,
    # dtypes, coords and variable attributes) must match exactly
    return ds.drop_attrs(deep=False)


def test_plan_units_tile_the_beam(world):
    g, scene, _ = world
    units = plan_units(g, block_length_m=2000.0, scenes=scene)
    assert {u.beam for u in units} == set(BEAMS)
    for beam in BEAMS:
        cores = [u.block for u in units if u.beam == beam]
        assert all(b[1] == c[0] for b, c in zip(cores, cores[1:], strict=False))
    assert all(u.scene == scene for u in units)
    with pytest.raises(ConfigError, match="multiple of the window"):
        plan_units(g, block_length_m=3.0)


def test_load_job_reads_every_photon_once(world, serial):
    """Blocks without halo partition the beam: their photon counts add up to the beam's."""
    from icefb.synth import read_truth

    g, _, _ = world
    whole = load_job(plan_units(g), serial)
    blocks = plan_units(g, block_length_m=2000.0)
    per_block = load_job(blocks, serial)
    for beam, n in zip(BEAMS, whole, strict=True):
        ph_truth, _ = read_truth(g, beam)
        assert n == ph_truth.sizes["photon"]
        assert sum(c for u, c in zip(blocks, per_block, strict=True) if u.beam == beam) == n
    # with the SSH halo a block reads more than its core
    cfg = JobConfig(ssh=SSH)
    assert sum(load_job(blocks, serial, cfg, stage="freeboard")) > sum(per_block)


def test_blocked_freeboard_job_equals_unblocked(world, serial):
    g, _, _ = world
    cfg = JobConfig(ssh=SSH, surface="truth")
    units = plan_units(g, block_length_m=2000.0, config=cfg)
    assert len(units) > 2 * len(BEAMS)
    combined = combine_blocks(units, freeboard_job(units, serial, cfg))
    for beam in BEAMS:
        ref = _reference(g, beam, cfg)
        xr.testing.assert_identical(_no_global_attrs(combined[(g, beam)]),
                                    _no_global_attrs(ref))


def test_freeboard_against_truth(world, serial):
    from icefb.synth import read_truth

    g, _, _ = world
    cfg = JobConfig(ssh=SSH, surface="truth")
    units = plan_units(g, ["gt1l"], block_length_m=2000.0, config=cfg)
    out = combine_blocks(units, freeboard_job(units, serial, cfg))[(g, "gt1l")]
    _, truth = read_truth(g, "gt1l")
    t = truth.sel(segment=out.segment)
    thick = (t.surface_type.values == SurfaceType.THICK_ICE) & (out.n_photons.values >= 5)
    err = out.freeboard.values[thick] - t.freeboard.values[thick]
    assert np.isfinite(err).mean() > 0.95
    ssh_err = out.ssh.values - t.ssh.values
    assert np.sqrt(np.nanmean(ssh_err**2)) < 0.05
    assert abs(np.nanmean(err)) < 0.05


def test_jobs_identical_on_serial_dask_spark(world, serial, dask_backend, spark_backend):
    g, scene, _ = world
    cfg = JobConfig(label=LABEL, ssh=SSH, surface="truth")
    lab_units = plan_units(g, scenes=scene)
    fb_units = plan_units(g, ["gt2r"], block_length_m=2000.0, config=cfg)
    ref_lab = autolabel_job(lab_units, serial, cfg)
    ref_fb = freeboard_job(fb_units, serial, cfg)
    for be in (dask_backend, spark_backend):
        for a, b in zip(autolabel_job(lab_units, be, cfg), ref_lab, strict=True):
            xr.testing.assert_identical(a, b)
        for a, b in zip(freeboard_job(fb_units, be, cfg), ref_fb, strict=True):
            xr.testing.assert_identical(a, b)
    # the two-phase path (load, then map-reduce on loaded units) gives the same answer
    loaded = load_units(fb_units[:2], dask_backend, cfg, stage="freeboard")
    assert all(isinstance(lu, LoadedUnit) for lu in loaded)
    for a, b in zip(freeboard_job(loaded, spark_backend, cfg), ref_fb[:2], strict=True):
        xr.testing.assert_identical(a, b)


def test_map_reduce_on_resident_data(world, serial, dask_backend, spark_backend):
    """persist_units keeps the photons on the workers; jobs over them equal the fused jobs."""
    g, scene, _ = world
    cfg = JobConfig(label=LABEL, ssh=SSH, surface="truth")
    fb_units = plan_units(g, ["gt2r"], block_length_m=2000.0, config=cfg)[:3]
    lab_units = plan_units(g, ["gt1l"], scenes=scene)
    ref_fb = freeboard_job(fb_units, serial, cfg)
    ref_lab = autolabel_job(lab_units, serial, cfg)
    for be in (serial, dask_backend, spark_backend):
        with persist_units(fb_units, be, cfg, stage="freeboard") as held:
            assert len(held) == len(fb_units)
            # twice: the held data are reused, not consumed
            for _ in range(2):
                for a, b in zip(freeboard_job(held, be, cfg), ref_fb, strict=True):
                    xr.testing.assert_identical(a, b)
            loaded = held.collect()
            assert [lu.unit for lu in loaded] == fb_units
            assert all(lu.photons.sizes["photon"] > 0 for lu in loaded)
        with pytest.raises(ConfigError, match="released"):
            freeboard_job(held, be, cfg)
        with persist_units(lab_units, be, cfg) as held:
            for a, b in zip(autolabel_job(held, be, cfg), ref_lab, strict=True):
                xr.testing.assert_identical(a, b)
    # a unit that fails while loading fails persist, naming its beam
    for be in (serial, dask_backend):
        with pytest.raises(MissingBeamError, match="gt9x"):
            persist_units([WorkUnit(g, "gt9x")], be, cfg)
    # a Resident only runs on the backend holding it
    with persist_units(fb_units[:1], serial, cfg, stage="freeboard") as held:
        with pytest.raises(ConfigError, match="another backend"):
            freeboard_job(held, dask_backend, cfg)


def _label_accuracy(ds: xr.Dataset, granule: str) -> tuple[float, float]:
    from icefb.synth import read_truth

    _, truth = read_truth(granule, ds.attrs["beam"])
    tr = truth.surface_type.sel(segment=ds.segment).values
    ok = ds.label_flag.values == 0
    return float(np.mean(ds.s2_label.values[ok] == tr[ok])), float(ok.mean())


def test_autolabel_job_accuracy_against_truth(world, serial):
    g, scene, info = world
    units = plan_units(g, scenes=scene)
    # drift estimated per unit: on the strong beam it is recovered within 10 m
    cfg = JobConfig(label=LABEL)
    strong = autolabel_job([load_unit(units[0], cfg)], serial, cfg)[0]
    assert strong.attrs["beam"] == "gt1l"
    assert abs(strong.attrs["drift_along_m"] - info.drift_along_m) <= 10.0
    assert abs(strong.attrs["drift_across_m"] - info.drift_across_m) <= 10.0
    acc, labeled = _label_accuracy(strong, g)
    assert acc >= 0.98 and labeled > 0.5  # the rest is flagged, not wrong
    # with the drift known, every beam (the weak one too) is labeled right
    fixed = JobConfig(label=LabelConfig(drift="fixed",
                                        drift_along_m=info.drift_along_m,
                                        drift_across_m=info.drift_across_m))
    for ds in autolabel_job(units, serial, fixed):
        acc, labeled = _label_accuracy(ds, g)
        assert acc >= 0.98 and labeled > 0.5


def test_job_errors(world, serial):
    g, _, _ = world
    with pytest.raises(ConfigError, match="without a Sentinel-2 scene"):
        autolabel_job([WorkUnit(g, "gt1l")], serial)
    with pytest.raises(ConfigError, match='surface="s2" needs a scene'):
        freeboard_job([WorkUnit(g, "gt1l")], serial)
    with pytest.raises(ConfigError, match="unknown JobConfig.surface"):
        JobConfig(surface="model")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be a SSHConfig"):
        JobConfig(ssh={"window": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="WorkUnit or a LoadedUnit"):
        freeboard_job(["not a unit"], serial, JobConfig(surface="truth"))
    with pytest.raises(ConfigError, match="one result per unit"):
        combine_blocks([WorkUnit(g, "gt1l")], [])
