"""Pair ICESat-2 tracks with Sentinel-2 scenes by footprint and time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from icefb.constants import ATLAS_SDP_EPOCH
from icefb.errors import ConfigError, MissingVariableError, SceneError
from icefb.io.sentinel2 import RASTER_SUFFIXES, scene_info
from icefb.labeling.config import LabelConfig

__all__ = ["SceneMatch", "find_scenes"]

_MAX_POINTS = 5000


@dataclass(frozen=True)
class SceneMatch:
    """A scene whose footprint the track crosses within the time window.

    Attributes
    ----------
    path : str
        Scene file or folder (give it to :func:`icefb.labeling.open_scene`).
    time : numpy.datetime64 or None
        Scene acquisition time.
    time_gap_s : float
        Smallest ``|track time - scene time|`` over the track points inside the footprint (s);
        NaN when the scene time is unknown.
    fraction_inside : float
        Fraction of the (subsampled) track points inside the footprint.
    """

    path: str
    time: np.datetime64 | None
    time_gap_s: float
    fraction_inside: float


def _track_points(tracks: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(tracks, str | os.PathLike):
        from icefb.io.atl03 import open_atl03  # the granule reader (lazy)

        tracks = open_atl03(tracks)
    if isinstance(tracks, xr.DataTree):
        nodes = [n.ds for n in tracks.subtree]
    elif isinstance(tracks, xr.Dataset):
        nodes = [tracks]
    elif isinstance(tracks, list | tuple):
        nodes = list(tracks)
    else:
        raise TypeError(f"expected a granule path, Dataset, DataTree or list, got {type(tracks)}")
    lats, lons, times = [], [], []
    for ds in nodes:
        for la, lo in (("lat", "lon"), ("lat_ph", "lon_ph")):
            if la in ds.variables and lo in ds.variables and "delta_time" in ds.variables:
                n = ds.sizes[ds[la].dims[0]]
                stride = max(1, n // _MAX_POINTS)
                sel = {ds[la].dims[0]: slice(None, None, stride)}
                lats.append(np.asarray(ds[la].isel(sel).values, dtype=np.float64))
                lons.append(np.asarray(ds[lo].isel(sel).values, dtype=np.float64))
                times.append(np.asarray(ds["delta_time"].isel(sel).values, dtype=np.float64))
                break
    if not lats:
        raise MissingVariableError(
            "no track positions found", variable="lat",
            expected="lat/lon (segments) or lat_ph/lon_ph (photons) with delta_time",
        )
    return np.concatenate(lats), np.concatenate(lons), np.concatenate(times)


def _candidates(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            out.append(p)
        elif p.suffix.lower() in RASTER_SUFFIXES:
            out.append(p)
    return out


def find_scenes(
    granule_or_tracks: Any,
    scene_folder: str | os.PathLike[str],
    *,
    max_time_gap: float | None = None,
) -> list[SceneMatch]:
    """Scenes in a folder whose footprint the track crosses within a time window.

    Parameters
    ----------
    granule_or_tracks : str, path, xarray.Dataset, xarray.DataTree or list of Dataset
        An ATL03 granule path (opened with ``icefb.open_atl03``), segments (``lat``, ``lon``,
        ``delta_time``) or photons (``lat_ph``, ``lon_ph``, ``delta_time``) of one or more beams.
    scene_folder : str or path
        Folder whose raster files (multi-band or TCI) and sub-folders (band files) are scenes.
        Entries that are not readable scenes are skipped.
    max_time_gap : float, optional
        Largest ``|track time - scene time|`` (s); default ``LabelConfig().max_time_gap_s``.
        Scenes without a known time are kept (``time_gap_s`` NaN).

    Returns
    -------
    list of SceneMatch
        Sorted by time gap, then path.

    Raises
    ------
    SceneError
        ``scene_folder`` is not a folder.
    ConfigError
        ``max_time_gap`` is not positive.
    """
    gap_max = LabelConfig().max_time_gap_s if max_time_gap is None else float(max_time_gap)
    if not gap_max > 0:
        raise ConfigError("max_time_gap must be > 0 s", got=max_time_gap)
    folder = Path(os.fspath(scene_folder))
    if not folder.is_dir():
        raise SceneError("scene folder does not exist", path=folder, expected="a folder")
    lat, lon, t = _track_points(granule_or_tracks)
    from pyproj import Transformer

    matches: list[SceneMatch] = []
    for cand in _candidates(folder):
        try:
            info = scene_info(cand)
        except SceneError:
            continue
        tr = Transformer.from_crs("EPSG:4326", info.crs, always_xy=True)
        x, y = tr.transform(lon, lat)
        left, bottom, right, top = info.bounds
        inside = np.isfinite(x) & (x >= left) & (x <= right) & (y >= bottom) & (y <= top)
        if not inside.any():
            continue
        if info.time is None:
            gap = np.nan
        else:
            ts = float((info.time - ATLAS_SDP_EPOCH) / np.timedelta64(1, "s"))
            gap = float(np.nanmin(np.abs(t[inside] - ts)))
            if not gap <= gap_max:
                continue
        matches.append(SceneMatch(str(cand), info.time, gap, float(inside.mean())))
    matches.sort(key=lambda m: (np.inf if np.isnan(m.time_gap_s) else m.time_gap_s, m.path))
    return matches
