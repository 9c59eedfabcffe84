"""Freeboard: accuracy on thick ice against known truth, masking, uncertainty, inputs."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest
import xarray as xr

from icefb.constants import SurfaceType
from icefb.errors import MissingVariableError
from icefb.freeboard import freeboard
from icefb.seasurface import SSHConfig, sea_surface, sea_surface_blocked

_spec = importlib.util.spec_from_file_location(
    "_ssh_world", pathlib.Path(__file__).with_name("test_seasurface.py")
)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
make_world = _mod.make_world


@pytest.fixture(scope="module")
def world():
    ds, truth = make_world(80.0, seed=7)
    return ds, truth, freeboard(sea_surface(ds))


def test_thick_ice_bias_and_rmse(world):
    ds, truth, out = world
    sel = (truth.surface_type.values == SurfaceType.THICK_ICE) & (ds.n_photons.values >= 5)
    err = out.freeboard.values[sel].astype(np.float64) - truth.freeboard.values[sel]
    assert np.isfinite(err).all() and sel.sum() > 10_000
    assert abs(err.mean()) <= 0.01
    assert np.sqrt(np.mean(err**2)) <= 0.05


def test_nan_off_ice_and_on_empty(world):
    ds, truth, out = world
    st = ds.surface_type.values
    fb = out.freeboard.values
    assert np.all(np.isnan(fb[st == SurfaceType.OPEN_WATER]))
    assert np.all(np.isnan(fb[ds.n_photons.values == 0]))
    ice = (st != SurfaceType.OPEN_WATER) & (ds.n_photons.values > 0)
    assert np.all(np.isfinite(fb[ice]))
    assert np.all(np.isnan(out.freeboard_uncertainty.values[~ice]))


def test_uncertainty_combines_segment_and_ssh_errors(world):
    ds, _, out = world
    n = ds.n_photons.values.astype(float)
    cfg = SSHConfig()
    ok = np.isfinite(out.freeboard.values) & (n >= 2) & (ds.h_std.values > 0)
    spread = np.maximum(ds.h_std.values[ok].astype(float), cfg.photon_precision)
    seg_err = np.hypot(spread / np.sqrt(n[ok]), cfg.footprint_error * spread)
    expect = np.sqrt(seg_err**2 + out.ssh_uncertainty.values[ok].astype(float) ** 2)
    np.testing.assert_allclose(out.freeboard_uncertainty.values[ok], expect, rtol=1e-5)
    one = np.isfinite(out.freeboard.values) & (n == 1)
    assert one.any()
    pp = cfg.photon_precision
    np.testing.assert_allclose(
        out.freeboard_uncertainty.values[one],
        np.sqrt(pp**2 + (cfg.footprint_error * pp) ** 2
                + out.ssh_uncertainty.values[one].astype(float) ** 2), rtol=1e-5)
    # footprint_error 0: the photon error and the SSH error alone
    bare = freeboard(out.drop_vars(["freeboard", "freeboard_uncertainty"]),
                     SSHConfig(footprint_error=0.0))
    expect = np.hypot(spread / np.sqrt(n[ok]), out.ssh_uncertainty.values[ok].astype(float))
    np.testing.assert_allclose(bare.freeboard_uncertainty.values[ok], expect, rtol=1e-5)


def test_contract(world):
    ds, _, out = world
    assert out.freeboard.dtype == np.float32 and out.freeboard_uncertainty.dtype == np.float32
    assert out.freeboard.attrs["units"] == "m"
    assert out.freeboard.attrs["height_variable"] == "h_cor_mean"
    ice = np.isfinite(out.freeboard.values)
    np.testing.assert_allclose(
        out.freeboard.values[ice],
        ds.h_cor_mean.values[ice].astype(float) - out.ssh.values[ice].astype(float),
        atol=1e-6,
    )


def test_runs_sea_surface_when_missing(world):
    ds, _, out = world
    xr.testing.assert_identical(freeboard(ds), out)


def test_median_follows_the_ssh_height_variable(world):
    ds, truth, _ = world
    cfg = SSHConfig(height_var="h_cor_median")
    out = freeboard(sea_surface(ds, cfg))
    assert out.freeboard.attrs["height_variable"] == "h_cor_median"
    sel = (truth.surface_type.values == 0) & (ds.n_photons.values >= 5)
    err = out.freeboard.values[sel] - truth.freeboard.values[sel]
    assert abs(np.mean(err)) <= 0.02


def test_blocked_freeboard_equals_unblocked(world):
    ds, _, out = world
    got = sea_surface_blocked(ds, 6_000.0, with_freeboard=True)
    xr.testing.assert_identical(got, out)


def test_datatree(world):
    ds, _, out = world
    # two beams of different pairs, each alone (cross_pairs would combine them)
    tree = xr.DataTree.from_dict({"gt1l": ds, "gt3r": ds.isel(segment=slice(0, 100))})
    res = freeboard(tree, SSHConfig(cross_pairs=False))
    xr.testing.assert_identical(res["gt1l"].to_dataset(), out)


def test_missing_ssh_uncertainty(world):
    ds, _, out = world
    with pytest.raises(MissingVariableError, match="ssh_uncertainty"):
        freeboard(out.drop_vars(["ssh_uncertainty", "freeboard"]))


SMOOTH = SSHConfig(freeboard_smoothing=4.0)


def _thick_err(ds, truth, out):
    sel = (truth.surface_type.values == SurfaceType.THICK_ICE) & (ds.n_photons.values >= 5)
    return out.freeboard.values[sel].astype(np.float64) - truth.freeboard.values[sel]


def test_neighbour_smoothing_lowers_the_error_against_truth(world):
    ds, truth, out = world
    smooth = freeboard(sea_surface(ds, SMOOTH), SMOOTH)
    raw, sm = _thick_err(ds, truth, out), _thick_err(ds, truth, smooth)
    assert abs(sm.mean()) <= 0.01
    assert np.sqrt(np.mean(sm**2)) < 0.9 * np.sqrt(np.mean(raw**2))
    # the SSH is not touched; the freeboard error budget shrinks with the averaging
    xr.testing.assert_identical(smooth.ssh, out.ssh)
    ok = np.isfinite(out.freeboard_uncertainty.values)
    assert np.mean(smooth.freeboard_uncertainty.values[ok]) < np.mean(
        out.freeboard_uncertainty.values[ok])
    # exactly: the photon errors (spread floored at photon_precision) averaged, then the
    # segment's own footprint term, then the SSH error
    from icefb.kernels.ssh import smooth_ice_height_numpy

    n = ds.n_photons.values.astype(float)
    hs = ds.h_std.values.astype(float)
    s = np.where((n >= 2) & (hs > 0), hs, SMOOTH.photon_precision)
    s = np.maximum(s, SMOOTH.photon_precision)
    with np.errstate(invalid="ignore", divide="ignore"):
        e_ph = np.where((n >= 1) & np.isfinite(ds.h_cor_mean.values), s / np.sqrt(n), np.nan)
    _, e_sm = smooth_ice_height_numpy(
        ds.x_atc.values.astype(float), ds.h_cor_mean.values.astype(float), e_ph, n,
        ds.surface_type.values.astype(np.int64), SMOOTH.freeboard_smoothing)
    expect = np.sqrt(e_sm**2 + (SMOOTH.footprint_error * s) ** 2
                     + smooth.ssh_uncertainty.values.astype(float) ** 2)
    ice = np.isfinite(smooth.freeboard.values)
    np.testing.assert_allclose(smooth.freeboard_uncertainty.values[ice], expect[ice], rtol=1e-5)
    assert smooth.freeboard.attrs["height_smoothing_m"] == 4.0
    assert out.freeboard.attrs["height_smoothing_m"] == 0.0
    # water stays NaN, and so do empty segments
    st = ds.surface_type.values
    assert np.all(np.isnan(smooth.freeboard.values[st == SurfaceType.OPEN_WATER]))
    assert np.all(np.isnan(smooth.freeboard.values[ds.n_photons.values == 0]))


def test_smoothed_blocked_freeboard_equals_unblocked(world):
    ds, _, _ = world
    ref = freeboard(sea_surface(ds, SMOOTH), SMOOTH)
    got = sea_surface_blocked(ds, 5_000.0, SMOOTH, with_freeboard=True)
    xr.testing.assert_identical(got, ref)


def test_a_height_without_photons_is_empty():
    # hand-made or edited segments: a finite height on a zero-photon segment gets neither a
    # freeboard nor a lead role (it used to get a freeboard with a NaN uncertainty)
    x = np.arange(8) * 2.0 + 1.0
    ds = xr.Dataset({
        "x_atc": ("segment", x),
        "h_cor_mean": ("segment", [0.0, 0.0, 0.3, 0.3, 0.3, -5.0, 0.3, 0.3]),
        "h_std": ("segment", np.full(8, 0.1)),
        "n_photons": ("segment", [4, 4, 4, 0, 4, 0, 4, 4]),
        "surface_type": ("segment", [2, 2, 0, 0, 0, 2, 0, 0]),
    })  # fmt: skip
    out = freeboard(ds, SSHConfig(lead_edge_buffer=0.0))
    fb, fu = out.freeboard.values, out.freeboard_uncertainty.values
    ice = [2, 4, 6, 7]
    # (the -5 m "water" segment without photons was never a lead: below min_photons)
    np.testing.assert_allclose(fb[ice], 0.3, atol=1e-6)
    assert np.all(np.isfinite(fu[ice]))
    assert np.isnan(fb[3]) and np.isnan(fu[3])
    assert np.isfinite(fb).sum() == np.isfinite(fu).sum() == len(ice)
