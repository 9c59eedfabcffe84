"""ATL03 reader: values against the truth written into the fixture, laziness, bad input."""

from __future__ import annotations

import pickle
from pathlib import Path

import dask
import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icefb.errors import (
    CorruptFileError,
    InvalidGranuleError,
    MissingBeamError,
    MissingVariableError,
)
from icefb.io import atl03 as atl03_mod
from icefb.io._h5 import GranuleNotFoundError, H5Variable
from icefb.io.atl03 import CORR_FLAG_BITS, CORRECTIONS, open_atl03, open_atl03_many

# ------------------------------------------------------------------------- contract & values


def test_contract_names_dtypes_dims(atl03_file):
    path, truth = atl03_file
    tree = open_atl03(path)
    assert list(tree.children) == ["gt1l", "gt2r"]
    ds = tree["gt1l"].to_dataset()
    expected = {
        "h_ph": np.float32,
        "lat_ph": np.float64,
        "lon_ph": np.float64,
        "delta_time": np.float64,
        "signal_conf_ph": np.int8,
        "quality_ph": np.int8,
        "dist_ph_along": np.float32,
        "x_atc": np.float64,
        "geoid": np.float32,
        "tide_ocean": np.float32,
        "tide_equilibrium": np.float32,
        "dac": np.float32,
        "bckgrd_delta_time": np.float64,
        "bckgrd_counts": np.int32,
        "bckgrd_rate": np.float32,
        "ph_id_pulse": np.uint8,
    }
    for name, dtype in expected.items():
        assert ds[name].dtype == dtype, name
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
        assert ds[name].chunks is not None, f"{name} is not dask-backed"
    assert ds["signal_conf_ph"].dims == ("photon", "ds_surf_type")
    assert ds.sizes["ds_surf_type"] == 5
    assert ds["bckgrd_rate"].dims == ("bckgrd",)
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert "time" in ds.coords
    a = ds.attrs
    assert a["beam"] == "gt1l" and a["atlas_beam_type"] == "strong"
    assert a["sc_orientation"] == "backward" and a["atlas_spot_number"] == 1
    assert a["rgt"] == 1234 and a["cycle_number"] == 7
    assert a["granule_id"] == path.stem and a["source_path"] == str(path)
    assert tree.attrs["epoch_source"] == "ancillary_data/atlas_sdp_gps_epoch"


@pytest.mark.parametrize("chunks", ["auto", 1, 4, None, {"photon": 3}])
def test_values_match_truth_any_chunking(atl03_file, chunks):
    path, truth = atl03_file
    tree = open_atl03(path, chunks=chunks)
    for beam, t in truth.items():
        ds = tree[beam].to_dataset().compute()
        assert ds.sizes["photon"] == t["n"]
        np.testing.assert_array_equal(ds["x_atc"].values, t["x_atc"])
        np.testing.assert_array_equal(ds["h_ph"].values, t["h_ph"])
        np.testing.assert_array_equal(ds["signal_conf_ph"].values, t["signal_conf_ph"])
        for name in CORRECTIONS:
            np.testing.assert_allclose(ds[name].values, t[name], rtol=0, atol=2e-6)
        expected_time = np.datetime64("2018-01-01T00:00:00", "ns") + (
            np.round(t["delta_time"] * 1e9).astype("int64").astype("timedelta64[ns]")
        )
        np.testing.assert_array_equal(ds["time"].values, expected_time)


def test_fill_values_interpolated_and_flagged(atl03_file):
    path, truth = atl03_file
    ds = open_atl03(path, beams="gt1l")["gt1l"].to_dataset().compute()
    t = truth["gt1l"]
    counts = np.array([5, 0, 7, 3, 0, 0, 4, 6])
    seg_of_ph = np.repeat(np.arange(counts.size), counts)
    flag = ds["geophys_corr_flag"].values
    # dac filled at segments 1 and 2, geoid at segment 2 (fixture): flagged, never 3.4e38
    assert np.all((flag & CORR_FLAG_BITS["dac"]).astype(bool) == np.isin(seg_of_ph, [1, 2]))
    assert np.all((flag & CORR_FLAG_BITS["geoid"]).astype(bool) == (seg_of_ph == 2))
    assert np.all((flag & CORR_FLAG_BITS["tide_ocean"]) == 0)
    for name in CORRECTIONS:
        assert np.isfinite(ds[name].values).all()
        assert np.abs(ds[name].values).max() < 1e3
        # linear truth is recovered by the along-track interpolation
        np.testing.assert_allclose(ds[name].values, t[name], atol=2e-6)


