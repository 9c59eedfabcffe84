"""The synthetic ATL03 granule: layout like the real files, self-consistent truth, determinism."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from icefb.constants import ATL03_FILL_VALUE, BEAMS, SurfaceType
from icefb.errors import ConfigError, MissingBeamError, ProductError
from icefb.synth import GranuleConfig, beam_layout, make_granule, read_truth, read_truth_attrs
from icefb.testing import real_file

REAL_ATL03 = real_file("ATL03_land_clip_gt1r.h5")


def _datasets(f: h5py.File) -> dict[str, h5py.Dataset]:
    out: dict[str, h5py.Dataset] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj

    f.visititems(visit)
    return out


def test_layout_matches_real_atl03(granule):
    with h5py.File(REAL_ATL03) as real, h5py.File(granule) as syn:
        rd, sd = _datasets(real), _datasets(syn)
        common = sorted(set(rd) & set(sd))
        # the synthetic file must carry the variables a reader needs, with the real layout
        needed = [f"gt1r/{g}" for g in (
            "heights/h_ph", "heights/lat_ph", "heights/lon_ph", "heights/delta_time",
            "heights/signal_conf_ph", "heights/quality_ph", "heights/dist_ph_along",
            "heights/ph_id_pulse", "geolocation/ph_index_beg", "geolocation/segment_ph_cnt",
            "geolocation/segment_dist_x", "geolocation/segment_id", "geophys_corr/geoid",
            "geophys_corr/tide_ocean", "geophys_corr/tide_equilibrium", "geophys_corr/dac",
            "bckgrd_atlas/delta_time", "bckgrd_atlas/bckgrd_counts", "bckgrd_atlas/bckgrd_rate",
        )] + ["orbit_info/sc_orient", "orbit_info/rgt", "orbit_info/cycle_number"]
        assert set(needed) <= set(common)
        assert len(common) >= 60
        for name in common:
            assert sd[name].dtype == rd[name].dtype, name
            assert sd[name].ndim == rd[name].ndim, name
            if rd[name].ndim == 2:
                assert sd[name].shape[1] == rd[name].shape[1], name
            assert sd[name].compression == rd[name].compression, name
        # the same group names for every beam
        for beam in BEAMS:
            assert {k for k in syn[beam]} >= {"heights", "geolocation", "geophys_corr",
                                              "bckgrd_atlas"}
        epoch = syn["ancillary_data/atlas_sdp_gps_epoch"]
        assert epoch.dtype == np.float64 and epoch[0] == 1198800018.0


def test_beam_attributes_follow_orientation(granule, tmp_path):
    with h5py.File(granule) as f:
        assert int(f["orbit_info/sc_orient"][0]) == 0
        for beam in BEAMS:
            expected = "strong" if beam.endswith("l") else "weak"
            assert f[beam].attrs["atlas_beam_type"].decode() == expected
    p = make_granule(tmp_path / "fwd.h5", seed=3, length_km=0.3, sc_orient=1,
                     attr_encoding="object", beams=("gt1l", "gt1r"))
    with h5py.File(p) as f:
        assert list(f) == ["ancillary_data", "gt1l", "gt1r", "orbit_info"]
        assert f["gt1r"].attrs["atlas_beam_type"].tolist() == ["strong"]
        assert f["gt1l"].attrs["atlas_spot_number"].tolist() == ["6"]
    assert beam_layout(1)["gt3r"]["atlas_spot_number"] == "1"


def test_x_atc_rebuilt_from_segments_equals_truth(granule):
    with h5py.File(granule) as f:
        for beam in ("gt1l", "gt2r"):
            g = f[beam]
            beg = g["geolocation/ph_index_beg"][:]
            cnt = g["geolocation/segment_ph_cnt"][:]
            sx = g["geolocation/segment_dist_x"][:]
            dist = g["heights/dist_ph_along"][:]
            ph, _ = read_truth(granule, beam)
            assert ph.sizes["photon"] == dist.size == cnt.sum()
            # 1-based ranges; 0 marks empty segments, of which there are some
            assert (cnt == 0).any() and (beg[cnt == 0] == 0).all()
            x = np.empty(dist.size)
            for k in np.flatnonzero(cnt):
                x[beg[k] - 1: beg[k] - 1 + cnt[k]] = sx[k] + dist[beg[k] - 1: beg[k] - 1 + cnt[k]]
            np.testing.assert_array_equal(x, ph.x_atc.values)
            assert (dist >= 0).all() and (dist < 20.0).all()
            assert (np.diff(g["heights/delta_time"][:]) >= 0).all()


def test_truth_consistent_with_photons(granule):
    cfg = GranuleConfig()
    with h5py.File(granule) as f:
        for beam in ("gt2l", "gt2r"):
            g = f[beam]
            ph, seg = read_truth(granule, beam)
            sig = ph.is_signal.values
            st = ph.surface_type.values
            assert ((st >= 0) == sig).all()
            h = g["heights/h_ph"][:].astype(float)
            resid = h[sig] - ph.true_height.values[sig]
            assert abs(resid.mean()) < 0.01
            assert 0.8 * cfg.height_noise_m < resid.std() < 1.2 * cfg.height_noise_m
            # afterpulses are flagged and are not signal
            q = g["heights/quality_ph"][:]
            assert (q[sig] == 0).all() and set(np.unique(q)) <= {0, 1}
            # the true sea surface: geophysical corrections + dynamic topography
            corr = [g[f"geophys_corr/{k}"][:].astype(float)
                    for k in ("geoid", "tide_ocean", "tide_equilibrium", "dac")]
            filled = np.any([c == ATL03_FILL_VALUE for c in corr], axis=0)
            assert filled.any() and not filled.all()
            seg_x = g["geolocation/segment_dist_x"][:] + 10.0
            tot = np.sum(corr, axis=0)
            ssh_e = np.interp(seg_x[~filled], seg.x_atc.values, seg.ssh_ellipsoid.values)
            ssh = np.interp(seg_x[~filled], seg.x_atc.values, seg.ssh.values)
            np.testing.assert_allclose(tot[~filled] + ssh, ssh_e, atol=1e-4)
            assert np.abs(seg.ssh.values).max() < 0.2
            # freeboards by class
            fb, t = seg.freeboard.values, seg.surface_type.values
            thick = t == SurfaceType.THICK_ICE
            assert 0.15 < np.median(fb[thick]) < 0.7 and fb[thick].max() < 3.5
            assert (seg.freeboard.values >= 0).all()
            ice = seg.open_water_fraction.values == 0
            np.testing.assert_allclose((seg.surface_height - seg.ssh).values[ice],
                                       seg.freeboard.values[ice], atol=1e-5)
            water = seg.open_water_fraction.values == 1
            assert water.any() and (seg.freeboard.values[water] == 0).all()
            assert seg.segment.values[0] == np.floor(seg.x_atc.values[0] / 2.0)


def test_photon_rates_and_classes_within_configured_ranges(granule):
    cfg = GranuleConfig()
    with h5py.File(granule) as f:
        sc = int(f["orbit_info/sc_orient"][0])
        n_shots = 6000.0 / cfg.shot_spacing_m
        for beam in ("gt1l", "gt1r"):
            ph, seg = read_truth(granule, beam)
            strong = beam_layout(sc)[beam]["atlas_beam_type"] == "strong"
            expected = cfg.strong_rate * (1.0 if strong else cfg.weak_ratio)
            thick = (ph.surface_type.values == SurfaceType.THICK_ICE).sum()
            frac_thick = float((seg.surface_type == SurfaceType.THICK_ICE).mean())
            # clouds and gaps only remove photons
            assert 0.3 * expected < thick / (n_shots * frac_thick) < 1.1 * expected
            noise = (~ph.is_signal.values).sum() / n_shots
            assert noise < 2.0 * (1.0 if strong else cfg.weak_ratio)
            conf = f[beam]["heights/signal_conf_ph"][:, 2]
            sig = ph.is_signal.values
            # confidence from density: mostly right, but not an oracle
            assert (conf[sig] >= 3).mean() > 0.8
            assert (conf[~sig] >= 3).mean() < 0.5
            assert (conf[sig] < 3).any() and (conf[~sig] >= 3).any()


def test_world_class_fractions_over_a_long_track():
    from icefb.synth import SeaIceWorld, TrackFrame, WorldConfig

    cfg = WorldConfig()
    fr = []
    for seed in range(3):
        w = SeaIceWorld(seed, TrackFrame("EPSG:3413", 0.0, 0.0, 0.5, 0.0), cfg)
        u = np.arange(0.0, 150_000.0, 2.0)
        t = w.sample(u, np.zeros(u.size)).surface_type
        fr.append(np.bincount(t, minlength=3) / t.size)
        crossings = np.count_nonzero(np.diff((t != SurfaceType.THICK_ICE).astype(int)) == 1)
        # leads closer than 2 m merge, overlapping leads count once
        assert 0.6 * cfg.lead_crossings_per_km < crossings / 150.0 < 1.2 * cfg.lead_crossings_per_km
    fr = np.mean(fr, axis=0)
    assert 0.75 < fr[0] < 0.97 and 0.01 < fr[1] < 0.1 and 0.02 < fr[2] < 0.15


def test_same_seed_same_bytes(tmp_path):
    a = make_granule(tmp_path / "g1.h5", seed=5, length_km=0.5)
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    b = make_granule(b_dir / "g1.h5", seed=5, length_km=0.5)
    assert a.read_bytes() == b.read_bytes()
    assert (a.parent / "g1.h5.truth.h5").read_bytes() == (b_dir / "g1.h5.truth.h5").read_bytes()
    c = make_granule(tmp_path / "g2.h5", seed=6, length_km=0.5)
    with h5py.File(a) as fa, h5py.File(c) as fc:
        assert not np.array_equal(fa["gt1l/heights/h_ph"][:50], fc["gt1l/heights/h_ph"][:50])
    assert read_truth_attrs(a)["seed"] == 5


def test_south_hemisphere(tmp_path):
    p = make_granule(tmp_path / "s.h5", seed=2, length_km=0.3, hemisphere="south",
                     beams=("gt2l",))
    with h5py.File(p) as f:
        lat = f["gt2l/heights/lat_ph"][:]
    assert (lat < -55).all()
    assert read_truth_attrs(p)["crs"] == "EPSG:3031"


@pytest.mark.parametrize(
    "kwargs",
    [{"length_km": -1.0}, {"sc_orient": 2}, {"beams": ("gt4l",)}, {"hemisphere": "east"},
     {"attr_encoding": "utf16"}, {"seed": -3}],
)
def test_bad_arguments_raise_config_error(tmp_path, kwargs):
    args = {"seed": 1, "length_km": 0.2, **kwargs}
    with pytest.raises(ConfigError):
        make_granule(tmp_path / "bad.h5", **args)


def test_read_truth_errors(granule, tmp_path):
    with pytest.raises(MissingBeamError, match="gt9x"):
        read_truth(granule, "gt9x")
    with pytest.raises(ProductError, match="truth sidecar"):
        read_truth(tmp_path / "nothing.h5", "gt1l")


@pytest.mark.slow
def test_long_granule_scales(tmp_path):
    """100 km: photons per km stay in range and memory stays bounded by the 20 km blocks."""
    p = make_granule(tmp_path / "long.h5", seed=4, length_km=100.0, beams=("gt1l", "gt1r"))
    ph, seg = read_truth(p, "gt1l")
    assert seg.sizes["segment"] == pytest.approx(50_000, abs=2)
    assert 1.0 < ph.is_signal.sum() / (100_000 / 0.7) < 3.5
