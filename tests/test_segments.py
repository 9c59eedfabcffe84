"""icefb.segments.resample: schema, chunked == unchunked, synthetic truth, the real clip."""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import icefb
from icefb.constants import SHOT_RATE_HZ
from icefb.errors import ConfigError, InvalidGranuleError, MissingVariableError
from icefb.segments import BinningConfig, resample
from icefb.testing import real_file

REAL_CLIP = Path(real_file("ATL03_land_clip_gt1r.h5"))
SCHEMA = {
    "x_atc": "float64", "lat": "float64", "lon": "float64", "delta_time": "float64",
    "n_photons": "int32", "n_high": "int32", "n_shots": "float32", "pcnt": "float32",
    "pcnth": "float32", "h_mean": "float32", "h_median": "float32", "h_std": "float32",
    "h_min": "float32", "h_max": "float32", "h_cor_mean": "float32", "h_cor_median": "float32",
    "bcnt": "float32", "brate": "float32",
}  # fmt: skip


def photon_dataset(rng, n, *, x0=1000.0, length=40.0, nan_frac=0.0, shuffle=False,
                   lon_rate=1e-5):  # fmt: skip
    """A beam's photons following docs/architecture.md, at 7 km/s ground speed; the longitude
    changes by ``lon_rate`` degrees per metre (wrapped to [-180, 180))."""
    t = np.sort(rng.uniform(0.0, length / 7000.0, n)) + 50.0
    x = x0 + (t - 50.0) * 7000.0 + rng.normal(0, 0.05, n)
    h = rng.normal(3.0, 0.2, n).astype(np.float32)
    geoid = np.full(n, 2.0, np.float32)
    if nan_frac:
        h[rng.random(n) < nan_frac] = np.nan
        geoid[rng.random(n) < nan_frac] = np.nan
    if shuffle:
        o = rng.permutation(n)
        t, x, h, geoid = t[o], x[o], h[o], geoid[o]
    nb = 10
    bt = 50.0 + np.arange(nb) * 0.005
    p = "photon"
    return xr.Dataset(
        {
            "h_ph": (p, h),
            "lat_ph": (p, 75.0 + x * 1e-5),
            "lon_ph": (p, (-120.0 + x * lon_rate + 180.0) % 360.0 - 180.0),
            "delta_time": (p, t),
            "signal_conf_ph": ((p, "ds_surf_type"), rng.integers(-1, 5, (n, 5)).astype(np.int8)),
            "quality_ph": (p, (rng.random(n) < 0.05).astype(np.int8)),
            "x_atc": (p, x),
            "geoid": (p, geoid),
            "tide_ocean": (p, np.full(n, 0.25, np.float32)),
            "tide_equilibrium": (p, np.full(n, 0.01, np.float32)),
            "dac": (p, np.full(n, -0.1, np.float32)),
            "bckgrd_delta_time": ("bckgrd", bt),
            "bckgrd_counts": ("bckgrd", np.arange(nb, dtype=np.int32) + 100),
            "bckgrd_rate": ("bckgrd", np.arange(nb, dtype=np.float32) * 1e5),
        },
        attrs={"beam": "gt2l", "atlas_beam_type": "strong", "granule_id": "hand"},
    )


# --- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [{"window": 0}, {"window": float("nan")}, {"min_conf": 5}, {"conf_column": 7},
     {"high_conf": 2, "min_conf": 3}, {"min_conf": 2.5}],
)  # fmt: skip
def test_config_validation(kw):
    with pytest.raises(ConfigError, match="BinningConfig"):
        BinningConfig(**kw)


def test_bad_inputs():
    ds = photon_dataset(np.random.default_rng(0), 20)
    with pytest.raises(MissingVariableError, match="gt2l.*dac"):
        resample(ds.drop_vars("dac"))
    with pytest.raises(ConfigError):
        resample(ds, {"window": 2.0})
    with pytest.raises(InvalidGranuleError):
        resample(ds["h_ph"])


# --- schema and values ----------------------------------------------------------------------


