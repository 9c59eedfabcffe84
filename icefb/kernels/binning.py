"""Along-track binning kernels: photons -> per-bin statistics on a regular ``x_atc`` grid.

One streaming pass over photons ordered by bin (``floor(x_atc / window)``): per bin the signal
photons (``quality_ph == 0`` and confidence ``>= min_conf``) are counted and their heights copied
into a small buffer; at the end of the bin the buffer is sorted in place (a branch-free rank sort
for the usual handful of photons, ``np.sort`` for crowded bins), which gives the median, minimum
and maximum, and a second pass over the (cache-resident) buffer gives the standard deviation.
The photon loop is branch-free (signal/noise and NaN are selected arithmetically), since signal
and noise photons alternate unpredictably.

Every bin is computed from all of its photons in photon order, so any caller that hands a bin's
photons to the kernel in the same order (e.g. a chunked run that finishes the bins cut by a chunk
edge from the photons of both sides) gets bit-for-bit the same numbers.

:func:`bin_photons` is the numba kernel, :func:`bin_photons_numpy` its plain-numpy reference twin
(same signature, used by tests), :func:`bin_block` the runner that checks the order cheaply and
sorts unordered input (stable, by bin) before calling the kernel.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "BIN_FIELDS",
    "bin_block",
    "bin_photons",
    "bin_photons_numpy",
    "bin_range",
    "edge_runs",
    "ground_track_ends",
]

#: Names of the per-bin arrays returned by the kernels, in order.
BIN_FIELDS: tuple[str, ...] = (
    "n_photons",
    "n_high",
    "h_mean",
    "h_median",
    "h_std",
    "h_min",
    "h_max",
    "h_cor_mean",
    "h_cor_median",
    "lat",
    "lon",
    "delta_time",
)

_INSERTION_MAX = 32  # buffers up to this size are insertion-sorted, larger ones np.sort


@numba.njit(nogil=True, cache=True, inline="always")
def _sort8(buf, k):  # pragma: no cover - compiled
    """Sort ``buf[:k]`` (k <= 8, no NaNs) in place with a branch-free sorting network.

    Batcher's odd-even merge network for 8 inputs (19 compare-exchanges) on registers, slots
    ``k..7`` padded with +inf (``buf`` must hold 8 values).
    """
    inf = np.inf
    a0 = buf[0] if 0 < k else inf
    a1 = buf[1] if 1 < k else inf
    a2 = buf[2] if 2 < k else inf
    a3 = buf[3] if 3 < k else inf
    a4 = buf[4] if 4 < k else inf
    a5 = buf[5] if 5 < k else inf
    a6 = buf[6] if 6 < k else inf
    a7 = buf[7] if 7 < k else inf
    a0, a1 = min(a0, a1), max(a0, a1)
    a2, a3 = min(a2, a3), max(a2, a3)
    a0, a2 = min(a0, a2), max(a0, a2)
    a1, a3 = min(a1, a3), max(a1, a3)
    a1, a2 = min(a1, a2), max(a1, a2)
    a4, a5 = min(a4, a5), max(a4, a5)
    a6, a7 = min(a6, a7), max(a6, a7)
    a4, a6 = min(a4, a6), max(a4, a6)
    a5, a7 = min(a5, a7), max(a5, a7)
    a5, a6 = min(a5, a6), max(a5, a6)
    a0, a4 = min(a0, a4), max(a0, a4)
    a2, a6 = min(a2, a6), max(a2, a6)
    a2, a4 = min(a2, a4), max(a2, a4)
    a1, a5 = min(a1, a5), max(a1, a5)
    a3, a7 = min(a3, a7), max(a3, a7)
    a3, a5 = min(a3, a5), max(a3, a5)
    a1, a2 = min(a1, a2), max(a1, a2)
    a3, a4 = min(a3, a4), max(a3, a4)
    a5, a6 = min(a5, a6), max(a5, a6)
    buf[0] = a0
    buf[1] = a1
    buf[2] = a2
    buf[3] = a3
    buf[4] = a4
    buf[5] = a5
    buf[6] = a6
    buf[7] = a7


@numba.njit(nogil=True, cache=True, inline="always")
def _sort_small(buf, k):  # pragma: no cover - compiled
    """Sort ``buf[:k]`` (no NaNs) in place: network for k <= 8, insertion sort, else np.sort."""
    if k <= 8:
        _sort8(buf, k)
    elif k <= _INSERTION_MAX:
        for a in range(1, k):
            v = buf[a]
            c = a - 1
            while c >= 0 and buf[c] > v:
                buf[c + 1] = buf[c]
                c -= 1
            buf[c + 1] = v
    else:
        buf[:k] = np.sort(buf[:k])


@numba.njit(nogil=True, cache=True, inline="always")
def _median_sorted(buf, k):  # pragma: no cover - compiled
    """Median of the sorted ``buf[:k]`` (k >= 1)."""
    return 0.5 * (buf[(k - 1) // 2] + buf[k // 2])


@numba.njit(nogil=True, cache=True)
def _max_run(x_atc, window):  # pragma: no cover - compiled
    """Longest run of consecutive finite-``x_atc`` photons in one bin (NaNs skipped)."""
    best = 0
    run = 0
    cur = np.int64(-(2**62))
    for p in range(x_atc.shape[0]):
        x = x_atc[p]
        if x != x:
            continue
        b = np.int64(np.floor(x / window))
        if b != cur:
            cur = b
            best = max(best, run)
            run = 0
        run += 1
    return max(best, run)


@numba.njit(nogil=True, cache=True, inline="always")
def _wrap_lon(d):  # pragma: no cover - compiled
    """Wrap a longitude (difference) in [-540, 540) to [-180, 180)."""
    return d - 360.0 * (d >= 180.0) + 360.0 * (d < -180.0)


@numba.njit(nogil=True, cache=True)
def bin_photons(
    x_atc,
    h_ph,
    conf,
    conf_column,
    quality_ph,
    geoid,
    tide_ocean,
    tide_equilibrium,
    dac,
    lat_ph,
    lon_ph,
    delta_time,
    window,
    min_conf,
    high_conf,
    b0,
    nbins,
):  # pragma: no cover - compiled (the numpy twin is the tested reference)
    """Per-bin statistics of signal photons ordered by bin (numba kernel).

    Parameters
    ----------
    x_atc : numpy.ndarray of float64, (n,)
        Along-track distance (m). NaN photons are skipped (not binned).
    h_ph : numpy.ndarray of float32 or float64, (n,)
        Photon height (m above WGS84). NaN heights count as photons but enter no height statistic.
    conf : numpy.ndarray of int8, (n, m)
        ``signal_conf_ph``; column ``conf_column`` is used.
    conf_column : int
        Confidence column (2 = sea ice).
    quality_ph : numpy.ndarray of int8, (n,)
        Photon quality; only 0 is signal.
    geoid, tide_ocean, tide_equilibrium, dac : numpy.ndarray, (n,)
        Corrections (m) removed from ``h_ph`` to form ``h_cor``; NaN makes that photon's
        ``h_cor`` NaN (excluded from the ``h_cor`` statistics).
    lat_ph, lon_ph : numpy.ndarray of float64, (n,)
        Photon latitude/longitude (degrees); the longitude mean is taken across the dateline.
    delta_time : numpy.ndarray of float64, (n,)
        Photon time (s since 2018-01-01).
    window : float
        Bin length (m).
    min_conf, high_conf : int
        Signal threshold and high-confidence level of ``conf[:, conf_column]``.
    b0, nbins : int
        Output covers bins ``b0 .. b0 + nbins - 1`` (bin = ``floor(x_atc / window)``).

    Returns
    -------
    tuple
        The arrays named in :data:`BIN_FIELDS` (counts int32, the rest float64, NaN where a bin
        has no valid value), then ``ok`` (False when the photons are not ordered by bin or fall
        outside the requested range; the other outputs are then meaningless).
    """
    n = x_atc.shape[0]
    n_photons = np.zeros(nbins, np.int32)
    n_high = np.zeros(nbins, np.int32)
    h_mean = np.full(nbins, np.nan)
    h_median = np.full(nbins, np.nan)
    h_std = np.full(nbins, np.nan)
    h_min = np.full(nbins, np.nan)
    h_max = np.full(nbins, np.nan)
    c_mean = np.full(nbins, np.nan)
    c_median = np.full(nbins, np.nan)
    lat = np.full(nbins, np.nan)
    lon = np.full(nbins, np.nan)
    dtime = np.full(nbins, np.nan)
    # sized once from the longest same-bin run: no reallocation inside the photon loop
    cap = _max_run(x_atc, window) + 9
    hbuf = np.empty(cap, np.float64)
    cbuf = np.empty(cap, np.float64)
    ok = True
    cur = np.int64(-1)
    cnt = 0
    nh = 0
    kh = 0
    kc = 0
    sh = 0.0
    sc = 0.0
    slat = 0.0
    slon = 0.0
    st = 0.0
    lon0 = 0.0
    for p in range(n + 1):  # p == n flushes the last bin
        if p < n:
            xp = x_atc[p]
            if xp != xp:
                continue
            b = np.int64(np.floor(xp / window)) - b0
        else:
            b = np.int64(nbins)
        if b != cur:
            if cur >= 0 and cnt > 0:
                n_photons[cur] = cnt
                n_high[cur] = nh
                lat[cur] = slat / cnt
                lon[cur] = _wrap_lon(lon0 + slon / cnt)
                dtime[cur] = st / cnt
                if kh > 0:
                    m = sh / kh
                    h_mean[cur] = m
                    ss = 0.0
                    for q in range(kh):
                        d = hbuf[q] - m
                        ss += d * d
                    h_std[cur] = np.sqrt(ss / kh)
                    _sort_small(hbuf, kh)
                    h_min[cur] = hbuf[0]
                    h_max[cur] = hbuf[kh - 1]
                    h_median[cur] = _median_sorted(hbuf, kh)
                if kc > 0:
                    c_mean[cur] = sc / kc
                    _sort_small(cbuf, kc)
                    c_median[cur] = _median_sorted(cbuf, kc)
            if p == n:
                break
            if b < cur or b < 0 or b >= nbins:
                ok = False
                break
            cur = b
            cnt = 0
            nh = 0
            kh = 0
            kc = 0
            sh = 0.0
            sc = 0.0
            slat = 0.0
            slon = 0.0
            st = 0.0
            lon0 = lon_ph[p]
        # branch-free: signal/noise and NaN are data-dependent coin flips for the predictor
        cf = conf[p, conf_column]
        sig = (quality_ph[p] == 0) & (cf >= min_conf)
        cnt += sig
        nh += sig & (cf >= high_conf)
        slat += lat_ph[p] if sig else 0.0
        slon += _wrap_lon(lon_ph[p] - lon0) if sig else 0.0
        st += delta_time[p] if sig else 0.0
        hv = np.float64(h_ph[p])
        hok = sig & (hv == hv)
        hbuf[kh] = hv
        kh += hok
        sh += hv if hok else 0.0
        cv = (
            hv
            - np.float64(geoid[p])
            - np.float64(tide_ocean[p])
            - np.float64(tide_equilibrium[p])
            - np.float64(dac[p])
        )
        cok = hok & (cv == cv)
        cbuf[kc] = cv
        kc += cok
        sc += cv if cok else 0.0
    return (
        n_photons,
        n_high,
        h_mean,
        h_median,
        h_std,
        h_min,
        h_max,
        c_mean,
        c_median,
        lat,
        lon,
        dtime,
        ok,
    )


def _seq_sum(values: np.ndarray, starts: np.ndarray, n_out: int) -> np.ndarray:
    """Left-to-right sum per group (groups are contiguous runs starting at ``starts``)."""
    out = np.zeros(n_out)
    if values.size:
        out[:] = np.add.reduceat(values, starts) if starts.size else 0.0
    return out


def bin_photons_numpy(
    x_atc,
    h_ph,
    conf,
    conf_column,
    quality_ph,
    geoid,
    tide_ocean,
    tide_equilibrium,
    dac,
    lat_ph,
    lon_ph,
    delta_time,
    window,
    min_conf,
    high_conf,
    b0,
    nbins,
):
    """Plain-numpy reference twin of :func:`bin_photons` (same signature and outputs).

    Vectorised with sorts and ``np.add.reduceat``; used by tests to check the kernel. Sums may
    differ from the kernel in the last bits (different summation order), everything else is exact.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.5, 1.0, 2.5]); h = np.array([1.0, 3.0, 5.0], np.float32)
    >>> conf = np.full((3, 5), 4, np.int8); q = np.zeros(3, np.int8); z = np.zeros(3, np.float32)
    >>> out = bin_photons_numpy(x, h, conf, 2, q, z, z, z, z, x, x, x, 2.0, 3, 4, 0, 2)
    >>> out[0].tolist(), out[3].tolist(), bool(out[-1])
    ([2, 1], [2.0, 5.0], True)
    """
    x_atc = np.asarray(x_atc, np.float64)
    valid = ~np.isnan(x_atc)
    bins = np.floor(x_atc[valid] / window).astype(np.int64) - b0
    nanout = np.full(nbins, np.nan)
    ok = bool(np.all(np.diff(bins) >= 0)) and (
        bins.size == 0 or (bins[0] >= 0 and bins[-1] < nbins)
    )
    zero = np.zeros(nbins, np.int32)
    if not ok:
        return (zero, zero.copy(), *(nanout.copy() for _ in range(10)), False)
    idx = np.flatnonzero(valid)
    # longitudes are averaged relative to the bin's first photon (signal or not), across the
    # dateline
    ub_all, first_all = np.unique(bins, return_index=True)
    lon_ref = np.zeros(nbins)
    lon_ref[ub_all] = np.asarray(lon_ph, np.float64)[idx[first_all]]
    cf = np.asarray(conf)[idx, conf_column]
    sig = (np.asarray(quality_ph)[idx] == 0) & (cf >= min_conf)
    idx, bins, cf = idx[sig], bins[sig], cf[sig]

    n_photons = np.bincount(bins, minlength=nbins).astype(np.int32)
    n_high = np.bincount(bins[cf >= high_conf], minlength=nbins).astype(np.int32)
    ub, starts = np.unique(bins, return_index=True)
    cnt = n_photons[ub]

    lat = nanout.copy()
    lat[ub] = _seq_sum(np.asarray(lat_ph, np.float64)[idx], starts, ub.size) / cnt
    tt = nanout.copy()
    tt[ub] = _seq_sum(np.asarray(delta_time, np.float64)[idx], starts, ub.size) / cnt
    lonv = np.asarray(lon_ph, np.float64)[idx]
    lon0 = lon_ref[ub]
    rel = lonv - np.repeat(lon0, cnt)
    rel = rel - 360.0 * np.floor((rel + 180.0) / 360.0)
    lon = nanout.copy()
    lm = lon0 + _seq_sum(rel, starts, ub.size) / cnt
    lon[ub] = lm - 360.0 * np.floor((lm + 180.0) / 360.0)

    h = np.asarray(h_ph)[idx].astype(np.float64)
    hc = (
        h
        - np.asarray(geoid)[idx].astype(np.float64)
        - np.asarray(tide_ocean)[idx].astype(np.float64)
        - np.asarray(tide_equilibrium)[idx].astype(np.float64)
        - np.asarray(dac)[idx].astype(np.float64)
    )
    hstats = _stats_numpy(bins[~np.isnan(h)], h[~np.isnan(h)], nbins, with_spread=True)
    cstats = _stats_numpy(bins[~np.isnan(hc)], hc[~np.isnan(hc)], nbins, with_spread=False)
    return (
        n_photons,
        n_high,
        hstats[0],
        hstats[1],
        hstats[2],
        hstats[3],
        hstats[4],
        cstats[0],
        cstats[1],
        lat,
        lon,
        tt,
        True,
    )


def _stats_numpy(bins: np.ndarray, v: np.ndarray, nbins: int, *, with_spread: bool):
    """Mean, median, std, min, max of ``v`` per (sorted) bin; NaN for empty bins."""
    mean, median, std, vmin, vmax = (np.full(nbins, np.nan) for _ in range(5))
    if v.size == 0:
        return mean, median, std, vmin, vmax
    ub, starts, cnt = np.unique(bins, return_index=True, return_counts=True)
    m = _seq_sum(v, starts, ub.size) / cnt
    mean[ub] = m
    order = np.lexsort((v, bins))
    sv = v[order]
    lo = starts + (cnt - 1) // 2
    hi = starts + cnt // 2
    median[ub] = np.where(cnt % 2 == 1, sv[lo], 0.5 * (sv[lo] + sv[hi]))
    if with_spread:
        d = v - np.repeat(m, cnt)
        std[ub] = np.sqrt(_seq_sum(d * d, starts, ub.size) / cnt)
        vmin[ub] = sv[starts]
        vmax[ub] = sv[starts + cnt - 1]
    return mean, median, std, vmin, vmax


@numba.njit(nogil=True, cache=True)
def _first_last_finite(x):  # pragma: no cover - compiled
    """Indices of the first and last non-NaN element of ``x`` (-1, -1 if none)."""
    n = x.shape[0]
    first = -1
    for i in range(n):
        if x[i] == x[i]:
            first = i
            break
    last = -1
    for i in range(n - 1, -1, -1):
        if x[i] == x[i]:
            last = i
            break
    return first, last


def bin_range(x_atc: np.ndarray, window: float) -> tuple[int, int]:
    """Bins of the first and last finite photon, ``(b_first, b_last)``; ``(0, -1)`` if none.

    For ordered input these are the lowest and highest bin.

    Examples
    --------
    >>> bin_range(np.array([np.nan, 3.0, 9.9]), 2.0)
    (1, 4)
    """
    first, last = _first_last_finite(np.asarray(x_atc, np.float64))
    if first < 0:
        return 0, -1
    return int(np.floor(x_atc[first] / window)), int(np.floor(x_atc[last] / window))


@numba.njit(nogil=True, cache=True)
def ground_track_ends(x_atc, delta_time):  # pragma: no cover - compiled
    """``(x_min, t_at_x_min, x_max, t_at_x_max)`` over photons with finite x and t.

    The first occurrence wins ties, so combining blocks in order (strict comparisons) gives the
    unblocked answer exactly. NaNs when no photon qualifies.
    """
    xmin = np.inf
    xmax = -np.inf
    tmin = np.nan
    tmax = np.nan
    for i in range(x_atc.shape[0]):
        x = x_atc[i]
        t = delta_time[i]
        if x != x or t != t:
            continue
        if x < xmin:
            xmin = x
            tmin = t
        if x > xmax:
            xmax = x
            tmax = t
    if tmin != tmin:
        return np.nan, np.nan, np.nan, np.nan
    return xmin, tmin, xmax, tmax


@numba.njit(nogil=True, cache=True)
def edge_runs(x_atc, window):  # pragma: no cover - compiled
    """``(end_first, start_last)``: photons ``[:end_first]`` hold the first bin (and NaNs),
    ``[start_last:]`` the last bin, for input ordered by bin. ``(n, 0)`` when a single bin (or
    no finite photon) fills the block.
    """
    n = x_atc.shape[0]
    bf = np.int64(-1)
    have = False
    end_first = n
    for i in range(n):
        x = x_atc[i]
        if x != x:
            continue
        b = np.int64(np.floor(x / window))
        if not have:
            bf = b
            have = True
        elif b != bf:
            end_first = i
            break
    if end_first == n:
        return n, 0
    bl = np.int64(-1)
    have = False
    start_last = 0
    for i in range(n - 1, -1, -1):
        x = x_atc[i]
        if x != x:
            continue
        b = np.int64(np.floor(x / window))
        if not have:
            bl = b
            have = True
        elif b != bl:
            start_last = i + 1
            break
    return end_first, start_last


def bin_block(
    arrays: dict[str, np.ndarray],
    *,
    window: float,
    min_conf: int,
    high_conf: int = 4,
    conf_column: int = 2,
    kernel=bin_photons,
) -> tuple[int, tuple[np.ndarray, ...], np.ndarray | None]:
    """Bin one block of photons, sorting it (stable, by bin) first if it is not ordered.

    Parameters
    ----------
    arrays : dict of numpy.ndarray
        ``x_atc, h_ph, signal_conf_ph, quality_ph, geoid, tide_ocean, tide_equilibrium, dac,
        lat_ph, lon_ph, delta_time``, all of length n along the photon axis; cast to the
        photon schema's dtypes (float64 positions and times, float32 heights and corrections,
        int8 flags) and C order before the kernel runs.
    window : float
        Bin length (m).
    min_conf, high_conf, conf_column : int
        As in :func:`bin_photons`.
    kernel : callable
        :func:`bin_photons` or :func:`bin_photons_numpy`.

    Returns
    -------
    b0 : int
        First bin of the block (the outputs cover ``b0 .. b0 + len - 1``).
    stats : tuple of numpy.ndarray
        The :data:`BIN_FIELDS` arrays.
    order : numpy.ndarray or None
        The stable permutation applied (photons with NaN ``x_atc`` last), None if the block was
        already ordered.

    Examples
    --------
    >>> import numpy as np
    >>> n = 3; z = np.zeros(n, np.float32)
    >>> a = dict(x_atc=np.array([4.1, 0.2, 0.3]), h_ph=np.array([1, 2, 4], np.float32),
    ...          signal_conf_ph=np.full((n, 5), 4, np.int8), quality_ph=np.zeros(n, np.int8),
    ...          geoid=z, tide_ocean=z, tide_equilibrium=z, dac=z,
    ...          lat_ph=np.zeros(n), lon_ph=np.zeros(n), delta_time=np.zeros(n))
    >>> b0, stats, order = bin_block(a, window=2.0, min_conf=3)
    >>> b0, stats[0].tolist(), stats[3].tolist(), order.tolist()
    (0, [2, 0, 1], [3.0, nan, 1.0], [1, 2, 0])
    """
    # one dtype/layout per input (the contract's), so the kernel compiles once and is cached
    args = [np.ascontiguousarray(arrays[k], dtype=_DTYPES[k]) for k in _KERNEL_INPUTS]
    x = args[0]
    if _first_last_finite(x)[0] < 0:  # no photon with a finite x_atc
        return 0, _empty_bins(), None
    b_first, b_last = bin_range(x, window)
    if b_last >= b_first:
        out = kernel(
            x, args[1], args[2], conf_column, *args[3:],
            window, min_conf, high_conf, b_first, b_last - b_first + 1,
        )  # fmt: skip
        if out[-1]:
            return b_first, tuple(out[:-1]), None
    # unordered: stable sort by bin, NaN x_atc last
    bins = np.floor(x / window)
    order = np.argsort(bins, kind="stable")
    x = x[order]
    args = [np.asarray(a)[order] for a in args]
    b_first, b_last = bin_range(x, window)
    # the lowest and highest bins are at the ends now, so b_first/b_last span the block
    out = kernel(
        x, args[1], args[2], conf_column, *args[3:],
        window, min_conf, high_conf, b_first, b_last - b_first + 1,
    )  # fmt: skip
    return b_first, tuple(out[:-1]), order


def _empty_bins() -> tuple[np.ndarray, ...]:
    return tuple(np.zeros(0, np.int32) if k.startswith("n_") else np.zeros(0) for k in BIN_FIELDS)


_DTYPES = {
    "x_atc": np.float64,
    "h_ph": np.float32,
    "signal_conf_ph": np.int8,
    "quality_ph": np.int8,
    "geoid": np.float32,
    "tide_ocean": np.float32,
    "tide_equilibrium": np.float32,
    "dac": np.float32,
    "lat_ph": np.float64,
    "lon_ph": np.float64,
    "delta_time": np.float64,
}

#: Photon variables :func:`bin_block` reads, in kernel order.
_KERNEL_INPUTS: tuple[str, ...] = (
    "x_atc",
    "h_ph",
    "signal_conf_ph",
    "quality_ph",
    "geoid",
    "tide_ocean",
    "tide_equilibrium",
    "dac",
    "lat_ph",
    "lon_ph",
    "delta_time",
)
