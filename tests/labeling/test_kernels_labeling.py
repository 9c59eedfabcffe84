"""numba kernels == their numpy twins, on random inputs and edge cases."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from icefb.kernels.labeling import (
    classify_rgb,
    classify_rgb_numpy,
    drift_scores,
    drift_scores_numpy,
    label_points,
    label_points_numpy,
)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), ny=st.integers(1, 12), nx=st.integers(1, 12),
       scale=st.sampled_from([1.0, 255 / 0.2, 255 / 0.3]))
def test_classify_twins(seed, ny, nx, scale):
    rng = np.random.default_rng(seed)
    r, g, b = (rng.uniform(-0.05, 1.2, (ny, nx)).astype(np.float32) for _ in range(3))
    if scale == 1.0:
        r, g, b = (np.round(a * 255).astype(np.float32) for a in (r, g, b))
    r[rng.random((ny, nx)) < 0.1] = np.nan
    out = classify_rgb(r, g, b, scale, 205, 30)
    np.testing.assert_array_equal(out, classify_rgb_numpy(r, g, b, scale, 205, 30))


def test_classify_thresholds_exact():
    v = np.array([[0, 30, 31, 204, 205, 255, 300]], dtype=np.float32)
    out = classify_rgb(v, v * 0, v * 0, 1.0, 205, 30)
    assert out.tolist() == [[2, 2, 1, 1, 0, 0, 0]]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(0, 60), radius=st.floats(0, 3.5),
       flag_cloud=st.booleans())
def test_label_points_twins(seed, n, radius, flag_cloud):
    rng = np.random.default_rng(seed)
    codes = np.array([-1, 0, 1, 2, 3], np.int8)
    classes = rng.choice(codes, (9, 11), p=[0.05, 0.5, 0.2, 0.2, 0.05])
    px = rng.uniform(-2, 13, n)
    py = rng.uniform(-2, 11, n)
    if n:
        px[0] = np.nan
    a = label_points(classes, px, py, radius, flag_cloud)
    b = label_points_numpy(classes, px, py, radius, flag_cloud)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # labels only where flag 0, and then equal to the pixel class
    assert np.all((a[0] >= 0) == (a[1] == 0))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(0, 80))
def test_drift_scores_twins(seed, n):
    rng = np.random.default_rng(seed)
    field = (rng.random((15, 17)) < 0.3).astype(np.float32)
    field[rng.random(field.shape) < 0.05] = np.nan
    px = rng.uniform(0, 17, n)
    py = rng.uniform(0, 15, n)
    low = rng.random(n)
    off_x = rng.uniform(-3, 3, 7)
    off_y = rng.uniform(-3, 3, 7)
    a = drift_scores(field, px, py, low, off_x, off_y, 5)
    b = drift_scores_numpy(field, px, py, low, off_x, off_y, 5)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_drift_scores_peak_at_true_offset():
    rng = np.random.default_rng(3)
    field = (rng.random((40, 40)) < 0.3).astype(np.float32)
    px = rng.uniform(5, 30, 300)
    py = rng.uniform(5, 30, 300)
    low = field[(py + 4).astype(int), (px - 3).astype(int)].astype(float)
    offs = np.arange(-5, 6, dtype=float)
    ox, oy = (a.ravel() for a in np.meshgrid(offs, offs))
    s = drift_scores(field, px, py, low, ox, oy, 10)
    k = int(np.nanargmax(s))
    assert (ox[k], oy[k]) == (-3.0, 4.0)
    assert s[k] == 1.0 or abs(s[k] - 1.0) < 1e-12