def test_schema_and_independent_values():
    rng = np.random.default_rng(1)
    ds = photon_dataset(rng, 400)
    seg = resample(ds)
    assert set(SCHEMA) == set(seg.data_vars)
    for v, dt in SCHEMA.items():
        assert seg[v].dtype == dt, v
        assert seg[v].attrs["units"] and seg[v].attrs["long_name"], v
    assert seg.attrs["window"] == 2.0 and seg.attrs["min_conf"] == 3
    assert seg.attrs["beam"] == "gt2l" and seg.attrs["granule_id"] == "hand"
    # grid: floor(x / 2), contiguous, covering every photon
    b = np.floor(ds.x_atc.values / 2.0).astype(np.int64)
    np.testing.assert_array_equal(seg.segment, np.arange(b.min(), b.max() + 1))
    np.testing.assert_array_equal(seg.x_atc, (seg.segment + 0.5) * 2.0)
    # independent per-bin statistics with pandas-free numpy
    conf = ds.signal_conf_ph.values[:, 2]
    sel = (ds.quality_ph.values == 0) & (conf >= 3)
    counts = np.bincount(b[sel] - b.min(), minlength=seg.sizes["segment"])
    np.testing.assert_array_equal(seg.n_photons, counts)
    high = np.bincount(b[sel & (conf == 4)] - b.min(), minlength=seg.sizes["segment"])
    np.testing.assert_array_equal(seg.n_high, high)
    h = ds.h_ph.values.astype(np.float64)
    hc = h - 2.0 - 0.25 - 0.01 + 0.1
    for k in np.flatnonzero(counts)[:20]:
        m = sel & (b - b.min() == k)
        assert seg.h_median[k] == np.float32(np.median(h[m]))
        assert seg.h_mean[k] == pytest.approx(h[m].mean(), abs=1e-6)
        assert seg.h_std[k] == pytest.approx(h[m].std(), abs=1e-6)
        assert seg.h_cor_mean[k] == pytest.approx(hc[m].mean(), abs=1e-5)
        assert seg.delta_time[k] == pytest.approx(ds.delta_time.values[m].mean())
    assert np.isnan(seg.h_mean.values[counts == 0]).all()
    # shots from the 7 km/s ground speed, photons per shot
    np.testing.assert_allclose(seg.n_shots, 2.0 * SHOT_RATE_HZ / 7000.0, rtol=2e-3)
    np.testing.assert_allclose(seg.pcnt, seg.n_photons / seg.n_shots, rtol=1e-6)
    # empty bins get interpolated centres, monotone in time
    assert np.isfinite(seg.delta_time).all() and (np.diff(seg.delta_time) > 0).all()
    # background: the previous 50-shot record
    idx = np.searchsorted(ds.bckgrd_delta_time.values, seg.delta_time.values, "right") - 1
    np.testing.assert_array_equal(seg.bcnt, ds.bckgrd_counts.values[idx].astype(np.float32))
    np.testing.assert_array_equal(seg.brate, ds.bckgrd_rate.values[idx])


@pytest.mark.parametrize("chunk", [None, 37])
def test_empty_bins_take_the_track_position_across_the_dateline(chunk):
    """Empty bins (gaps, both ends of a hole, beyond the first and last photon) get the
    position of the track at their centre: here a straight line in (x, lat, lon) that crosses
    longitude 180, so interpolation must unwrap and rewrap, not pass through 0."""
    rng = np.random.default_rng(7)
    ds = photon_dataset(rng, 600, length=120.0)
    x = ds.x_atc.values
    keep = ~(((x > 1030.0) & (x < 1052.0)) | ((x > 1090.0) & (x < 1096.0)))
    ds = ds.isel(photon=np.flatnonzero(keep))
    x = ds.x_atc.values
    lon_of = lambda xx: (179.9995 + (xx - 1000.0) * 1e-5 + 180.0) % 360.0 - 180.0  # noqa: E731
    ds["lon_ph"] = ("photon", lon_of(x))
    if chunk:
        ds = ds.chunk({"photon": chunk})
    seg = resample(ds)
    empty = seg.n_photons.values == 0
    assert empty.sum() >= 10
    lon = seg.lon.values
    assert ((lon >= -180.0) & (lon < 180.0)).all()
    # on the line at their centres, within 1.1 m (1.1e-5 deg): the anchors are photon means,
    # which sit up to a bin half-width (1 m) from their bin's centre
    d = (lon[empty] - lon_of(seg.x_atc.values[empty]) + 180.0) % 360.0 - 180.0
    np.testing.assert_allclose(d, 0.0, atol=1.1e-5)
    np.testing.assert_allclose(seg.lat.values[empty], 75.0 + seg.x_atc.values[empty] * 1e-5,
                               atol=1.1e-5)


