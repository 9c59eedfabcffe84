"""numba feature kernels == their numpy twins."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from icefb.kernels import features as kf

arrays = st.lists(
    st.one_of(st.floats(-5, 5, allow_nan=False, width=32), st.just(float("nan"))),
    min_size=0, max_size=60,
).map(lambda v: np.asarray(v, dtype=np.float64))


@settings(max_examples=40, deadline=None)
@given(arrays, st.integers(0, 8), st.floats(0, 100), st.integers(1, 4))
def test_rolling_percentile_matches_numpy(x, h, q, min_count):
    np.testing.assert_allclose(kf.rolling_percentile(x, h, q, min_count),
                               kf.rolling_percentile_numpy(x, h, q, min_count),
                               rtol=1e-12, atol=1e-12, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(arrays, st.integers(0, 8), st.integers(1, 4))
def test_rolling_std_and_coverage_match_numpy(x, h, min_count):
    np.testing.assert_allclose(kf.rolling_std(x, h, min_count),
                               kf.rolling_std_numpy(x, h, min_count),
                               rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(kf.rolling_valid_fraction(x, h),
                               kf.rolling_valid_fraction_numpy(x, h))


def test_rolling_percentile_duplicates_and_all_nan():
    x = np.array([1.0, 1.0, 1.0, np.nan, 2.0, 2.0])
    np.testing.assert_allclose(kf.rolling_percentile(x, 2, 0.0, 1),
                               kf.rolling_percentile_numpy(x, 2, 0.0, 1))
    assert np.isnan(kf.rolling_percentile(np.full(5, np.nan), 2, 10.0, 1)).all()


@settings(max_examples=40, deadline=None)
@given(arrays, st.integers(0, 8), st.floats(0, 100), st.integers(1, 4), st.integers(1, 5),
       st.integers(0, 20))
def test_rolling_percentile_strided_matches_numpy(x, h, q, min_count, step, k0):
    key = np.arange(x.size, dtype=np.int64) + k0
    got = kf.rolling_percentile_strided(x, key, h, q, min_count, step)
    np.testing.assert_allclose(got, kf.rolling_percentile_strided_numpy(x, key, h, q, min_count,
                                                                         step),
                               rtol=1e-12, atol=1e-12, equal_nan=True)
    if step == 1:  # every bin evaluated: the exact rolling percentile
        np.testing.assert_allclose(got, kf.rolling_percentile(x, h, q, min_count),
                                   rtol=1e-12, atol=1e-12, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(arrays, st.integers(0, 8), st.integers(1, 4))
def test_rolling_mean_matches_numpy(x, h, min_count):
    np.testing.assert_allclose(kf.rolling_mean(x, h, min_count),
                               kf.rolling_mean_numpy(x, h, min_count),
                               rtol=1e-9, atol=1e-9, equal_nan=True)


def test_strided_percentile_many_parallel_chunks_matches_numpy():
    # thousands of evaluation bins: several parallel chunks, interpolation across chunk edges
    rng = np.random.default_rng(5)
    x = rng.normal(size=12_000)
    x[rng.random(x.size) < 0.3] = np.nan
    x[4000:4300] = np.nan  # a gap longer than the window: NaN evaluations inside it
    key = np.arange(x.size, dtype=np.int64) + 77
    for h, step in ((40, 3), (25, 1), (300, 37)):
        got = kf.rolling_percentile_strided(x, key, h, 10.0, 3, step)
        want = kf.rolling_percentile_strided_numpy(x, key, h, 10.0, 3, step)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_strided_percentile_slice_with_halo_equals_whole():
    # evaluation bins are anchored on the global index: a slice with a halo of h + step bins
    # reproduces the whole-array values in its interior (blockwise classification relies on it)
    rng = np.random.default_rng(1)
    x = rng.normal(size=3000)
    x[rng.random(x.size) < 0.2] = np.nan
    key = np.arange(x.size, dtype=np.int64) + 12345
    h, step = 60, 7
    whole = kf.rolling_percentile_strided(x, key, h, 5.0, 3, step)
    for lo, hi in ((0, 700), (500, 1900), (1234, 3000)):
        part = kf.rolling_percentile_strided(x[lo:hi], key[lo:hi], h, 5.0, 3, step)
        a = lo + (h + step if lo > 0 else 0)
        b = hi - (h + step if hi < x.size else 0)
        np.testing.assert_array_equal(part[a - lo : b - lo], whole[a:b])


@settings(max_examples=40, deadline=None)
@given(arrays, st.integers(0, 8), st.lists(st.floats(0, 100), min_size=1, max_size=4),
       st.integers(1, 4), st.integers(1, 5), st.integers(0, 20))
def test_several_percentiles_at_once_equal_one_at_a_time(x, h, qs, min_count, step, k0):
    # one gathered window serves every q (each selection right of the previous one); the
    # values are the same order statistics, so they equal the one-q twin exactly, in any order
    # of qs and with repeated qs
    key = np.arange(x.size, dtype=np.int64) + k0
    qs = qs + qs[:1]
    got = kf.rolling_percentiles_strided(x, key, h, qs, min_count, step)
    assert got.shape == (len(qs), x.size)
    for t, q in enumerate(qs):
        want = kf.rolling_percentile_strided_numpy(x, key, h, q, min_count, step)
        np.testing.assert_allclose(got[t], want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_several_percentiles_many_chunks_with_ties():
    rng = np.random.default_rng(9)
    x = np.round(rng.normal(size=9000), 1)  # many equal values: ties at the order statistics
    x[rng.random(x.size) < 0.25] = np.nan
    key = np.arange(x.size, dtype=np.int64)
    qs = [50.0, 1.0, 5.0, 5.0, 99.0]
    got = kf.rolling_percentiles_strided(x, key, 400, qs, 5, 50)
    for t, q in enumerate(qs):
        np.testing.assert_array_equal(got[t], kf.rolling_percentile_strided_numpy(
            x, key, 400, q, 5, 50))


def test_several_percentiles_reject_out_of_range():
    import pytest

    x = np.arange(10.0)
    for bad in ([101.0], [-1.0], [50.0, float("nan")]):
        with pytest.raises(ValueError, match="0..100"):
            kf.rolling_percentiles_strided(x, np.arange(10), 2, bad, 1, 1)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), f=st.integers(1, 6))
def test_standardize_kernel_equals_numpy_twin(seed, n, f):
    from icefb.kernels.features import standardize_into, standardize_numpy

    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, (n, f))
    x[rng.random((n, f)) < 0.1] = np.nan
    x[rng.random((n, f)) < 0.05] = np.inf
    valid = rng.random(n) < 0.8
    mean = rng.normal(0, 1, f).astype(np.float32)
    std = rng.uniform(0.1, 2.0, f).astype(np.float32)
    out = np.full((n, f + 1), np.nan, np.float32)
    standardize_into(x, valid, mean, std, out)
    np.testing.assert_array_equal(out, standardize_numpy(x, valid, mean, std))
    assert np.all(out[~valid] == 0.0) and np.all(np.isfinite(out))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 200))
def test_feature_matrix_kernel_equals_numpy_twin(seed, n):
    from icefb.kernels.features import FEATURE_COLUMNS, feature_matrix, feature_matrix_numpy
    from icefb.ml.features import FeatureConfig

    rng = np.random.default_rng(seed)
    valid = rng.random(n) < 0.8

    def col(lo=-2.0, hi=2.0, nan=0.1, dtype=np.float64):
        v = rng.uniform(lo, hi, n)
        v[rng.random(n) < nan] = np.nan
        return v.astype(dtype)

    h, hmed = np.where(valid, col(), np.nan), np.where(valid, col(), np.nan)
    n_ph = rng.integers(0, 9, n).astype(np.float64)
    args = (
        h, hmed, valid, col(0, 1, dtype=np.float32), col(dtype=np.float32), col(dtype=np.float32),
        n_ph, rng.integers(0, 9, n).astype(np.int32), col(0, 3, 0), col(0, 3, 0),
        col(-1, 50, dtype=np.float32), col(-1e3, 1e6), *(col() for _ in range(7)),
        col(-1, 3), col(-1, 3), col(0, 3), col(0, 1),
    )  # pcnt_ref and pcnt_ref_l reach <= 0 (no reference), bcnt and brate below 0 (clipped)
    out = np.empty((n, len(FEATURE_COLUMNS)), np.float32)
    feature_matrix(*args, out)
    np.testing.assert_allclose(out, feature_matrix_numpy(*args), rtol=2e-7, atol=0)
    assert FeatureConfig().feature_names == FEATURE_COLUMNS
