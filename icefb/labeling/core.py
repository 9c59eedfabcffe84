"""Label 2 m segments from a Sentinel-2 scene, with drift estimation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from icefb.constants import (
    ATLAS_SDP_EPOCH,
    SURFACE_TYPE_FLAG_MEANINGS,
    SURFACE_TYPE_FLAG_VALUES,
)
from icefb.errors import MissingVariableError, NoOverlapError, SceneCRSError, SceneError
from icefb.io.sentinel2 import open_scene
from icefb.kernels.labeling import drift_scores, label_points
from icefb.labeling.classify import classify_scene
from icefb.labeling.config import (
    LABEL_FLAG_MEANINGS,
    LABEL_FLAG_VALUES,
    RASTER_CLOUD,
    LabelConfig,
    LabelFlag,
)

__all__ = ["DriftEstimate", "autolabel", "estimate_drift", "label_unit"]


@dataclass(frozen=True)
class DriftEstimate:
    """Offset that aligns the track with the scene.

    The ice under a segment at projected position ``p`` is found in the scene at
    ``p + (x_m, y_m)`` = ``p + along_m * u_along + across_m * u_across`` where ``u_along`` is the
    unit vector of increasing ``x_atc`` and ``u_across`` is ``u_along`` turned 90 degrees
    counter-clockwise (to the left) in the scene CRS.

    Attributes
    ----------
    along_m, across_m, x_m, y_m : float
        The offset (m) in track and scene-CRS axes.
    score : float
        Correlation of segment lowness with the water field at the offset (NaN if undefined).
    score_zero : float
        The same at zero offset.
    n_segments : int
        Segments used.
    status : str
        ``"estimated"``, ``"fixed"``, ``"none"`` or ``"undetermined"`` (no usable heights, no
        water or too few segments: the offset is then zero).
    """

    along_m: float
    across_m: float
    x_m: float
    y_m: float
    score: float
    score_zero: float
    n_segments: int
    status: str


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _beams(segments: xr.Dataset | xr.DataTree) -> list[tuple[str | None, xr.Dataset]]:
    if isinstance(segments, xr.DataTree):
        out = [
            (node.name, node.to_dataset())
            for node in segments.subtree
            if "lat" in node.ds.data_vars and "lon" in node.ds.data_vars
        ]
        if not out:
            raise MissingVariableError(
                "no node of the tree holds segment lat/lon", variable="lat",
                expected="beam nodes with 'lat' and 'lon' (from icefb.resample)",
            )
        return out
    if not isinstance(segments, xr.Dataset):
        raise TypeError(f"segments must be an xarray Dataset or DataTree, got {type(segments)}")
    return [(segments.attrs.get("beam"), segments)]


def _require(ds: xr.Dataset, name: str, beam: str | None) -> np.ndarray:
    if name not in ds.variables:
        raise MissingVariableError(
            "segments lack a variable autolabel needs", beam=beam, variable=name,
            path=ds.attrs.get("source_path"), expected="the segment contract of icefb.resample",
        )
    return np.asarray(ds[name].values, dtype=np.float64)


def _grid(scene: xr.Dataset) -> tuple[float, float, float, float, int, int]:
    crs = scene.rio.crs
    path = scene.attrs.get("source_path")
    if crs is None:
        raise SceneCRSError("scene has no CRS", path=path, expected="a projected CRS")
    if not crs.is_projected:
        raise SceneCRSError(
            "scene CRS is not projected", path=path, got=crs.to_string(),
            expected="a projected CRS in metres such as EPSG:3413/3031",
        )
    t = scene.rio.transform()
    if abs(t.b) > 0 or abs(t.d) > 0:
        raise SceneError("rotated scene grids are not supported", path=path, got=tuple(t))
    ny, nx = scene["B04"].shape
    return float(t.c), float(t.f), float(t.a), float(t.e), int(ny), int(nx)


def _project(lat: np.ndarray, lon: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(lon, lat)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & np.isfinite(x) & np.isfinite(y))
    x[bad] = np.nan
    y[bad] = np.nan
    return x, y


def _track_axes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(ok) >= 2:
        d = np.array([x[ok[-1]] - x[ok[0]], y[ok[-1]] - y[ok[0]]])
        norm = float(np.hypot(*d))
        if norm > 0:
            u = d / norm
            return u, np.array([-u[1], u[0]])
    return np.array([1.0, 0.0]), np.array([0.0, 1.0])


def _lowness(ds: xr.Dataset, config: LabelConfig) -> np.ndarray | None:
    """Label-free water-likeness of each segment from its height above a rolling low level."""
    if "h_cor_mean" not in ds.variables:
        return None
    h = np.asarray(ds["h_cor_mean"].values, dtype=np.float64)
    window = float(ds.attrs.get("window", 2.0) or 2.0)
    n = max(int(round(config.drift_reference_window_m / window)), 3)
    ref = (
        pd.Series(h)
        .rolling(n, center=True, min_periods=max(n // 20, 3))
        .quantile(config.drift_reference_percentile / 100.0)
        .to_numpy()
    )
    low = np.clip(1.0 - (h - ref) / config.drift_height_scale_m, 0.0, 1.0)
    low[~(np.isfinite(h) & np.isfinite(ref))] = np.nan
    return low


def _block_mean(field: np.ndarray, f: int) -> np.ndarray:
    if f <= 1:
        return field
    ny, nx = field.shape
    py, px = (-ny) % f, (-nx) % f
    padded = np.pad(field, ((0, py), (0, px)), constant_values=np.nan)
    blocks = padded.reshape(padded.shape[0] // f, f, padded.shape[1] // f, f)
    valid = np.isfinite(blocks).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(valid * 2 >= f * f, total / np.maximum(valid, 1), np.nan)
    return out.astype(np.float32)


def _search(
    field: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    low: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    res_x: float,
    res_y: float,
    config: LabelConfig,
) -> tuple[float, float, float]:
    """Coarse-to-fine grid search of (along, across) maximising the drift score."""
    res = min(abs(res_x), abs(res_y))
    centre = np.zeros(2)
    half = config.drift_window_m
    step = config.drift_coarse_step_m
    best_score = np.nan
    while True:
        f = max(1, int(step // res))
        lev_field = _block_mean(field, f)
        k = int(np.floor(half / step + 1e-9))
        grid = np.arange(-k, k + 1) * step
        aa, cc = np.meshgrid(centre[0] + grid, centre[1] + grid, indexing="ij")
        aa = aa.ravel()
        cc = cc.ravel()
        dx = aa * u[0] + cc * v[0]
        dy = aa * u[1] + cc * v[1]
        scores = drift_scores(
            lev_field,
            px / f,
            py / f,
            low,
            dx / res_x / f,
            dy / res_y / f,
            int(config.drift_min_segments),
        )
        if not np.isfinite(scores).any():
            if np.isnan(best_score):
                return np.nan, 0.0, 0.0
            break
        top = np.nanmax(scores)
        ties = np.flatnonzero(scores >= top - 1e-9)
        # nearest to the centre among ties, then the mean of a tight cluster of ties
        dist = np.hypot(aa[ties] - centre[0], cc[ties] - centre[1])
        near = ties[dist <= dist.min() + 1.5 * step]
        centre = np.array([aa[near].mean(), cc[near].mean()])
        best_score = float(top)
        if step <= config.drift_step_m:
            break
        half = step
        step = max(step / 4.0, config.drift_step_m)
    return best_score, float(centre[0]), float(centre[1])


def _water_field(classes: np.ndarray, thin_weight: float) -> np.ndarray:
    field = np.where(classes == 2, 1.0, np.where(classes == 1, thin_weight, 0.0))
    field = field.astype(np.float32)
    field[(classes < 0) | (classes == RASTER_CLOUD)] = np.nan
    return field


def estimate_drift(
    classes: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    low: np.ndarray | None,
    u: np.ndarray,
    v: np.ndarray,
    res_x: float,
    res_y: float,
    config: LabelConfig,
) -> DriftEstimate:
    """Estimate the drift offset on a class raster (array level; see :func:`autolabel`).

    Parameters
    ----------
    classes : numpy.ndarray of int8
        Class raster (codes of :func:`classify_scene`).
    px, py : numpy.ndarray
        Fractional column / row of each segment centre in ``classes``.
    low : numpy.ndarray or None
        Segment lowness in [0, 1] (NaN unusable); None: no heights, drift undetermined.
    u, v : numpy.ndarray
        Along- and across-track unit vectors in the scene CRS.
    res_x, res_y : float
        Pixel size (m) of the transform (``res_y`` negative for north-up rasters).
    config : LabelConfig

    Returns
    -------
    DriftEstimate
    """
    if config.drift == "none":
        return DriftEstimate(0.0, 0.0, 0.0, 0.0, np.nan, np.nan, 0, "none")
    if config.drift == "fixed":
        a, c = config.drift_along_m, config.drift_across_m
        return DriftEstimate(
            a, c, a * u[0] + c * v[0], a * u[1] + c * v[1], np.nan, np.nan, 0, "fixed"
        )
    n = 0 if low is None else int(np.isfinite(low).sum())
    if low is None or n < config.drift_min_segments:
        return DriftEstimate(0.0, 0.0, 0.0, 0.0, np.nan, np.nan, n, "undetermined")
    field = _water_field(classes, config.drift_thin_weight)
    zero = drift_scores(
        field, px, py, low, np.zeros(1), np.zeros(1), int(config.drift_min_segments)
    )[0]
    score, a, c = _search(field, px, py, low, u, v, res_x, res_y, config)
    if not np.isfinite(score):
        return DriftEstimate(0.0, 0.0, 0.0, 0.0, np.nan, float(zero), n, "undetermined")
    return DriftEstimate(
        a, c, a * u[0] + c * v[0], a * u[1] + c * v[1], score, float(zero), n, "estimated"
    )


def _scene_time_dt(scene: xr.Dataset) -> float:
    t = scene.attrs.get("acquisition_time")
    if t is None:
        return np.nan
    return float((np.datetime64(t, "ns") - ATLAS_SDP_EPOCH) / np.timedelta64(1, "s"))


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------


def autolabel(
    segments: xr.Dataset | xr.DataTree,
    scene: xr.Dataset | str | os.PathLike[str],
    config: LabelConfig | None = None,
) -> xr.Dataset | xr.DataTree:
    """Label 2 m segments from a Sentinel-2 scene, correcting the ice drift between them.

    Segment centres (``lat``, ``lon``) are projected into the scene CRS with pyproj, shifted by
    the drift offset, and given the class of the pixel that contains them. The drift is the
    along/across-track offset that maximises the correlation between segment "lowness"
    (``h_cor_mean`` close to a rolling low percentile: label-free) and open-water pixels,
    searched coarse-to-fine over ``+-drift_window_m``. With a DataTree of beams one offset is
    estimated from all beams together.

    Parameters
    ----------
    segments : xarray.Dataset or xarray.DataTree
        Segments of one beam (dim ``segment``; ``lat``, ``lon``, ``delta_time``, and
        ``h_cor_mean`` for drift estimation), or a tree whose beam nodes hold them.
    scene : xarray.Dataset or path
        From :func:`icefb.labeling.open_scene`, or a path passed to it.
    config : LabelConfig, optional
        Thresholds, radii, time gap and drift search; default ``LabelConfig()``.

    Returns
    -------
    xarray.Dataset or xarray.DataTree
        The input with ``s2_label`` (int8 ``SurfaceType``, -1 where not labeled) and
        ``label_flag`` (int8: 0 labeled, 1 outside scene, 2 cloud, 3 class transition within
        ``transition_radius_m``, 4 time gap beyond ``max_time_gap_s``) and attributes
        ``drift_along_m``, ``drift_across_m``, ``drift_x_m``, ``drift_y_m``, ``drift_score``,
        ``drift_score_zero``, ``drift_status``, ``s2_scene``, ``s2_acquisition_time``,
        ``label_fraction_*``.

    Raises
    ------
    NoOverlapError
        No segment of any beam falls inside the scene footprint.
    SceneCRSError
        The scene has no CRS or a geographic one.
    SceneError
        The scene lacks bands or cannot be read.
    MissingVariableError
        The segments lack ``lat``/``lon``.

    Examples
    --------
    >>> import numpy as np, xarray as xr, rioxarray
    >>> from icefb.labeling import autolabel, LabelConfig
    >>> refl = np.full((20, 20), 0.9, "float32"); refl[:, 10:] = 0.005
    >>> band = xr.DataArray(refl, dims=("y", "x"),
    ...     coords={"y": 2e5 - 5 - 10 * np.arange(20), "x": 5 + 10 * np.arange(20)})
    >>> scene = xr.Dataset({"B02": band, "B03": band, "B04": band},
    ...     attrs={"radiometry": "reflectance"}).rio.write_crs("EPSG:3413")
    >>> from pyproj import Transformer
    >>> tr = Transformer.from_crs("EPSG:3413", "EPSG:4326", always_xy=True)
    >>> lon, lat = tr.transform(np.array([20.0, 180.0]), np.array([199900.0, 199900.0]))
    >>> seg = xr.Dataset({"lat": ("segment", lat), "lon": ("segment", lon)})
    >>> out = autolabel(seg, scene, LabelConfig(drift="none"))
    >>> out.s2_label.values.tolist(), out.label_flag.values.tolist()
    ([0, 2], [0, 0])
    """
    config = LabelConfig() if config is None else config
    if not isinstance(scene, xr.Dataset):
        scene = open_scene(scene)
    path = scene.attrs.get("source_path")
    x0, y0, res_x, res_y, ny, nx = _grid(scene)
    crs = scene.rio.crs
    beams = _beams(segments)

    # project every beam; find the scene window the tracks (plus search margins) touch
    proj = []
    for name, ds in beams:
        lat = _require(ds, "lat", name)
        lon = _require(ds, "lon", name)
        x, y = _project(lat, lon, crs)
        proj.append((x, y))
    all_px = np.concatenate([(x - x0) / res_x for x, _ in proj])
    all_py = np.concatenate([(y - y0) / res_y for _, y in proj])
    inside = (all_px >= 0) & (all_px < nx) & (all_py >= 0) & (all_py < ny)
    if not (np.isfinite(all_px) & np.isfinite(all_py)).any():
        # no segment has a position (a beam without signal photons): nothing to label, and
        # nothing that could overlap; every segment is flagged outside the scene
        attrs = {"drift_status": "undetermined", "s2_scene": str(path),
                 "s2_acquisition_time": scene.attrs.get("acquisition_time", "unknown"),
                 "s2_crs": crs.to_string()}
        out_beams = []
        for name, ds in beams:
            n = ds["lat"].shape[0]
            out_beams.append((name, _with_labels(
                ds, np.full(n, -1, np.int8), np.full(n, LabelFlag.OUTSIDE_SCENE, np.int8), attrs
            )))
        return _pack(segments, out_beams, attrs)
    if not inside.any():
        raise NoOverlapError(
            "no segment falls inside the scene footprint", path=path,
            beam=beams[0][0] if len(beams) == 1 else None,
            expected="a scene the ground track crosses",
        )
    margin_m = (config.drift_window_m if config.drift == "estimate" else 0.0) + abs(
        config.drift_along_m
    ) + abs(config.drift_across_m) + config.transition_radius_m + 2 * config.drift_coarse_step_m
    mpx = margin_m / abs(res_x)
    mpy = margin_m / abs(res_y)
    fin = np.isfinite(all_px) & np.isfinite(all_py)
    c0 = int(np.clip(np.floor(all_px[fin].min() - mpx), 0, nx))
    c1 = int(np.clip(np.ceil(all_px[fin].max() + mpx) + 1, 0, nx))
    r0 = int(np.clip(np.floor(all_py[fin].min() - mpy), 0, ny))
    r1 = int(np.clip(np.ceil(all_py[fin].max() + mpy) + 1, 0, ny))
    sub = scene.isel(y=slice(r0, r1), x=slice(c0, c1))
    classes = np.ascontiguousarray(classify_scene(sub, config).values, dtype=np.int8)

    # drift: one offset for all beams
    u, v = _track_axes(*proj[0])
    lows = [_lowness(ds, config) for _, ds in beams]
    px_sub = [(x - x0) / res_x - c0 for x, _ in proj]
    py_sub = [(y - y0) / res_y - r0 for _, y in proj]
    low_all = None if any(lw is None for lw in lows) else np.concatenate(lows)
    drift = estimate_drift(
        classes,
        np.concatenate(px_sub),
        np.concatenate(py_sub),
        low_all,
        u,
        v,
        res_x,
        res_y,
        config,
    )

    t_scene = _scene_time_dt(scene)
    radius_px = config.transition_radius_m / min(abs(res_x), abs(res_y))
    attrs = {
        "drift_along_m": drift.along_m,
        "drift_across_m": drift.across_m,
        "drift_x_m": drift.x_m,
        "drift_y_m": drift.y_m,
        "drift_score": drift.score,
        "drift_score_zero": drift.score_zero,
        "drift_status": drift.status,
        "s2_scene": str(path),
        "s2_acquisition_time": scene.attrs.get("acquisition_time", "unknown"),
        "s2_crs": crs.to_string(),
        "label_time_gap_checked": int(np.isfinite(t_scene)),
    }
    out_beams = []
    for (name, ds), xs, ys in zip(beams, px_sub, py_sub, strict=True):
        lab, flag = label_points(
            classes,
            xs + drift.x_m / res_x,
            ys + drift.y_m / res_y,
            float(radius_px),
            True,
        )
        if np.isfinite(t_scene) and "delta_time" in ds.variables:
            dt = np.asarray(ds["delta_time"].values, dtype=np.float64)
            gap = np.abs(dt - t_scene)
            late = (flag != LabelFlag.OUTSIDE_SCENE) & ~(gap <= config.max_time_gap_s)
            flag[late] = LabelFlag.TIME_GAP
            lab[late] = -1
        out_beams.append((name, _with_labels(ds, lab, flag, attrs)))

    return _pack(segments, out_beams, attrs)


def _with_labels(ds: xr.Dataset, lab: np.ndarray, flag: np.ndarray, attrs: dict) -> xr.Dataset:
    dim = ds["lat"].dims
    out = ds.assign(
        s2_label=(dim, lab.astype(np.int8), {
            "long_name": "surface type from Sentinel-2 (-1 where not labeled)",
            "flag_values": SURFACE_TYPE_FLAG_VALUES,
            "flag_meanings": SURFACE_TYPE_FLAG_MEANINGS,
            "units": "1",
        }),
        label_flag=(dim, flag.astype(np.int8), {
            "long_name": "Sentinel-2 labeling flag",
            "flag_values": LABEL_FLAG_VALUES,
            "flag_meanings": LABEL_FLAG_MEANINGS,
            "units": "1",
        }),
    )
    n = max(flag.size, 1)
    fractions = {
        f"label_fraction_{m}": float(np.count_nonzero(flag == k)) / n
        for k, m in zip(LABEL_FLAG_VALUES, LABEL_FLAG_MEANINGS.split(), strict=True)
    }
    out.attrs = {**ds.attrs, **attrs, **fractions}
    return out


def _pack(segments, out_beams: list, attrs: dict):
    if isinstance(segments, xr.DataTree):
        tree = segments.copy()
        for name, out in out_beams:
            node = next(n for n in tree.subtree if n.name == name)
            node.dataset = out
        tree.attrs = {**tree.attrs, **attrs}
        return tree
    return out_beams[0][1]


def label_unit(
    segments: xr.Dataset,
    scene_path: str | os.PathLike[str],
    config: LabelConfig | None = None,
    *,
    scene_time: Any = None,
) -> xr.Dataset:
    """One (beam, scene) work unit for dask/Spark fan-out: open, label, load.

    A pure, picklable top-level function: the same inputs give the same output on any worker.
    The unit is the grain of parallelism, so the scene's dask chunks are read inside it with
    dask's synchronous scheduler: one core per unit, as the engine assigns it. (Under the
    ambient scheduler a distributed worker sent the reads back to the cluster as tasks of
    their own, and a Spark or plain Python worker started a thread pool as wide as the
    machine; the labels are the same either way.)

    Parameters
    ----------
    segments : xarray.Dataset
        Segments of one beam (see :func:`autolabel`).
    scene_path : str or path
        Scene file or folder (see :func:`icefb.labeling.open_scene`).
    config : LabelConfig, optional
    scene_time : optional
        Acquisition time overriding tags / file name.

    Returns
    -------
    xarray.Dataset
        ``autolabel(segments, open_scene(scene_path, time=scene_time), config)``, loaded into
        memory.

    Raises
    ------
    NoOverlapError, SceneCRSError, SceneError, MissingVariableError
        As :func:`autolabel`.
    """
    import dask

    with dask.config.set(scheduler="synchronous"):
        scene = open_scene(scene_path, time=scene_time)
        return autolabel(segments, scene, config).load()
