"""A small hand-made sea-ice world for the labeling tests: scenes + segments with known truth.

Truth is a function of position: thick ice everywhere, with rotated rectangular leads of open
water and of thin (refrozen) ice. The scene shows the world shifted by a known drift ``D`` (the ice
under a track point ``p`` appears in the scene at ``p + D``), rasterised at pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from pyproj import Transformer
from rasterio.transform import from_origin

from icefb.constants import ATLAS_SDP_EPOCH

REFL = {0: 0.80, 1: 0.08, 2: 0.01}  # thick, thin, water (reflectance)
SCENE_TIME = np.datetime64("2019-11-26T18:39:19", "ns")
SCENE_DT = float((SCENE_TIME - ATLAS_SDP_EPOCH) / np.timedelta64(1, "s"))
ORIGINS = {"EPSG:3413": (-600_000.0, 600_000.0), "EPSG:3031": (-1_200_000.0, 1_400_000.0)}


@dataclass
class World:
    """Rotated rectangles (centre, angle, half width, half length, class)."""

    cx: np.ndarray
    cy: np.ndarray
    ang: np.ndarray
    hw: np.ndarray
    hl: np.ndarray
    cls: np.ndarray

    def classes(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.zeros(np.shape(x), dtype=np.int8)
        for want in (1, 2):  # thin first, water wins
            for k in np.flatnonzero(self.cls == want):
                dx = x - self.cx[k]
                dy = y - self.cy[k]
                c = dx * np.cos(self.ang[k]) + dy * np.sin(self.ang[k])
                s = -dx * np.sin(self.ang[k]) + dy * np.cos(self.ang[k])
                out[(np.abs(c) < self.hw[k]) & (np.abs(s) < self.hl[k])] = want
        return out


def make_world(rng: np.random.Generator, x0: float, y0: float, size: float, n: int = 40) -> World:
    return World(
        cx=x0 + rng.uniform(0, size, n),
        cy=y0 - rng.uniform(0, size, n),
        ang=rng.uniform(-1.2, 1.2, n),
        hw=rng.uniform(8, 80, n),
        hl=rng.uniform(150, 900, n),
        cls=rng.choice(np.array([1, 2], dtype=np.int8), n, p=[0.4, 0.6]),
    )


@dataclass
class Pair:
    scene_path: Path
    segments: xr.Dataset
    truth: np.ndarray  # int8 surface type under each segment centre (track frame)
    drift: tuple[float, float]  # (dx, dy) m in the scene CRS
    world: World
    crs: str
    transform: object
    shape: tuple[int, int]


def write_scene(
    path: Path,
    world: World,
    crs: str,
    x0: float,
    y0: float,
    npx: int,
    drift: tuple[float, float],
    *,
    mode: str = "l2a",
    rng: np.random.Generator | None = None,
    scl: np.ndarray | None = None,
    tags: dict | None = None,
) -> None:
    """Rasterise ``world`` shifted by ``drift`` into a 10 m scene at ``path`` (file or folder)."""
    rng = np.random.default_rng(0) if rng is None else rng
    res = 10.0
    xc = x0 + res * (np.arange(npx) + 0.5)
    yc = y0 - res * (np.arange(npx) + 0.5)
    xx, yy = np.meshgrid(xc, yc)
    cls = world.classes(xx - drift[0], yy - drift[1])
    refl = np.vectorize(REFL.get)(cls).astype(np.float64)
    transform = from_origin(x0, y0, res, res)
    tags = {} if tags is None else tags
    if mode == "tci":
        v = np.clip(np.round(refl / 0.2 * 255 + rng.normal(0, 2, refl.shape)), 1, 255)
        data = np.stack([v, v, v]).astype("uint8")
        with rasterio.open(
            path, "w", driver="GTiff", width=npx, height=npx, count=3, dtype="uint8",
            crs=crs, transform=transform,
        ) as f:
            f.write(data)
            f.update_tags(**tags)
        return
    dn = np.clip(np.round((refl + rng.normal(0, 0.002, refl.shape)) * 10000 + 1000), 1, 65535)
    bands = {b: dn.astype("uint16") for b in ("B02", "B03", "B04", "B08")}
    if mode == "folder":
        path.mkdir(parents=True, exist_ok=True)
        stem = "T01XYZ_20191126T183919"
        for b, arr in bands.items():
            with rasterio.open(
                path / f"{stem}_{b}_10m.tif", "w", driver="GTiff", width=npx, height=npx,
                count=1, dtype="uint16", crs=crs, transform=transform,
            ) as f:
                f.write(arr, 1)
                f.update_tags(BOA_ADD_OFFSET=-1000, BOA_QUANTIFICATION_VALUE=10000, **tags)
        if scl is not None:  # 20 m SCL
            with rasterio.open(
                path / f"{stem}_SCL_20m.tif", "w", driver="GTiff", width=npx // 2,
                height=npx // 2, count=1, dtype="uint8", crs=crs,
                transform=from_origin(x0, y0, 20.0, 20.0),
            ) as f:
                f.write(scl.astype("uint8"), 1)
        return
    names = ["B02", "B03", "B04", "B08"]
    stack = [bands[b] for b in names]
    if scl is not None:
        names.append("SCL")
        stack.append(scl.astype("uint16"))
    with rasterio.open(
        path, "w", driver="GTiff", width=npx, height=npx, count=len(stack), dtype="uint16",
        crs=crs, transform=transform,
    ) as f:
        f.write(np.stack(stack))
        for i, name in enumerate(names):
            f.set_band_description(i + 1, name)
        f.update_tags(BOA_ADD_OFFSET=-1000, BOA_QUANTIFICATION_VALUE=10000,
                      ACQUISITION_TIME="2019-11-26T18:39:19Z", **tags)


def make_segments(
    world: World,
    crs: str,
    start: tuple[float, float],
    direction: tuple[float, float],
    length: float,
    rng: np.random.Generator,
    *,
    t0: float = SCENE_DT - 600.0,
    beam: str = "gt1l",
) -> tuple[xr.Dataset, np.ndarray]:
    """2 m segments along a straight line, with heights from the truth class."""
    n = int(length // 2)
    seg = np.arange(n)
    s = (seg + 0.5) * 2.0
    d = np.asarray(direction, float) / np.hypot(*direction)
    x = start[0] + s * d[0]
    y = start[1] + s * d[1]
    truth = world.classes(x, y)
    h = np.where(truth == 0, 0.35, np.where(truth == 1, 0.05, 0.0)) + rng.normal(0, 0.02, n)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    ds = xr.Dataset(
        {
            "x_atc": ("segment", s),
            "lat": ("segment", np.asarray(lat)),
            "lon": ("segment", np.asarray(lon)),
            "delta_time": ("segment", t0 + s / 7000.0),
            "h_cor_mean": ("segment", h.astype(np.float32)),
        },
        coords={"segment": seg.astype(np.int64)},
        attrs={"window": 2.0, "beam": beam},
    )
    return ds, truth


NPX = 500  # 5 km scene


def build_pair(
    tmp_path: Path,
    *,
    crs: str = "EPSG:3413",
    drift: tuple[float, float] = (0.0, 0.0),
    seed: int = 1,
    mode: str = "l2a",
    scl: np.ndarray | None = None,
    name: str | None = None,
    t0: float = SCENE_DT - 600.0,
) -> Pair:
    rng = np.random.default_rng(seed)
    x0, y0 = ORIGINS[crs]
    size = NPX * 10.0
    world = make_world(rng, x0, y0, size)
    if name is None:
        name = {
            "l2a": "S2A_MSIL2A_20191126T183919_N0400_R070_T01XYZ_20191126T195017.tif",
            "tci": "T01XYZ_20191126T183919_TCI.tif",
            "folder": "S2A_MSIL2A_20191126T183919_N0400_R070_T01XYZ_20191126T195017",
        }[mode]
    path = tmp_path / name
    write_scene(path, world, crs, x0, y0, NPX, drift, mode=mode, rng=rng, scl=scl)
    # diagonal track through the scene, starting and ending inside it
    segs, truth = make_segments(
        world, crs, (x0 + 300.0, y0 - 400.0), (1.0, -0.8), 5200.0, rng, t0=t0
    )
    return Pair(path, segs, truth, drift, world, crs, from_origin(x0, y0, 10, 10), (NPX, NPX))


@pytest.fixture
def pair(tmp_path):
    return build_pair(tmp_path, drift=(0.0, 0.0))