def test_fill_at_the_ends_holds_nearest_value(make_atl03):
    path, truth = make_atl03(counts={"gt1l": np.array([3, 2, 4, 1])}, fill={"geoid": [0, 3]})
    ds = open_atl03(path)["gt1l"].to_dataset().compute()
    g = truth["gt1l"]["geoid"]
    seg = np.repeat(np.arange(4), [3, 2, 4, 1])
    expected = np.where(seg == 0, g[seg == 1][0], np.where(seg == 3, g[seg == 2][0], g))
    np.testing.assert_allclose(ds["geoid"].values, expected, atol=2e-6)


def test_all_fill_correction_stays_nan(make_atl03):
    path, _ = make_atl03(counts={"gt1l": np.array([3, 2, 4])}, fill={"dac": [0, 1, 2]})
    ds = open_atl03(path)["gt1l"].to_dataset().compute()
    assert np.isnan(ds["dac"].values).all()
    assert np.all(ds["geophys_corr_flag"].values & CORR_FLAG_BITS["dac"])
    assert np.isfinite(ds["geoid"].values).all()


@pytest.mark.parametrize("style", ["object", "bytes", "str"])
def test_attribute_encodings(make_atl03, style):
    path, _ = make_atl03(attr_style=style, sc_orient=1)
    ds = open_atl03(path)["gt2r"]
    assert ds.attrs["atlas_beam_type"] == "strong"
    assert ds.attrs["sc_orientation"] == "forward"
    assert ds.attrs["atlas_spot_number"] == 2


def test_subsetted_without_orbit_info_or_ancillary(make_atl03):
    path, truth = make_atl03(
        "ATL03_20200101000000_05670301_006_01.h5", orbit_info=False, ancillary=False
    )
    tree = open_atl03(path)
    assert tree.attrs["rgt"] == 567 and tree.attrs["cycle_number"] == 3  # from the file name
    assert "default" in tree.attrs["epoch_source"]
    assert "orbit_info" in tree.attrs["metadata_source"]
    np.testing.assert_array_equal(tree["gt1l"]["x_atc"].values, truth["gt1l"]["x_atc"])


def test_subsetted_unparseable_name_gets_sentinels(make_atl03):
    path, _ = make_atl03("clip.h5", orbit_info=False, ancillary=False)
    tree = open_atl03(path)
    assert tree.attrs["rgt"] == -1 and tree.attrs["granule_id"] == "clip"


def test_third_party_ph_index_beg_convention(make_atl03):
    """Clips that rewrite ph_index_beg as 0-based fall back to cumulative counts."""
    path, truth = make_atl03(beg_style="clip")
    tree = open_atl03(path)
    assert "cumulative" in tree["gt1l"].attrs["x_atc_source"]
    np.testing.assert_array_equal(tree["gt1l"]["x_atc"].values, truth["gt1l"]["x_atc"])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    counts=st.lists(st.integers(0, 6), min_size=1, max_size=25),
    chunk=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_property_x_atc_any_segments_any_chunks(
    tmp_path_factory, atl03_writer, counts, chunk, seed
):
    path = tmp_path_factory.mktemp("h") / "ATL03_p.h5"
    truth = atl03_writer(path, counts={"gt3l": np.array(counts)}, seed=seed, h5chunk=7)
    ds = open_atl03(path, chunks=chunk)["gt3l"]
    np.testing.assert_array_equal(ds["x_atc"].values, truth["gt3l"]["x_atc"])
    np.testing.assert_allclose(ds["dac"].values, truth["gt3l"]["dac"], atol=2e-6)
    # slicing with a step goes through the same per-chunk code
    np.testing.assert_array_equal(ds["x_atc"][1::3].values, truth["gt3l"]["x_atc"][1::3])


def test_empty_beam_is_valid_empty_dataset(make_atl03):
    path, _ = make_atl03(counts={"gt1l": np.array([0, 0, 0]), "gt1r": np.array([2, 3])})
    tree = open_atl03(path)
    ds = tree["gt1l"].to_dataset().compute()
    assert ds.sizes["photon"] == 0
    assert ds["x_atc"].dtype == np.float64 and ds["h_ph"].shape == (0,)
    assert tree["gt1r"].sizes["photon"] == 5


def test_zero_segments_zero_photons(make_atl03):
    path, _ = make_atl03(counts={"gt2l": np.array([], dtype=np.int32)})
    ds = open_atl03(path)["gt2l"].to_dataset().compute()
    assert ds.sizes["photon"] == 0


