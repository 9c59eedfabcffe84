"""Sea-surface-height and freeboard kernels: numba functions on numpy arrays, with numpy twins.

Windows are anchored at ``x_atc = 0``: window ``k`` covers ``[k * stride, k * stride + window)``
(m along track) and is centred at ``k * stride + window / 2``. Because the grid does not depend on
where the data starts, a block of segments with enough halo gives bit-identical window values to
the whole beam.

The ``*_numpy`` twins share the signatures and are used only by tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "fill_windows",
    "fill_windows_numpy",
    "freeboard_kernel",
    "freeboard_kernel_numpy",
    "high_lead_mask",
    "high_lead_mask_numpy",
    "interp_to_segments",
    "interp_to_segments_numpy",
    "lead_mask_and_error",
    "lead_mask_and_error_numpy",
    "smooth_ice_height",
    "smooth_ice_height_numpy",
    "window_ssh",
    "window_ssh_numpy",
]

_HL_BLOCK = 32  # floor segments per block minimum in high_lead_mask
_OPEN_WATER = 2  # SurfaceType.OPEN_WATER (kernels import numpy and numba only)
_THICK_ICE = 0
_THIN_ICE = 1


# ---------------------------------------------------------------------------------------------
# per-segment preparation
# ---------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def lead_mask_and_error(x, h, h_std, n_photons, surface, min_photons, photon_precision,
                        edge_buffer):
    """Lead mask and per-segment height error.

    A lead is an open-water segment with at least ``min_photons`` photons with no ice segment
    (thick or thin) within ``edge_buffer`` (m along track): photons of a segment at a lead edge
    come partly from the ice beside it (the footprint is ~11 m wide). Empty or unlabeled
    segments are no evidence of ice and do not shorten a lead.

    Parameters
    ----------
    x : float64 array
        Segment centres (m), non-decreasing.
    h, h_std : float arrays
        Segment height and photon height standard deviation (m).
    n_photons : int or float array
        Signal photons in the segment.
    surface : int array
        ``SurfaceType`` code per segment (2 = open water).
    min_photons : int
        Fewest photons for a lead segment.
    photon_precision : float
        Single-photon height error (m) used where ``h_std`` is unusable (n < 2, NaN, 0).
    edge_buffer : float
        Distance (m) to the nearest ice segment below which a water segment is no lead.

    Returns
    -------
    is_lead : bool array
    err : float64 array
        ``h_std / sqrt(n)`` (m); NaN where the segment is empty or ``h`` is NaN.
    """
    n = h.shape[0]
    is_lead = np.zeros(n, dtype=np.bool_)
    err = np.empty(n, dtype=np.float64)
    for i in range(n):
        cnt = float(n_photons[i])
        hi = float(h[i])
        if cnt >= 1.0 and hi == hi:
            s = float(h_std[i])
            if not (cnt >= 2.0 and s == s and s > 0.0):
                s = photon_precision
            err[i] = s / np.sqrt(cnt)
            if surface[i] == _OPEN_WATER and cnt >= min_photons:
                is_lead[i] = True
        else:
            err[i] = np.nan
    if edge_buffer > 0.0:
        # distance to the previous / next non-water segment, two sweeps
        last = -np.inf
        for i in range(n):
            if surface[i] == _THICK_ICE or surface[i] == _THIN_ICE:
                last = x[i]
            elif is_lead[i] and x[i] - last <= edge_buffer:
                is_lead[i] = False
        nxt = np.inf
        for i in range(n - 1, -1, -1):
            if surface[i] == _THICK_ICE or surface[i] == _THIN_ICE:
                nxt = x[i]
            elif is_lead[i] and nxt - x[i] <= edge_buffer:
                is_lead[i] = False
    return is_lead, err


def lead_mask_and_error_numpy(x, h, h_std, n_photons, surface, min_photons, photon_precision,
                              edge_buffer):
    """Numpy twin of :func:`lead_mask_and_error` (tests only)."""
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    cnt = np.asarray(n_photons, dtype=np.float64)
    s = np.asarray(h_std, dtype=np.float64)
    ok = (cnt >= 1.0) & np.isfinite(h)
    good_std = (cnt >= 2.0) & np.isfinite(s) & (s > 0.0)
    s = np.where(good_std, s, photon_precision)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(ok, s / np.sqrt(np.where(ok, cnt, 1.0)), np.nan)
    water = np.asarray(surface) == _OPEN_WATER
    is_lead = ok & water & (cnt >= min_photons)
    if edge_buffer > 0.0 and x.size:
        ice = (np.asarray(surface) == _THICK_ICE) | (np.asarray(surface) == _THIN_ICE)
        xi = x[ice]
        p = np.searchsorted(xi, x, side="right")  # non-water at or before: xi[p-1]
        prev = np.where(p > 0, xi[np.maximum(p - 1, 0)] if xi.size else -np.inf, -np.inf)
        q = np.searchsorted(xi, x, side="left")
        nxt = np.where(q < xi.size, xi[np.minimum(q, xi.size - 1)] if xi.size else np.inf,
                       np.inf)
        is_lead &= (x - prev > edge_buffer) & (nxt - x > edge_buffer)
    return is_lead, err


@njit(nogil=True, cache=True)
def high_lead_mask(x, h, is_lead, in_floor, radius, max_above, percentile):
    """Leads that sit high above their neighbourhood, to be dropped.

    Lead ``i`` is high when at least ``percentile`` % of the floor segments (``in_floor``)
    within ``radius`` of ``x[i]``, and at least one, lie more than ``max_above`` below it
    (``h < h[i] - max_above``). Equivalently, the lead is more than ``max_above`` above the
    neighbourhood's ``percentile``-th percentile (inverted-CDF definition). A count, not a
    sort: one pass over the neighbourhood per lead.

    Parameters
    ----------
    x : float64 array
        Segment centres (m along track), non-decreasing.
    h : float64 array
        Segment heights (m).
    is_lead : bool array
        Candidate leads.
    in_floor : bool array
        Segments whose heights make up the floor (finite heights).
    radius, max_above, percentile : float
        Half-width of the neighbourhood (m), height margin (m), percentile (0-100).

    Returns
    -------
    bool array
        True for the leads to drop.
    """
    n = x.shape[0]
    nf = 0
    for i in range(n):
        if in_floor[i]:
            nf += 1
    xf = np.empty(nf, dtype=np.float64)
    hf = np.empty(nf, dtype=np.float64)
    m = 0
    for i in range(n):
        if in_floor[i]:
            xf[m] = x[i]
            hf[m] = h[i]
            m += 1
    # minimum of each block of _HL_BLOCK floor segments: a block whose minimum is not below a
    # lead's threshold holds no count, so typical (low) leads skip nearly all of their window
    nb = (nf + _HL_BLOCK - 1) // _HL_BLOCK
    bmin = np.full(nb, np.inf)
    for j in range(nf):
        b = j // _HL_BLOCK
        if hf[j] < bmin[b]:
            bmin[b] = hf[j]
    high = np.zeros(n, dtype=np.bool_)
    lo = 0
    hi = 0
    for i in range(n):
        if not is_lead[i]:
            continue
        while lo < nf and xf[lo] < x[i] - radius:
            lo += 1
        if hi < lo:
            hi = lo
        while hi < nf and xf[hi] <= x[i] + radius:
            hi += 1
        t = h[i] - max_above
        if not (t == t):  # NaN height: never high
            continue
        pn = percentile * (hi - lo)  # enough: c >= 1 and 100 * c >= pn (the final test)
        # head (up to a block boundary), whole blocks (skipped when their minimum is not below
        # t), tail; stop as soon as the count is enough
        c = 0
        head = min(hi, ((lo + _HL_BLOCK - 1) // _HL_BLOCK) * _HL_BLOCK)
        for j in range(lo, head):
            if hf[j] < t:
                c += 1
        b = head // _HL_BLOCK
        while (c < 1 or 100.0 * c < pn) and (b + 1) * _HL_BLOCK <= hi:
            if bmin[b] < t:
                for j in range(b * _HL_BLOCK, (b + 1) * _HL_BLOCK):
                    if hf[j] < t:
                        c += 1
            b += 1
        if c < 1 or 100.0 * c < pn:
            for j in range(max(head, b * _HL_BLOCK), hi):
                if hf[j] < t:
                    c += 1
        if c >= 1 and 100.0 * c >= pn:
            high[i] = True
    return high


def high_lead_mask_numpy(x, h, is_lead, in_floor, radius, max_above, percentile):
    """Numpy twin of :func:`high_lead_mask` (tests only)."""
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    fl = np.asarray(in_floor, dtype=bool)
    xf, hf = x[fl], h[fl]
    high = np.zeros(x.size, dtype=bool)
    idx = np.flatnonzero(np.asarray(is_lead, dtype=bool))
    lo = np.searchsorted(xf, x[idx] - radius, side="left")
    hi = np.searchsorted(xf, x[idx] + radius, side="right")
    for i, a, b in zip(idx, lo, hi, strict=True):
        c = np.count_nonzero(hf[a:b] < h[i] - max_above)
        high[i] = c >= 1 and 100.0 * c >= percentile * (b - a)
    return high


# ---------------------------------------------------------------------------------------------
# window SSH
# ---------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def window_ssh(x, h, err, is_lead, k0, n_windows, window, stride, sigma, slope_error):
    """Lead-weighted sea surface height of each along-track window, with its uncertainty.

    Window ``j`` is the absolute window ``k = k0 + j`` covering ``[k * stride, k * stride +
    window)``. Leads in it get ``w = exp(-((h - h_min) / sigma) ** 2)`` with ``h_min`` the
    window's lowest lead; the window SSH is ``sum(w h) / sum(w)``. Its uncertainty combines in
    quadrature

    * the error of that weighted mean: the larger of the propagated segment errors,
      ``sqrt(sum(w**2 err**2)) / sum(w)`` (the inverse-variance form when the weights are
      inverse variances), and the sandwich estimate from the leads' own scatter about the mean,
      ``sqrt(n / (n - 1) * sum(w**2 (h - ssh)**2)) / sum(w)`` (``n >= 2`` leads), which
      catches lead heights spread wider than their photon errors say;
    * ``slope_error * |x_bar - x_centre|``: the value is the sea surface where the leads are
      (their weighted centroid ``x_bar``), but it is given at the window centre, and the sea
      surface slopes by an unknown ``slope_error`` (m/m) between the two.

    Parameters
    ----------
    x : float64 array
        Segment centres (m along track), non-decreasing.
    h, err : float64 arrays
        Segment height and height error (m).
    is_lead : bool array
        Segments usable as leads.
    k0, n_windows : int
        First absolute window index and number of windows.
    window, stride, sigma : float
        Window length, stride (m) and lead-weight scale (m).
    slope_error : float
        Sea surface slope the windows do not resolve (m/m).

    Returns
    -------
    ssh, unc : float64 arrays (n_windows,)
        NaN where the window has no lead.
    n_leads : int64 array (n_windows,)
    """
    nl = 0
    for i in range(x.shape[0]):
        if is_lead[i]:
            nl += 1
    lx = np.empty(nl, dtype=np.float64)
    lh = np.empty(nl, dtype=np.float64)
    le = np.empty(nl, dtype=np.float64)
    lw = np.empty(nl, dtype=np.float64)
    m = 0
    for i in range(x.shape[0]):
        if is_lead[i]:
            lx[m] = x[i]
            lh[m] = h[i]
            le[m] = err[i]
            m += 1
    ssh = np.full(n_windows, np.nan)
    unc = np.full(n_windows, np.nan)
    n_leads = np.zeros(n_windows, dtype=np.int64)
    lo = 0
    hi = 0
    for j in range(n_windows):
        a = (k0 + j) * stride
        b = a + window
        while lo < nl and lx[lo] < a:
            lo += 1
        if hi < lo:
            hi = lo
        while hi < nl and lx[hi] < b:
            hi += 1
        if hi == lo:
            continue
        hmin = lh[lo]
        for i in range(lo + 1, hi):
            if lh[i] < hmin:
                hmin = lh[i]
        sw = 0.0
        swh = 0.0
        swx = 0.0
        sw2e2 = 0.0
        for i in range(lo, hi):
            d = (lh[i] - hmin) / sigma
            w = np.exp(-d * d)
            lw[i] = w
            sw += w
            swh += w * lh[i]
            swx += w * lx[i]
            sw2e2 += w * w * le[i] * le[i]
        mean = swh / sw
        var = sw2e2
        n = hi - lo
        if n > 1:
            sw2r2 = 0.0
            for i in range(lo, hi):
                r = lh[i] - mean
                sw2r2 += lw[i] * lw[i] * r * r
            sw2r2 *= n / (n - 1.0)
            if sw2r2 > var:
                var = sw2r2
        off = (swx / sw - (a + 0.5 * window)) * slope_error
        ssh[j] = mean
        unc[j] = np.sqrt(var / (sw * sw) + off * off)
        n_leads[j] = n
    return ssh, unc, n_leads


def window_ssh_numpy(x, h, err, is_lead, k0, n_windows, window, stride, sigma, slope_error):
    """Numpy twin of :func:`window_ssh` (tests only)."""
    x = np.asarray(x, dtype=np.float64)
    lead = np.asarray(is_lead, dtype=bool)
    lx, lh, le = x[lead], np.asarray(h, np.float64)[lead], np.asarray(err, np.float64)[lead]
    ssh = np.full(n_windows, np.nan)
    unc = np.full(n_windows, np.nan)
    n_leads = np.zeros(n_windows, dtype=np.int64)
    for j in range(n_windows):
        a = (k0 + j) * stride
        sel = (lx >= a) & (lx < a + window)
        if not sel.any():
            continue
        hh, ee, xx = lh[sel], le[sel], lx[sel]
        n = hh.size
        w = np.exp(-(((hh - hh.min()) / sigma) ** 2))
        ssh[j] = np.sum(w * hh) / np.sum(w)
        formal = np.sqrt(np.sum(w**2 * ee**2)) / np.sum(w)
        scatter = (np.sqrt(n / (n - 1) * np.sum(w**2 * (hh - ssh[j]) ** 2)) / np.sum(w)
                   if n > 1 else 0.0)
        off = (np.sum(w * xx) / np.sum(w) - (a + 0.5 * window)) * slope_error
        unc[j] = np.hypot(max(formal, scatter), off)
        n_leads[j] = n
    return ssh, unc, n_leads


# ---------------------------------------------------------------------------------------------
# fill windows without leads
# ---------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def fill_windows(ssh, unc, max_gap_windows, stride, gap_error_rate):
    """Fill windows without leads from the nearest windows with leads.

    A window without leads takes the linear interpolation (in window index) of the nearest
    windows with leads on each side if both lie within ``max_gap_windows`` windows (flag 1), the
    value of the one that does if only one does (flag 2), or stays NaN (flag 3). The filled
    uncertainty is the interpolated one combined in quadrature with ``gap_error_rate`` times the
    distance (m) to the nearest window with leads.

    Parameters
    ----------
    ssh, unc : float64 arrays
        Window SSH and uncertainty (m), NaN without leads.
    max_gap_windows : int
        Farthest window (in strides) a value may come from.
    stride : float
        Window stride (m).
    gap_error_rate : float
        Added uncertainty per metre of distance to the nearest window with leads (m/m).

    Returns
    -------
    ssh_f, unc_f : float64 arrays
    flag : int8 array
        0 leads in window, 1 interpolated, 2 extrapolated, 3 none.
    """
    n = ssh.shape[0]
    ssh_f = ssh.copy()
    unc_f = unc.copy()
    flag = np.zeros(n, dtype=np.int8)
    for j in range(n):
        if ssh[j] == ssh[j]:
            continue
        left = -1
        for d in range(1, max_gap_windows + 1):
            if j - d < 0:
                break
            if ssh[j - d] == ssh[j - d]:
                left = j - d
                break
        right = -1
        for d in range(1, max_gap_windows + 1):
            if j + d >= n:
                break
            if ssh[j + d] == ssh[j + d]:
                right = j + d
                break
        if left >= 0 and right >= 0:
            t = (j - left) / (right - left)
            ssh_f[j] = (1.0 - t) * ssh[left] + t * ssh[right]
            u = (1.0 - t) * unc[left] + t * unc[right]
            dist = min(j - left, right - j) * stride * gap_error_rate
            unc_f[j] = np.sqrt(u * u + dist * dist)
            flag[j] = 1
        elif left >= 0 or right >= 0:
            src = left if left >= 0 else right
            ssh_f[j] = ssh[src]
            dist = abs(j - src) * stride * gap_error_rate
            unc_f[j] = np.sqrt(unc[src] * unc[src] + dist * dist)
            flag[j] = 2
        else:
            flag[j] = 3
    return ssh_f, unc_f, flag


def fill_windows_numpy(ssh, unc, max_gap_windows, stride, gap_error_rate):
    """Numpy twin of :func:`fill_windows` (tests only)."""
    ssh = np.asarray(ssh, dtype=np.float64)
    unc = np.asarray(unc, dtype=np.float64)
    n = ssh.size
    idx = np.arange(n)
    valid = np.isfinite(ssh)
    vidx = idx[valid]
    ssh_f, unc_f = ssh.copy(), unc.copy()
    flag = np.where(valid, 0, 3).astype(np.int8)
    if vidx.size == 0:
        return ssh_f, unc_f, flag
    pos = np.searchsorted(vidx, idx)  # first valid index >= j
    for j in idx[~valid]:
        p = pos[j]
        left = vidx[p - 1] if p > 0 and j - vidx[p - 1] <= max_gap_windows else -1
        right = vidx[p] if p < vidx.size and vidx[p] - j <= max_gap_windows else -1
        if left >= 0 and right >= 0:
            t = (j - left) / (right - left)
            ssh_f[j] = (1.0 - t) * ssh[left] + t * ssh[right]
            u = (1.0 - t) * unc[left] + t * unc[right]
            dist = min(j - left, right - j) * stride * gap_error_rate
            unc_f[j] = np.sqrt(u * u + dist * dist)
            flag[j] = 1
        elif left >= 0 or right >= 0:
            src = left if left >= 0 else right
            ssh_f[j] = ssh[src]
            dist = abs(j - src) * stride * gap_error_rate
            unc_f[j] = np.sqrt(unc[src] ** 2 + dist * dist)
            flag[j] = 2
    return ssh_f, unc_f, flag


# ---------------------------------------------------------------------------------------------
# windows -> segments
# ---------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def interp_to_segments(x, k0, ssh_w, unc_w, flag_w, window, stride):
    """Interpolate window SSH linearly between window centres to every segment.

    Segment ``x`` lies between the centres ``c_k = k * stride + window / 2`` of the absolute
    windows ``k`` and ``k + 1`` with ``c_k <= x < c_{k+1}``. If one of the two has no value the
    other is used and the flag is at least 2 (extrapolated); if neither has one the segment gets
    NaN and flag 3.

    Parameters
    ----------
    x : float64 array
        Segment centres (m), non-decreasing.
    k0 : int
        Absolute index of ``ssh_w[0]``; windows must cover every bracketing window of ``x``.
    ssh_w, unc_w : float64 arrays
        Filled window SSH and uncertainty (m).
    flag_w : int8 array
        Window flags from :func:`fill_windows`.
    window, stride : float
        Window length and stride (m).

    Returns
    -------
    ssh, unc : float64 arrays
    flag : int8 array
    """
    n = x.shape[0]
    nw = ssh_w.shape[0]
    ssh = np.empty(n, dtype=np.float64)
    unc = np.empty(n, dtype=np.float64)
    flag = np.empty(n, dtype=np.int8)
    if n == 0:
        return ssh, unc, flag
    half = 0.5 * window
    # interval j spans [c_j, c_{j+1}), value = a + b * (x - c_j)
    j = -2
    c_next = -np.inf
    c_left = 0.0
    a_s = b_s = a_u = b_u = 0.0
    fl = np.int8(3)
    for i in range(n):
        xi = x[i]
        if xi >= c_next or j == -2:
            j = int(np.floor((xi - half) / stride)) - k0
            c_left = (k0 + j) * stride + half
            if xi < c_left:  # rounding guard: keep c_j <= x
                j -= 1
                c_left = (k0 + j) * stride + half
            c_next = (k0 + j + 1) * stride + half
            while xi >= c_next:
                j += 1
                c_left = c_next
                c_next = (k0 + j + 1) * stride + half
            sl = ssh_w[j] if 0 <= j < nw else np.nan
            sr = ssh_w[j + 1] if 0 <= j + 1 < nw else np.nan
            ul = unc_w[j] if 0 <= j < nw else np.nan
            ur = unc_w[j + 1] if 0 <= j + 1 < nw else np.nan
            fl_l = flag_w[j] if 0 <= j < nw else np.int8(3)
            fl_r = flag_w[j + 1] if 0 <= j + 1 < nw else np.int8(3)
            okl = sl == sl
            okr = sr == sr
            if okl and okr:
                a_s, b_s = sl, (sr - sl) / stride
                a_u, b_u = ul, (ur - ul) / stride
                fl = max(fl_l, fl_r)
            elif okl:
                a_s, b_s, a_u, b_u = sl, 0.0, ul, 0.0
                fl = max(fl_l, np.int8(2))
            elif okr:
                a_s, b_s, a_u, b_u = sr, 0.0, ur, 0.0
                fl = max(fl_r, np.int8(2))
            else:
                a_s, b_s, a_u, b_u = np.nan, 0.0, np.nan, 0.0
                fl = np.int8(3)
        d = xi - c_left
        ssh[i] = a_s + b_s * d
        unc[i] = a_u + b_u * d
        flag[i] = fl
    return ssh, unc, flag


def interp_to_segments_numpy(x, k0, ssh_w, unc_w, flag_w, window, stride):
    """Numpy twin of :func:`interp_to_segments` (tests only)."""
    x = np.asarray(x, dtype=np.float64)
    ssh_w = np.asarray(ssh_w, dtype=np.float64)
    unc_w = np.asarray(unc_w, dtype=np.float64)
    flag_w = np.asarray(flag_w, dtype=np.int8)
    nw = ssh_w.size
    half = 0.5 * window
    if x.size == 0:
        return np.empty(0), np.empty(0), np.empty(0, np.int8)
    lo = int(np.floor((x[0] - half) / stride)) - 1
    hi = int(np.floor((x[-1] - half) / stride)) + 2
    ks = np.arange(lo, hi + 1)
    centres = ks * stride + half
    pos = np.searchsorted(centres, x, side="right") - 1
    jl = ks[pos] - k0
    jr = jl + 1
    d = x - centres[pos]

    def take(arr, j, fill):
        ok = (j >= 0) & (j < nw)
        out = np.full(j.shape, fill, dtype=arr.dtype)
        out[ok] = arr[j[ok]]
        return out

    sl, sr = take(ssh_w, jl, np.nan), take(ssh_w, jr, np.nan)
    ul, ur = take(unc_w, jl, np.nan), take(unc_w, jr, np.nan)
    fl, fr = take(flag_w, jl, 3), take(flag_w, jr, 3)
    okl, okr = np.isfinite(sl), np.isfinite(sr)
    both = okl & okr
    with np.errstate(invalid="ignore"):
        ssh = np.where(both, sl + (sr - sl) / stride * d, np.where(okl, sl, sr))
        unc = np.where(both, ul + (ur - ul) / stride * d, np.where(okl, ul, ur))
    flag = np.where(
        both, np.maximum(fl, fr), np.where(okl, np.maximum(fl, 2), np.maximum(fr, 2))
    )
    flag = np.where(okl | okr, flag, 3).astype(np.int8)
    return ssh, unc, flag


# ---------------------------------------------------------------------------------------------
# freeboard
# ---------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def smooth_ice_height(x, h, err, n_photons, surface, radius):
    """Footprint-scale height of ice segments: photon-weighted triangular mean of neighbours.

    For every thick- or thin-ice segment with a height, the mean of the heights of the segments
    of the *same* surface type with centres closer than ``radius`` (m), weighted by
    ``n_photons * (1 - |dx| / radius)``. With 2 m segments and ``radius = 4`` the weights are
    ``[1, 2, 1] * n``. The error is that of the weighted mean of independent segments,
    ``sqrt(sum((w e)^2)) / sum(w)``. Other segments, and every segment when ``radius`` is not
    larger than 0, are returned unchanged.

    Parameters
    ----------
    x : float64 array
        Segment centres (m), non-decreasing.
    h, err : float64 arrays
        Segment height and height error (m); NaN where empty.
    n_photons : int or float array
    surface : int array
        ``SurfaceType`` code.
    radius : float
        Kernel half-width (m).

    Returns
    -------
    hs, es : float64 arrays
    """
    n = h.shape[0]
    hs = np.empty(n, dtype=np.float64)
    es = np.empty(n, dtype=np.float64)
    for i in range(n):
        hs[i] = h[i]
        es[i] = err[i]
    if not (radius > 0.0):
        return hs, es
    for i in range(n):
        s = surface[i]
        if not (s == _THICK_ICE or s == _THIN_ICE) or not (h[i] == h[i]) \
                or not (n_photons[i] >= 1):
            continue
        sw = 0.0
        swh = 0.0
        swe = 0.0
        j = i
        while j >= 0 and x[i] - x[j] < radius:
            if surface[j] == s and h[j] == h[j] and n_photons[j] >= 1:
                w = float(n_photons[j]) * (1.0 - (x[i] - x[j]) / radius)
                sw += w
                swh += w * h[j]
                swe += (w * err[j]) * (w * err[j])
            j -= 1
        j = i + 1
        while j < n and x[j] - x[i] < radius:
            if surface[j] == s and h[j] == h[j] and n_photons[j] >= 1:
                w = float(n_photons[j]) * (1.0 - (x[j] - x[i]) / radius)
                sw += w
                swh += w * h[j]
                swe += (w * err[j]) * (w * err[j])
            j += 1
        hs[i] = swh / sw
        es[i] = np.sqrt(swe) / sw
    return hs, es


def smooth_ice_height_numpy(x, h, err, n_photons, surface, radius):
    """Numpy twin of :func:`smooth_ice_height` (tests only)."""
    x = np.asarray(x, np.float64)
    h, err = np.asarray(h, np.float64), np.asarray(err, np.float64)
    cnt = np.asarray(n_photons, np.float64)
    surface = np.asarray(surface)
    hs, es = h.copy(), err.copy()
    if not (radius > 0.0) or x.size == 0:
        return hs, es
    ok = np.isfinite(h) & (cnt >= 1)
    ice = (surface == _THICK_ICE) | (surface == _THIN_ICE)
    lo = np.searchsorted(x, x - 2.0 * radius, side="left")
    hi = np.searchsorted(x, x + 2.0 * radius, side="right")
    for i in np.flatnonzero(ok & ice):
        j = np.arange(lo[i], hi[i])
        j = j[ok[j] & (surface[j] == surface[i]) & (np.abs(x[j] - x[i]) < radius)]
        w = cnt[j] * (1.0 - np.abs(x[j] - x[i]) / radius)
        hs[i] = np.sum(w * h[j]) / np.sum(w)
        es[i] = np.sqrt(np.sum((w * err[j]) ** 2)) / np.sum(w)
    return hs, es


@njit(nogil=True, cache=True)
def photon_spread(err, n_photons, photon_precision):
    """Photon height spread of each segment and the error of its mean height.

    Parameters
    ----------
    err : float64 array
        Segment height error ``h_std / sqrt(n)`` (``photon_precision / sqrt(n)`` where
        ``h_std`` is unusable), NaN where empty (:func:`lead_mask_and_error`).
    n_photons : float64 array
        Signal photons per segment.
    photon_precision : float
        Single-photon height error (m), the floor of the spread.

    Returns
    -------
    spread, photon_err : float64 arrays
        ``s = max(err * sqrt(n), photon_precision)`` and ``s / sqrt(n)``; NaN where ``err`` is.
    """
    n = err.shape[0]
    spread = np.empty(n, dtype=np.float64)
    photon_err = np.empty(n, dtype=np.float64)
    for i in range(n):
        e = err[i]
        if e == e and n_photons[i] > 0.0:
            r = np.sqrt(n_photons[i])
            s = e * r
            if s < photon_precision:
                s = photon_precision
            spread[i] = s
            photon_err[i] = s / r
        else:
            spread[i] = np.nan
            photon_err[i] = np.nan
    return spread, photon_err


@njit(nogil=True, cache=True)
def add_in_quadrature(a, b, scale):
    """``sqrt(a**2 + (scale * b)**2)`` element by element (NaN propagates)."""
    out = np.empty(a.shape[0], dtype=np.float64)
    for i in range(a.shape[0]):
        t = scale * b[i]
        out[i] = np.sqrt(a[i] * a[i] + t * t)
    return out


@njit(nogil=True, cache=True)
def freeboard_kernel(h, err, surface, ssh, ssh_unc):
    """Freeboard ``h - ssh`` on ice segments and its uncertainty.

    Parameters
    ----------
    h, err : float64 arrays
        Segment height and height error (m); NaN where empty.
    surface : int array
        ``SurfaceType`` code (0 thick ice, 1 thin ice get a freeboard).
    ssh, ssh_unc : float64 arrays
        Sea surface height and its uncertainty (m).

    Returns
    -------
    fb, fb_unc : float64 arrays
        NaN off ice, on empty segments and where ``ssh`` is NaN;
        ``fb_unc = sqrt(err**2 + ssh_unc**2)``.
    """
    n = h.shape[0]
    fb = np.empty(n, dtype=np.float64)
    fu = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = surface[i]
        if (s == _THICK_ICE or s == _THIN_ICE) and h[i] == h[i] and ssh[i] == ssh[i]:
            fb[i] = h[i] - ssh[i]
            fu[i] = np.sqrt(err[i] * err[i] + ssh_unc[i] * ssh_unc[i])
        else:
            fb[i] = np.nan
            fu[i] = np.nan
    return fb, fu


def freeboard_kernel_numpy(h, err, surface, ssh, ssh_unc):
    """Numpy twin of :func:`freeboard_kernel` (tests only)."""
    h, err = np.asarray(h, np.float64), np.asarray(err, np.float64)
    ssh, ssh_unc = np.asarray(ssh, np.float64), np.asarray(ssh_unc, np.float64)
    surface = np.asarray(surface)
    ice = (surface == _THICK_ICE) | (surface == _THIN_ICE)
    ok = ice & np.isfinite(h) & np.isfinite(ssh)
    fb = np.where(ok, h - ssh, np.nan)
    fu = np.where(ok, np.sqrt(err**2 + ssh_unc**2), np.nan)
    return fb, fu
