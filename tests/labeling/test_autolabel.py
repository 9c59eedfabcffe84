"""autolabel against the known truth of the hand-made world: accuracy, drift, flags, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xarray as xr

from icefb.constants import SurfaceType
from icefb.errors import MissingVariableError, NoOverlapError
from icefb.labeling import (
    LabelConfig,
    LabelFlag,
    autolabel,
    find_scenes,
    label_unit,
    open_scene,
)
from tests.labeling.conftest import NPX, ORIGINS, SCENE_DT, build_pair, make_segments, make_world


def _accuracy(out, truth):
    ok = out.label_flag.values == LabelFlag.LABELED
    return float((out.s2_label.values[ok] == truth[ok]).mean()), float(ok.mean())


@pytest.mark.parametrize(
    ("crs", "drift", "mode"),
    [
        ("EPSG:3413", (0.0, 0.0), "l2a"),
        ("EPSG:3413", (143.0, -88.0), "l2a"),
        ("EPSG:3031", (-260.0, 57.0), "l2a"),
        ("EPSG:3031", (75.0, 190.0), "tci"),
        ("EPSG:3413", (-40.0, -120.0), "folder"),
    ],
)
def test_accuracy_and_drift_recovery(tmp_path, crs, drift, mode):
    p = build_pair(tmp_path, crs=crs, drift=drift, mode=mode, seed=7)
    out = autolabel(p.segments, open_scene(p.scene_path))
    assert out.attrs["drift_status"] == "estimated"
    assert abs(out.attrs["drift_x_m"] - drift[0]) <= 10.0
    assert abs(out.attrs["drift_y_m"] - drift[1]) <= 10.0
    # along/across components are the same vector
    a, c = out.attrs["drift_along_m"], out.attrs["drift_across_m"]
    dx, dy = out.attrs["drift_x_m"], out.attrs["drift_y_m"]
    assert np.hypot(a, c) == pytest.approx(np.hypot(dx, dy), abs=1e-6)
    acc, frac = _accuracy(out, p.truth)
    assert acc >= 0.98
    assert frac >= 0.8
    assert out.s2_label.dtype == np.int8 and out.label_flag.dtype == np.int8
    assert out.s2_label.attrs["flag_meanings"] == "unlabeled thick_ice thin_ice open_water"
    assert set(np.unique(out.s2_label.values)) <= {-1, 0, 1, 2}
    assert (out.s2_label.values[out.label_flag.values != 0] == SurfaceType.UNLABELED).all()


def test_without_drift_correction_labels_are_worse(tmp_path):
    p = build_pair(tmp_path, drift=(150.0, -100.0), seed=7)
    scene = open_scene(p.scene_path)
    bad, _ = _accuracy(autolabel(p.segments, scene, LabelConfig(drift="none")), p.truth)
    good, _ = _accuracy(autolabel(p.segments, scene), p.truth)
    assert good >= 0.98 > bad
    fixed = autolabel(p.segments, scene, LabelConfig(drift="fixed", drift_along_m=0.0,
                                                     drift_across_m=0.0))
    assert fixed.attrs["drift_status"] == "fixed"


def test_transition_flags_are_near_boundaries(pair):
    cfg = LabelConfig(transition_radius_m=20.0)
    out = autolabel(pair.segments, open_scene(pair.scene_path), cfg)
    flag = out.label_flag.values
    tr = flag == LabelFlag.TRANSITION
    assert tr.any()
    # every transition-flagged segment has another true class within radius + a pixel diagonal
    seg = pair.segments
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", pair.crs, always_xy=True).transform(
        seg.lon.values[tr], seg.lat.values[tr]
    )
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    r = 20.0 + 15.0
    ring = [pair.world.classes(x + rr * np.cos(a), y + rr * np.sin(a))
            for a in ang for rr in (r / 3, 2 * r / 3, r)]
    centre = pair.world.classes(x, y)
    assert np.all(np.any(np.array(ring) != centre, axis=0))
    # and a larger radius flags more segments
    more = autolabel(pair.segments, open_scene(pair.scene_path),
                     LabelConfig(transition_radius_m=60.0)).label_flag.values
    assert (more == LabelFlag.TRANSITION).sum() > tr.sum()
    assert out.attrs["label_fraction_class_transition"] == pytest.approx(tr.mean())


def test_outside_scene_flag(tmp_path):
    p = build_pair(tmp_path, seed=3)
    x0, y0 = ORIGINS["EPSG:3413"]
    rng = np.random.default_rng(0)
    # a track starting 1 km west of the scene, running east
    segs, _ = make_segments(p.world, p.crs, (x0 - 1000.0, y0 - 2500.0), (1.0, 0.0), 3000.0, rng)
    out = autolabel(segs, open_scene(p.scene_path), LabelConfig(drift="none"))
    flag = out.label_flag.values
    xs = x0 - 1000.0 + segs.x_atc.values
    assert (flag[xs < x0 - 1] == LabelFlag.OUTSIDE_SCENE).all()
    assert (flag[xs > x0 + 30] != LabelFlag.OUTSIDE_SCENE).all()
    assert out.attrs["label_fraction_outside_scene"] == pytest.approx((xs < x0).mean(), abs=0.01)


def test_cloud_flags_and_all_cloud(tmp_path):
    half = NPX // 2
    scl = np.full((half, half), 4, np.uint8)
    scl[:, : half // 2] = 9  # western half of the scene under cloud
    (tmp_path / "a").mkdir()
    p = build_pair(tmp_path / "a", mode="folder", scl=scl, seed=2)
    out = autolabel(p.segments, open_scene(p.scene_path), LabelConfig(drift="none"))
    x0, _ = ORIGINS["EPSG:3413"]
    from pyproj import Transformer

    x, _ = Transformer.from_crs("EPSG:4326", p.crs, always_xy=True).transform(
        p.segments.lon.values, p.segments.lat.values)
    flag = out.label_flag.values
    assert (flag[x < x0 + 2500 - 25] == LabelFlag.CLOUD).all()
    assert not (flag[x > x0 + 2500 + 25] == LabelFlag.CLOUD).any()

    (tmp_path / "b").mkdir()
    allc = build_pair(tmp_path / "b", mode="folder", scl=np.full((half, half), 8, np.uint8))
    out = autolabel(allc.segments, open_scene(allc.scene_path))
    assert (out.label_flag.values == LabelFlag.CLOUD).all()
    assert (out.s2_label.values == -1).all()
    assert out.attrs["drift_status"] == "undetermined"


def test_time_gap_flag(tmp_path):
    p = build_pair(tmp_path, t0=SCENE_DT + 5 * 3600.0)
    out = autolabel(p.segments, open_scene(p.scene_path))
    assert (out.label_flag.values == LabelFlag.TIME_GAP).all()
    assert out.attrs["label_fraction_time_gap"] == 1.0
    ok = autolabel(p.segments, open_scene(p.scene_path), LabelConfig(max_time_gap_s=6 * 3600.0))
    assert not (ok.label_flag.values == LabelFlag.TIME_GAP).any()


def test_no_overlap_and_missing_vars(tmp_path):
    p = build_pair(tmp_path)
    x0, y0 = ORIGINS["EPSG:3413"]
    far, _ = make_segments(p.world, p.crs, (x0 + 50_000, y0), (1.0, 0.0), 500.0,
                           np.random.default_rng(0))
    with pytest.raises(NoOverlapError, match=p.scene_path.name):
        autolabel(far, open_scene(p.scene_path))
    with pytest.raises(MissingVariableError, match="lat"):
        autolabel(p.segments.drop_vars("lat"), p.scene_path)
    # no heights: drift cannot be estimated but labels still come out
    out = autolabel(p.segments.drop_vars("h_cor_mean"), p.scene_path)
    assert out.attrs["drift_status"] == "undetermined"
    assert _accuracy(out, p.truth)[0] >= 0.98


def test_datatree_joint_drift_and_label_unit(tmp_path):
    drift = (60.0, 110.0)
    p = build_pair(tmp_path, drift=drift, seed=11)
    x0, y0 = ORIGINS["EPSG:3413"]
    rng = np.random.default_rng(1)
    s2, t2 = make_segments(p.world, p.crs, (x0 + 300.0, y0 - 1400.0), (1.0, -0.8), 4000.0, rng,
                           beam="gt2l")
    tree = xr.DataTree.from_dict({"gt1l": p.segments, "gt2l": s2})
    out = autolabel(tree, p.scene_path)
    assert abs(out.attrs["drift_x_m"] - drift[0]) <= 10
    assert abs(out.attrs["drift_y_m"] - drift[1]) <= 10
    assert _accuracy(out["gt2l"].to_dataset(), t2)[0] >= 0.98
    assert out["gt1l"].attrs["drift_x_m"] == out.attrs["drift_x_m"]
    # the per-unit function is picklable and gives the autolabel answer
    f = pickle.loads(pickle.dumps(label_unit))
    one = f(p.segments, str(p.scene_path), LabelConfig())
    ref = autolabel(p.segments, open_scene(p.scene_path), LabelConfig())
    xr.testing.assert_identical(one, ref.load())
    # the unit reads its scene chunks itself, never through the ambient scheduler (a worker's
    # cluster, a machine-wide thread pool): the unit is the grain of parallelism
    import dask

    def refuse(*args, **kwargs):
        raise AssertionError("label_unit used the ambient dask scheduler")

    with dask.config.set(scheduler=refuse):
        again = f(p.segments, str(p.scene_path), LabelConfig())
    xr.testing.assert_identical(again, one)


def test_find_scenes(tmp_path):
    p = build_pair(tmp_path, seed=4)  # overlaps, 600 s gap
    rng = np.random.default_rng(2)
    x0, y0 = ORIGINS["EPSG:3413"]
    from tests.labeling.conftest import write_scene

    far = make_world(rng, x0 + 80_000, y0, 1000.0, n=3)
    write_scene(tmp_path / "T2_20191126T183919_TCI.tif", far, "EPSG:3413", x0 + 80_000, y0,
                50, (0, 0), mode="tci")  # no overlap
    write_scene(tmp_path / "T3_20191127T183919_TCI.tif", p.world, "EPSG:3413", x0, y0,
                50, (0, 0), mode="tci")  # overlaps, a day later
    (tmp_path / "notes.txt").write_text("not a scene")
    got = find_scenes(p.segments, tmp_path, max_time_gap=3 * 3600)
    assert [m.path for m in got] == [str(p.scene_path)]
    assert got[0].time_gap_s == pytest.approx(600.0 - 2.0 / 7000.0 * 0.5, abs=1.0)
    got = find_scenes(p.segments, tmp_path, max_time_gap=2 * 86400)
    assert [m.path.split("/")[-1][:2] for m in got] == ["S2", "T3"]
