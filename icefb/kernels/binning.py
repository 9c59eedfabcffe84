"""Along-track binning kernels: photons -> per-bin statistics on a regular ``x_atc`` grid.

One streaming pass over photons ordered by bin (``floor(x_atc / window)``): per bin the signal
photons (``quality_ph == 0`` and confidence ``>= min_conf``) are counted and summed in registers
(the signal test masks by multiplication, no branch), and their heights are written into the
bin's column of a small tile buffer. When the pass leaves a tile of bins, a sorting network
sorts every bin of the tile at once (vectorised across bins), which gives the median, minimum
and maximum; the standard deviation is a second pass over the (cache-resident) slots. Bins with
more heights than the network's 16 slots are sorted on their own.

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

_SLOTS = 16  # heights per bin sorted by the tile network; crowded bins are sorted apart
_TILE = 1024  # bins per tile: the slot buffers (2 x 17 x 1024 float64, 280 kB) stay in L2


def _batcher_pairs(n: int) -> np.ndarray:
    """Compare-exchange pairs of Batcher's odd-even merge sorting network for ``n`` = 2**m."""

    def merge(lo, hi, r):
        step = 2 * r
        if step < hi - lo:
            yield from merge(lo, hi, step)
            yield from merge(lo + r, hi, step)
            yield from ((i, i + r) for i in range(lo + r, hi - r, step))
        else:
            yield (lo, lo + r)

    def sort(lo, hi):
        if hi - lo >= 1:
            mid = lo + (hi - lo) // 2
            yield from sort(lo, mid)
            yield from sort(mid + 1, hi)
            yield from merge(lo, hi, 1)

    return np.array(list(sort(0, n - 1)), np.int64)


#: Batcher's network for the 16 slots (63 compare-exchanges), as (i, j) rows with i < j.
_NETWORK = _batcher_pairs(_SLOTS)


