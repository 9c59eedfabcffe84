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
    "rolling_mean",
    "rolling_mean_numpy",
    "rolling_percentile",
    "rolling_percentile_numpy",
    "rolling_percentile_strided",
    "rolling_percentile_strided_numpy",
    "rolling_percentiles_strided",
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


#: Evaluation bins per parallel chunk of :func:`rolling_percentile_strided`.
_EVAL_CHUNK = 64


@numba.njit(nogil=True, cache=True)
def _finite_sorted(values, lo, hi, buf):
    # the finite values of values[lo:hi], sorted, into buf; returns how many
    m = 0
    for j in range(lo, hi):
        v = values[j]
        if np.isfinite(v):
            buf[m] = v
            m += 1
    if m > 24:
        buf[:m] = np.sort(buf[:m])
    else:  # a few values (the bins a short window slides by): insertion sort, no call
        for a in range(1, m):
            v = buf[a]
            b = a - 1
            while b >= 0 and buf[b] > v:
                buf[b + 1] = buf[b]
                b -= 1
            buf[b + 1] = v
    return m


@numba.njit(nogil=True, cache=True)
def _slide(values, cur, m, lo0, hi0, lo, hi, new, drop, add):
    # cur[:m]: the sorted finite values of values[lo0:hi0]; writes those of values[lo:hi]
    # (lo >= lo0, hi >= hi0, lo < hi0) into new, by one merge pass that skips the values
    # leaving on the left and takes in those entering on the right; returns their count
    nd = _finite_sorted(values, lo0, lo, drop)
    na = _finite_sorted(values, hi0, hi, add)
    x = 0
    r = 0
    a = 0
    t = 0
    while x < m or a < na:
        if x < m and r < nd and cur[x] == drop[r]:  # drop is a sub-multiset of cur
            x += 1
            r += 1
        elif a < na and (x >= m or add[a] < cur[x]):
            new[t] = add[a]
            a += 1
            t += 1
        else:
            new[t] = cur[x]
            x += 1
            t += 1
    return t


@numba.njit(nogil=True, cache=True, parallel=True)
def _rolling_percentiles_strided(values, key, half_window, qs, min_count, step):
    # (len(qs), n) rolling percentiles for ascending qs; see rolling_percentiles_strided.
    # Each parallel chunk of evaluation bins sorts its first window and then slides: the
    # windows of consecutive evaluation bins overlap by all but ``step`` bins, so the sorted
    # window is updated by one merge pass (no branch mispredicted per value, unlike a
    # selection) and every percentile is read off it.
    n = values.shape[0]
    nq = qs.shape[0]
    out = np.full((nq, n), np.nan)
    if n == 0:
        return out
    step = max(1, step)
    ev = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        if i == 0 or i == n - 1 or key[i] % step == 0:
            ev[m] = i
            m += 1
    w = min(n, 2 * half_window + 1)
    nchunk = (m + _EVAL_CHUNK - 1) // _EVAL_CHUNK
    for c in numba.prange(nchunk):
        cur = np.empty(w)
        new = np.empty(w)
        drop = np.empty(w)
        add = np.empty(w)
        lo0 = 0
        hi0 = 0
        cnt = 0
        for k in range(c * _EVAL_CHUNK, min(m, (c + 1) * _EVAL_CHUNK)):
            i = ev[k]
            lo = max(0, i - half_window)
            hi = min(n, i + half_window + 1)
            if k == c * _EVAL_CHUNK or lo >= hi0 or 2 * (lo - lo0) > w:
                cnt = _finite_sorted(values, lo, hi, cur)
            else:
                cnt = _slide(values, cur, cnt, lo0, hi0, lo, hi, new, drop, add)
                cur, new = new, cur
            lo0 = lo
            hi0 = hi
            if cnt < min_count or cnt == 0:
                continue
            for t in range(nq):
                pos = qs[t] / 100.0 * (cnt - 1)
                a_i = int(np.floor(pos))
                b_i = min(a_i + 1, cnt - 1)
                a = cur[a_i]
                out[t, i] = a + (cur[b_i] - a) * (pos - a_i)
    for c in numba.prange(nchunk):
        for k in range(c * _EVAL_CHUNK + 1, min(m, (c + 1) * _EVAL_CHUNK + 1)):
            prev = ev[k - 1]
            i = ev[k]
            d = i - prev
            if d > 1:
                for t in range(nq):
                    a = out[t, prev]
                    b = out[t, i]
                    if np.isfinite(a) and np.isfinite(b):
                        for j in range(prev + 1, i):
                            out[t, j] = a + (b - a) * ((j - prev) / d)
    return out


