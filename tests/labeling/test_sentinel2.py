"""Scene reading: layouts, radiometric scaling, time, errors."""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from icefb.errors import SceneCRSError, SceneError
from icefb.labeling import (
    LabelConfig,
    classify_scene,
    open_scene,
    parse_scene_time,
    scene_info,
    write_class_raster,
)
from tests.labeling.conftest import NPX, ORIGINS, REFL, SCENE_TIME, make_world, write_scene


def _tiny(path, dn, *, count=3, dtype="uint16", crs="EPSG:3413", tags=None, descr=None):
    with rasterio.open(
        path, "w", driver="GTiff", width=4, height=3, count=count, dtype=dtype, crs=crs,
        transform=from_origin(1000, 2000, 10, 10),
    ) as f:
        f.write(np.broadcast_to(np.asarray(dn, dtype=dtype), (count, 3, 4)).copy())
        if tags:
            f.update_tags(**tags)
        for i, d in enumerate(descr or []):
            f.set_band_description(i + 1, d)
    return path


def test_l2a_offset_from_tags_and_lazy(tmp_path):
    p = _tiny(tmp_path / "x.tif", 3000, tags={"BOA_ADD_OFFSET": -1000,
              "BOA_QUANTIFICATION_VALUE": 10000, "ACQUISITION_TIME": "2021-05-06T07:08:09"})
    s = open_scene(p, chunks=2)
    assert isinstance(s.B04.data, dsa.Array)
    np.testing.assert_allclose(s.B02.values, 0.2, rtol=1e-6)
    assert s.attrs["radiometry"] == "reflectance"
    assert s.attrs["acquisition_time"] == "2021-05-06T07:08:09"
    assert s.rio.crs.to_epsg() == 3413


def test_baseline_from_name_sets_offset(tmp_path):
    new = _tiny(tmp_path / "S2B_MSIL2A_20220301T101010_N0400_R1_T1_20220301T1.tif", 3000)
    old = _tiny(tmp_path / "S2B_MSIL2A_20200301T101010_N0213_R1_T1_20200301T1.tif", 3000)
    np.testing.assert_allclose(open_scene(new).B03.values, 0.2, rtol=1e-6)
    np.testing.assert_allclose(open_scene(old).B03.values, 0.3, rtol=1e-6)
    assert open_scene(old).attrs["processing_baseline"] == "02.13"
    # explicit override wins
    np.testing.assert_allclose(open_scene(new, add_offset=0).B03.values, 0.3, rtol=1e-6)


def test_per_band_offset_and_nodata(tmp_path):
    p = _tiny(tmp_path / "x.tif", 0, tags={"RADIO_ADD_OFFSET_B02": -1000},
              descr=["B02", "B03", "B04"])
    s = open_scene(p)
    assert np.isnan(s.B02.values).all()  # DN 0 is no data


def test_tci_and_time_from_name(tmp_path):
    p = _tiny(tmp_path / "T01CDN_20191126T183919_TCI.tif", 128, dtype="uint8")
    s = open_scene(p)
    assert s.attrs["radiometry"] == "tci8"
    assert float(s.B04[0, 0]) == 128.0
    assert np.datetime64(s.attrs["acquisition_time"]) == SCENE_TIME
    assert classify_scene(s).values.ravel().tolist() == [1] * 12


def test_explicit_time(tmp_path):
    p = _tiny(tmp_path / "scene.tif", 3000)
    assert "acquisition_time" not in open_scene(p).attrs
    s = open_scene(p, time="2020-01-02T03:04:05")
    assert s.attrs["acquisition_time"] == "2020-01-02T03:04:05"
    with pytest.raises(SceneError, match="scene time"):
        open_scene(p, time="yesterday")


def test_parse_scene_time_product_name():
    t = parse_scene_time("S2A_MSIL2A_20191126T183919_N0213_R070_T01CDN_20191126T195017.SAFE")
    assert t == SCENE_TIME


