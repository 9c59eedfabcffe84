"""Sentinel-2-like L2A scenes of the synthetic world, with known drift and a truth raster."""

from __future__ import annotations

import ast
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from icefb.constants import ATLAS_SDP_EPOCH, SurfaceType
from icefb.errors import ConfigError, SceneCRSError
from icefb.synth.granule import beam_layout
from icefb.synth.truth import read_truth_attrs
from icefb.synth.world import SeaIceWorld, TrackFrame, WorldConfig

__all__ = ["SceneInfo", "make_scene", "world_of"]

BANDS = ("B02", "B03", "B04", "B08")
WAVELENGTH_NM = {"B02": 492.4, "B03": 559.8, "B04": 664.6, "B08": 832.8}
BOA_ADD_OFFSET = -1000
BOA_QUANTIFICATION_VALUE = 10000
# L2A surface reflectance per class and band
_REFL = {
    "thick": np.array([0.90, 0.89, 0.87, 0.80]),
    "water": np.array([0.018, 0.016, 0.012, 0.008]),
    "cloud": np.array([0.82, 0.81, 0.80, 0.78]),
}
_MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class SceneInfo:
    """What :func:`make_scene` wrote and the truth needed to check a labeler.

    Attributes
    ----------
    path, truth_path : pathlib.Path
        The 4-band reflectance GeoTIFF and the truth raster (band 1 ``surface_type`` int8,
        band 2 ``cloud`` uint8).
    drift_m : tuple of float
        Ice displacement (dx, dy) in the world CRS (m) from the granule time to the scene time:
        ice at ``p`` in the granule is at ``p + drift`` in the scene.
    drift_along_m, drift_across_m : float
        The same displacement along and across the ground track (m, across positive left).
    time : numpy.datetime64
        Scene acquisition time (UTC).
    crs : str
        CRS of the scene.
    world_crs : str
        Polar stereographic CRS of the world (and of ``drift_m``).
    """

    path: Path
    truth_path: Path
    drift_m: tuple[float, float]
    drift_along_m: float
    drift_across_m: float
    time: np.datetime64
    crs: str
    world_crs: str


def world_of(granule: str | os.PathLike[str]) -> tuple[SeaIceWorld, dict[str, object]]:
    """Rebuild the world of a synthetic granule from its truth sidecar.

    Returns
    -------
    world : SeaIceWorld
    attrs : dict
        The sidecar attributes (seed, frame, ``t0``, ``length_m``, ...).
    """
    a = read_truth_attrs(granule)
    frame = TrackFrame(str(a["crs"]), float(a["origin_x"]), float(a["origin_y"]),
                       float(a["heading_rad"]), float(a["x_atc0"]))
    cfg = WorldConfig(**ast.literal_eval(str(a["world_config"])))
    return SeaIceWorld(int(a["seed"]), frame, cfg), a


def _s2_name(time: np.datetime64, seed: int) -> str:
    t = str(time.astype("datetime64[s]")).replace("-", "").replace(":", "")
    return f"S2B_MSIL2A_{t}_N0509_R{(seed % 143) + 1:03d}_T01XEA_{t[:8]}T120000.tif"


