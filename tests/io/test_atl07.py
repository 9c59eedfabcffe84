"""ATL07 / ATL10 readers on the real six-beam ATL07 subset and on small written files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from icefb.errors import InvalidGranuleError, MissingBeamError, MissingVariableError
from icefb.io.atl07 import open_atl07, open_atl10


def test_real_atl07_six_beams(real_atl07):
    t = open_atl07(real_atl07)
    assert list(t.children) == ["gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r"]
    with h5py.File(real_atl07) as f:
        for beam in t.children:
            ds = t[beam].to_dataset()
            grp = f.get(f"{beam}/sea_ice_segments/delta_time")
            n = 0 if grp is None else grp.shape[0]
            assert ds.sizes["sea_ice_segment"] == n
            if n == 0:
                continue
            h = f[f"{beam}/sea_ice_segments/heights/height_segment_height"][()]
            np.testing.assert_array_equal(np.isnan(ds["height"].values), h > 1e38)
            np.testing.assert_array_equal(ds["height"].values[h < 1e38], h[h < 1e38])
            np.testing.assert_array_equal(
                ds["x_atc"].values, f[f"{beam}/sea_ice_segments/seg_dist_x"][()]
            )
            np.testing.assert_array_equal(
                ds["segment_type"].values,
                f[f"{beam}/sea_ice_segments/heights/height_segment_type"][()],
            )
            assert ds["sea_surface_flag"].dtype == np.int8
            assert ds.attrs["atlas_beam_type"] in ("strong", "weak")
            assert "source" in ds["height"].attrs and "units" in ds["height"].attrs
    assert 27 <= t["gt2l"].sizes["sea_ice_segment"] <= 368
    assert t.attrs["rgt"] == 849 and t.attrs["cycle_number"] == 2
    assert t["gt1l"].attrs["atlas_beam_type"] == "strong"
    assert str(t["gt1l"]["time"].values[0]).startswith("2019-02-22")


def test_atl07_synthetic_fill_and_beams(atl07_file):
    t = open_atl07(atl07_file, beams="gt1r")
    ds = t["gt1r"].to_dataset()
    assert np.isnan(ds["height"].values[0]) and np.isfinite(ds["height"].values[1:]).all()
    assert (ds["n_photons"].values == 150).all()
    # sc_orient=1 (forward) with explicit beam types in the file
    assert ds.attrs["sc_orientation"] == "forward"
    with pytest.raises(MissingBeamError):
        open_atl07(atl07_file, beams="gt3r")


def test_atl07_missing_required(atl07_file):
    with h5py.File(atl07_file, "a") as f:
        del f["gt1l/sea_ice_segments/heights/height_segment_type"]
    with pytest.raises(MissingVariableError, match="height_segment_type"):
        open_atl07(atl07_file)


def test_atl07_rejects_atl03(real_atl03):
    with pytest.raises(InvalidGranuleError, match="not an ATL07"):
        open_atl07(real_atl03)


@pytest.mark.parametrize("layout", ["v6", "v4"])
def test_atl10_layouts(atl10_writer, layout):
    path, truth = atl10_writer(layout)
    ds = open_atl10(path)["gt2l"].to_dataset()
    np.testing.assert_allclose(ds["ssh"].values, truth["ssh"])
    np.testing.assert_allclose(ds["freeboard"].values, truth["freeboard"], atol=1e-7)
    np.testing.assert_allclose(ds["height"].values, truth["height"])
    assert "beam_refsurf_height" in ds["ssh"].attrs["source"]


def test_atl10_ssh_fallback_without_reference_arrays(atl10_writer):
    path, truth = atl10_writer("v6")
    with h5py.File(path, "a") as f:
        del f["gt2l/reference_surface_section"]
    ds = open_atl10(path)["gt2l"].to_dataset()
    ok = np.isfinite(truth["freeboard"])
    np.testing.assert_allclose(ds["ssh"].values[ok], truth["ssh"][ok], atol=1e-6)
    assert "height - freeboard" in ds["ssh"].attrs["source"]
