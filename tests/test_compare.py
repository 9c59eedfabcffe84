"""Comparison with ATL07/ATL10-like segments built from known truth."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest
import xarray as xr

from icefb.compare import (
    aggregate_to_segments,
    compare_atl07,
    compare_atl10,
    comparison_stats,
    plot_comparison,
)
from icefb.errors import ConfigError, MissingBeamError, MissingVariableError
from icefb.freeboard import freeboard
from icefb.testing import real_file

_spec = importlib.util.spec_from_file_location(
    "_ssh_world", pathlib.Path(__file__).with_name("test_seasurface.py")
)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
make_world = _mod.make_world

REAL_ATL07 = real_file("processed_ATL07-01_20190222003738_08490201_003_02.h5")


def _reference(ds, truth, photons=150):
    """ATL07/ATL10-like segments of ~``photons`` photons built from the truth."""
    n = ds.n_photons.values
    x = ds.x_atc.values
    cum = np.cumsum(n)
    edges = np.searchsorted(cum, np.arange(0, cum[-1], photons))
    edges = np.unique(np.r_[edges, x.size])
    x0, x1 = x[edges[:-1]] - 1.0, x[edges[1:] - 1] + 1.0
    st = truth.surface_type.values
    height, fb, ssh, flag = [], [], [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        w = n[a:b].astype(float)
        surf = truth.ssh.values[a:b] + truth.freeboard.values[a:b]
        height.append(np.sum(w * surf) / w.sum())
        ice = st[a:b] != 2
        wi = w * ice
        fb.append(np.sum(wi * truth.freeboard.values[a:b]) / wi.sum() if wi.sum() else np.nan)
        ssh.append(np.mean(truth.ssh.values[a:b]))
        flag.append(int(np.mean(st[a:b] == 2) > 0.5))
    xc = 0.5 * (x0 + x1)
    return xr.Dataset(
        {
            "seg_dist_x": ("seg", xc),
            "height_segment_length_seg": ("seg", x1 - x0),
            "height_segment_height": ("seg", np.array(height)),
            "height_segment_ssh_flag": ("seg", np.array(flag, np.int8)),
            "beam_fb_height": ("seg", np.array(fb)),
            "beam_refsurf_height": ("seg", np.array(ssh)),
            "delta_time": ("seg", 100.0 + xc / 7000.0),
        }
    )


@pytest.fixture(scope="module")
def setup():
    ds, truth = make_world(30.0, seed=11)
    prod = freeboard(ds)
    prod["delta_time"] = ("segment", 100.0 + prod.x_atc.values / 7000.0)
    return prod, truth, _reference(ds, truth)


def test_aggregation_matches_direct_sums(setup):
    prod, _, _ = setup
    x, n = prod.x_atc.values, prod.n_photons.values.astype(float)
    a, b = x[0] + 100.0, x[0] + 700.0
    agg = aggregate_to_segments(prod, [a, 5000.0, -50.0], [b, 5000.0, 0.0])
    m = (x >= a) & (x < b)
    assert m.sum() == 300
    h = prod.h_cor_mean.values.astype(float)
    ok = m & (n > 0)
    np.testing.assert_allclose(agg.height[0], np.sum(h[ok] * n[ok]) / n[ok].sum(), rtol=1e-9)
    np.testing.assert_allclose(agg.ssh[0], prod.ssh.values[m].astype(float).mean(), rtol=1e-6)
    assert int(agg.n_segments[0]) == m.sum()
    assert int(agg.n_segments[1]) == 0 and np.isnan(agg.height[1]) and np.isnan(agg.height[2])


def test_atl10_against_truth_aggregates(setup):
    prod, _, ref = setup
    res = compare_atl10(prod, ref)
    fb = res.sel(quantity="freeboard")
    assert int(fb.n) > 0.8 * ref.sizes["seg"]
    assert abs(float(fb.bias)) <= 0.01 and float(fb.rmse) <= 0.03
    assert float(fb.correlation) > 0.9
    ssh = res.sel(quantity="ssh")
    assert float(ssh.rmse) <= 0.02
    h = res.sel(quantity="height")
    assert abs(float(h.bias)) <= 0.01 and float(h.correlation) > 0.9
    assert res.attrs["reference"] == "ATL10"
    assert res.bias.attrs["units"] == "m" and res.n.dtype == np.int64


def test_atl07_ssh_from_lead_segments(setup):
    prod, _, ref = setup
    res = compare_atl07(prod, ref)
    assert int(res.n.sel(quantity="freeboard")) == 0
    n_leads = int((ref.height_segment_ssh_flag == 1).sum())
    assert 0 < int(res.n.sel(quantity="ssh")) <= n_leads
    # an offset moves the height bias by exactly that much
    moved = compare_atl07(prod, ref, reference_offset=0.5)
    np.testing.assert_allclose(
        moved.bias.sel(quantity="height"), res.bias.sel(quantity="height") - 0.5, atol=1e-12
    )


def test_match_by_time_equals_by_distance(setup):
    prod, _, ref = setup
    a = compare_atl10(prod, ref, by="distance")
    b = compare_atl10(prod, ref, by="time")
    np.testing.assert_allclose(b.x, a.x, atol=1e-6)
    np.testing.assert_allclose(b.rmse, a.rmse, rtol=1e-6)


def test_datatree_pools_common_beams(setup):
    prod, _, ref = setup
    pt = xr.DataTree.from_dict({"gt1l": prod, "gt2l": prod})
    rt = xr.DataTree.from_dict({"gt1l": ref, "gt3l": ref})
    res = compare_atl10(pt, rt)
    single = compare_atl10(prod, ref)
    np.testing.assert_allclose(res.rmse, single.rmse)
    assert set(res.beam.values) == {"gt1l"}
    with pytest.raises(MissingBeamError):
        compare_atl10(pt, xr.DataTree.from_dict({"gt3r": ref}))
    with pytest.raises(ConfigError):
        compare_atl10(pt, ref)


def test_stats_and_errors():
    s = comparison_stats(np.array([1.0, np.nan, 3.0]), np.array([0.0, 1.0, 1.0]))
    assert s["n"] == 2 and s["bias"] == 1.5 and np.isclose(s["rmse"], np.sqrt(2.5))
    assert comparison_stats(np.array([np.nan]), np.array([1.0]))["n"] == 0
    with pytest.raises(MissingVariableError):
        aggregate_to_segments(xr.Dataset({"x_atc": ("segment", [1.0])}), [0.0], [1.0])
    with pytest.raises(MissingVariableError):
        compare_atl10(xr.Dataset({"x_atc": ("segment", [1.0]),
                                  "h_cor_mean": ("segment", [1.0]),
                                  "n_photons": ("segment", [1])}),
                      xr.Dataset({"beam_fb_height": ("s", [1.0])}))


def test_plot(setup):
    prod, _, ref = setup
    fig = plot_comparison(compare_atl10(prod, ref), title="synthetic")
    assert len(fig.axes) == 6 and fig._suptitle.get_text() == "synthetic"


def test_real_atl07_layout_runs(setup):
    from icefb.io.atl07 import open_atl07

    prod, _, _ = setup
    atl07 = open_atl07(REAL_ATL07, beams=["gt1l", "gt2l"])
    res = compare_atl07(xr.DataTree.from_dict({"gt1l": prod}), atl07)
    assert res.sizes["ref_segment"] == atl07["gt1l"].sizes["sea_ice_segment"]
    assert set(res.quantity.values) == {"height", "ssh", "freeboard"}
    res = compare_atl07(prod, atl07["gt1l"].to_dataset(), reference_offset="mss_minus_geoid")
    assert np.all(res.n.values == 0)  # the real granule does not overlap the synthetic track
    fig = plot_comparison(res)
    assert len(fig.axes) == 6


def test_names_of_the_reader_are_accepted(setup):
    prod, _, ref = setup
    renamed = ref.rename({"seg_dist_x": "x_atc", "height_segment_length_seg": "segment_length",
                          "height_segment_height": "height", "beam_fb_height": "freeboard",
                          "beam_refsurf_height": "ssh",
                          "height_segment_ssh_flag": "sea_surface_flag"})
    for f in (compare_atl07, compare_atl10):
        a, b = f(prod, ref), f(prod, renamed)
        np.testing.assert_allclose(a.rmse, b.rmse)
        np.testing.assert_array_equal(a.n, b.n)


@pytest.mark.slow
def test_150_photon_aggregation_lifts_ssh_and_lowers_freeboard(tmp_path):
    """On the synthetic world, ATL10-like (150-photon) SSH sits higher above the truth than
    icefb's 2 m SSH, and its freeboard lower, on the same segments (strong beams pooled)."""
    from icefb.io.atl03 import open_atl03
    from icefb.io.atl07 import open_atl10
    from icefb.seasurface import sea_surface
    from icefb.segments import resample
    from icefb.synth import make_atl10, make_granule, read_truth

    beams = ("gt1l", "gt2l", "gt3l")
    g = make_granule(tmp_path / "g.h5", seed=3, length_km=30.0, beams=beams)
    atl10 = open_atl10(make_atl10(tmp_path / "atl10.h5", g))
    tree = resample(open_atl03(g, beams=list(beams)))
    d_ssh, d_fb = {"atl10": [], "icefb": []}, {"atl10": [], "icefb": []}
    for beam in beams:
        seg = tree[beam].to_dataset().load()
        _, truth = read_truth(g, beam)
        common = np.intersect1d(seg.segment.values, truth.segment.values)
        seg, truth = seg.sel(segment=common), truth.sel(segment=common)
        seg["surface_type"] = truth.surface_type
        prod = freeboard(sea_surface(seg))
        ice = truth.surface_type.values != 2
        tprod = seg[["x_atc", "n_photons", "surface_type"]].assign(
            h_cor_mean=truth.surface_height.astype(float), ssh=truth.ssh.astype(float),
            freeboard=("segment", np.where(ice, truth.freeboard.values.astype(float), np.nan)))
        ref = atl10[beam].to_dataset()
        vs_truth = compare_atl10(tprod, ref)  # truth aggregated onto the ATL10 segments
        vs_icefb = compare_atl10(prod, ref)
        t_ssh, t_fb = vs_truth.icefb_ssh.values, vs_truth.icefb_freeboard.values
        d_ssh["atl10"].append(vs_truth.ref_ssh.values - t_ssh)
        d_fb["atl10"].append(vs_truth.ref_freeboard.values - t_fb)
        d_ssh["icefb"].append(vs_icefb.icefb_ssh.values - t_ssh)
        d_fb["icefb"].append(vs_icefb.icefb_freeboard.values - t_fb)
    bias = {}
    for name in ("atl10", "icefb"):
        s, f = np.concatenate(d_ssh[name]), np.concatenate(d_fb[name])
        ok = np.isfinite(s) & np.isfinite(f)
        assert ok.sum() > 1000
        bias[name] = (s[ok].mean(), f[ok].mean())
    assert abs(bias["icefb"][0]) <= 0.01 and abs(bias["icefb"][1]) <= 0.01
    assert bias["atl10"][0] > bias["icefb"][0] + 0.005
    assert bias["atl10"][1] < bias["icefb"][1] - 0.005
