"""The reader on granules from :mod:`icefb.synth`, checked against the synthetic truth."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from icefb.constants import BEAMS
from icefb.io.atl03 import open_atl03
from icefb.io.zarr_store import atl03_to_zarr, open_atl03_zarr
from icefb.synth import make_granule, read_truth


@pytest.fixture(scope="module")
def synth_granule(tmp_path_factory):
    p = tmp_path_factory.mktemp("synth") / "ATL03_20190222004500_08490201_006_01.h5"
    return make_granule(p, seed=11, length_km=1.5)


def test_x_atc_and_photon_count_match_truth(synth_granule):
    tree = open_atl03(synth_granule, chunks=1000)
    assert list(tree.children) == list(BEAMS)
    for beam in BEAMS:
        ds = tree[beam].to_dataset()
        photon_truth, _ = read_truth(synth_granule, beam)
        assert ds.sizes["photon"] == photon_truth.sizes["photon"]
        np.testing.assert_allclose(ds["x_atc"].values, photon_truth["x_atc"].values, atol=1e-6)
        assert np.isfinite(
            ds[["geoid", "tide_ocean", "tide_equilibrium", "dac"]].to_array().values
        ).all()
        assert ds.attrs["atlas_beam_type"] == ("strong" if beam.endswith("l") else "weak")


@pytest.mark.parametrize("encoding", ["bytes", "str", "object"])
def test_attr_encodings_and_orientation(tmp_path, encoding):
    p = make_granule(
        tmp_path / "ATL03_e.h5",
        seed=2,
        length_km=0.3,
        sc_orient=1,
        beams=("gt2l", "gt2r"),
        attr_encoding=encoding,
    )
    tree = open_atl03(p)
    assert tree["gt2r"].attrs["atlas_beam_type"] == "strong"
    assert tree["gt2l"].attrs["atlas_beam_type"] == "weak"
    assert tree["gt2r"].attrs["sc_orientation"] == "forward"


def test_subset_without_orbit_info_and_ancillary(tmp_path):
    p = make_granule(
        tmp_path / "ATL03_20190222004500_08490201_006_01.h5", seed=3, length_km=0.3, beams=("gt1l",)
    )
    with h5py.File(p, "a") as f:
        for g in ("orbit_info", "ancillary_data"):
            if g in f:
                del f[g]
    tree = open_atl03(p)
    assert tree.attrs["rgt"] == 849 and tree.attrs["cycle_number"] == 2
    assert "default" in tree.attrs["epoch_source"]
    photon_truth, _ = read_truth(p, "gt1l")
    np.testing.assert_allclose(
        tree["gt1l"]["x_atc"].values, photon_truth["x_atc"].values, atol=1e-6
    )


def test_zarr_copy_of_synthetic_granule(synth_granule, tmp_path):
    out = atl03_to_zarr(synth_granule, tmp_path / "s.zarr", beams=["gt1l", "gt3r"], chunks=2048)
    z = open_atl03_zarr(out)
    ref = open_atl03(synth_granule, beams=["gt1l", "gt3r"])
    for beam in ("gt1l", "gt3r"):
        xr.testing.assert_identical(
            z[beam].to_dataset().compute(), ref[beam].to_dataset().compute()
        )


@pytest.mark.slow
def test_large_granule_open_is_metadata_only(tmp_path, monkeypatch):
    p = make_granule(tmp_path / "ATL03_big.h5", seed=5, length_km=100.0)
    reads: list[str] = []
    orig = h5py.Dataset.__getitem__

    def spy(self, key):
        reads.append(self.name)
        return orig(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    open_atl03(p)
    assert not [r for r in reads if "/heights/" in r or "/bckgrd_atlas/" in r], reads
