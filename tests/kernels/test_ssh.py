"""SSH/freeboard kernels: numba == numpy twin, and behaviour on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icefb.kernels import ssh as k

WINDOW, STRIDE = 100.0, 50.0


def _random_segments(seed: int, n: int, p_lead: float, p_nan: float):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 1000, n)) if n else np.empty(0)
    h = rng.normal(0.0, 0.2, n)
    h[rng.random(n) < p_nan] = np.nan
    h_std = np.abs(rng.normal(0.1, 0.05, n))
    h_std[rng.random(n) < 0.1] = np.nan
    nph = rng.integers(0, 8, n).astype(np.float64)
    surface = np.where(rng.random(n) < p_lead, 2, rng.integers(-1, 2, n))
    return x, h, h_std, nph, surface


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(0, 300),
    p_lead=st.sampled_from([0.0, 0.01, 0.2, 1.0]),
    p_nan=st.sampled_from([0.0, 0.3]),
    max_gap=st.integers(0, 6),
)
def test_numba_matches_numpy_twins(seed, n, p_lead, p_nan, max_gap):
    x, h, h_std, nph, surface = _random_segments(seed, n, p_lead, p_nan)
    buf = 5.0 if seed % 2 else 0.0
    slope = 1e-3 if seed % 3 else 0.0
    lead_a, err_a = k.lead_mask_and_error(x, h, h_std, nph, surface, 2.0, 0.1, buf)
    lead_b, err_b = k.lead_mask_and_error_numpy(x, h, h_std, nph, surface, 2.0, 0.1, buf)
    np.testing.assert_array_equal(lead_a, lead_b)
    np.testing.assert_allclose(err_a, err_b, rtol=1e-14, equal_nan=True)

    k0, nw = -3, 26
    wa = k.window_ssh(x, h, err_a, lead_a, k0, nw, WINDOW, STRIDE, 0.2, slope)
    wb = k.window_ssh_numpy(x, h, err_a, lead_a, k0, nw, WINDOW, STRIDE, 0.2, slope)
    for a, b in zip(wa, wb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, equal_nan=True)

    fa = k.fill_windows(wa[0], wa[1], max_gap, STRIDE, 1e-4)
    fb = k.fill_windows_numpy(wa[0], wa[1], max_gap, STRIDE, 1e-4)
    for a, b in zip(fa, fb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)

    sa = k.interp_to_segments(x, k0, fa[0], fa[1], fa[2], WINDOW, STRIDE)
    sb = k.interp_to_segments_numpy(x, k0, fa[0], fa[1], fa[2], WINDOW, STRIDE)
    for a, b in zip(sa, sb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)

    ga = k.freeboard_kernel(h, err_a, surface, sa[0], sa[1])
    gb = k.freeboard_kernel_numpy(h, err_a, surface, sa[0], sa[1])
    for a, b in zip(ga, gb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, equal_nan=True)

    radius = (0.0, 4.0, 25.0)[seed % 3]
    ma = k.smooth_ice_height(x, h, err_a, nph, surface, radius)
    mb = k.smooth_ice_height_numpy(x, h, err_a, nph, surface, radius)
    for a, b in zip(ma, mb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)


def test_lead_mask_needs_open_water_and_min_photons():
    h = np.array([0.0, 0.0, 0.0, np.nan, 0.0])
    h_std = np.array([0.1, np.nan, 0.1, 0.1, 0.2])
    nph = np.array([4.0, 1.0, 4.0, 4.0, 0.0])
    surface = np.array([2, 2, 0, 2, 2])
    lead, err = k.lead_mask_and_error(np.arange(5.0) * 2, h, h_std, nph, surface, 2.0, 0.3, 0.0)
    np.testing.assert_array_equal(lead, [True, False, False, False, False])
    # h_std / sqrt(n); single photon -> photon_precision / 1; empty / NaN height -> NaN
    np.testing.assert_allclose(err, [0.05, 0.3, 0.05, np.nan, np.nan], equal_nan=True)


def test_lead_edges_are_not_leads():
    x = np.arange(12) * 2.0 + 1.0
    surface = np.array([0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0])
    ones = np.ones(12)
    lead, _ = k.lead_mask_and_error(x, 0 * ones, 0.1 * ones, 4 * ones, surface, 2.0, 0.1, 6.0)
    # segments within 6 m of the ice at x=1 and x=23 are dropped
    np.testing.assert_array_equal(np.flatnonzero(lead), [4, 5, 6, 7])


def test_window_weights_follow_the_lowest_lead():
    # one window [0, 100): leads at h_min and h_min + sigma -> weights 1 and e^-1
    x = np.array([10.0, 20.0, 30.0])
    h = np.array([0.0, 0.2, 5.0])
    err = np.array([0.01, 0.02, 0.03])
    lead = np.array([True, True, False])
    ssh, unc, nl = k.window_ssh(x, h, err, lead, 0, 1, 100.0, 50.0, 0.2, 0.0)
    w = np.array([1.0, np.exp(-1.0)])
    np.testing.assert_allclose(ssh[0], (w * h[:2]).sum() / w.sum())
    # two leads 0.2 m apart with 1-2 cm errors: their scatter, not the errors, sets the error
    scatter = np.sqrt(2 * (w**2 * (h[:2] - ssh[0]) ** 2).sum()) / w.sum()
    assert scatter > np.sqrt((w**2 * err[:2] ** 2).sum()) / w.sum()
    np.testing.assert_allclose(unc[0], scatter)
    assert nl[0] == 2


def test_window_uncertainty_terms():
    # agreeing leads: the propagated error; leads off the window centre: plus slope * offset
    x = np.array([10.0, 20.0, 60.0])
    h = np.array([0.0, 0.0, 0.0])
    err = np.array([0.03, 0.04, 0.05])
    lead = np.array([True, True, False])
    formal = np.sqrt(0.03**2 + 0.04**2) / 2
    _, unc, _ = k.window_ssh(x, h, err, lead, 0, 1, 100.0, 50.0, 0.2, 0.0)
    np.testing.assert_allclose(unc[0], formal)
    # centroid at 15 m, window centre at 50 m: 35 m off; slope 1e-3 -> 3.5 cm in quadrature
    _, unc, _ = k.window_ssh(x, h, err, lead, 0, 1, 100.0, 50.0, 0.2, 1e-3)
    np.testing.assert_allclose(unc[0], np.hypot(formal, 0.035))
    # one lead: no scatter estimate, its own error
    _, unc, _ = k.window_ssh(x, h, err, np.array([False, False, True]), 0, 1, 100.0, 50.0,
                             0.2, 0.0)
    np.testing.assert_allclose(unc[0], 0.05)


def test_fill_interpolates_extrapolates_and_gives_up():
    nan = np.nan
    ssh = np.array([nan, 1.0, nan, nan, 4.0, nan, nan, nan, nan])
    unc = np.where(np.isfinite(ssh), 0.01, nan)
    ssh_f, unc_f, flag = k.fill_windows(ssh, unc, 2, 1.0, 0.0)
    np.testing.assert_array_equal(flag, [2, 0, 1, 1, 0, 2, 2, 3, 3])
    np.testing.assert_allclose(ssh_f, [1, 1, 2, 3, 4, 4, 4, nan, nan], equal_nan=True)
    np.testing.assert_allclose(unc_f[:7], 0.01)


def test_interp_is_linear_between_window_centres():
    # centres at k*50 + 50: window k=0 -> 50 m, k=1 -> 100 m
    x = np.array([50.0, 75.0, 99.0])
    ssh, unc, flag = k.interp_to_segments(
        x, 0, np.array([0.0, 1.0]), np.array([0.1, 0.3]), np.array([0, 1], np.int8), 100.0, 50.0
    )
    np.testing.assert_allclose(ssh, [0.0, 0.5, 0.98])
    np.testing.assert_allclose(unc, [0.1, 0.2, 0.296])
    np.testing.assert_array_equal(flag, [1, 1, 1])


def test_interp_uses_the_other_window_when_one_is_missing():
    x = np.array([75.0])
    ssh, _, flag = k.interp_to_segments(
        x, 0, np.array([np.nan, 1.0]), np.array([np.nan, 0.1]), np.array([3, 0], np.int8),
        100.0, 50.0,
    )
    assert ssh[0] == 1.0 and flag[0] == 3 - 1  # extrapolated
    ssh, _, flag = k.interp_to_segments(
        x, 5, np.array([1.0]), np.array([0.1]), np.array([0], np.int8), 100.0, 50.0
    )
    assert np.isnan(ssh[0]) and flag[0] == 3


@pytest.mark.parametrize("surface", [0, 1])
def test_freeboard_kernel_on_ice_only(surface):
    h = np.array([0.5, 0.5, np.nan])
    err = np.array([0.03, 0.03, np.nan])
    surf = np.array([surface, 2, surface])
    fb, fu = k.freeboard_kernel(h, err, surf, np.full(3, 0.1), np.full(3, 0.04))
    np.testing.assert_allclose(fb, [0.4, np.nan, np.nan], equal_nan=True)
    np.testing.assert_allclose(fu, [0.05, np.nan, np.nan], equal_nan=True)


def test_smooth_ice_height_weights_same_type_neighbours_by_photons():
    x = np.arange(7) * 2.0 + 1.0
    h = np.array([0.3, 0.1, 0.2, 0.4, 9.0, 0.5, np.nan])
    err = np.array([0.02, 0.04, 0.02, 0.03, 0.01, 0.02, np.nan])
    nph = np.array([4.0, 2.0, 4.0, 6.0, 9.0, 3.0, 0.0])
    surf = np.array([0, 0, 0, 0, 2, 1, 0])
    hs, es = k.smooth_ice_height(x, h, err, nph, surf, 4.0)
    # segment 2: neighbours 1 and 3 at 2 m (weight n/2), itself weight n; 0 and 4 out of reach
    w = np.array([2.0 * 0.5, 4.0, 6.0 * 0.5])
    np.testing.assert_allclose(hs[2], (w * h[1:4]).sum() / w.sum())
    np.testing.assert_allclose(es[2], np.sqrt(((w * err[1:4]) ** 2).sum()) / w.sum())
    # segment 3: the water segment 4 (and the thin ice 5) do not enter
    w3 = np.array([4.0 * 0.5, 6.0])
    np.testing.assert_allclose(hs[3], (w3 * h[2:4]).sum() / w3.sum())
    # water, a lone thin-ice segment and empty segments are unchanged
    assert hs[4] == 9.0 and hs[5] == 0.5 and es[5] == 0.02 and np.isnan(hs[6])
    # radius 0: identity
    h0, e0 = k.smooth_ice_height(x, h, err, nph, surf, 0.0)
    np.testing.assert_array_equal(h0, h)
    np.testing.assert_array_equal(e0, err)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(0, 400),
    radius=st.sampled_from([0.0, 3.0, 40.0, 2000.0]),
    percentile=st.sampled_from([0.0, 1.0, 5.0, 33.3, 50.0, 99.9, 100.0]),
    quantized=st.booleans(),
)
def test_high_lead_mask_matches_numpy_twin(seed, n, radius, percentile, quantized):
    """Windows spanning many 32-segment blocks, ties at the threshold, NaN heights."""
    rng = np.random.default_rng(seed)
    x = np.sort(np.round(rng.uniform(0, 800, n)))  # whole metres: ties at the radius edges
    h = rng.normal(0.0, 0.2, n)
    if quantized:  # exact ties between h[j] and h[i] - max_above
        h = np.round(h * 20) / 20
    h[rng.random(n) < 0.1] = np.nan
    is_lead = rng.random(n) < 0.3
    # callers pass finite floor heights; a NaN in the floor counts in n, never below
    in_floor = (np.isfinite(h) | (rng.random(n) < 0.5)) & (rng.random(n) < 0.9)
    a = k.high_lead_mask(x, h, is_lead, in_floor, radius, 0.1, percentile)
    b = k.high_lead_mask_numpy(x, h, is_lead, in_floor, radius, 0.1, percentile)
    np.testing.assert_array_equal(a, b)
    assert not a[~is_lead].any()


def test_high_lead_mask_counts_the_neighbourhood_below():
    # 100 floor segments at 0 m, 2 m apart; lead A at +0.1 m, lead B at +0.3 m (ice called
    # water), lead C at +0.3 m where 99 % of the neighbourhood is ice at +0.3 m
    x = np.arange(300) * 2.0
    h = np.zeros(300)
    h[150:] = 0.3
    h[200] = 0.0  # one low segment in C's neighbourhood: 1 of ~100 below, not 5 %
    is_lead = np.zeros(300, dtype=bool)
    h[50], h[60], h[250] = 0.1, 0.3, 0.3
    is_lead[[50, 60, 250]] = True
    in_floor = np.ones(300, dtype=bool)
    high = k.high_lead_mask(x, h, is_lead, in_floor, 100.0, 0.15, 5.0)
    np.testing.assert_array_equal(np.flatnonzero(high), [60])
    # with the 1st percentile the single low segment is enough: C is high too
    high1 = k.high_lead_mask(x, h, is_lead, in_floor, 100.0, 0.15, 1.0)
    np.testing.assert_array_equal(np.flatnonzero(high1), [60, 250])
    # no floor segment within the radius: kept
    lonely = k.high_lead_mask(x, h, is_lead, np.zeros(300, dtype=bool), 100.0, 0.15, 1.0)
    assert not lonely.any()


def test_photon_spread_floors_and_keeps_empty_segments_nan():
    # err = h_std / sqrt(n) from lead_mask_and_error; NaN where the segment is empty
    err = np.array([0.2 / 2.0, 0.02 / np.sqrt(3.0), 0.1, np.nan, 0.05])
    n = np.array([4.0, 3.0, 1.0, 0.0, 0.0])
    spread, photon_err = k.photon_spread(err, n, 0.1)
    # 4 photons spread 0.2 m: kept; 3 photons spread 0.02 m: floored at 0.1; one photon: 0.1
    np.testing.assert_allclose(spread[:3], [0.2, 0.1, 0.1])
    np.testing.assert_allclose(photon_err[:3], [0.1, 0.1 / np.sqrt(3.0), 0.1])
    # empty segments stay NaN (also with a finite error and no photons)
    assert np.all(np.isnan(spread[3:])) and np.all(np.isnan(photon_err[3:]))
    out = k.add_in_quadrature(photon_err, spread, 0.5)
    np.testing.assert_allclose(out[:3], np.hypot(photon_err[:3], 0.5 * spread[:3]))
    assert np.all(np.isnan(out[3:]))