@numba.njit(nogil=True, cache=True, inline="always")
def _pick16(
    i, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15
):  # pragma: no cover - compiled
    """``(a0, ..., a15)[i]`` by selects (no branch, no memory: vectorises), ``a15`` for i >= 15."""
    v = a15
    v = a14 if i == 14 else v
    v = a13 if i == 13 else v
    v = a12 if i == 12 else v
    v = a11 if i == 11 else v
    v = a10 if i == 10 else v
    v = a9 if i == 9 else v
    v = a8 if i == 8 else v
    v = a7 if i == 7 else v
    v = a6 if i == 6 else v
    v = a5 if i == 5 else v
    v = a4 if i == 4 else v
    v = a3 if i == 3 else v
    v = a2 if i == 2 else v
    v = a1 if i == 1 else v
    v = a0 if i == 0 else v
    return v


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _tile_stats(buf, k, s, mean, median, std, vmin, vmax):  # pragma: no cover - compiled
    """Mean, median, std, min and max of the bins of one tile from its slot buffer.

    ``buf[q, j]`` holds the q-th valid height of bin j in photon order (``k[j]`` of them; slots
    from ``k[j]`` on are scratch), ``s[j]`` their sum. The loop body is straight-line code on
    registers (unconditional loads, selects, the 63 compare-exchanges of Batcher's network for
    16 inputs, written out below from :data:`_NETWORK`), so LLVM vectorises it across bins.
    Bins with ``k > _SLOTS`` get a correct mean only: the caller sorts them apart.
    """
    inf = np.inf
    nan = np.nan
    r0 = buf[0]
    r1 = buf[1]
    r2 = buf[2]
    r3 = buf[3]
    r4 = buf[4]
    r5 = buf[5]
    r6 = buf[6]
    r7 = buf[7]
    r8 = buf[8]
    r9 = buf[9]
    r10 = buf[10]
    r11 = buf[11]
    r12 = buf[12]
    r13 = buf[13]
    r14 = buf[14]
    r15 = buf[15]
    for j in range(k.shape[0]):
        kj = k[j]
        m = s[j] / kj  # 0/0: NaN
        # slots in photon order, those past the count padded with +inf
        a0 = r0[j]
        a1 = r1[j]
        a2 = r2[j]
        a3 = r3[j]
        a4 = r4[j]
        a5 = r5[j]
        a6 = r6[j]
        a7 = r7[j]
        a8 = r8[j]
        a9 = r9[j]
        a10 = r10[j]
        a11 = r11[j]
        a12 = r12[j]
        a13 = r13[j]
        a14 = r14[j]
        a15 = r15[j]
        a0 = a0 if 0 < kj else inf
        a1 = a1 if 1 < kj else inf
        a2 = a2 if 2 < kj else inf
        a3 = a3 if 3 < kj else inf
        a4 = a4 if 4 < kj else inf
        a5 = a5 if 5 < kj else inf
        a6 = a6 if 6 < kj else inf
        a7 = a7 if 7 < kj else inf
        a8 = a8 if 8 < kj else inf
        a9 = a9 if 9 < kj else inf
        a10 = a10 if 10 < kj else inf
        a11 = a11 if 11 < kj else inf
        a12 = a12 if 12 < kj else inf
        a13 = a13 if 13 < kj else inf
        a14 = a14 if 14 < kj else inf
        a15 = a15 if 15 < kj else inf
        ss = 0.0  # in photon order, as a running sum would
        d = a0 - m
        ss += d * d if 0 < kj else 0.0
        d = a1 - m
        ss += d * d if 1 < kj else 0.0
        d = a2 - m
        ss += d * d if 2 < kj else 0.0
        d = a3 - m
        ss += d * d if 3 < kj else 0.0
        d = a4 - m
        ss += d * d if 4 < kj else 0.0
        d = a5 - m
        ss += d * d if 5 < kj else 0.0
        d = a6 - m
        ss += d * d if 6 < kj else 0.0
        d = a7 - m
        ss += d * d if 7 < kj else 0.0
        d = a8 - m
        ss += d * d if 8 < kj else 0.0
        d = a9 - m
        ss += d * d if 9 < kj else 0.0
        d = a10 - m
        ss += d * d if 10 < kj else 0.0
        d = a11 - m
        ss += d * d if 11 < kj else 0.0
        d = a12 - m
        ss += d * d if 12 < kj else 0.0
        d = a13 - m
        ss += d * d if 13 < kj else 0.0
        d = a14 - m
        ss += d * d if 14 < kj else 0.0
        d = a15 - m
        ss += d * d if 15 < kj else 0.0
        # Batcher's odd-even merge network (_NETWORK)
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
        a8, a9 = min(a8, a9), max(a8, a9)
        a10, a11 = min(a10, a11), max(a10, a11)
        a8, a10 = min(a8, a10), max(a8, a10)
        a9, a11 = min(a9, a11), max(a9, a11)
        a9, a10 = min(a9, a10), max(a9, a10)
        a12, a13 = min(a12, a13), max(a12, a13)
        a14, a15 = min(a14, a15), max(a14, a15)
        a12, a14 = min(a12, a14), max(a12, a14)
        a13, a15 = min(a13, a15), max(a13, a15)
        a13, a14 = min(a13, a14), max(a13, a14)
        a8, a12 = min(a8, a12), max(a8, a12)
        a10, a14 = min(a10, a14), max(a10, a14)
        a10, a12 = min(a10, a12), max(a10, a12)
        a9, a13 = min(a9, a13), max(a9, a13)
        a11, a15 = min(a11, a15), max(a11, a15)
        a11, a13 = min(a11, a13), max(a11, a13)
        a9, a10 = min(a9, a10), max(a9, a10)
        a11, a12 = min(a11, a12), max(a11, a12)
        a13, a14 = min(a13, a14), max(a13, a14)
        a0, a8 = min(a0, a8), max(a0, a8)
        a4, a12 = min(a4, a12), max(a4, a12)
        a4, a8 = min(a4, a8), max(a4, a8)
        a2, a10 = min(a2, a10), max(a2, a10)
        a6, a14 = min(a6, a14), max(a6, a14)
        a6, a10 = min(a6, a10), max(a6, a10)
        a2, a4 = min(a2, a4), max(a2, a4)
        a6, a8 = min(a6, a8), max(a6, a8)
        a10, a12 = min(a10, a12), max(a10, a12)
        a1, a9 = min(a1, a9), max(a1, a9)
        a5, a13 = min(a5, a13), max(a5, a13)
        a5, a9 = min(a5, a9), max(a5, a9)
        a3, a11 = min(a3, a11), max(a3, a11)
        a7, a15 = min(a7, a15), max(a7, a15)
        a7, a11 = min(a7, a11), max(a7, a11)
        a3, a5 = min(a3, a5), max(a3, a5)
        a7, a9 = min(a7, a9), max(a7, a9)
        a11, a13 = min(a11, a13), max(a11, a13)
        a1, a2 = min(a1, a2), max(a1, a2)
        a3, a4 = min(a3, a4), max(a3, a4)
        a5, a6 = min(a5, a6), max(a5, a6)
        a7, a8 = min(a7, a8), max(a7, a8)
        a9, a10 = min(a9, a10), max(a9, a10)
        a11, a12 = min(a11, a12), max(a11, a12)
        a13, a14 = min(a13, a14), max(a13, a14)
        lo = (kj - 1) >> 1
        hi = kj >> 1
        v_lo = _pick16(lo, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15)
        v_hi = _pick16(hi, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15)
        v_top = _pick16(
            kj - 1, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15
        )
        some = kj > 0
        mean[j] = m
        median[j] = 0.5 * (v_lo + v_hi) if some else nan
        std[j] = np.sqrt(ss / kj)
        vmin[j] = a0 if some else nan
        vmax[j] = v_top if some else nan