def test_empty_beam_and_accessor_and_tree():
    ds = photon_dataset(np.random.default_rng(2), 0)
    seg = resample(ds)
    assert seg.sizes["segment"] == 0 and set(SCHEMA) == set(seg.data_vars)
    full = photon_dataset(np.random.default_rng(3), 50)
    xr.testing.assert_identical(full.icefb.resample(), resample(full))
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs={"granule_id": "g"}), "/gt2l": full,
                                  "/gt2r": full.chunk(photon=7)})  # fmt: skip
    out = tree.icefb.resample(BinningConfig(min_conf=2))
    assert isinstance(out, xr.DataTree) and out.attrs["granule_id"] == "g"
    xr.testing.assert_identical(out["gt2l"].to_dataset(), resample(full, BinningConfig(min_conf=2)))
    xr.testing.assert_identical(out["gt2r"].to_dataset(), out["gt2l"].to_dataset())


# --- chunked == unchunked -----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    chunk=st.integers(1, 25),
    length=st.sampled_from([0.5, 1.9, 30.0]),  # all in one bin .. many bins
    nan_frac=st.sampled_from([0.0, 0.15]),
    shuffle=st.booleans(),
)
def test_chunked_equals_unchunked(seed, n, chunk, length, nan_frac, shuffle):
    ds = photon_dataset(np.random.default_rng(seed), n, length=length, nan_frac=nan_frac,
                        shuffle=shuffle)  # fmt: skip
    ref = resample(ds)
    with dask.config.set(scheduler="synchronous"):
        got = resample(ds.chunk(photon=chunk))
    xr.testing.assert_identical(got, ref)  # bit for bit, attrs included
    # photons with a NaN height are never signal; NaN corrections still count
    sel = (ds.quality_ph == 0) & (ds.signal_conf_ph[:, 2] >= 3) & np.isfinite(ds.h_ph)
    assert int(ref.n_photons.sum()) == int(sel.sum())