def rolling_percentiles_strided(values, key, half_window: int, qs, min_count: int,
                                step: int) -> np.ndarray:
    """Several rolling percentiles of one array at once (see :func:`rolling_percentile_strided`).

    The sorted finite values of the window are kept from one evaluation bin to the next (one
    merge pass drops the bins that leave and takes in those that enter) and every percentile
    is read off them: three percentiles cost little more than one. Values are exactly those of
    :func:`rolling_percentile_strided` for each ``q``.

    Parameters
    ----------
    values, key, half_window, min_count, step
        As :func:`rolling_percentile_strided`.
    qs : sequence of float
        Percentiles, 0-100, in any order.

    Raises
    ------
    ValueError
        A percentile outside 0-100 (or NaN).

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(len(qs), n)``, row ``t`` for ``qs[t]``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> rolling_percentiles_strided(x, np.arange(10), 2, [50.0, 0.0], 1, 1)[:, 4].tolist()
    [4.0, 2.0]
    """
    q = np.asarray(qs, dtype=np.float64).reshape(-1)
    if not np.all((q >= 0.0) & (q <= 100.0)):  # also rejects NaN
        raise ValueError(f"percentiles must lie in 0..100, got {q.tolist()}")
    order = np.argsort(q, kind="stable")
    res = _rolling_percentiles_strided(np.asarray(values, dtype=np.float64),
                                       np.asarray(key, dtype=np.int64), int(half_window),
                                       q[order], int(min_count), int(step))
    out = np.empty_like(res)
    out[order] = res
    return out


def rolling_percentile_strided(values, key, half_window: int, q: float, min_count: int,
                               step: int) -> np.ndarray:
    """Rolling percentile evaluated every ``step`` bins and linearly interpolated in between.

    The exact percentile of the finite values in ``[i-h, i+h]`` (as
    :func:`rolling_percentile`) is computed at the *evaluation bins*: the first and last
    bin and every bin whose ``key`` (the global segment index) is a multiple of ``step``;
    bins in between get the linear interpolation (in position) of the two evaluation bins
    around them, NaN if either is NaN. Anchoring the evaluation bins on the global segment
    index makes a slice of the beam with a halo of ``h + step`` bins give the same values in
    its interior as the whole beam. Cost O(n * (2h+1) / step) instead of O(n * (2h+1)); the
    evaluation bins are independent and split over numba's threads (``NUMBA_NUM_THREADS``).

    Parameters
    ----------
    values : numpy.ndarray
        1-D float array; NaN marks empty bins.
    key : numpy.ndarray
        1-D int64 global index of each bin (the ``segment`` coordinate).
    half_window : int
        Half width ``h`` of the window, in bins.
    q : float
        Percentile, 0-100.
    min_count : int
        Fewer finite values than this in the window gives NaN.
    step : int
        Spacing of the evaluation bins (``1``: exact at every bin).

    Returns
    -------
    numpy.ndarray
        float64 array of the same length.
    """
    return rolling_percentiles_strided(values, key, half_window, [q], min_count, step)[0]


