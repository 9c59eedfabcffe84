"""Label-free features, sequences, normalisation and the track split."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from icefb.constants import SurfaceType
from icefb.errors import ConfigError, MissingVariableError
from icefb.ml._toyworld import toy_segments
from icefb.ml.data import SegmentDataModule, track_key
from icefb.ml.features import FeatureConfig, Normalizer, compute_features, make_sequences


def test_shuffling_or_dropping_labels_changes_no_feature():
    seg = toy_segments(3, 3000)
    base = compute_features(seg)["features"].values
    rng = np.random.default_rng(0)
    shuffled = seg.copy()
    shuffled["s2_label"] = ("segment", rng.permutation(seg["s2_label"].values))
    shuffled["truth_surface_type"] = ("segment", rng.permutation(seg["truth_surface_type"].values))
    np.testing.assert_array_equal(compute_features(shuffled)["features"].values, base)
    dropped = seg.drop_vars(["s2_label", "truth_surface_type"])
    np.testing.assert_array_equal(compute_features(dropped)["features"].values, base)


def test_relative_height_separates_the_true_classes():
    seg = toy_segments(5, 20_000)
    f = compute_features(seg)
    h_rel = f["features"].sel(feature="h_rel").values
    st = seg["truth_surface_type"].values
    ok = f["valid"].values & np.isfinite(h_rel)
    water = np.median(h_rel[ok & (st == SurfaceType.OPEN_WATER)])
    thin = np.median(h_rel[ok & (st == SurfaceType.THIN_ICE)])
    thick = np.median(h_rel[ok & (st == SurfaceType.THICK_ICE)])
    assert water < thin < thick


def test_empty_bins_are_invalid_and_nan():
    seg = toy_segments(2, 2000)
    f = compute_features(seg)
    empty = seg["n_photons"].values == 0
    assert empty.any()
    assert not f["valid"].values[empty].any()
    assert np.isnan(f["features"].sel(feature="h_rel").values[empty]).all()


def test_missing_variable_names_beam():
    seg = toy_segments(2, 200).drop_vars("h_std")
    with pytest.raises(MissingVariableError, match="gt1l.*h_std"):
        compute_features(seg)


def test_bad_config():
    with pytest.raises(ConfigError):
        FeatureConfig(ref_window=-1.0)
    with pytest.raises(ConfigError):
        FeatureConfig(ref_percentile=120.0)


@pytest.mark.parametrize("half_width", [0, 1, 2, 4])
def test_sequences_centre_neighbours_and_edge_mask(half_width):
    n, c = 9, 3
    x = np.arange(n * c, dtype=np.float32).reshape(n, c) + 1
    seq = make_sequences(x, half_width)
    assert seq.shape == (n, 2 * half_width + 1, c)
    for i in range(n):
        for k in range(-half_width, half_width + 1):
            row = seq[i, k + half_width]
            if 0 <= i + k < n:
                np.testing.assert_array_equal(row, x[i + k])
            else:
                assert not row.any()  # beyond the beam: masked like an empty bin


def test_normalizer_masks_empty_neighbours():
    seg = toy_segments(4, 1500)
    f = compute_features(seg)
    norm = Normalizer.fit(f["features"].values, f["valid"].values, FeatureConfig().feature_names)
    z = norm.apply(f["features"].values, f["valid"].values)
    assert np.isfinite(z).all()
    empty = ~f["valid"].values
    assert (z[empty] == 0).all()
    assert (z[~empty, -1] == 1).all()
    mean = z[~empty, :-1].mean(axis=0)
    np.testing.assert_allclose(mean[np.abs(mean) > 0], 0, atol=0.1)


def test_split_by_track_and_normalisation_from_training_only(toy_tracks):
    dm = SegmentDataModule(toy_tracks, val_fraction=0.2, test_fraction=0.2, seed=1)
    dm.setup()
    assert set(dm.train_keys).isdisjoint(dm.val_keys)
    assert set(dm.train_keys).isdisjoint(dm.test_keys)
    assert set(dm.val_keys).isdisjoint(dm.test_keys)
    assert len(dm.train_keys) + len(dm.val_keys) + len(dm.test_keys) == len(toy_tracks)
    # every training sequence comes from a training track
    keys = [track_key(t, i) for i, t in enumerate(toy_tracks)]
    assert {keys[int(i)] for i in dm.train_split.where[:, 0]} == set(dm.train_keys)
    train_tracks = [t for t, k in zip(toy_tracks, keys, strict=True) if k in dm.train_keys]
    feats = [compute_features(t) for t in train_tracks]
    ref = Normalizer.fit(np.concatenate([f["features"].values for f in feats]),
                         np.concatenate([f["valid"].values for f in feats]),
                         FeatureConfig().feature_names)
    np.testing.assert_allclose(dm.normalizer.mean, ref.mean, rtol=1e-6)
    # balanced class weights: sum_c w_c n_c equal for all classes
    w = np.asarray(dm.class_weights) * np.asarray(dm.class_counts)
    np.testing.assert_allclose(w, w[0], rtol=1e-9)
    assert dm.class_weights[SurfaceType.OPEN_WATER] > dm.class_weights[SurfaceType.THICK_ICE]


def test_explicit_split_and_no_training_track(toy_tracks):
    keys = [track_key(t) for t in toy_tracks]
    dm = SegmentDataModule(toy_tracks, val_keys=[keys[0]])
    dm.setup()
    assert dm.val_keys == [keys[0]]
    with pytest.raises(ConfigError, match="no \\(granule, beam\\) track left"):
        SegmentDataModule(toy_tracks, val_keys=keys).setup()


def _flat_track(h: np.ndarray) -> xr.Dataset:
    """A beam of 2 m segments with heights ``h`` and uniform photon statistics."""
    n = h.size
    ones = np.ones(n)
    return xr.Dataset(
        {
            "h_cor_mean": ("segment", h), "h_cor_median": ("segment", h),
            "h_std": ("segment", 0.02 * ones), "h_min": ("segment", h - 0.03),
            "h_max": ("segment", h + 0.03), "n_photons": ("segment", np.full(n, 6)),
            "n_high": ("segment", np.full(n, 5)), "pcnt": ("segment", 2.0 * ones),
            "pcnth": ("segment", 1.7 * ones), "bcnt": ("segment", 10.0 * ones),
            "brate": ("segment", 1e6 * ones),
        },
        coords={"segment": np.arange(n)}, attrs={"beam": "gt1l", "window": 2.0},
    )


def test_ice_level_sees_thin_ice_inside_a_lead_wider_than_the_low_references():
    # 12 km of floes at 0.40 m with a 3 km refrozen lead at 0.05 m in the middle: at the lead's
    # centre the 400 m and 2 km low percentiles sit on the thin ice itself (h_rel ~ 0, like the
    # lowest floes), while the median over 10 km is the floes' level
    rng = np.random.default_rng(1)
    n = 6000
    h = 0.40 + rng.normal(0.0, 0.03, n)
    lead = slice(2250, 3750)
    h[lead] = 0.05 + rng.normal(0.0, 0.005, 1500)
    f = compute_features(_flat_track(h))["features"]
    centre = 3000
    assert abs(float(f.sel(feature="h_rel_mid")[centre])) < 0.02
    # expected: the height minus the median of the 10 km window (clipped at the track's end);
    # the window holds 1500 thin and 2001 floe segments, so its median is a low floe height
    window = h[max(0, centre - 2500) : centre + 2501]
    want = h[centre] - np.median(window)
    assert want < -0.3
    assert float(f.sel(feature="h_ice_long")[centre]) == pytest.approx(want, abs=0.01)
    floe = float(f.sel(feature="h_ice_long")[500])
    assert abs(floe) < 0.06
    # a floe 100 m from the lead: its 2 km window is 45 % thin ice, so the 2 km low percentile
    # is the thin ice (h_rel_mid ~ 0.3) and the 2 km median a floe height (h_ice_mid ~ 0)
    edge = 2200
    near = h[edge - 500 : edge + 501]
    assert float(f.sel(feature="h_rel_mid")[edge]) == pytest.approx(
        h[edge] - np.percentile(near, 5.0), abs=0.01)
    assert float(f.sel(feature="h_ice_mid")[edge]) == pytest.approx(
        h[edge] - np.median(near), abs=0.01)
    assert float(f.sel(feature="h_rel_mid")[edge]) > 0.25
    # the feature is a plain difference to a percentile: a constant height offset cancels
    g = compute_features(_flat_track(h + 3.0))["features"]
    np.testing.assert_allclose(g.sel(feature="h_ice_long"), f.sel(feature="h_ice_long"),
                               atol=1e-5)


def test_floor_level_finds_a_lead_the_5th_percentile_misses():
    # 12 km of floes at 0.40 m and one 150 m lead at 0.0 m (1.25 % of the track): the 5th
    # percentile over 10 km stays on the floes, the 1st percentile drops to the water
    rng = np.random.default_rng(2)
    n = 6000
    h = 0.40 + rng.normal(0.0, 0.03, n)
    h[3000:3075] = rng.normal(0.0, 0.01, 75)
    f = compute_features(_flat_track(h))["features"]
    floe = 4500  # 3 km from the lead, within the 10 km window
    assert float(f.sel(feature="h_rel_long")[floe]) < 0.15
    assert float(f.sel(feature="h_floor_long")[floe]) == pytest.approx(0.40, abs=0.06)


def test_normalizer_rejects_valid_flags_of_another_length():
    from icefb.errors import ModelMismatchError

    x = np.ones((5, 2), np.float32)
    norm = Normalizer.fit(x, np.ones(5, bool), ("a", "b"))
    with pytest.raises(ModelMismatchError, match="valid flags"):
        norm.apply(x, np.ones(3, bool))
    out = np.empty((5, 4), np.float32)  # one column too many
    with pytest.raises(ConfigError, match="output buffer"):
        norm.apply_into(x, np.ones(5, bool), out)


def test_features_do_not_depend_on_storage_dtypes():
    """Segments read back with narrower or byte-swapped dtypes give the same features."""
    seg = toy_segments(3, 4000)
    ref = compute_features(seg)["features"].values
    other = seg.copy()
    other["h_std"] = other["h_std"].astype(np.float16).astype(np.float32)
    expected = compute_features(other)["features"].values
    other["h_std"] = other["h_std"].astype(np.float16)
    other["n_high"] = other["n_high"].astype(np.int16)
    other["bcnt"] = other["bcnt"].astype(other["bcnt"].dtype.newbyteorder(">"))
    got = compute_features(other)["features"].values
    np.testing.assert_array_equal(got, expected)
    cols = [i for i, k in enumerate(FeatureConfig().feature_names) if k != "h_std"]
    np.testing.assert_array_equal(got[:, cols], ref[:, cols])