def make_scene(
    path: str | os.PathLike[str],
    granule: str | os.PathLike[str],
    *,
    drift_m: tuple[float, float] | None = None,
    time_offset_s: float = -3600.0,
    cloud_fraction: float = 0.0,
    crs: str | None = None,
    pixel_m: float = 10.0,
    x_atc_range: tuple[float, float] | None = None,
    margin_m: float = 1500.0,
    supersample: int = 2,
    s2_filename: bool = False,
    noise: float = 0.004,
) -> SceneInfo:
    """Write a Sentinel-2-like L2A GeoTIFF co-located with a synthetic granule.

    Bands B02, B03, B04, B08 (uint16, ``DN = reflectance * 10000 + 1000``: ``BOA_ADD_OFFSET =
    -1000`` and ``BOA_QUANTIFICATION_VALUE = 10000`` as in processing baseline >= 04.00, stored as
    tags and as band scale/offset), 10 m pixels, acquisition time in the tags. The ice is
    rendered displaced by the drift; a truth raster (surface type at each pixel centre, cloud
    mask) is written beside it.

    Parameters
    ----------
    path : path-like
        Output GeoTIFF, or a directory when ``s2_filename`` is true.
    granule : path-like
        A granule written by :func:`icefb.synth.make_granule` (its sidecar defines the world).
    drift_m : (float, float), optional
        Ice displacement (dx, dy) in the world CRS (m) from granule to scene time. Default: a
        seeded drift of 0.05-0.15 m/s times ``time_offset_s``.
    time_offset_s : float
        Scene time minus the granule's mid time (s); negative = scene before the granule.
    cloud_fraction : float
        Fraction of the scene under opaque-to-thin cloud.
    crs : str, optional
        Scene CRS (any projected CRS); default the world's polar stereographic CRS.
    pixel_m : float
        Pixel size (m).
    x_atc_range : (float, float), optional
        Along-track extent covered (m of ``x_atc``); default the whole granule.
    margin_m : float
        Margin beyond the outer beams (m).
    supersample : int
        Sub-pixels per axis averaged into each pixel (mixed pixels at lead edges).
    s2_filename : bool
        Name the file like an S2 L2A product inside the directory ``path``.
    noise : float
        Standard deviation of reflectance noise.

    Returns
    -------
    SceneInfo

    Raises
    ------
    ConfigError
        If a parameter is out of range or the scene would be too large.
    SceneCRSError
        If ``crs`` is not projected.

    Examples
    --------
    >>> import tempfile, os
    >>> from icefb.synth import make_granule
    >>> d = tempfile.mkdtemp()
    >>> g = make_granule(os.path.join(d, "g.h5"), seed=1, length_km=0.3, beams=("gt2l",))
    >>> info = make_scene(os.path.join(d, "s.tif"), g, margin_m=100.0, drift_m=(30.0, 0.0))
    >>> info.drift_m
    (30.0, 0.0)
    """
    import rasterio
    from affine import Affine
    from pyproj import CRS, Transformer

    world, a = world_of(granule)
    frame = world.frame
    if pixel_m <= 0 or supersample < 1 or not 0 <= cloud_fraction <= 1:
        raise ConfigError("invalid scene parameter", got={"pixel_m": pixel_m,
                                                          "supersample": supersample,
                                                          "cloud_fraction": cloud_fraction})
    scene_crs = crs or frame.crs
    try:
        projected = CRS.from_user_input(scene_crs).is_projected
    except Exception as exc:  # pyproj raises its own CRSError
        raise SceneCRSError("unknown CRS", got=scene_crs) from exc
    if not projected:
        raise SceneCRSError("scene CRS must be projected (metres)", got=scene_crs)
    length_m = float(a["length_m"])
    x0 = frame.x_atc0
    if x_atc_range is None:
        u_lo, u_hi = 0.0, length_m
    else:
        u_lo, u_hi = x_atc_range[0] - x0, x_atc_range[1] - x0
    t_mid = float(a["t0"]) + 0.5 * (u_lo + u_hi) / float(a["ground_speed"])
    t_scene = t_mid + float(time_offset_s)
    if drift_m is None:
        rng = world.rng("scene", 1)
        speed, ang = rng.uniform(0.05, 0.15), rng.uniform(0, 2 * np.pi)
        drift_m = (round(speed * math.cos(ang) * time_offset_s, 3),
                   round(speed * math.sin(ang) * time_offset_s, 3))
    drift = (float(drift_m[0]), float(drift_m[1]))
    vmax = max(abs(float(b["v"])) for b in beam_layout(0).values()) + margin_m
    cu = np.array([u_lo, u_hi, u_hi, u_lo]) if u_hi > u_lo else None
    if cu is None:
        raise ConfigError("x_atc_range is empty", got=x_atc_range)
    cx, cy = frame.to_xy(cu, np.array([-vmax, -vmax, vmax, vmax]))
    cx, cy = cx + drift[0], cy + drift[1]
    to_scene = Transformer.from_crs(frame.crs, scene_crs, always_xy=True)
    to_world = Transformer.from_crs(scene_crs, frame.crs, always_xy=True)
    sx, sy = (np.asarray(q) for q in to_scene.transform(cx, cy))
    left = math.floor(sx.min() / pixel_m) * pixel_m
    top = math.ceil(sy.max() / pixel_m) * pixel_m
    width = int(math.ceil((sx.max() - left) / pixel_m))
    height = int(math.ceil((top - sy.min()) / pixel_m))
    if width * height * supersample**2 > _MAX_PIXELS:
        raise ConfigError("scene too large; narrow x_atc_range or raise pixel_m",
                          got=(width, height), expected=f"<= {_MAX_PIXELS} sub-pixels")
    transform = Affine(pixel_m, 0.0, left, 0.0, -pixel_m, top)

    def world_uv(px, py):
        wx, wy = (np.asarray(q) for q in to_world.transform(px, py))
        return frame.to_uv(wx - drift[0], wy - drift[1])

    cols = left + (np.arange(width) + 0.5) * pixel_m
    rows = top - (np.arange(height) + 0.5) * pixel_m
    # truth: surface type at pixel centres
    PX, PY = np.meshgrid(cols, rows)
    uc, vc = world_uv(PX.ravel(), PY.ravel())
    truth = world.sample(uc, vc, heights=False).surface_type.reshape(height, width)
    # reflectance: average of supersample^2 sub-pixels
    refl = np.zeros((4, height, width))
    offs = ((np.arange(supersample) + 0.5) / supersample - 0.5) * pixel_m
    for ox in offs:
        for oy in offs:
            u, v = world_uv((PX + ox).ravel(), (PY + oy).ravel())
            refl += _reflectance(world.sample(u, v, heights=False)).reshape(4, height, width)
    refl /= supersample**2
    rng = world.rng("scene", 2)
    cloud = np.zeros((height, width))
    if cloud_fraction > 0:
        cf = world.rng("scene", 3)
        from icefb.synth.world import _WaveField

        field = _WaveField(cf, 10, 2000.0, 20000.0)(PX.ravel(), PY.ravel()).reshape(height, width)
        q = np.quantile(field, 1.0 - cloud_fraction) if cloud_fraction < 1 else -np.inf
        cloud = np.clip((field - q) / 0.3, 0.0, 1.0) * (field > q)
        refl = refl * (1 - cloud) + _REFL["cloud"][:, None, None] * cloud
    refl += rng.normal(0.0, noise, refl.shape)
    refl = np.clip(refl, 0.001, None)  # reflectance is positive (dark water + noise)
    dn = np.clip(np.round(refl * BOA_QUANTIFICATION_VALUE - BOA_ADD_OFFSET), 1, 65535)
    dn = dn.astype(np.uint16)
    out = Path(path)
    when = ATLAS_SDP_EPOCH + np.timedelta64(int(round(t_scene * 1e3)), "ms")
    when = when.astype("datetime64[ms]")
    if s2_filename:
        out.mkdir(parents=True, exist_ok=True)
        out = out / _s2_name(when, int(a["seed"]))
    iso = str(when) + "Z"
    tags = {
        "PRODUCT_TYPE": "S2MSI2A",
        "PROCESSING_LEVEL": "Level-2A",
        "PROCESSING_BASELINE": "05.09",
        "SPACECRAFT_NAME": "Sentinel-2B",
        "PRODUCT_START_TIME": iso,
        "PRODUCT_STOP_TIME": iso,
        "DATATAKE_1_DATATAKE_SENSING_START": iso,
        "SENSING_TIME": iso,
        "TIFFTAG_DATETIME": str(when.astype("datetime64[s]")).replace("-", ":").replace("T", " "),
        "BOA_QUANTIFICATION_VALUE": str(BOA_QUANTIFICATION_VALUE),
        "BOA_ADD_OFFSET": str(BOA_ADD_OFFSET),
        "ICEFB_SYNTHETIC": "true",
        "ICEFB_GRANULE": Path(granule).name,
        "ICEFB_DRIFT_X_M": repr(drift[0]),
        "ICEFB_DRIFT_Y_M": repr(drift[1]),
    }
    for b in BANDS:
        tags[f"BOA_ADD_OFFSET_{b}"] = str(BOA_ADD_OFFSET)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 4,
               "dtype": "uint16", "crs": scene_crs, "transform": transform, "nodata": 0,
               "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(dn)
        dst.update_tags(**tags)
        for i, b in enumerate(BANDS, start=1):
            dst.set_band_description(i, b)
            dst.update_tags(i, BANDNAME=b, BOA_ADD_OFFSET=str(BOA_ADD_OFFSET),
                            WAVELENGTH=str(WAVELENGTH_NM[b]), WAVELENGTH_UNIT="nm")
        dst.scales = (1.0 / BOA_QUANTIFICATION_VALUE,) * 4
        dst.offsets = (BOA_ADD_OFFSET / BOA_QUANTIFICATION_VALUE,) * 4
    tpath = out.with_name(out.stem + ".truth.tif")
    tprof = {**profile, "count": 2, "dtype": "int8", "nodata": None}
    with rasterio.open(tpath, "w", **tprof) as dst:
        dst.write(truth.astype(np.int8), 1)
        dst.write((cloud > 0.1).astype(np.int8), 2)
        dst.set_band_description(1, "surface_type")
        dst.set_band_description(2, "cloud")
        dst.update_tags(1, flag_values="-1 0 1 2",
                        flag_meanings="unlabeled thick_ice thin_ice open_water")
        dst.update_tags(**{k: v for k, v in tags.items() if k.startswith(("ICEFB", "PRODUCT_S"))})
    dx, dy = frame.direction
    return SceneInfo(
        path=out, truth_path=tpath, drift_m=drift,
        drift_along_m=drift[0] * dx + drift[1] * dy,
        drift_across_m=-drift[0] * dy + drift[1] * dx,
        time=when, crs=str(scene_crs), world_crs=frame.crs,
    )


def _reflectance(s) -> np.ndarray:
    """Per-band reflectance (4, n) from a SurfaceSample."""
    t = s.surface_type.ravel()
    # ridges cast a little shading on the snow
    thick = _REFL["thick"][:, None] - 0.02 * np.clip(s.elevation.ravel(), 0, 2)[None, :]
    water = _REFL["water"][:, None] * np.ones((1, t.size))
    # thin ice / nilas: darker than snow, brighter with thickness (freeboard); kept inside the
    # thin-ice band of the labeler's default 8-bit mapping (ESA TCI: 0.2 reflectance -> 255,
    # thin = V 31..204 = reflectance 0.024..0.16), like dark nilas to grey ice
    g = np.clip(0.05 + 0.9 * s.freeboard.ravel(), 0.05, 0.14)
    thin = np.array([1.0, 0.97, 0.93, 0.75])[:, None] * g[None, :]
    return np.where(t == SurfaceType.OPEN_WATER, water,
                    np.where(t == SurfaceType.THIN_ICE, thin, thick))