def rolling_percentile_strided_numpy(values, key, half_window, q, min_count, step):
    """Plain-numpy reference of :func:`rolling_percentile_strided` (tests only)."""
    values = np.asarray(values, dtype=np.float64)
    key = np.asarray(key, dtype=np.int64)
    n = values.shape[0]
    out = np.full(n, np.nan)
    if n == 0:
        return out
    step = max(1, int(step))
    ev = np.flatnonzero((key % step == 0) | (np.arange(n) == 0) | (np.arange(n) == n - 1))
    exact = rolling_percentile_numpy(values, half_window, q, min_count)
    out[ev] = exact[ev]
    for a, b in zip(ev[:-1], ev[1:], strict=True):
        if b - a > 1 and np.isfinite(exact[a]) and np.isfinite(exact[b]):
            t = (np.arange(a + 1, b) - a) / (b - a)
            out[a + 1 : b] = exact[a] + (exact[b] - exact[a]) * t
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
def rolling_mean(values, half_window, min_count):
    """Mean of the finite values in ``[i-h, i+h]`` (running sums, O(n)).

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
    s = 0.0
    c = 0
    for j in range(min(half_window, n)):
        v = values[j]
        if np.isfinite(v):
            s += v
            c += 1
    for i in range(n):
        add = i + half_window
        if add < n:
            v = values[add]
            if np.isfinite(v):
                s += v
                c += 1
        drop = i - half_window - 1
        if drop >= 0:
            v = values[drop]
            if np.isfinite(v):
                s -= v
                c -= 1
        if c >= min_count and c > 0:
            out[i] = s / c
    return out


def rolling_mean_numpy(values, half_window, min_count):
    """Plain-numpy reference of :func:`rolling_mean` (tests only)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape[0], np.nan)
    for i in range(values.shape[0]):
        w = values[max(0, i - half_window) : i + half_window + 1]
        w = w[np.isfinite(w)]
        if w.size >= max(min_count, 1):
            out[i] = w.mean()
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


@numba.njit(nogil=True, cache=True, parallel=True)
def standardize_into(x, valid, mean, std, out):  # pragma: no cover - compiled
    """``out[:, :f] = (float32(x) - mean) / std`` with non-finite values and invalid rows set
    to 0, ``out[:, f] = valid`` (float32); one pass, rows over numba's threads.

    ``x`` (n, f) float, ``valid`` (n,) bool, ``mean``/``std`` (f,) float32, ``out`` (n, f + 1)
    float32 (C-contiguous rows), written in place. Equal to :func:`standardize_numpy`.
    """
    n, f = x.shape
    zero = np.float32(0.0)
    for i in numba.prange(n):
        ok = valid[i]
        for j in range(f):
            z = (np.float32(x[i, j]) - mean[j]) / std[j]
            out[i, j] = z if ok and np.isfinite(z) else zero
        out[i, f] = np.float32(1.0) if ok else zero


def standardize_numpy(x, valid, mean, std):
    """Plain-numpy twin of :func:`standardize_into`, returning the (n, f + 1) float32 array."""
    z = (np.asarray(x, np.float32) - mean) / std
    v = np.asarray(valid, bool)
    z = np.where(np.isfinite(z) & v[:, None], z, np.float32(0.0))
    return np.concatenate([z, v[:, None].astype(np.float32)], axis=1).astype(np.float32)


#: Columns written by :func:`feature_matrix`, in order (``FeatureConfig.feature_names``).
FEATURE_COLUMNS: tuple[str, ...] = (
    "h_rel", "h_rel_mid", "h_rel_long", "h_floor_long", "h_ice_mid", "h_ice_long", "h_med_rel",
    "h_std", "h_range", "h_rough", "pcnt", "pcnth", "pcnt_rel", "pcnt_rel_long",
    "pcnt_local_rel", "high_frac", "log_bcnt", "log_brate", "coverage",
)  # fmt: skip