def test_chunked_locally_unordered_blocks():
    """Blocks unordered inside but ordered between each other use per-block sorting."""
    ds = photon_dataset(np.random.default_rng(4), 300, length=60.0)
    o = np.arange(300).reshape(30, 10)[:, ::-1].ravel()  # reverse every run of 10 photons
    ds = ds.isel(photon=o)
    ref = resample(ds)
    with dask.config.set(scheduler="synchronous"):
        for c in (10, 7, 33):
            xr.testing.assert_identical(resample(ds.chunk(photon=c)), ref)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    chunk=st.integers(1, 25),
    length=st.sampled_from([0.5, 1.9, 30.0]),
    nan_frac=st.sampled_from([0.0, 0.15]),
    lon_rate=st.sampled_from([1e-5, 7.0, 40.0]),  # 40 deg/m: wraps every few bins
)
def test_lazy_equals_unchunked(seed, n, chunk, length, nan_frac, lon_rate):
    ds = photon_dataset(np.random.default_rng(seed), n, length=length, nan_frac=nan_frac,
                        lon_rate=lon_rate)  # fmt: skip
    ref = resample(ds)
    with dask.config.set(scheduler="synchronous"):
        lazy = resample(ds.chunk(photon=chunk), lazy=True)
        assert all(isinstance(v.data, dask.array.Array) for v in lazy.data_vars.values())
        # one chunk per photon block that owns a bin, never more
        assert len(lazy.chunks.get("segment", ())) <= -(-n // chunk)
        got = lazy.compute()
    xr.testing.assert_identical(got, ref)  # bit for bit, the filled lat/lon/time included
    with dask.config.set(scheduler="synchronous"):
        xr.testing.assert_identical(resample(ds.chunk(photon=chunk)), ref)


def test_lazy_unordered_and_numpy_input_come_back_in_one_chunk():
    ds = photon_dataset(np.random.default_rng(8), 200, length=60.0, shuffle=True)
    ref = resample(ds)
    with dask.config.set(scheduler="synchronous"):
        for photons in (ds.chunk(photon=50), ds):  # blocks overlapping along track; numpy
            got = resample(photons, lazy=True)
            assert got.chunks["segment"] == (ref.sizes["segment"],)
            xr.testing.assert_identical(got.compute(), ref)


def test_unplaceable_photons_are_dropped_on_every_path():
    # inf / fill-value x_atc cannot be binned (as NaN x_atc); a fill-value longitude is garbage
    # in, but the lazy path must give the in-memory path's answer, not an overflow
    ds = photon_dataset(np.random.default_rng(2), 60, length=60.0)
    ds["signal_conf_ph"][:] = 4
    ds["quality_ph"][:] = 0
    bad = ds.copy(deep=True)
    bad["x_atc"].values[[3, 30, 59]] = [np.inf, 3.4028235e38, -1e300]
    ref = resample(ds.isel(photon=np.setdiff1d(np.arange(60), [3, 30, 59])))
    got = resample(bad)
    assert int(got.n_photons.sum()) == 57
    xr.testing.assert_identical(got, ref)
    odd = ds.isel(photon=(np.floor(ds.x_atc.values / 2) % 2) == 0).copy(deep=True)
    odd["lon_ph"].values[[0, 5, 10]] = [1e30, 3.4028235e38, -1e30]
    ref = resample(odd)
    with dask.config.set(scheduler="synchronous"):
        for c in (1, 3, 7, 1000):
            xr.testing.assert_identical(resample(bad.chunk(photon=c), lazy=True).compute(),
                                        resample(bad))  # fmt: skip
            xr.testing.assert_identical(resample(odd.chunk(photon=c), lazy=True).compute(), ref)


def test_lazy_segments_rechunked_to_zarr(tmp_path):
    # block chunks are irregular; regular ones (as Zarr needs) are one .chunk() away
    ds = photon_dataset(np.random.default_rng(1), 2000, length=400.0)
    ref = resample(ds)
    with dask.config.set(scheduler="threads"):
        lazy = resample(ds.chunk(photon=300), lazy=True)
        assert len(set(lazy.chunks["segment"][:-1])) > 1
        lazy.chunk(segment=64).to_zarr(tmp_path / "seg.zarr", consolidated=False)
    back = xr.open_zarr(tmp_path / "seg.zarr", consolidated=False).compute()
    xr.testing.assert_equal(back, ref)
    assert back.attrs == ref.attrs


def test_empty_bins_interpolated_across_the_dateline():
    # photons only in every third bin; longitude crosses the dateline several times
    rng = np.random.default_rng(3)
    ds = photon_dataset(rng, 3000, length=300.0, lon_rate=4.0)
    keep = (np.floor(ds.x_atc.values / 2.0) % 3) == 0
    ds = ds.isel(photon=keep)
    ds["signal_conf_ph"][:] = 4
    ds["quality_ph"][:] = 0
    ref = resample(ds)
    empty = ref.n_photons.values == 0
    assert empty.sum() > 50
    true = (-120.0 + ref.x_atc.values * 4.0 + 180.0) % 360.0 - 180.0
    d = (ref.lon.values - true + 180.0) % 360.0 - 180.0
    # the neighbours' photon means sit within ~0.3 m of their bin centres (4 deg/m): a fill
    # unwrapped the wrong way would be off by tens to hundreds of degrees
    assert np.abs(d[empty]).max() < 2.0, np.abs(d[empty]).max()
    assert (ref.lon.values >= -180.0).all() and (ref.lon.values < 180.0).all()
    with dask.config.set(scheduler="synchronous"):
        for c in (7, 100, 1000):
            xr.testing.assert_identical(resample(ds.chunk(photon=c), lazy=True).compute(), ref)


# --- synthetic world ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def granule(tmp_path_factory):
    from icefb.synth import make_granule

    return make_granule(tmp_path_factory.mktemp("seg") / "g.h5", seed=11, length_km=3.0,
                        beams=("gt1l", "gt2r"))  # fmt: skip


def test_synthetic_counts_and_heights_against_truth(granule):
    import h5py

    from icefb.synth import GranuleConfig, read_truth

    tree = icefb.open_atl03(granule)
    segs = resample(tree)
    for beam in ("gt1l", "gt2r"):
        seg = segs[beam].to_dataset()
        ph_truth, _ = read_truth(granule, beam)
        # independent count: file flags read with h5py, bins from the truth x_atc
        with h5py.File(granule) as f:
            conf = f[f"{beam}/heights/signal_conf_ph"][:, 2]
            q = f[f"{beam}/heights/quality_ph"][:]
        sel = (q == 0) & (conf >= 3)
        b = np.floor(ph_truth.x_atc.values / 2.0).astype(np.int64)
        count = np.bincount(b[sel] - seg.segment.values[0], minlength=seg.sizes["segment"])
        np.testing.assert_array_equal(seg.n_photons.values, count)
        assert seg.n_photons.sum() == sel.sum()
        # ground speed of the synthetic instrument (0.7 m shots)
        np.testing.assert_allclose(seg.n_shots, 2.0 / 0.7, rtol=1e-3)
        # h_cor_mean within 3 sigma of the true surface in single-surface segments
        ph = tree[beam].to_dataset().compute()
        corr = (ph.geoid + ph.tide_ocean + ph.tide_equilibrium + ph.dac).values.astype(float)
        true_cor = ph_truth.true_height.values - corr
        st_ = ph_truth.surface_type.values
        sig = ph_truth.is_signal.values
        k = b - seg.segment.values[0]
        n = np.bincount(k[sel], minlength=seg.sizes["segment"])
        pure = (np.bincount(k[sel & ~sig], minlength=n.size) == 0)
        types = np.full(n.size, -9)
        mixed = np.zeros(n.size, bool)
        for kk, s in zip(k[sel], st_[sel], strict=True):
            mixed[kk] |= types[kk] not in (-9, s)
            types[kk] = s
        good = pure & ~mixed & (n >= 5) & np.isfinite(seg.h_cor_mean.values)
        assert good.sum() >= 20
        s_true = np.bincount(k[sel & np.isfinite(true_cor)], true_cor[sel & np.isfinite(true_cor)],
                             minlength=n.size)  # fmt: skip
        n_true = np.bincount(k[sel & np.isfinite(true_cor)], minlength=n.size)
        expected = s_true[good] / n_true[good]
        # per-photon noise about the true surface hit: the synthetic instrument's pulse noise
        sigma = GranuleConfig().height_noise_m / np.sqrt(n_true[good])
        z = np.abs(seg.h_cor_mean.values[good] - expected) / sigma
        assert np.mean(z <= 3.0) >= 0.99, np.mean(z <= 3)  # 3 sigma: 99.7 %


def test_synthetic_chunked_dask_equals_unchunked(granule):
    ds = icefb.open_atl03(granule)["gt1l"].to_dataset()
    ref = resample(ds.compute())
    with dask.config.set(scheduler="threads"):
        got = resample(ds.chunk(photon=1013))
    xr.testing.assert_identical(got, ref)


def test_distributed_resample_gathers_from_the_workers(granule, dask_backend, monkeypatch):
    # on a distributed client of a local cluster the segments come straight from the worker
    # that assembled them (not relayed by the scheduler, whose protocol-4 pickles copy every
    # array twice) and equal the in-memory result
    from distributed import Client

    from icefb.backends.dask import compute_kwargs

    asked: list = []
    gather = Client.gather

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("direct"))
        return gather(self, *args, **kwargs)

    monkeypatch.setattr(Client, "gather", spy)
    ds = icefb.open_atl03(granule)["gt2r"].to_dataset()
    ref = resample(ds.compute())
    addr = dask_backend.client.scheduler.address
    for client_kw, expected in (({"address": dask_backend._cluster}, True),
                                ({"address": addr}, None),
                                ({"address": dask_backend._cluster, "direct_to_workers": False},
                                 None)):  # fmt: skip
        asked.clear()
        with Client(set_as_default=False, **client_kw) as c, c.as_current(), \
                dask.config.set(scheduler=c.get):
            assert compute_kwargs() == ({"direct": True} if expected else {})
            xr.testing.assert_identical(resample(ds.chunk(photon=4099)), ref)
        assert asked == [expected], (client_kw, asked)
    with dask.config.set(scheduler="threads"):
        assert compute_kwargs() == {}


