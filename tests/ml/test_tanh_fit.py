"""The LSTM kernel's rational tanh: icefb's own fit, reproducible and accurate in float32."""

import numpy as np

from icefb.ml import _lstm_kernel as lk
from icefb.ml._tanh_fit import fit_tanh_rational, rational_tanh


def test_kernel_constants_are_the_fit():
    p, q, err = fit_tanh_rational()
    assert err < 1e-6
    np.testing.assert_allclose([lk._P0, lk._P1, lk._P2, lk._P3], p, rtol=1e-6)
    np.testing.assert_allclose([1.0, lk._Q1, lk._Q2, lk._Q3, lk._Q4], q, rtol=1e-6)
    assert float(lk._CLIP) == 9.0


def test_rational_tanh_float32_error_and_shape():
    p, q, _ = fit_tanh_rational()
    x = np.linspace(-30.0, 30.0, 400_001, dtype=np.float32)
    y = rational_tanh(x, p, q)
    assert np.abs(y - np.tanh(x.astype(np.float64))).max() < 1e-6
    # float32 rounding near +-1 jitters by an ulp or two: bounded and monotone to 1e-6
    assert np.all(np.abs(y) <= 1.0 + 1e-6)
    assert np.all(np.diff(y) >= -1e-6)
    assert np.all(np.diff(y[np.abs(x) < 2]) > 0)  # strictly increasing where it matters
    np.testing.assert_array_equal(rational_tanh(-x, p, q), -y)  # odd


def test_numba_tanh_and_sigmoid_match_the_reference():
    x = np.linspace(-20.0, 20.0, 4001, dtype=np.float32)
    got = np.array([lk._tanh(v) for v in x[::50]], np.float64)
    np.testing.assert_allclose(got, np.tanh(x[::50].astype(np.float64)), atol=1e-6)
    sig = np.array([lk._sigmoid(v) for v in x[::50]], np.float64)
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-x[::50].astype(np.float64))), atol=1e-6)
