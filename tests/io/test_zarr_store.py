"""ATL03 -> Zarr v3 copy: equal on reopen, zstd, consolidated, atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from icefb.errors import ConfigError, MissingBeamError, ProductError
from icefb.io.atl03 import open_atl03
from icefb.io.zarr_store import atl03_to_zarr, open_atl03_zarr


def test_roundtrip_equal(atl03_file, tmp_path):
    path, truth = atl03_file
    out = atl03_to_zarr(path, tmp_path / "g.zarr", chunks=4)
    z = open_atl03_zarr(out)
    ref = open_atl03(path)
    assert set(z.children) == set(ref.children)
    for beam in ref.children:
        a = ref[beam].to_dataset().compute()
        b = z[beam].to_dataset().compute()
        xr.testing.assert_identical(a, b)
        np.testing.assert_array_equal(b["x_atc"].values, truth[beam]["x_atc"])
        assert z[beam]["h_ph"].chunks[0][0] == 4  # dask-backed, store chunks
    assert z.attrs["granule_id"] == ref.attrs["granule_id"]


def test_store_is_zarr_v3_zstd_consolidated(atl03_file, tmp_path):
    path, _ = atl03_file
    out = atl03_to_zarr(path, tmp_path / "g.zarr")
    root = json.loads((out / "zarr.json").read_text())
    assert root["zarr_format"] == 3
    assert "consolidated_metadata" in root and root["consolidated_metadata"]
    meta = json.loads((out / "gt1l" / "h_ph" / "zarr.json").read_text())
    assert any(c["name"] == "zstd" for c in meta["codecs"])


def test_real_clip_roundtrip(real_atl03, tmp_path):
    out = atl03_to_zarr(real_atl03, tmp_path / "real.zarr", chunks=1000)
    a = open_atl03(real_atl03)["gt1r"].to_dataset().compute()
    b = open_atl03_zarr(out)["gt1r"].to_dataset().compute()
    xr.testing.assert_identical(a, b)


def test_empty_beam_roundtrip(make_atl03, tmp_path):
    path, _ = make_atl03(counts={"gt1l": np.array([0, 0]), "gt2l": np.array([3, 1])})
    out = atl03_to_zarr(path, tmp_path / "e.zarr")
    z = open_atl03_zarr(out)
    assert z["gt1l"].sizes["photon"] == 0 and z["gt2l"].sizes["photon"] == 4


def test_existing_store_and_overwrite(atl03_file, tmp_path):
    path, _ = atl03_file
    dest = tmp_path / "g.zarr"
    atl03_to_zarr(path, dest, beams="gt1l")
    with pytest.raises(ProductError, match="already exists"):
        atl03_to_zarr(path, dest)
    atl03_to_zarr(path, dest, overwrite=True)
    assert set(open_atl03_zarr(dest).children) == {"gt1l", "gt2r"}
    assert not any(p.name.startswith(".g.zarr") for p in tmp_path.iterdir())


def test_failed_write_leaves_nothing(atl03_file, tmp_path, monkeypatch):
    path, _ = atl03_file
    calls = []
    orig = xr.DataTree.to_zarr

    def boom(self, store, *args, **kwargs):
        calls.append(store)
        orig(self, store, *args, **kwargs)  # write everything, then fail before the rename
        raise KeyboardInterrupt("interrupted")

    monkeypatch.setattr(xr.DataTree, "to_zarr", boom)
    with pytest.raises(KeyboardInterrupt):
        atl03_to_zarr(path, tmp_path / "g.zarr")
    assert calls
    assert list(tmp_path.iterdir()) == [p for p in tmp_path.iterdir() if p.suffix == ".h5"]


def test_bad_args(atl03_file, tmp_path):
    path, _ = atl03_file
    with pytest.raises(ConfigError):
        atl03_to_zarr(path, tmp_path / "x.zarr", chunks=0)
    with pytest.raises(MissingBeamError):
        atl03_to_zarr(path, tmp_path / "x.zarr", beams="gt3r")
    assert not (tmp_path / "x.zarr").exists()
    with pytest.raises(ProductError, match="no such"):
        open_atl03_zarr(tmp_path / "x.zarr")
    (tmp_path / "x.zarr").mkdir()
    with pytest.raises(ProductError):
        open_atl03_zarr(tmp_path / "x.zarr")