def test_distributed_lazy_keeps_the_segments_on_the_workers(granule, dask_backend, monkeypatch):
    # resample(lazy=True) on a cluster: the client receives only the blocks' layout, the
    # segments are finished on the workers, and computed they equal the in-memory result
    from dask.sizeof import sizeof
    from distributed import Client, futures_of, wait

    received: list[int] = []
    gather = Client.gather

    def spy(self, *args, **kwargs):
        out = gather(self, *args, **kwargs)
        received.append(sizeof(out))
        return out

    monkeypatch.setattr(Client, "gather", spy)
    tree = icefb.open_atl03(granule)
    ref = resample(tree.compute())
    client = dask_backend.client
    with client.as_current(), dask.config.set(scheduler=client.get):
        got = resample(tree.chunk({"photon": 1000}), lazy=True)
        layout_bytes = sum(received)
        seg = got["gt1l"].to_dataset()
        assert isinstance(seg.h_mean.data, dask.array.Array)
        assert len(seg.chunks["segment"]) > 3  # one per photon block
        kept = seg.persist()
        wait(futures_of(kept))
        assert {f.key for f in futures_of(kept)} <= set(client.who_has())
        for beam in ("gt1l", "gt2r"):
            xr.testing.assert_identical(got[beam].to_dataset().compute(), ref[beam].to_dataset())
    # a few kB per photon block (rims, cut-bin photons), not the segments
    nbytes = sum(ref[b].to_dataset().nbytes for b in ("gt1l", "gt2r"))
    nblocks = sum(len(tree[b].to_dataset().chunk({"photon": 1000}).chunks["photon"])
                  for b in ("gt1l", "gt2r"))  # fmt: skip
    assert 0 < layout_bytes < min(16384 * nblocks, nbytes / 4), (layout_bytes, nblocks, nbytes)


