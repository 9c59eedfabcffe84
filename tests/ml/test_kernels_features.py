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
