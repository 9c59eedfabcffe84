"""Numba kernels for Sentinel-2 auto-labeling, each with a plain-numpy twin (``*_numpy``).

Pixel coordinates used here: for a raster with affine transform ``(res_x, 0, x0, 0, res_y, y0)``
a point ``(x, y)`` has fractional column ``px = (x - x0) / res_x`` and row
``py = (y - y0) / res_y``; the pixel containing it is ``(floor(py), floor(px))`` and pixel
``(i, j)`` has its centre at ``(i + 0.5, j + 0.5)``.

Class raster codes: ``-1`` no data, ``0`` thick ice, ``1`` thin ice, ``2`` open water,
``3`` cloud (see :mod:`icefb.labeling`). Label flags: ``0`` labeled, ``1`` outside scene,
``2`` cloud, ``3`` class transition within the radius (``4`` time gap is set by the caller).

The numpy twins are reference implementations used by the tests; they share the signatures.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "classify_rgb",
    "classify_rgb_numpy",
    "drift_scores",
    "drift_scores_numpy",
    "label_points",
    "label_points_numpy",
]

_NODATA = -1
_CLOUD = 3


@numba.njit(nogil=True, cache=True)
def classify_rgb(r, g, b, scale, thick_min, water_max):  # pragma: no cover - numba
    """Classify pixels by 8-bit brightness ``V = max(R, G, B)``.

    ``V8 = min(floor(max(r, g, b) * scale + 0.5), 255)`` (negative values count as 0);
    ``V8 >= thick_min`` thick ice (0), ``V8 <= water_max`` open water (2), else thin ice (1).
    A pixel with any NaN band is no data (-1).

    Parameters
    ----------
    r, g, b : numpy.ndarray of float32, 2-D
        Band values (reflectance, or 8-bit values with ``scale=1``).
    scale : float
        Factor to 8-bit units (``255 / reflectance_max`` or 1).
    thick_min, water_max : int
        Thresholds on ``V8``.

    Returns
    -------
    numpy.ndarray of int8, same shape
    """
    ny, nx = r.shape
    out = np.empty((ny, nx), dtype=np.int8)
    for i in range(ny):
        for j in range(nx):
            rv = r[i, j]
            gv = g[i, j]
            bv = b[i, j]
            if np.isnan(rv) or np.isnan(gv) or np.isnan(bv):
                out[i, j] = _NODATA
                continue
            v = max(rv, max(gv, bv)) * scale
            if v < 0.0:
                v = 0.0
            v8 = np.floor(v + 0.5)
            if v8 > 255.0:
                v8 = 255.0
            if v8 >= thick_min:
                out[i, j] = 0
            elif v8 <= water_max:
                out[i, j] = 2
            else:
                out[i, j] = 1
    return out


def classify_rgb_numpy(r, g, b, scale, thick_min, water_max):
    """Numpy twin of :func:`classify_rgb`."""
    r = np.asarray(r, dtype=np.float32)
    g = np.asarray(g, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    v = np.maximum(np.maximum(r, g), b).astype(np.float32) * scale
    bad = np.isnan(r) | np.isnan(g) | np.isnan(b)
    v8 = np.minimum(np.floor(np.maximum(np.where(bad, 0, v), 0.0) + 0.5), 255.0)
    out = np.where(v8 >= thick_min, 0, np.where(v8 <= water_max, 2, 1)).astype(np.int8)
    out[bad] = _NODATA
    return out


@numba.njit(nogil=True, cache=True)
def label_points(classes, px, py, radius_px, flag_cloud):  # pragma: no cover - numba
    """Sample a class raster at points and flag them.

    Parameters
    ----------
    classes : numpy.ndarray of int8, 2-D
        Class raster (-1 no data, 0..2 surface types, 3 cloud).
    px, py : numpy.ndarray of float64
        Fractional column / row of each point (NaN: no position).
    radius_px : float
        Transition radius in pixels: a point is flagged 3 when a pixel whose centre lies within
        this distance has a different surface class (and, with ``flag_cloud``, flagged 2 when
        such a pixel is cloud).
    flag_cloud : bool
        Flag cloud (2); when False cloud pixels are treated as no data (1).

    Returns
    -------
    label : numpy.ndarray of int8
        Surface class of the pixel under the point, -1 where flagged.
    flag : numpy.ndarray of int8
        0 labeled, 1 outside scene / no data, 2 cloud, 3 transition.
    """
    ny, nx = classes.shape
    n = px.shape[0]
    label = np.full(n, -1, dtype=np.int8)
    flag = np.zeros(n, dtype=np.int8)
    r2 = radius_px * radius_px
    rad = int(np.ceil(radius_px))
    for k in range(n):
        x = px[k]
        y = py[k]
        if np.isnan(x) or np.isnan(y):
            flag[k] = 1
            continue
        fj = np.floor(x)
        fi = np.floor(y)
        if fi < 0 or fj < 0 or fi >= ny or fj >= nx:
            flag[k] = 1
            continue
        i = int(fi)
        j = int(fj)
        c = classes[i, j]
        if c == _CLOUD:
            flag[k] = 2 if flag_cloud else 1
            continue
        if c < 0:
            flag[k] = 1
            continue
        cloud_near = False
        mixed = False
        for ii in range(max(i - rad, 0), min(i + rad + 1, ny)):
            dy = ii + 0.5 - y
            for jj in range(max(j - rad, 0), min(j + rad + 1, nx)):
                dx = jj + 0.5 - x
                if dx * dx + dy * dy > r2:
                    continue
                cc = classes[ii, jj]
                if cc == _CLOUD:
                    cloud_near = True
                elif cc >= 0 and cc != c:
                    mixed = True
        if cloud_near and flag_cloud:
            flag[k] = 2
        elif mixed:
            flag[k] = 3
        else:
            label[k] = c
    return label, flag


def label_points_numpy(classes, px, py, radius_px, flag_cloud):
    """Numpy twin of :func:`label_points` (vectorised over points, looped over the disk)."""
    classes = np.asarray(classes, dtype=np.int8)
    px = np.asarray(px, dtype=np.float64)
    py = np.asarray(py, dtype=np.float64)
    ny, nx = classes.shape
    n = px.shape[0]
    label = np.full(n, -1, dtype=np.int8)
    flag = np.zeros(n, dtype=np.int8)
    finite = np.isfinite(px) & np.isfinite(py)
    fj = np.floor(np.where(finite, px, -1.0))
    fi = np.floor(np.where(finite, py, -1.0))
    inside = finite & (fi >= 0) & (fj >= 0) & (fi < ny) & (fj < nx)
    flag[~inside] = 1
    i = np.where(inside, fi, 0).astype(np.int64)
    j = np.where(inside, fj, 0).astype(np.int64)
    c = np.where(inside, classes[i, j], -1).astype(np.int8)
    is_cloud = inside & (c == _CLOUD)
    flag[is_cloud] = 2 if flag_cloud else 1
    nod = inside & (c < 0)
    flag[nod] = 1
    ok = inside & (c >= 0) & (c != _CLOUD)
    rad = int(np.ceil(radius_px))
    cloud_near = np.zeros(n, dtype=bool)
    mixed = np.zeros(n, dtype=bool)
    for di in range(-rad, rad + 1):
        for dj in range(-rad, rad + 1):
            ii = i + di
            jj = j + dj
            valid = ok & (ii >= 0) & (jj >= 0) & (ii < ny) & (jj < nx)
            d2 = (ii + 0.5 - py) ** 2 + (jj + 0.5 - px) ** 2
            valid &= d2 <= radius_px * radius_px
            cc = np.where(valid, classes[np.clip(ii, 0, ny - 1), np.clip(jj, 0, nx - 1)], -1)
            cloud_near |= valid & (cc == _CLOUD)
            mixed |= valid & (cc >= 0) & (cc != _CLOUD) & (cc != c)
    if flag_cloud:
        flag[ok & cloud_near] = 2
        mixed &= ~cloud_near
    flag[ok & mixed] = 3
    good = ok & (flag == 0)
    label[good] = c[good]
    return label, flag


@numba.njit(nogil=True, cache=True)
def drift_scores(field, px, py, lowness, off_x, off_y, min_count):  # pragma: no cover - numba
    """Score candidate offsets: Pearson correlation of segment lowness with a water field.

    For each offset ``(off_x[m], off_y[m])`` (pixels) the field is sampled at the pixel
    containing ``(px + off_x[m], py + off_y[m])``; points off the raster, with NaN field or NaN
    lowness are skipped. For a 0/1 field and 0/1 lowness the score is the phi (Matthews)
    coefficient.

    Parameters
    ----------
    field : numpy.ndarray of float32, 2-D
        Water indicator or water fraction in [0, 1], NaN where unknown (cloud, no data).
    px, py : numpy.ndarray of float64
        Fractional column / row of each segment before the offset.
    lowness : numpy.ndarray of float64
        Label-free "looks like open water" score of each segment in [0, 1].
    off_x, off_y : numpy.ndarray of float64
        Candidate offsets in pixels.
    min_count : int
        Offsets with fewer usable points score NaN.

    Returns
    -------
    numpy.ndarray of float64
        One score per offset in [-1, 1]; NaN where undefined (too few points, no variance).
    """
    ny, nx = field.shape
    n = px.shape[0]
    m = off_x.shape[0]
    out = np.full(m, np.nan)
    for o in range(m):
        cnt = 0
        sa = 0.0
        sb = 0.0
        saa = 0.0
        sbb = 0.0
        sab = 0.0
        for k in range(n):
            a = lowness[k]
            if np.isnan(a):
                continue
            x = px[k] + off_x[o]
            y = py[k] + off_y[o]
            if not (x >= 0.0 and y >= 0.0 and x < nx and y < ny):
                continue
            b = field[int(y), int(x)]
            if np.isnan(b):
                continue
            cnt += 1
            sa += a
            sb += b
            saa += a * a
            sbb += b * b
            sab += a * b
        if cnt < min_count:
            continue
        va = saa - sa * sa / cnt
        vb = sbb - sb * sb / cnt
        if va <= 1e-12 or vb <= 1e-12:
            continue
        out[o] = (sab - sa * sb / cnt) / np.sqrt(va * vb)
    return out


def drift_scores_numpy(field, px, py, lowness, off_x, off_y, min_count):
    """Numpy twin of :func:`drift_scores` (vectorised over points)."""
    field = np.asarray(field, dtype=np.float32)
    ny, nx = field.shape
    out = np.full(len(off_x), np.nan)
    for o in range(len(off_x)):
        x = px + off_x[o]
        y = py + off_y[o]
        ok = np.isfinite(lowness) & (x >= 0) & (y >= 0) & (x < nx) & (y < ny)
        xi = np.where(ok, x, 0).astype(np.int64)
        yi = np.where(ok, y, 0).astype(np.int64)
        b = field[yi, xi].astype(np.float64)
        ok &= np.isfinite(b)
        cnt = int(ok.sum())
        if cnt < min_count:
            continue
        a = lowness[ok]
        b = b[ok]
        va = np.sum(a * a) - np.sum(a) ** 2 / cnt
        vb = np.sum(b * b) - np.sum(b) ** 2 / cnt
        if va <= 1e-12 or vb <= 1e-12:
            continue
        out[o] = (np.sum(a * b) - np.sum(a) * np.sum(b) / cnt) / np.sqrt(va * vb)
    return out