def test_accessor_passes_lazy(granule):
    ds = icefb.open_atl03(granule)["gt2r"].to_dataset().chunk({"photon": 5000})
    with dask.config.set(scheduler="synchronous"):
        got = ds.icefb.resample(lazy=True)
        assert isinstance(got.n_photons.data, dask.array.Array)
        xr.testing.assert_identical(got.compute(), resample(ds))


# --- the real clip ------------------------------------------------------------------------


def test_real_clip():
    tree = icefb.open_atl03(REAL_CLIP)
    ds = tree["gt1r"].to_dataset()
    q = ds.quality_ph.values == 0
    conf = ds.signal_conf_ph.values
    # over land the sea-ice confidence is -1 everywhere: no signal photon at the default
    seg = resample(ds)
    assert seg.n_photons.sum() == 0 and seg.sizes["segment"] > 0
    assert seg.attrs["beam"] == "gt1r"
    # land column, and every quality-0 photon of the sea-ice column (min_conf=-1)
    for cfg, sel in (
        (BinningConfig(conf_column=0, min_conf=2), q & (conf[:, 0] >= 2)),
        (BinningConfig(min_conf=-1), q & (conf[:, 2] >= -1)),
    ):
        seg = resample(ds, cfg)
        assert int(seg.n_photons.sum()) == int(sel.sum()) > 0
        assert np.isfinite(seg.lat).all() and np.isfinite(seg.delta_time).all()
        assert np.isfinite(seg.brate).all()
        np.testing.assert_allclose(seg.n_shots, 2.0 * SHOT_RATE_HZ / 7000.0, rtol=0.05)
