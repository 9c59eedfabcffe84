"""The ``icefb_atl03`` xarray backend entrypoint gives the same data as ``open_atl03``."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from icefb.errors import MissingBeamError
from icefb.io.atl03 import open_atl03
from icefb.io.backend import ATL03BackendEntrypoint


def test_entrypoint_is_registered():
    assert "icefb_atl03" in xr.backends.list_engines()
    assert isinstance(xr.backends.list_engines()["icefb_atl03"], ATL03BackendEntrypoint)


def test_open_dataset_group_equals_open_atl03(atl03_file):
    path, truth = atl03_file
    ds = xr.open_dataset(path, engine="icefb_atl03", group="gt2r")
    assert ds.attrs["beam"] == "gt2r"
    np.testing.assert_array_equal(ds["x_atc"].values, truth["gt2r"]["x_atc"])
    ref = open_atl03(path, beams="gt2r")["gt2r"].to_dataset().compute()
    xr.testing.assert_identical(ds.load(), ref)


def test_open_dataset_chunks_gives_dask(atl03_file):
    path, truth = atl03_file
    ds = xr.open_dataset(path, engine="icefb_atl03", group="gt1l", chunks={})
    assert ds["h_ph"].chunks is not None and ds["x_atc"].chunks is not None
    np.testing.assert_array_equal(ds["x_atc"].values, truth["gt1l"]["x_atc"])


def test_open_datatree(atl03_file):
    path, truth = atl03_file
    tree = xr.open_datatree(path, engine="icefb_atl03")
    assert set(tree.children) == {"gt1l", "gt2r"}
    for beam, t in truth.items():
        np.testing.assert_array_equal(tree[beam]["x_atc"].values, t["x_atc"])
    assert tree.attrs["rgt"] == 1234


def test_drop_variables_and_guess(atl03_file, real_atl03):
    path, _ = atl03_file
    ds = xr.open_dataset(path, engine="icefb_atl03", group="gt1l", drop_variables=["lat_ph"])
    assert "lat_ph" not in ds and "h_ph" in ds
    be = ATL03BackendEntrypoint()
    assert be.guess_can_open(real_atl03)
    assert not be.guess_can_open("foo.nc")


def test_single_beam_default_group_and_many_beams_error(atl03_file, real_atl03):
    ds = xr.open_dataset(real_atl03, engine="icefb_atl03")
    assert ds.attrs["beam"] == "gt1r"
    path, _ = atl03_file
    with pytest.raises(MissingBeamError, match="group="):
        xr.open_dataset(path, engine="icefb_atl03")
    with pytest.raises(MissingBeamError, match="gt3l"):
        xr.open_dataset(path, engine="icefb_atl03", group="gt3l")
