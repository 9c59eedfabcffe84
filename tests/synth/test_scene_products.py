"""Sentinel-2-like scenes and ATL07/ATL10 products of the synthetic world."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio

from icefb.constants import SurfaceType
from icefb.errors import ConfigError, SceneCRSError
from icefb.synth import (
    atl07_segments,
    beam_layout,
    make_atl07,
    make_atl10,
    make_scene,
    read_truth,
    world_of,
)
from icefb.testing import real_file

REAL_ATL07 = real_file("processed_ATL07-01_20190222003738_08490201_003_02.h5")


@pytest.fixture(scope="module")
def scene(granule, tmp_path_factory):
    world, a = world_of(granule)
    x0 = world.frame.x_atc0
    return make_scene(tmp_path_factory.mktemp("scene"), granule, drift_m=(120.0, -75.0),
                      time_offset_s=-1800.0, cloud_fraction=0.2, x_atc_range=(x0 + 1000.0,
                      x0 + 2500.0), margin_m=200.0, supersample=1, s2_filename=True)


def test_scene_metadata(scene):
    assert scene.path.name.startswith("S2B_MSIL2A_") and scene.path.suffix == ".tif"
    with rasterio.open(scene.path) as src:
        assert src.count == 4 and src.dtypes[0] == "uint16"
        assert src.descriptions == ("B02", "B03", "B04", "B08")
        assert src.res == (10.0, 10.0) and src.crs.to_epsg() == 3413
        tags = src.tags()
        assert tags["BOA_ADD_OFFSET"] == "-1000" and tags["BOA_QUANTIFICATION_VALUE"] == "10000"
        t = np.datetime64(tags["PRODUCT_START_TIME"].rstrip("Z"))
        assert t == scene.time
        assert src.scales[0] == 1e-4 and src.offsets[0] == -0.1
        dn = src.read()
    refl = (dn.astype(float) - 1000.0) / 10000.0
    assert 0.0 < refl.min() and refl.max() < 1.0


def test_scene_truth_agrees_with_track_after_undoing_drift(granule, scene):
    world, _ = world_of(granule)
    with rasterio.open(scene.truth_path) as t, rasterio.open(scene.path) as src:
        truth, cloud = t.read(1), t.read(2)
        bands = src.read()
        transform = t.transform
    checked = 0
    refl_all, keep_all, st_all = [], [], []
    for beam in ("gt1l", "gt2r", "gt3l"):
        _, seg = read_truth(granule, beam)
        v = beam_layout(0)[beam]["v"]
        x = seg.x_atc.values
        inside = (x > world.frame.x_atc0 + 1100) & (x < world.frame.x_atc0 + 2400)
        px, py = world.frame.to_xy(x[inside] - world.frame.x_atc0, np.full(inside.sum(), v))
        rows, cols = rasterio.transform.rowcol(transform, px + scene.drift_m[0],
                                               py + scene.drift_m[1])
        rows, cols = np.asarray(rows), np.asarray(cols)
        got = truth[rows, cols]
        # exact: the raster is the world at the pixel centre shifted back by the drift
        cx, cy = rasterio.transform.xy(transform, rows, cols)
        u, vv = world.frame.to_uv(np.asarray(cx) - scene.drift_m[0],
                                  np.asarray(cy) - scene.drift_m[1])
        np.testing.assert_array_equal(got, world.sample(u, vv, heights=False).surface_type)
        # and it matches the track truth except within a pixel of a class edge
        assert (got == seg.surface_type.values[inside]).mean() > 0.85
        clear = cloud[rows, cols] == 0
        vmax = bands[:3, rows, cols].max(axis=0)
        refl_all.append((vmax.astype(float) - 1000) / 10000)
        keep_all.append(clear & (got == seg.surface_type.values[inside]))
        st_all.append(seg.surface_type.values[inside])
        checked += inside.sum()
    refl, ok, st = (np.concatenate(a) for a in (refl_all, keep_all, st_all))
    # the labeler's default 8-bit mapping (ESA TCI, V = 255 * refl / reflectance_max) and the
    # paper's thresholds separate the classes
    from icefb.labeling import LabelConfig

    v = 255.0 * refl / LabelConfig().reflectance_max
    assert (ok & (st == SurfaceType.THICK_ICE)).sum() > 100
    assert (v[ok & (st == SurfaceType.THICK_ICE)] >= 205).mean() > 0.9
    thin = ok & (st == SurfaceType.THIN_ICE)
    if thin.sum() > 10:
        assert ((v[thin] > 30) & (v[thin] < 205)).mean() > 0.8
    if (ok & (st == SurfaceType.OPEN_WATER)).sum() > 10:
        assert (v[ok & (st == SurfaceType.OPEN_WATER)] <= 30).mean() > 0.8
    assert checked > 1000
    assert 0.1 < cloud.mean() < 0.3


def test_scene_bad_arguments(granule, tmp_path):
    with pytest.raises(SceneCRSError):
        make_scene(tmp_path / "s.tif", granule, crs="EPSG:4326")
    with pytest.raises(ConfigError):
        make_scene(tmp_path / "s.tif", granule, pixel_m=-10.0)


def _datasets(f):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj

    f.visititems(visit)
    return out


@pytest.fixture(scope="module")
def atl07(granule, tmp_path_factory):
    return make_atl07(tmp_path_factory.mktemp("atl07") / "ATL07_synth.h5", granule)


def test_atl07_layout_matches_real(atl07):
    with h5py.File(REAL_ATL07) as real, h5py.File(atl07) as syn:
        rd, sd = _datasets(real), _datasets(syn)
        common = [k for k in sorted(set(rd) & set(sd)) if k.startswith("gt")]
        assert len(common) >= 6 * 30
        for name in common:
            assert sd[name].dtype == rd[name].dtype, name
            assert sd[name].ndim == rd[name].ndim, name
        for k in ("gt2l/sea_ice_segments/heights/height_segment_height",
                  "gt2l/sea_ice_segments/heights/height_segment_type",
                  "gt2l/sea_ice_segments/heights/height_segment_ssh_flag",
                  "gt2l/sea_ice_segments/stats/n_photons_actual",
                  "gt2l/sea_ice_segments/seg_dist_x", "gt2l/sea_ice_segments/height_segment_id",
                  "gt2l/sea_ice_segments/geophysical/height_segment_mss"):
            assert k in common


def test_atl07_segments_hold_150_signal_photons(granule, atl07):
    with h5py.File(atl07) as f:
        s = f["gt1l/sea_ice_segments"]
        n = s["stats/n_photons_actual"][:]
        length = s["heights/height_segment_length_seg"][:]
        x = s["seg_dist_x"][:]
    assert (n == 150).all()
    ph, seg = read_truth(granule, "gt1l")
    # most photons of a segment are true signal
    with h5py.File(granule) as g:
        conf = g["gt1l/heights/signal_conf_ph"][:, 2]
        q = g["gt1l/heights/quality_ph"][:]
    sel = (conf >= 3) & (q == 0)
    assert ph.is_signal.values[sel].mean() > 0.9
    # strong beam on snow: 150 photons over ~150/3/0.7... tens of metres; longer over leads
    assert 30 < np.median(length) < 120 and length.max() > np.median(length)
    # ATL07 heights are smoothed over their length: sharp truth detail disappears
    s7 = atl07_segments(granule, "gt1l")
    truth_h = np.interp(x, seg.x_atc.values, seg.surface_height.values)
    assert np.corrcoef(s7["height"], truth_h)[0, 1] > 0.5


def test_atl10(granule, tmp_path):
    p = make_atl10(tmp_path / "ATL10_synth.h5", granule, window_m=3000.0)
    with h5py.File(p) as f:
        b = f["gt1l/freeboard_beam_segment"]
        fb = b["beam_fb_height"][:]
        assert b["beam_fb_height"].dtype == np.float32
        assert {"delta_time", "latitude", "longitude", "height_segment_id", "seg_dist_x",
                "beam_fb_height", "beam_fb_sigma", "height_segments"} <= set(b)
        assert "lead_height" in f["gt1l/leads"]
    ok = fb < 1e30
    assert ok.any()
    assert 0.0 < np.median(fb[ok]) < 1.0