def test_folder_with_20m_scl(tmp_path):
    rng = np.random.default_rng(0)
    x0, y0 = ORIGINS["EPSG:3413"]
    world = make_world(rng, x0, y0, 1000.0, n=5)
    scl = np.full((20, 20), 4, dtype=np.uint8)
    scl[:5, :5] = 9
    folder = tmp_path / "S2A_MSIL2A_20191126T183919_N0400_R070_T01XYZ_1"
    write_scene(folder, world, "EPSG:3413", x0, y0, 40, (0, 0), mode="folder", scl=scl)
    s = open_scene(folder)
    assert set(s.data_vars) == {"B02", "B03", "B04", "B08", "SCL"}
    assert s.SCL.shape == s.B04.shape
    assert (s.SCL.values[:10, :10] == 9).all() and (s.SCL.values[10:, 10:] == 4).all()
    cls = classify_scene(s).values
    assert (cls[:10, :10] == 3).all()
    assert not (cls[10:, 10:] == 3).any()
    # cloud="ignore" classifies by brightness
    assert not (classify_scene(s, LabelConfig(cloud="ignore")).values == 3).any()
    assert np.datetime64(s.attrs["acquisition_time"]) == SCENE_TIME
    assert scene_info(folder).shape == (40, 40)


def test_classify_matches_world_and_writes(tmp_path):
    rng = np.random.default_rng(5)
    x0, y0 = ORIGINS["EPSG:3031"]
    world = make_world(rng, x0, y0, 2000.0, n=10)
    p = tmp_path / "scene.tif"
    write_scene(p, world, "EPSG:3031", x0, y0, 200, (0, 0), rng=rng)
    cls = classify_scene(open_scene(p, chunks=64))
    xc = x0 + 10 * (np.arange(200) + 0.5)
    yc = y0 - 10 * (np.arange(200) + 0.5)
    truth = world.classes(*np.meshgrid(xc, yc))
    assert (cls.values == truth).mean() > 0.999  # reflectance noise is small
    out = tmp_path / "classes.tif"
    write_class_raster(cls, out)
    with rasterio.open(out) as f:
        np.testing.assert_array_equal(f.read(1), cls.values)
        assert f.crs.to_epsg() == 3031 and f.nodata == -1
        assert {**f.tags(), **f.tags(1)}["flag_meanings"].startswith("no_data")


def test_reflectance_mapping_thresholds():
    import xarray as xr

    # V8 = round(255 * refl / 0.2): 204 -> thin, 205 -> thick; 30 -> water, 31 -> thin
    v8 = np.array([[204, 205, 30, 31]], dtype=np.float64)
    refl = xr.DataArray((v8 / 255 * 0.2).astype(np.float32), dims=("y", "x"))
    s = xr.Dataset({"B02": refl, "B03": refl * 0, "B04": refl * 0},
                   attrs={"radiometry": "reflectance"})
    assert classify_scene(s).values.tolist() == [[1, 0, 2, 1]]
    assert REFL[1] / 0.2 * 255 > 31 and REFL[2] / 0.2 * 255 < 30


@pytest.mark.parametrize("crs", [None, "EPSG:4326"])
def test_bad_crs(tmp_path, crs):
    p = _tiny(tmp_path / "x.tif", 3000, crs=crs)
    with pytest.raises(SceneCRSError, match="x.tif"):
        open_scene(p)


def test_missing_bands_and_path(tmp_path):
    folder = tmp_path / "scene"
    folder.mkdir()
    _tiny(folder / "T1_B02.tif", 3000, count=1)
    _tiny(folder / "T1_B03.tif", 3000, count=1)
    with pytest.raises(SceneError, match="B04"):
        open_scene(folder)
    with pytest.raises(SceneError, match="does not exist"):
        open_scene(tmp_path / "nope.tif")
    p = _tiny(tmp_path / "two.tif", 3000, count=2)
    with pytest.raises(SceneError, match="which band"):
        open_scene(p)


def test_npx_constant_is_scene_size():
    assert NPX * 10 <= 2 * 5000
