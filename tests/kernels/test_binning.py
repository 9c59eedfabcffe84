"""The binning kernel against its numpy twin, and the block runner on unordered input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icefb.kernels.binning import (
    BIN_FIELDS,
    bin_block,
    bin_photons,
    bin_photons_numpy,
    bin_range,
    edge_runs,
)

EXACT = {"n_photons", "n_high", "h_median", "h_min", "h_max", "h_cor_median"}


def _photons(rng, n, *, xmax=20.0, nan_frac=0.0, lon_centre=0.0, sort=True):
    x = rng.uniform(-3.0, xmax, n)
    if sort:
        x = np.sort(x)
    h = rng.normal(10.0, 0.3, n).astype(np.float32)
    geoid = rng.normal(5.0, 0.1, n).astype(np.float32)
    if nan_frac:
        h[rng.random(n) < nan_frac] = np.nan
        geoid[rng.random(n) < nan_frac] = np.nan
        x[rng.random(n) < nan_frac / 2] = np.nan
    return dict(
        x_atc=x,
        h_ph=h,
        signal_conf_ph=rng.integers(-1, 5, (n, 5)).astype(np.int8),
        quality_ph=(rng.random(n) < 0.1).astype(np.int8),
        geoid=geoid,
        tide_ocean=rng.normal(0, 0.2, n).astype(np.float32),
        tide_equilibrium=rng.normal(0, 0.01, n).astype(np.float32),
        dac=rng.normal(0, 0.05, n).astype(np.float32),
        lat_ph=rng.uniform(70, 71, n),
        lon_ph=((lon_centre + rng.uniform(-0.001, 0.001, n) + 180.0) % 360.0) - 180.0,
        delta_time=np.linspace(1.0, 1.0 + n * 1e-4, n),
    )


def _assert_same(a, b):
    for name, u, v in zip(BIN_FIELDS, a, b, strict=True):
        if name in EXACT:
            np.testing.assert_array_equal(u, v, err_msg=name)
        else:
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-9, err_msg=name)


def _run(kernel, a, window=2.0, min_conf=3):
    b_first, b_last = bin_range(a["x_atc"], window)
    keys = ["h_ph", "signal_conf_ph"]
    rest = ["quality_ph", "geoid", "tide_ocean", "tide_equilibrium", "dac"]
    rest += ["lat_ph", "lon_ph", "delta_time"]
    return kernel(
        a["x_atc"], *(a[k] for k in keys), 2, *(a[k] for k in rest),
        window, min_conf, 4, b_first, b_last - b_first + 1,
    )  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 80),
    xmax=st.sampled_from([-2.5, 1.0, 20.0]),  # -2.5: everything in one bin
    nan_frac=st.sampled_from([0.0, 0.2]),
    lon_centre=st.sampled_from([0.0, 179.9995, -180.0]),
    window=st.sampled_from([2.0, 0.7, 5.0]),
)
def test_kernel_matches_numpy_twin(seed, n, xmax, nan_frac, lon_centre, window):
    rng = np.random.default_rng(seed)
    a = _photons(rng, n, xmax=xmax, nan_frac=nan_frac, lon_centre=lon_centre)
    got = _run(bin_photons, a, window, 2)
    ref = _run(bin_photons_numpy, a, window, 2)
    assert got[-1] and ref[-1]
    _assert_same(got[:-1], ref[:-1])
    # counts add up to the selected photons
    sel = (a["quality_ph"] == 0) & (a["signal_conf_ph"][:, 2] >= 2) & ~np.isnan(a["x_atc"])
    assert got[0].sum() == sel.sum()
    # longitudes stay in range across the dateline
    lon = got[10][got[0] > 0]
    assert np.all((lon >= -180.0) & (lon < 180.0))


def test_by_hand():
    z = np.zeros(5, np.float32)
    a = dict(
        x_atc=np.array([0.0, 1.0, 1.5, 1.99, 6.0]),
        h_ph=np.float32([1.0, 4.0, 2.0, 100.0, 7.0]),
        signal_conf_ph=np.array([[0, 0, c, 0, 0] for c in (4, 3, 4, 2, 3)], np.int8),
        quality_ph=np.int8([0, 0, 0, 0, 1]),
        geoid=np.float32([0.5, np.nan, 0.5, 0.5, 0.5]),
        tide_ocean=z, tide_equilibrium=z, dac=z,
        lat_ph=np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
        lon_ph=np.array([179.0, -179.0, 179.5, 0.0, 0.0]),
        delta_time=np.array([0.0, 1.0, 2.0, 3.0, 4.0]),
    )  # fmt: skip
    for kernel in (bin_photons, bin_photons_numpy):
        b0, s, order = bin_block(a, window=2.0, min_conf=3, kernel=kernel)
        r = dict(zip(BIN_FIELDS, s, strict=True))
        assert b0 == 0 and order is None
        assert r["n_photons"].tolist() == [3, 0, 0, 0]  # the 4th is conf 2, the 5th quality 1
        assert r["n_high"].tolist() == [2, 0, 0, 0]
        assert r["h_median"][0] == 2.0 and r["h_min"][0] == 1.0 and r["h_max"][0] == 4.0
        assert r["h_mean"][0] == pytest.approx(7.0 / 3.0)
        assert r["h_std"][0] == pytest.approx(np.std([1.0, 4.0, 2.0]))
        # NaN geoid on the 2nd photon: it counts, but not in h_cor
        assert r["h_cor_mean"][0] == pytest.approx(1.0) and r["h_cor_median"][0] == 1.0
        assert r["lon"][0] == pytest.approx(179.0 + (0.0 + 2.0 + 0.5) / 3)  # across 180
        assert np.isnan(r["h_mean"][1:]).all()


def test_longitude_mean_across_dateline():
    z = np.zeros(2, np.float32)
    a = dict(
        x_atc=np.array([0.0, 1.0]), h_ph=z, signal_conf_ph=np.full((2, 5), 4, np.int8),
        quality_ph=np.zeros(2, np.int8), geoid=z, tide_ocean=z, tide_equilibrium=z, dac=z,
        lat_ph=np.zeros(2), lon_ph=np.array([179.9, -179.7]), delta_time=np.zeros(2),
    )  # fmt: skip
    for kernel in (bin_photons, bin_photons_numpy):
        _, s, _ = bin_block(a, window=2.0, min_conf=3, kernel=kernel)
        assert s[10][0] == pytest.approx(-179.9)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60), nan_frac=st.sampled_from([0, 0.2]))
def test_unordered_block_equals_stably_sorted(seed, n, nan_frac):
    rng = np.random.default_rng(seed)
    a = _photons(rng, n, nan_frac=nan_frac, sort=False)
    b0, s, order = bin_block(a, window=2.0, min_conf=2)
    key = np.floor(a["x_atc"] / 2.0)
    o = np.argsort(key, kind="stable")
    b0r, sr, order_r = bin_block({k: v[o] for k, v in a.items()}, window=2.0, min_conf=2)
    assert b0 == b0r and order_r is None
    for u, v in zip(s, sr, strict=True):
        np.testing.assert_array_equal(u, v)
    finite = ~np.isnan(a["x_atc"])
    if finite.any():
        assert s[0].size == int(key[finite].max() - key[finite].min()) + 1


def test_large_bin_uses_full_sort():
    rng = np.random.default_rng(1)
    a = _photons(rng, 500, xmax=-2.5)  # 500 photons, one bin: median from np.sort
    a["signal_conf_ph"][:] = 4
    a["quality_ph"][:] = 0
    _, s, _ = bin_block(a, window=2.0, min_conf=3)
    assert s[0].tolist() == [500]
    assert s[3][0] == np.median(a["h_ph"].astype(np.float64))
    _assert_same(s, _run(bin_photons_numpy, a, 2.0, 3)[:-1])


def test_edge_runs():
    x = np.array([np.nan, 0.1, 0.2, 2.5, np.nan, 4.1, 4.2])
    assert tuple(edge_runs(x, 2.0)) == (3, 4)
    assert tuple(edge_runs(np.array([0.1, np.nan, 0.3]), 2.0)) == (3, 0)
    assert tuple(edge_runs(np.zeros(0), 2.0)) == (0, 0)
    assert bin_range(np.array([np.nan]), 2.0) == (0, -1)


def test_tile_network_sorts_every_zero_one_input():
    """0-1 principle: a comparator network that sorts all 2**16 0/1 inputs sorts everything."""
    from icefb.kernels.binning import _NETWORK, _SLOTS, _tile_stats

    bits = np.arange(2**_SLOTS)
    buf = np.zeros((_SLOTS + 1, bits.size))
    buf[:_SLOTS] = (bits[None, :] >> np.arange(_SLOTS)[:, None]) & 1
    k = np.full(bits.size, _SLOTS, np.int64)
    ones = buf[:_SLOTS].sum(axis=0)
    out = [np.empty(bits.size) for _ in range(5)]
    _tile_stats(buf.copy(), k, ones, *out)
    ranked = np.sort(buf[:_SLOTS], axis=0)
    np.testing.assert_array_equal(out[1], 0.5 * (ranked[7] + ranked[8]))
    np.testing.assert_array_equal(out[3], ranked[0])
    np.testing.assert_array_equal(out[4], ranked[-1])
    # the network is Batcher's: 63 compare-exchanges, each on a pair in order
    assert _NETWORK.shape == (63, 2) and np.all(_NETWORK[:, 0] < _NETWORK[:, 1])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k_max=st.sampled_from([1, 8, 16]))
def test_tile_stats_against_numpy(seed, k_max):
    from icefb.kernels.binning import _SLOTS, _tile_stats

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    k = rng.integers(0, k_max + 1, n).astype(np.int64)
    buf = rng.normal(0.0, 1.0, (_SLOTS + 1, n))
    buf[:, rng.random(n) < 0.1] = np.round(buf[:, :1], 1)  # ties
    vals = [buf[: k[j], j].copy() for j in range(n)]
    s = np.array([v.sum() for v in vals])
    out = [np.empty(n) for _ in range(5)]
    _tile_stats(buf, k, s, *out)
    for j, v in enumerate(vals):
        if v.size == 0:
            assert all(np.isnan(o[j]) for o in out)
            continue
        assert out[1][j] == np.median(v) and out[3][j] == v.min() and out[4][j] == v.max()
        assert out[2][j] == pytest.approx(np.std(v), rel=1e-12, abs=1e-15)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3000),
    xmax=st.sampled_from([-2.5, 6.0, 60.0, 20_000.0]),  # one bin, crowded, usual, gaps > tile
    nan_frac=st.sampled_from([0.0, 0.01]),
)
def test_kernel_crowded_bins_gaps_and_noise_nans(seed, n, xmax, nan_frac):
    """Bins beyond the network's 16 slots, tiles left empty by long gaps, and NaNs in noise
    photons (the masked sums' fallback) against the numpy twin."""
    rng = np.random.default_rng(seed)
    a = _photons(rng, n, xmax=xmax, nan_frac=nan_frac)
    noise = (a["quality_ph"] != 0) | (a["signal_conf_ph"][:, 2] < 2)
    for key in ("lat_ph", "lon_ph", "delta_time"):
        a[key][noise & (rng.random(n) < 0.02)] = np.nan
    a["h_ph"][noise & (rng.random(n) < 0.02)] = np.inf
    got = _run(bin_photons, a, 2.0, 2)
    ref = _run(bin_photons_numpy, a, 2.0, 2)
    assert got[-1] and ref[-1]
    _assert_same(got[:-1], ref[:-1])