def test_real_atl03_clip(real_atl03):
    tree = open_atl03(real_atl03)
    ds = tree["gt1r"].to_dataset()
    assert ds.attrs["atlas_beam_type"] == "weak"
    assert ds.attrs["sc_orientation"] == "backward"
    assert ds.attrs["rgt"] == 150 and ds.attrs["cycle_number"] == 15
    assert ds.sizes["photon"] == 6809
    with h5py.File(real_atl03) as f:
        cnt = f["gt1r/geolocation/segment_ph_cnt"][()]
        sdx = f["gt1r/geolocation/segment_dist_x"][()]
        along = f["gt1r/heights/dist_ph_along"][()]
        h = f["gt1r/heights/h_ph"][()]
    # independent truth: photons are stored in segment order, segment_ph_cnt of each
    x_truth = np.repeat(sdx, cnt) + along
    x = ds["x_atc"].values
    np.testing.assert_array_equal(x, x_truth)
    # each photon lies within its ~20 m geolocation segment
    seg = np.repeat(np.arange(cnt.size), cnt)
    assert np.all((x - sdx[seg] > -5) & (x - sdx[seg] < 25))
    np.testing.assert_array_equal(ds["h_ph"].values, h)
    assert np.isfinite(ds["geoid"].values).all()
    # land clip: sea-ice confidence column is -1 everywhere (README)
    assert (ds["signal_conf_ph"].values[:, 2] == -1).all()


def test_open_many_glob_and_list(make_atl03, tmp_path):
    p1, _ = make_atl03("ATL03_a.h5")
    p2, _ = make_atl03("ATL03_b.h5", seed=3)
    trees = open_atl03_many(str(tmp_path / "ATL03_*.h5"))
    assert [t.attrs["source_path"] for t in trees] == [str(p1), str(p2)]
    assert len(open_atl03_many([p2, p1], beams="gt2r")) == 2
    with pytest.raises(GranuleNotFoundError, match="no file"):
        open_atl03_many(str(tmp_path / "nothing_*.h5"))


# ---------------------------------------------------------------------------- laziness


def test_open_reads_no_photon_array(make_atl03, monkeypatch):
    path, _ = make_atl03(counts={"gt1l": np.full(2000, 50), "gt2l": np.full(1000, 50)})
    reads: list[str] = []
    orig = h5py.Dataset.__getitem__

    def spy(self, key):
        reads.append(self.name)
        return orig(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    tree = open_atl03(path)
    assert reads, "spy not installed"
    assert not [r for r in reads if "/heights/" in r or "/bckgrd_atlas/" in r], reads
    assert all(r.endswith(("ph_index_beg", "segment_ph_cnt")) or "/gt" not in r for r in reads), (
        reads
    )
    reads.clear()
    tree["gt1l"]["h_ph"][:10].compute()
    assert any(r.endswith("/heights/h_ph") for r in reads)


def test_graph_pickles(atl03_file):
    """The dask graph holds paths, not open handles: it pickles and recomputes from scratch."""
    path, truth = atl03_file
    da = open_atl03(path, chunks=4)["gt1l"]["x_atc"]
    clone = pickle.loads(pickle.dumps(da))
    atl03_mod._segment_table_cached.cache_clear()  # as on a fresh worker
    np.testing.assert_array_equal(clone.compute(scheduler="sync"), truth["gt1l"]["x_atc"])


@pytest.mark.slow
def test_graph_runs_in_other_processes(atl03_file):
    path, truth = atl03_file
    da = open_atl03(path, chunks=4)["gt1l"]["x_atc"]
    with dask.config.set(scheduler="processes", num_workers=2):
        np.testing.assert_array_equal(da.values, truth["gt1l"]["x_atc"])


def test_x_atc_mapping_has_no_python_loop_over_segments(make_atl03, monkeypatch):
    """The per-chunk segment lookup is one searchsorted, not a loop: count its calls."""
    path, truth = make_atl03(counts={"gt1l": np.full(300, 3)})
    calls = []
    orig = atl03_mod._segment_of_photons

    def spy(table, lo, hi):
        calls.append((lo, hi))
        return orig(table, lo, hi)

    monkeypatch.setattr(atl03_mod, "_segment_of_photons", spy)
    x = open_atl03(path, chunks=300)["gt1l"]["x_atc"].values
    np.testing.assert_array_equal(x, truth["gt1l"]["x_atc"])
    assert len(calls) == 3  # one per chunk (900 photons / 300)


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(GranuleNotFoundError, match="no such file") as e:
        open_atl03(tmp_path / "nope.h5")
    assert isinstance(e.value, CorruptFileError) and isinstance(e.value, FileNotFoundError)


def test_not_hdf5(tmp_path):
    p = tmp_path / "ATL03_text.h5"
    p.write_text("this is not an HDF5 file\n" * 10)
    with pytest.raises(CorruptFileError, match="ATL03_text.h5"):
        open_atl03(p)


def test_truncated(atl03_file):
    path, _ = atl03_file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=path.name):
        open_atl03(path)["gt2r"].to_dataset().compute()


def test_flipped_bytes_in_a_chunk(atl03_file):
    path, _ = atl03_file
    with h5py.File(path) as f:
        info = f["gt1l/heights/h_ph"].id.get_chunk_info(0)
        off, size = info.byte_offset, info.size
    raw = bytearray(path.read_bytes())
    raw[off : off + size] = bytes((b ^ 0xFF) for b in raw[off : off + size])
    path.write_bytes(bytes(raw))
    tree = open_atl03(path)  # metadata intact: opens
    with pytest.raises(CorruptFileError, match="gt1l/heights/h_ph"):
        tree["gt1l"]["h_ph"].compute()


