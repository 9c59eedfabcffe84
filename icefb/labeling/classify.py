"""Segment a Sentinel-2 scene into thick ice / thin ice / open water (+ cloud, no data)."""

from __future__ import annotations

import os

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from icefb.errors import SceneError
from icefb.kernels.labeling import classify_rgb
from icefb.labeling.config import (
    CLASS_RASTER_FLAG_MEANINGS,
    CLASS_RASTER_FLAG_VALUES,
    RASTER_CLOUD,
    RASTER_NODATA,
    LabelConfig,
)

__all__ = ["classify_scene", "write_class_raster"]


def _classify_block(r, g, b, scale, thick_min, water_max):
    return classify_rgb(
        np.ascontiguousarray(r, dtype=np.float32),
        np.ascontiguousarray(g, dtype=np.float32),
        np.ascontiguousarray(b, dtype=np.float32),
        float(scale),
        int(thick_min),
        int(water_max),
    )


def classify_scene(scene: xr.Dataset, config: LabelConfig | None = None) -> xr.DataArray:
    """Class raster of a scene by the brightness rule ``V = max(R, G, B)`` (8-bit).

    Reflectance is mapped to 8 bits as ``V = min(round(255 * refl / reflectance_max), 255)``
    (ESA TCI convention with the default ``reflectance_max = 0.2``); a TCI is used as is.
    ``V >= thick_min`` thick ice, ``V <= water_max`` open water, else thin ice. With an ``SCL``
    band and ``cloud="flag"``, SCL classes in ``cloud_classes`` become cloud (3) and SCL 0 no
    data (-1).

    Parameters
    ----------
    scene : xarray.Dataset
        From :func:`icefb.labeling.open_scene` (variables ``B04``, ``B03``, ``B02``).
    config : LabelConfig, optional
        Thresholds and cloud handling.

    Returns
    -------
    xarray.DataArray
        int8 ``(y, x)``, lazy when the scene is: -1 no data, 0 thick ice, 1 thin ice,
        2 open water, 3 cloud; ``flag_values``/``flag_meanings`` attributes, the scene CRS.

    Raises
    ------
    SceneError
        The scene lacks ``B02``/``B03``/``B04`` or its ``radiometry`` attribute.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> refl = xr.DataArray(np.array([[0.9, 0.1, 0.01]], "float32"), dims=("y", "x"))
    >>> s = xr.Dataset({"B02": refl, "B03": refl, "B04": refl}, attrs={"radiometry": "reflectance"})
    >>> classify_scene(s).values.tolist()
    [[0, 1, 2]]
    """
    config = LabelConfig() if config is None else config
    missing = [b for b in ("B02", "B03", "B04") if b not in scene]
    if missing:
        raise SceneError(
            f"scene lacks band(s) {', '.join(missing)}",
            path=scene.attrs.get("source_path"), expected="B02, B03, B04",
        )
    radiometry = scene.attrs.get("radiometry", "reflectance")
    if radiometry not in ("reflectance", "tci8"):
        raise SceneError(
            "unknown scene radiometry", path=scene.attrs.get("source_path"),
            got=radiometry, expected='{"reflectance", "tci8"}',
        )
    scale = 1.0 if radiometry == "tci8" else 255.0 / config.reflectance_max
    classes = xr.apply_ufunc(
        _classify_block,
        scene["B04"],
        scene["B03"],
        scene["B02"],
        kwargs={
            "scale": scale,
            "thick_min": config.thick_min,
            "water_max": config.water_max,
        },
        dask="parallelized",
        output_dtypes=[np.int8],
    )
    if "SCL" in scene and config.cloud == "flag":
        scl = scene["SCL"]
        cloud = scl.isin(list(config.cloud_classes))
        classes = xr.where(cloud, np.int8(RASTER_CLOUD), classes)
        classes = xr.where(scl == 0, np.int8(RASTER_NODATA), classes).astype(np.int8)
    classes.name = "surface_class"
    classes.attrs = {
        "long_name": "Sentinel-2 surface class by 8-bit brightness V = max(R, G, B)",
        "flag_values": CLASS_RASTER_FLAG_VALUES,
        "flag_meanings": CLASS_RASTER_FLAG_MEANINGS,
        "thick_min": config.thick_min,
        "water_max": config.water_max,
        "reflectance_max": config.reflectance_max,
        "radiometry": radiometry,
    }
    if scene.rio.crs is not None:
        classes = classes.rio.write_crs(scene.rio.crs)
    return classes


def write_class_raster(classes: xr.DataArray, path: str | os.PathLike[str]) -> None:
    """Write a class raster from :func:`classify_scene` as an int8 GeoTIFF (nodata -1).

    Parameters
    ----------
    classes : xarray.DataArray
        int8 ``(y, x)`` with a CRS (rioxarray).
    path : str or path
        Output file; ``flag_values``/``flag_meanings`` are written as tags.

    Raises
    ------
    SceneError
        The raster has no CRS or is not 2-D.
    """
    if classes.ndim != 2 or classes.rio.crs is None:
        raise SceneError(
            "class raster must be 2-D with a CRS", path=path,
            got=f"{classes.ndim}-D, crs={classes.rio.crs}",
        )
    out = classes.astype(np.int8)
    out.attrs = {
        "flag_values": " ".join(str(int(v)) for v in CLASS_RASTER_FLAG_VALUES),
        "flag_meanings": CLASS_RASTER_FLAG_MEANINGS,
    }
    out = out.rio.write_nodata(RASTER_NODATA, encoded=False)
    out.rio.to_raster(os.fspath(path), dtype="int8", compress="deflate")