@numba.njit(nogil=True, cache=True)
def _crowded_bin(
    h_ph, conf, conf_column, quality_ph, geoid, tide_ocean, tide_equilibrium, dac,
    x_atc, min_conf, p0, p1, mean,
):  # fmt: skip  # pragma: no cover - compiled
    """Median, std, min, max of h and median of h_cor for one bin with more than ``_SLOTS``
    heights, from its photons ``p0 .. p1 - 1`` (a sort of its own)."""
    hb = np.empty(p1 - p0)
    cb = np.empty(p1 - p0)
    kh = 0
    kc = 0
    for p in range(p0, p1):
        if x_atc[p] != x_atc[p] or quality_ph[p] != 0 or conf[p, conf_column] < min_conf:
            continue
        hv = np.float64(h_ph[p])
        if hv != hv:
            continue
        hb[kh] = hv
        kh += 1
        cv = _h_cor(hv, geoid[p], tide_ocean[p], tide_equilibrium[p], dac[p])
        if cv == cv:
            cb[kc] = cv
            kc += 1
    ss = 0.0
    for q in range(kh):
        d = hb[q] - mean
        ss += d * d
    hs = np.sort(hb[:kh])
    cmed = np.nan
    if kc > 0:
        cs = np.sort(cb[:kc])
        cmed = 0.5 * (cs[(kc - 1) // 2] + cs[kc // 2])
    return 0.5 * (hs[(kh - 1) // 2] + hs[kh // 2]), np.sqrt(ss / kh), hs[0], hs[kh - 1], cmed


@numba.njit(nogil=True, cache=True, inline="always")
def _h_cor(hv, geoid, tide_ocean, tide_equilibrium, dac):  # pragma: no cover - compiled
    """Corrected height, the corrections removed one after another in float64."""
    return (
        hv
        - np.float64(geoid)
        - np.float64(tide_ocean)
        - np.float64(tide_equilibrium)
        - np.float64(dac)
    )


@numba.njit(nogil=True, cache=True)
def _exact_sums(
    h_ph, conf, conf_column, quality_ph, geoid, tide_ocean, tide_equilibrium, dac,
    lat_ph, lon_ph, delta_time, x_atc, min_conf, lon0, p0, p1,
):  # fmt: skip  # pragma: no cover - compiled
    """Sums of one bin with the signal photons selected by branches: the masked sums of the
    photon loop are NaN when a noise photon holds a NaN (0 * NaN), this recomputes them."""
    slat = 0.0
    slon = 0.0
    st = 0.0
    sh = 0.0
    sc = 0.0
    for p in range(p0, p1):
        if x_atc[p] != x_atc[p] or quality_ph[p] != 0 or conf[p, conf_column] < min_conf:
            continue
        slat += lat_ph[p]
        slon += _wrap_lon(lon_ph[p] - lon0)
        st += delta_time[p]
        hv = np.float64(h_ph[p])
        if hv != hv:
            continue
        sh += hv
        cv = _h_cor(hv, geoid[p], tide_ocean[p], tide_equilibrium[p], dac[p])
        if cv == cv:
            sc += cv
    return slat, slon, st, sh, sc


@numba.njit(nogil=True, cache=True, inline="always")
def _wrap_lon(d):  # pragma: no cover - compiled
    """Wrap a longitude (difference) in [-540, 540) to [-180, 180)."""
    return d - 360.0 * (d >= 180.0) + 360.0 * (d < -180.0)


@numba.njit(nogil=True, cache=True)
def _finish_tile(
    hbuf, cbuf, kh, kc, sh, sc, p0, p1, t0, tn, outs, scratch,
    h_ph, conf, conf_column, quality_ph, geoid, tide_ocean, tide_equilibrium, dac, x_atc, min_conf,
):  # fmt: skip  # pragma: no cover - compiled
    """Height statistics of the tile's bins ``t0 .. t0 + tn - 1`` into ``outs``; resets the tile."""
    h_mean, h_median, h_std, h_min, h_max, c_mean, c_median = outs
    e = t0 + tn
    _tile_stats(
        hbuf, kh[:tn], sh[:tn], h_mean[t0:e], h_median[t0:e], h_std[t0:e], h_min[t0:e],
        h_max[t0:e],
    )  # fmt: skip
    _tile_stats(
        cbuf, kc[:tn], sc[:tn], c_mean[t0:e], c_median[t0:e], scratch[0, :tn], scratch[1, :tn],
        scratch[2, :tn],
    )  # fmt: skip
    for j in range(tn):
        if kh[j] > _SLOTS:
            b = t0 + j
            med, sd, lo, hi, cmed = _crowded_bin(
                h_ph, conf, conf_column, quality_ph, geoid, tide_ocean, tide_equilibrium, dac,
                x_atc, min_conf, p0[j], p1[j], h_mean[b],
            )  # fmt: skip
            h_median[b] = med
            h_std[b] = sd
            h_min[b] = lo
            h_max[b] = hi
            c_median[b] = cmed
        kh[j] = 0
        kc[j] = 0
        sh[j] = 0.0
        sc[j] = 0.0


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

    Notes
    -----
    One pass over the photons keeps the running sums of the current bin in registers and, per
    photon, writes its height and corrected height into the next slot of the bin's column of a
    tile buffer (``_SLOTS`` + 1 rows by ``_TILE`` bins). The signal test selects by multiplying
    with 0.0 or 1.0 instead of branching (signal and noise photons alternate at random, a branch
    mispredicts on a third of them); a noise photon holding a NaN turns the bin's sum to NaN,
    and such a bin's sums are recomputed with branches from its photons. When the bins move
    past the tile, :func:`_tile_stats` sorts all the tile's bins at once with a sorting network
    that vectorises across bins; a bin with more than ``_SLOTS`` heights is sorted on its own.
    Every statistic of a bin depends only on its photons, in photon order.
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
    outs = (h_mean, h_median, h_std, h_min, h_max, c_mean, c_median)
    T = _TILE
    hbuf = np.zeros((_SLOTS + 1, T))  # row _SLOTS takes the writes of crowded bins
    cbuf = np.zeros((_SLOTS + 1, T))
    tkh = np.zeros(T, np.int64)
    tkc = np.zeros(T, np.int64)
    tsh = np.zeros(T)
    tsc = np.zeros(T)
    tp0 = np.zeros(T, np.int64)
    tp1 = np.zeros(T, np.int64)
    scratch = np.empty((3, T))
    ok = True
    cur = np.int64(-1)
    t0 = np.int64(0)
    j = np.int64(0)
    ju = np.uint64(0)
    pstart = 0
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
            if cur >= 0:
                if not np.isfinite(slat + slon + st + sh + sc):
                    slat, slon, st, sh, sc = _exact_sums(
                        h_ph, conf, conf_column, quality_ph, geoid, tide_ocean,
                        tide_equilibrium, dac, lat_ph, lon_ph, delta_time, x_atc, min_conf,
                        lon0, pstart, p,
                    )  # fmt: skip
                tkh[j] = kh
                tkc[j] = kc
                tsh[j] = sh
                tsc[j] = sc
                tp0[j] = pstart
                tp1[j] = p
                if cnt > 0:
                    n_photons[cur] = cnt
                    n_high[cur] = nh
                    lat[cur] = slat / cnt
                    lon[cur] = _wrap_lon(lon0 + slon / cnt)
                    dtime[cur] = st / cnt
            if b < cur or b < 0 or b > nbins or (b == nbins and p < n):
                ok = False
                break
            if b - t0 >= T or p == n:
                if cur >= 0:
                    _finish_tile(
                        hbuf, cbuf, tkh, tkc, tsh, tsc, tp0, tp1, t0, min(T, nbins - t0), outs,
                        scratch, h_ph, conf, conf_column, quality_ph, geoid, tide_ocean,
                        tide_equilibrium, dac, x_atc, min_conf,
                    )  # fmt: skip
                if p == n:
                    break
                t0 = b
            cur = b
            j = b - t0
            ju = np.uint64(j)  # unsigned: no negative-index wraparound in the photon loop
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
            pstart = p
        cf = conf[p, conf_column]
        sig = (quality_ph[p] == 0) & (cf >= min_conf)
        fs = np.float64(sig)  # 1.0 or 0.0: exact masking of finite values, no branch
        cnt += sig
        nh += sig & (cf >= high_conf)
        slat += lat_ph[p] * fs
        slon += _wrap_lon(lon_ph[p] - lon0) * fs
        st += delta_time[p] * fs
        hv = np.float64(h_ph[p])
        hok = sig & (hv == hv)
        hbuf[np.uint64(min(kh, _SLOTS)), ju] = hv
        kh += hok
        sh += hv * fs
        cv = _h_cor(hv, geoid[p], tide_ocean[p], tide_equilibrium[p], dac[p])
        cok = hok & (cv == cv)
        cbuf[np.uint64(min(kc, _SLOTS)), ju] = cv
        kc += cok
        sc += cv * fs
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
