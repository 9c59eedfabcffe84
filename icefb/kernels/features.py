"""Rolling-window kernels for label-free classification features.

Every kernel works on a 1-D float array on the regular 2 m segment grid, ignores non-finite
values (empty bins) and returns NaN where the window holds fewer than ``min_count`` finite
values. The ``*_numpy`` twins are plain-numpy references used only by tests.

Examples
--------
>>> import numpy as np
>>> x = np.array([1.0, np.nan, 3.0, 2.0, 5.0])
>>> rolling_percentile(x, 1, 50.0, 1).tolist()
[1.0, 2.0, 2.5, 3.0, 3.5]
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "rolling_percentile",
    "rolling_percentile_numpy",
    "rolling_std",
    "rolling_std_numpy",
    "rolling_valid_fraction",
    "rolling_valid_fraction_numpy",
]


@numba.njit(nogil=True, cache=True)
def _insert(buf, n, v):
    # insert v into the sorted prefix buf[:n]
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    for k in range(n, lo, -1):
        buf[k] = buf[k - 1]
    buf[lo] = v


@numba.njit(nogil=True, cache=True)
def _remove(buf, n, v):
    # remove one occurrence of v from the sorted prefix buf[:n]
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    for k in range(lo, n - 1):
        buf[k] = buf[k + 1]


@numba.njit(nogil=True, cache=True)
def rolling_percentile(values, half_window, q, min_count):
    """Percentile ``q`` (0-100, linear interpolation) of the finite values in ``[i-h, i+h]``.

    Keeps the window sorted (insert/remove by bisection), O(n * window) in total.

    Parameters
    ----------
    values : numpy.ndarray
        1-D float array; NaN marks empty bins.
    half_window : int
        Half width ``h`` of the window, in bins.
    q : float
        Percentile, 0-100 (``numpy.percentile`` "linear" method).
    min_count : int
        Fewer finite values than this in the window gives NaN.

    Returns
    -------
    numpy.ndarray
        float64 array of the same length.
    """
    n = values.shape[0]
    out = np.full(n, np.nan)
    buf = np.empty(2 * half_window + 1)
    m = 0
    # prime the window [0, h-1]
    for j in range(min(half_window, n)):
        v = values[j]
        if np.isfinite(v):
            _insert(buf, m, v)
            m += 1
    for i in range(n):
        add = i + half_window
        if add < n:
            v = values[add]
            if np.isfinite(v):
                _insert(buf, m, v)
                m += 1
        drop = i - half_window - 1
        if drop >= 0:
            v = values[drop]
            if np.isfinite(v):
                _remove(buf, m, v)
                m -= 1
        if m >= min_count and m > 0:
            pos = q / 100.0 * (m - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, m - 1)
            frac = pos - lo
            out[i] = buf[lo] + (buf[hi] - buf[lo]) * frac
    return out


def rolling_percentile_numpy(values, half_window, q, min_count):
    """Plain-numpy reference of :func:`rolling_percentile` (tests only)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        w = values[max(0, i - half_window) : i + half_window + 1]
        w = w[np.isfinite(w)]
        if w.size >= max(min_count, 1):
            out[i] = np.percentile(w, q)
    return out


@numba.njit(nogil=True, cache=True)
def rolling_std(values, half_window, min_count):
    """Population standard deviation of the finite values in ``[i-h, i+h]``.

    Parameters
    ----------
    values : numpy.ndarray
        1-D float array; NaN marks empty bins.
    half_window : int
        Half width of the window, in bins.
    min_count : int
        Fewer finite values than this gives NaN.

    Returns
    -------
    numpy.ndarray
        float64 array of the same length.
    """
    n = values.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        lo = max(0, i - half_window)
        hi = min(n, i + half_window + 1)
        c = 0
        s = 0.0
        for j in range(lo, hi):
            v = values[j]
            if np.isfinite(v):
                c += 1
                s += v
        if c >= min_count and c > 0:
            mean = s / c
            ss = 0.0
            for j in range(lo, hi):
                v = values[j]
                if np.isfinite(v):
                    ss += (v - mean) * (v - mean)
            out[i] = np.sqrt(ss / c)
    return out


def rolling_std_numpy(values, half_window, min_count):
    """Plain-numpy reference of :func:`rolling_std` (tests only)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape[0], np.nan)
    for i in range(values.shape[0]):
        w = values[max(0, i - half_window) : i + half_window + 1]
        w = w[np.isfinite(w)]
        if w.size >= max(min_count, 1):
            out[i] = np.std(w)
    return out


@numba.njit(nogil=True, cache=True)
def rolling_valid_fraction(values, half_window):
    """Fraction of finite values in ``[i-h, i+h]`` (window clipped at the array ends).

    Parameters
    ----------
    values : numpy.ndarray
        1-D float array; NaN marks empty bins.
    half_window : int
        Half width of the window, in bins.

    Returns
    -------
    numpy.ndarray
        float64 array in [0, 1].
    """
    n = values.shape[0]
    csum = np.zeros(n + 1)
    for i in range(n):
        csum[i + 1] = csum[i] + (1.0 if np.isfinite(values[i]) else 0.0)
    out = np.empty(n)
    for i in range(n):
        lo = max(0, i - half_window)
        hi = min(n, i + half_window + 1)
        out[i] = (csum[hi] - csum[lo]) / (hi - lo)
    return out


def rolling_valid_fraction_numpy(values, half_window):
    """Plain-numpy reference of :func:`rolling_valid_fraction` (tests only)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    out = np.empty(n)
    for i in range(n):
        w = values[max(0, i - half_window) : i + half_window + 1]
        out[i] = np.isfinite(w).mean()
    return out
