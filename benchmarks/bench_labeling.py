"""asv benchmarks of Sentinel-2 auto-labeling: scene loading and labeling throughput.

Inputs are a synthetic 10 m L2A scene (bright floes, dark leads, BOA_ADD_OFFSET tags) and a
diagonal track of 2 m segments written in ``setup``; numba is warmed there too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from pyproj import Transformer
from rasterio.transform import from_origin

from icefb.labeling import LabelConfig, autolabel, classify_scene, open_scene

_X0, _Y0 = -600_000.0, 600_000.0


def _make_inputs(folder: Path, npx: int, n_seg: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    res = 10.0
    xc = _X0 + res * (np.arange(npx) + 0.5)
    yc = _Y0 - res * (np.arange(npx) + 0.5)
    xx, yy = np.meshgrid(xc, yc)
    cls = np.zeros((npx, npx), np.int8)
    for _ in range(npx // 10):
        cx, cy = _X0 + rng.uniform(0, npx * res), _Y0 - rng.uniform(0, npx * res)
        a = rng.uniform(-1.2, 1.2)
        c = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
        s = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
        cls[(np.abs(c) < rng.uniform(8, 60)) & (np.abs(s) < rng.uniform(150, 900))] = rng.choice(
            [1, 2]
        )
    refl = np.choose(cls, [0.8, 0.08, 0.01]) + rng.normal(0, 0.002, cls.shape)
    dn = np.clip(np.round(refl * 10000 + 1000), 1, 65535).astype("uint16")
    path = folder / f"S2A_MSIL2A_20191126T183919_N0400_R070_T01XYZ_{npx}.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=npx, height=npx, count=4, dtype="uint16",
        crs="EPSG:3413", transform=from_origin(_X0, _Y0, res, res), tiled=True,
        blockxsize=256, blockysize=256,
    ) as f:
        f.write(np.stack([dn] * 4))
        for i, b in enumerate(("B02", "B03", "B04", "B08")):
            f.set_band_description(i + 1, b)
        f.update_tags(BOA_ADD_OFFSET=-1000)
    # segments along the diagonal
    s = (np.arange(n_seg) + 0.5) * 2.0
    length = 0.9 * npx * res * np.sqrt(2)
    s = s * min(1.0, length / (2.0 * n_seg))
    x = _X0 + 0.05 * npx * res + s / np.sqrt(2)
    y = _Y0 - 0.05 * npx * res - s / np.sqrt(2)
    ci = np.clip(((x - _X0) / res).astype(int), 0, npx - 1)
    ri = np.clip(((_Y0 - y) / res).astype(int), 0, npx - 1)
    h = np.choose(cls[ri, ci], [0.35, 0.05, 0.0]) + rng.normal(0, 0.02, n_seg)
    lon, lat = Transformer.from_crs("EPSG:3413", "EPSG:4326", always_xy=True).transform(x, y)
    seg = xr.Dataset(
        {
            "lat": ("segment", np.asarray(lat)),
            "lon": ("segment", np.asarray(lon)),
            "x_atc": ("segment", s),
            "delta_time": ("segment", np.full(n_seg, 6.27e7)),
            "h_cor_mean": ("segment", h.astype(np.float32)),
        },
        attrs={"window": 2.0},
    )
    return path, seg


class SceneLoading:
    """Open a scene lazily and compute its class raster (pixels/s = npx**2 / time)."""

    params = [500, 1500]
    param_names = ["scene_px"]

    def setup(self, npx):
        self._tmp = tempfile.TemporaryDirectory()
        self.path, _ = _make_inputs(Path(self._tmp.name), npx, 100)
        classify_scene(open_scene(self.path, chunks=512)).load()  # warm numba

    def teardown(self, npx):
        self._tmp.cleanup()

    def time_open_scene(self, npx):
        open_scene(self.path, chunks=512)

    def time_load_and_classify(self, npx):
        classify_scene(open_scene(self.path, chunks=512)).load()

    def peakmem_load_and_classify(self, npx):
        classify_scene(open_scene(self.path, chunks=512)).load()


class Labeling:
    """Label segments (segments/s = n_segments / time), with and without drift estimation."""

    params = ([5_000, 20_000], ["none", "estimate"])
    param_names = ["n_segments", "drift"]

    def setup(self, n, drift):
        self._tmp = tempfile.TemporaryDirectory()
        path, self.segments = _make_inputs(Path(self._tmp.name), 1000, n)
        self.scene = open_scene(path, chunks=512)
        self.config = LabelConfig(drift=drift, max_time_gap_s=1e12)
        autolabel(self.segments, self.scene, self.config)  # warm numba

    def teardown(self, n, drift):
        self._tmp.cleanup()

    def time_autolabel(self, n, drift):
        autolabel(self.segments, self.scene, self.config)

    def peakmem_autolabel(self, n, drift):
        autolabel(self.segments, self.scene, self.config)