@numba.njit(nogil=True, cache=True, parallel=True)
def feature_matrix(
    h, hmed, valid, h_std, h_max, h_min, n_ph, n_high, pcnt, pcnth, bcnt, brate,
    ref_s, ref_m, ice_m, ref_l, floor_l, ice_l, h_rough, pcnt_ref, pcnt_ref_l, pcnt_local,
    coverage, out,
):  # fmt: skip  # pragma: no cover - compiled
    """The per-segment feature matrix from the segment values and their rolling references.

    One pass (rows over numba's threads) in float64, each value rounded to float32 into
    ``out`` (n, 19) in the order of :data:`FEATURE_COLUMNS`; the same arithmetic as
    :func:`feature_matrix_numpy`. ``h``/``hmed`` are NaN outside ``valid``; ``n_ph``,
    ``pcnt``, ``pcnth`` have NaN already replaced by 0.
    """
    nan = np.nan
    for i in numba.prange(h.shape[0]):
        v = valid[i]
        hi = h[i]
        out[i, 0] = hi - ref_s[i]
        out[i, 1] = hi - ref_m[i]
        out[i, 2] = hi - ref_l[i]
        out[i, 3] = hi - floor_l[i]
        out[i, 4] = hi - ice_m[i]
        out[i, 5] = hi - ice_l[i]
        out[i, 6] = hmed[i] - ref_s[i]
        out[i, 7] = np.float64(h_std[i]) if v else nan
        out[i, 8] = np.float64(h_max[i]) - np.float64(h_min[i]) if v else nan
        out[i, 9] = h_rough[i]
        p = pcnt[i]
        out[i, 10] = p
        out[i, 11] = pcnth[i]
        r = pcnt_ref[i]
        out[i, 12] = p / (r if r > 0 else nan)
        r = pcnt_ref_l[i]
        r = r if r > 0 else nan
        out[i, 13] = p / r
        out[i, 14] = pcnt_local[i] / r
        nh = np.float64(n_high[i])
        nh = 0.0 if nh != nh else nh
        out[i, 15] = nh / max(n_ph[i], 1.0) if v else nan
        b = np.float64(bcnt[i])
        out[i, 16] = np.log1p(0.0 if b < 0 else b)  # NaN stays NaN, as np.clip
        b = np.float64(brate[i])
        out[i, 17] = np.log1p(0.0 if b < 0 else b)
        out[i, 18] = coverage[i]


def feature_matrix_numpy(
    h, hmed, valid, h_std, h_max, h_min, n_ph, n_high, pcnt, pcnth, bcnt, brate,
    ref_s, ref_m, ice_m, ref_l, floor_l, ice_l, h_rough, pcnt_ref, pcnt_ref_l, pcnt_local,
    coverage,
):  # fmt: skip
    """Plain-numpy twin of :func:`feature_matrix`, returning the (n, 19) float32 matrix."""
    f64 = np.float64
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_pos = np.where(pcnt_ref > 0, pcnt_ref, np.nan)
        ref_pos_l = np.where(pcnt_ref_l > 0, pcnt_ref_l, np.nan)
        cols = [
            h - ref_s, h - ref_m, h - ref_l, h - floor_l, h - ice_m, h - ice_l, hmed - ref_s,
            np.where(valid, np.asarray(h_std, f64), np.nan),
            np.where(valid, np.asarray(h_max, f64) - np.asarray(h_min, f64), np.nan),
            h_rough, pcnt, pcnth, pcnt / ref_pos, pcnt / ref_pos_l, pcnt_local / ref_pos_l,
            np.where(valid, np.nan_to_num(np.asarray(n_high, f64)) / np.maximum(n_ph, 1),
                     np.nan),
            np.log1p(np.clip(np.asarray(bcnt, f64), 0, None)),
            np.log1p(np.clip(np.asarray(brate, f64), 0, None)),
            coverage,
        ]  # fmt: skip
    out = np.empty((np.shape(h)[0], len(cols)), np.float32)
    for j, c in enumerate(cols):
        out[:, j] = c
    return out
