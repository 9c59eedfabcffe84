"""Read Sentinel-2 scenes lazily with rioxarray.

A scene is either one multi-band raster (GeoTIFF / COG / JP2: the 16-bit bands ``B02, B03, B04``
[, ``B08``] [, ``SCL``], or an 8-bit true-colour image ``TCI``), or a folder of single-band
files whose names contain the band name (``..._B02_10m.jp2``, ``B03.tif``, ``..._SCL_20m.tif``,
``..._TCI.tif``). The result is one :class:`xarray.Dataset` on the 10 m grid with one
dask-backed variable per band:

- 16-bit bands become float32 reflectance ``(DN + add_offset) / quantification_value``
  (``attrs["radiometry"] == "reflectance"``); ``DN == 0`` is no data (NaN). Processing baselines
  04.00 and later (from 25 January 2022) store ``BOA_ADD_OFFSET`` (L2A) or ``RADIO_ADD_OFFSET``
  (L1C) = -1000; earlier baselines have no offset.
- An 8-bit ``TCI`` gives float32 variables ``B04, B03, B02`` holding the 8-bit values
  (``attrs["radiometry"] == "tci8"``); pixels 0 in all three bands are no data (NaN).
- ``SCL`` (scene classification, uint8) is brought onto the 10 m grid by nearest neighbour.

Only the CRS, transform and tags are read eagerly; pixel values load at a sink.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from icefb.errors import SceneCRSError, SceneError

__all__ = [
    "SceneInfo",
    "open_scene",
    "parse_scene_time",
    "scene_info",
]

#: Raster file suffixes a scene folder is searched for.
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
#: Bands every reflectance scene needs.
REQUIRED_BANDS = ("B02", "B03", "B04")
#: Default chunk edge (pixels) of the lazy arrays.
DEFAULT_CHUNKS = 2048

_BAND_RE = re.compile(r"(?<![A-Z0-9])(B0?2|B0?3|B0?4|B0?8|SCL|TCI)(?![0-9A])", re.IGNORECASE)
_TIME_RE = re.compile(r"(\d{8}T\d{6})")
_ISO_RE = re.compile(
    r"(\d{4})[-:/]?(\d{2})[-:/]?(\d{2})[T ]?(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?"
)
_BASELINE_RE = re.compile(r"_N(\d{2})(\d{2})(?:_|$)")
_TIME_TAG_KEYS = (
    "ACQUISITION_TIME",
    "ACQUISITION_DATETIME",
    "SENSING_TIME",
    "SENSING_START",
    "DATATAKE_SENSING_START",
    "PRODUCT_START_TIME",
    "DATATAKE_1_DATATAKE_SENSING_START",
    "DATETIME",
    "TIME",
)


def _canon_band(name: str) -> str:
    name = name.upper()
    if name in ("SCL", "TCI"):
        return name
    return f"B{int(name[1:]):02d}"


@dataclass(frozen=True)
class SceneInfo:
    """Footprint and time of a scene, read without touching pixels.

    Attributes
    ----------
    path : str
        File or folder of the scene.
    crs : pyproj.CRS
        Projected CRS of the scene.
    bounds : tuple of float
        ``(left, bottom, right, top)`` in CRS units (m).
    shape : tuple of int
        ``(rows, cols)`` of the 10 m grid.
    time : numpy.datetime64 or None
        Acquisition time (UTC), if known.
    """

    path: str
    crs: Any
    bounds: tuple[float, float, float, float]
    shape: tuple[int, int]
    time: np.datetime64 | None


# --------------------------------------------------------------------------------------------
# time and metadata parsing
# --------------------------------------------------------------------------------------------


def _parse_datetime_text(text: str) -> np.datetime64 | None:
    m = _ISO_RE.search(str(text))
    if m is None:
        return None
    y, mo, d, hh, mm, ss, frac = m.groups()
    try:
        t = _dt.datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss))
    except ValueError:
        return None
    out = np.datetime64(t.isoformat(), "ns")
    if frac:
        out = out + np.timedelta64(round(float(frac) * 1e9), "ns")
    return out


def parse_scene_time(
    name: str | os.PathLike[str] | None = None, tags: Mapping[str, Any] | None = None
) -> np.datetime64 | None:
    """Acquisition time of a Sentinel-2 scene from its tags, else its standard file name.

    Parameters
    ----------
    name : str or path, optional
        File or folder name; the first ``YYYYMMDDTHHMMSS`` in it is the sensing time in both the
        product name (``S2A_MSIL2A_20191126T183919_N0213_...``) and the tile-file names
        (``T01CDN_20191126T183919_TCI.tif``).
    tags : mapping, optional
        Raster tags; keys such as ``ACQUISITION_TIME``, ``SENSING_TIME``,
        ``DATATAKE_SENSING_START``, ``PRODUCT_START_TIME``, ``datetime`` or ``time`` (any case).

    Returns
    -------
    numpy.datetime64 or None
        ``datetime64[ns]`` (UTC), or None when nothing parses.

    Examples
    --------
    >>> str(parse_scene_time("T01CDN_20191126T183919_TCI.tif"))
    '2019-11-26T18:39:19.000000000'
    >>> str(parse_scene_time(tags={"ACQUISITION_TIME": "2020-03-01T10:00:05.5Z"}))
    '2020-03-01T10:00:05.500000000'
    """
    if tags:
        upper = {str(k).upper(): v for k, v in tags.items()}
        for key in _TIME_TAG_KEYS:
            if key in upper:
                t = _parse_datetime_text(upper[key])
                if t is not None:
                    return t
    if name is not None:
        for part in reversed(Path(os.fspath(name)).parts):
            m = _TIME_RE.search(part)
            if m is not None:
                return _parse_datetime_text(m.group(1))
    return None


def _to_datetime64(time: Any, path: str) -> np.datetime64:
    try:
        if isinstance(time, str):
            parsed = _parse_datetime_text(time)
            if parsed is None:
                raise ValueError(time)
            return parsed
        return np.datetime64(time, "ns")
    except (TypeError, ValueError) as exc:
        raise SceneError(
            "cannot interpret the scene time", path=path, got=time,
            expected="ISO string, datetime or numpy.datetime64",
        ) from exc


def _baseline(name: str, tags: Mapping[str, str]) -> float | None:
    for key, val in tags.items():
        if "PROCESSING_BASELINE" in key.upper():
            try:
                return float(str(val).strip().lstrip("N"))
            except ValueError:
                pass
    for part in reversed(Path(name).parts):
        m = _BASELINE_RE.search(part)
        if m is not None:
            return float(f"{m.group(1)}.{m.group(2)}")
    return None


def _find_number(tags: Mapping[str, str], word: str, band: str) -> float | None:
    """Value of a tag whose key contains ``word``, preferring one suffixed by ``band``."""
    generic = None
    short = f"B{int(band[1:])}" if band.startswith("B") else band
    for key, val in tags.items():
        k = key.upper()
        if word not in k:
            continue
        try:
            num = float(val)
        except (TypeError, ValueError):
            continue
        rest = k.split(word, 1)[1].strip("_")
        if rest in (band, short):
            return num
        if rest == "":
            generic = num
    return generic


# --------------------------------------------------------------------------------------------
# file inventory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BandSource:
    path: str
    index: int  # 1-based band index within the file
    tags: dict[str, str]
    scale: float
    offset: float
    dtype: str


def _read_meta(path: str) -> dict[str, Any]:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            return {
                "crs": src.crs,
                "transform": src.transform,
                "shape": (src.height, src.width),
                "bounds": tuple(src.bounds),
                "count": src.count,
                "dtypes": list(src.dtypes),
                "descriptions": list(src.descriptions),
                "tags": {str(k): str(v) for k, v in src.tags().items()},
                "band_tags": [
                    {str(k): str(v) for k, v in src.tags(i + 1).items()} for i in range(src.count)
                ],
                "scales": list(src.scales),
                "offsets": list(src.offsets),
            }
    except RasterioIOError as exc:
        raise SceneError("cannot open the raster", path=path, got=str(exc)) from exc


def _check_crs(crs: Any, path: str) -> None:
    if crs is None:
        raise SceneCRSError(
            "scene has no CRS", path=path, expected="a projected CRS such as EPSG:3413/3031"
        )
    if not crs.is_projected:
        raise SceneCRSError(
            "scene CRS is not projected", path=path, got=crs.to_string(),
            expected="a projected CRS in metres such as EPSG:3413/3031",
        )


def _inventory(path: str, bands: tuple[str, ...] | None) -> tuple[dict[str, _BandSource], dict]:
    """Map band name -> source for a file or a folder; also return the grid metadata."""
    p = Path(path)
    if not p.exists():
        raise SceneError("scene path does not exist", path=path)
    sources: dict[str, _BandSource] = {}
    metas: dict[str, dict[str, Any]] = {}
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in RASTER_SUFFIXES)
        for f in files:
            m = list(_BAND_RE.finditer(f.stem))
            if not m:
                continue
            band = _canon_band(m[-1].group(1))
            if band in sources:
                continue
            meta = _read_meta(str(f))
            metas[band] = meta
            tags = {**meta["tags"], **meta["band_tags"][0]}
            if band == "TCI":
                for k, name in enumerate(("B04", "B03", "B02")):
                    sources.setdefault(
                        name, _BandSource(str(f), k + 1, tags, 1.0, 0.0, meta["dtypes"][k])
                    )
                    metas[name] = meta
                continue
            sources[band] = _BandSource(
                str(f), 1, tags, meta["scales"][0], meta["offsets"][0], meta["dtypes"][0]
            )
        if not sources:
            raise SceneError(
                "no band files in the scene folder", path=path,
                expected="files named with B02, B03, B04 (B08, SCL optional) or TCI",
            )
    else:
        meta = _read_meta(path)
        names: list[str]
        descr = [d for d in meta["descriptions"]]
        if bands is not None:
            names = [_canon_band(b) for b in bands]
        elif all(d and _BAND_RE.fullmatch(d.strip()) for d in descr):
            names = [_canon_band(d.strip()) for d in descr]
        elif meta["dtypes"][0] == "uint8" and meta["count"] in (3, 4):
            names = ["B04", "B03", "B02", "ALPHA"][: meta["count"]]  # TCI: red, green, blue
        elif meta["count"] >= 3:
            names = ["B02", "B03", "B04", "B08", "SCL"][: meta["count"]]
        else:
            names = []
        if len(names) != meta["count"]:
            raise SceneError(
                "cannot tell which band is which", path=path, got=f"{meta['count']} bands",
                expected="band descriptions B02/B03/B04[/B08/SCL], an 8-bit RGB TCI, or bands=",
            )
        for k, name in enumerate(names):
            tags = {**meta["tags"], **meta["band_tags"][k]}
            sources[name] = _BandSource(
                path, k + 1, tags, meta["scales"][k], meta["offsets"][k], meta["dtypes"][k]
            )
            metas[name] = meta
    missing = [b for b in REQUIRED_BANDS if b not in sources]
    if missing:
        raise SceneError(
            f"scene lacks band(s) {', '.join(missing)}", path=path,
            got=sorted(sources), expected="B02, B03, B04 (or a TCI)",
        )
    grid = metas["B04"]
    _check_crs(grid["crs"], path)
    for b in REQUIRED_BANDS + ("B08",):
        if b in sources and (
            metas[b]["shape"] != grid["shape"] or metas[b]["transform"] != grid["transform"]
        ):
            raise SceneError(
                f"band {b} is not on the grid of B04", path=sources[b].path,
                got=metas[b]["shape"], expected=grid["shape"],
            )
    return sources, grid


def scene_info(path: str | os.PathLike[str], *, time: Any = None) -> SceneInfo:
    """Footprint, CRS and acquisition time of a scene without reading pixels.

    Parameters
    ----------
    path : str or path
        Multi-band raster or folder of band files.
    time : str, datetime or numpy.datetime64, optional
        Acquisition time, overriding tags and file name.

    Returns
    -------
    SceneInfo

    Raises
    ------
    SceneError, SceneCRSError
        Unreadable scene, missing bands, no or geographic CRS.
    """
    path = os.fspath(path)
    sources, grid = _inventory(path, None)
    t = _scene_time(path, sources, time)
    return SceneInfo(path, grid["crs"], grid["bounds"], grid["shape"], t)


def _scene_time(path: str, sources: dict[str, _BandSource], time: Any) -> np.datetime64 | None:
    if time is not None:
        return _to_datetime64(time, path)
    tags = sources["B04"].tags
    t = parse_scene_time(None, tags)
    if t is None:
        t = parse_scene_time(path)
    if t is None:
        t = parse_scene_time(sources["B04"].path)
    return t


# --------------------------------------------------------------------------------------------
# lazy reading
# --------------------------------------------------------------------------------------------


def _open_band(src: _BandSource, chunks: Any) -> xr.DataArray:

    da = rioxarray.open_rasterio(
        src.path, chunks=chunks, mask_and_scale=False, lock=False, cache=False
    )
    da = da.isel(band=src.index - 1, drop=True)
    da.attrs = {}
    return da


def open_scene(
    path: str | os.PathLike[str],
    *,
    time: Any = None,
    chunks: int | Mapping[str, int] | None = DEFAULT_CHUNKS,
    bands: tuple[str, ...] | None = None,
    add_offset: float | None = None,
    quantification_value: float | None = None,
) -> xr.Dataset:
    """Open a Sentinel-2 scene lazily as reflectance (or 8-bit TCI values) on its 10 m grid.

    Parameters
    ----------
    path : str or path
        A multi-band GeoTIFF/COG/JP2, an 8-bit TCI, or a folder of single-band files (names
        containing ``B02``, ``B03``, ``B04``, optionally ``B08``, ``SCL``; or ``TCI``).
    time : str, datetime or numpy.datetime64, optional
        Acquisition time (UTC). Default: from the tags (``ACQUISITION_TIME``, ``SENSING_TIME``,
        ...), else the first ``YYYYMMDDTHHMMSS`` of the file or folder name.
    chunks : int or mapping, optional
        Dask chunks (pixels) of each band, default 2048; None reads eagerly.
    bands : tuple of str, optional
        Band names of a multi-band file in order, when the file has no band descriptions
        (default for 16-bit files without descriptions: ``B02, B03, B04[, B08[, SCL]]``; for
        3- or 4-band 8-bit files: TCI red, green, blue).
    add_offset, quantification_value : float, optional
        Override the radiometric offset (DN) and quantification value. Default: the tags
        ``BOA_ADD_OFFSET[_Bxx]`` / ``RADIO_ADD_OFFSET[_Bxx]`` and
        ``[BOA_]QUANTIFICATION_VALUE``; else the GDAL band scale/offset; else -1000 for
        processing baseline >= 04.00 (tag ``PROCESSING_BASELINE`` or ``_Nxxyy_`` in the name) and
        0 before; quantification 10000.

    Returns
    -------
    xarray.Dataset
        Variables ``B02``, ``B03``, ``B04`` (float32; reflectance, or 8-bit values for a TCI),
        optional ``B08`` (float32) and ``SCL`` (uint8); dims ``(y, x)`` with the rioxarray
        CRS coordinate. Attributes ``radiometry`` (``"reflectance"``/``"tci8"``),
        ``source_path``, ``acquisition_time`` (ISO string, absent when unknown),
        ``add_offset``, ``quantification_value``, ``processing_baseline``.

    Raises
    ------
    SceneError
        Path missing, unreadable, or without the bands B02, B03, B04.
    SceneCRSError
        The scene has no CRS or a geographic one.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, rasterio
    >>> from rasterio.transform import from_origin
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "S2B_MSIL2A_20220301T101010_N0400_R1_T1_x.tif"
    >>> with rasterio.open(d, "w", driver="GTiff", width=4, height=4, count=3, dtype="uint16",
    ...                    crs="EPSG:3413", transform=from_origin(0, 40, 10, 10)) as f:
    ...     f.write(np.full((3, 4, 4), 3000, "uint16"))
    >>> s = open_scene(d)
    >>> round(float(s.B04[0, 0]), 4), s.attrs["acquisition_time"]
    (0.2, '2022-03-01T10:10:10')
    """
    path = os.fspath(path)
    sources, grid = _inventory(path, bands)
    is_tci = all(sources[b].dtype == "uint8" for b in REQUIRED_BANDS)
    baseline = None
    tags0 = sources["B04"].tags
    quant_used = None
    offset_used = None
    if not is_tci:
        baseline = _baseline(path, tags0)
    data: dict[str, xr.DataArray] = {}
    ref = None
    for name in REQUIRED_BANDS + ("B08",):
        if name not in sources:
            continue
        src = sources[name]
        raw = _open_band(src, chunks)
        if ref is None:
            ref = raw
        if is_tci:
            data[name] = raw.astype(np.float32)
            continue
        offset = add_offset
        if offset is None:
            offset = _find_number(src.tags, "ADD_OFFSET", name)
        quant = quantification_value
        if quant is None:
            quant = _find_number(src.tags, "QUANTIFICATION_VALUE", name)
        if offset is None and quant is None and (src.scale != 1.0 or src.offset != 0.0):
            # GDAL scale/offset: reflectance = DN * scale + offset
            quant = 1.0 / src.scale
            offset = src.offset * quant
        if offset is None:
            offset = -1000.0 if baseline is not None and baseline >= 4.0 else 0.0
        if quant is None:
            quant = 10000.0
        if not quant > 0:
            raise SceneError(
                "quantification value must be positive", path=src.path, got=quant
            )
        offset_used = offset if offset_used is None else offset_used
        quant_used = quant if quant_used is None else quant_used
        refl = ((raw.astype(np.float32) + np.float32(offset)) / np.float32(quant)).where(raw != 0)
        data[name] = refl.astype(np.float32)
    if is_tci:
        nodata = (data["B02"] == 0) & (data["B03"] == 0) & (data["B04"] == 0)
        for name in REQUIRED_BANDS:
            data[name] = data[name].where(~nodata)
    if "SCL" in sources:
        scl = _open_band(sources["SCL"], chunks)
        if scl.shape != ref.shape or not (
            np.array_equal(scl.x.values, ref.x.values)
            and np.array_equal(scl.y.values, ref.y.values)
        ):
            scl = scl.sel(x=ref.x, y=ref.y, method="nearest").assign_coords(x=ref.x, y=ref.y)
        data["SCL"] = scl.astype(np.uint8)
    ds = xr.Dataset(data)
    for name, var in ds.data_vars.items():
        var.attrs = {"band": name}
        if name != "SCL":
            var.attrs["units"] = "1" if not is_tci else "8-bit TCI value"
    ds = ds.rio.write_crs(grid["crs"])
    t = _scene_time(path, sources, time)
    attrs: dict[str, Any] = {
        "radiometry": "tci8" if is_tci else "reflectance",
        "source_path": path,
    }
    if t is not None:
        attrs["acquisition_time"] = str(np.datetime_as_string(t, unit="s"))
    if not is_tci:
        attrs["add_offset"] = float(offset_used)
        attrs["quantification_value"] = float(quant_used)
        if baseline is not None:
            attrs["processing_baseline"] = f"{baseline:05.2f}"
    ds.attrs = attrs
    return ds