@pytest.mark.parametrize(
    ("victim", "named"),
    [
        ("gt1l/geophys_corr", "/gt1l/geophys_corr"),
        ("gt1l/heights/quality_ph", "gt1l/heights/quality_ph"),
        ("gt1l/geolocation/segment_dist_x", "gt1l/geolocation/segment_dist_x"),
        ("gt1l/bckgrd_atlas", "/gt1l/bckgrd_atlas"),
        ("gt1l/heights", "/gt1l/heights"),
    ],
)
def test_missing_group_or_variable(atl03_file, victim, named):
    path, _ = atl03_file
    with h5py.File(path, "a") as f:
        del f[victim]
    with pytest.raises(MissingVariableError, match=named) as e:
        open_atl03(path, beams="gt1l")
    assert e.value.beam == "gt1l" and str(path) in str(e.value)


def test_missing_beam(atl03_file):
    path, _ = atl03_file
    with pytest.raises(MissingBeamError, match="gt3r"):
        open_atl03(path, beams=["gt1l", "gt3r"])
    with pytest.raises(MissingBeamError, match="not an ICESat-2 beam"):
        open_atl03(path, beams="gt9x")


def test_not_atl03(real_atl07, make_atl03):
    with pytest.raises(InvalidGranuleError, match="not an ATL03 product"):
        open_atl03(real_atl07)
    path, _ = make_atl03(short_name="ATL08")
    with pytest.raises(InvalidGranuleError, match="ATL08"):
        open_atl03(path)


def test_no_beams_at_all(tmp_path):
    p = tmp_path / "ATL03_empty.h5"
    with h5py.File(p, "w") as f:
        f["orbit_info/rgt"] = [1]
    with pytest.raises(MissingBeamError, match="no beam group"):
        open_atl03(p)


def _rewrite(path: Path, name: str, data: np.ndarray) -> None:
    with h5py.File(path, "a") as f:
        del f[name]
        f[name] = data


def test_wrong_dtype(atl03_file):
    path, _ = atl03_file
    _rewrite(path, "gt1l/heights/h_ph", np.array(["a"] * 33, dtype="S1"))
    with pytest.raises(InvalidGranuleError, match="wrong dtype"):
        open_atl03(path)


def test_wrong_shape(atl03_file):
    path, _ = atl03_file
    _rewrite(path, "gt1l/heights/signal_conf_ph", np.zeros((25, 3), np.int8))
    with pytest.raises(InvalidGranuleError, match="wrong shape"):
        open_atl03(path)
    _rewrite(path, "gt1l/heights/signal_conf_ph", np.zeros((25, 5), np.int8))
    _rewrite(path, "gt1l/heights/lat_ph", np.zeros(24))
    with pytest.raises(InvalidGranuleError, match="lat_ph"):
        open_atl03(path)


def test_ph_index_beg_out_of_range(atl03_file):
    path, _ = atl03_file
    with h5py.File(path, "a") as f:
        beg = f["gt1l/geolocation/ph_index_beg"][()]
        beg[-1] = 999
        f["gt1l/geolocation/ph_index_beg"][...] = beg
    with pytest.raises(InvalidGranuleError, match="ph_index_beg out of range") as e:
        open_atl03(path)
    assert e.value.beam == "gt1l"


def test_ph_index_beg_inconsistent(atl03_file):
    path, _ = atl03_file
    with h5py.File(path, "a") as f:
        beg = f["gt1l/geolocation/ph_index_beg"][()]
        cnt = f["gt1l/geolocation/segment_ph_cnt"][()]
        beg[2] = beg[0]  # overlapping ranges
        cnt[-1] -= 1  # and counts no longer add up
        f["gt1l/geolocation/ph_index_beg"][...] = beg
        f["gt1l/geolocation/segment_ph_cnt"][...] = cnt
    with pytest.raises(InvalidGranuleError, match="overlap"):
        open_atl03(path)


def test_negative_count(atl03_file):
    path, _ = atl03_file
    with h5py.File(path, "a") as f:
        f["gt2r/geolocation/segment_ph_cnt"][0] = -2
    with pytest.raises(InvalidGranuleError, match="negative"):
        open_atl03(path)


def test_lazy_reader_is_an_h5variable(atl03_file):
    path, _ = atl03_file
    ds = xr.open_dataset(path, engine="icefb_atl03", group="gt1l", cache=False)
    arr = ds["h_ph"].variable._data
    while hasattr(arr, "array"):
        arr = arr.array
    assert isinstance(arr, H5Variable)
