"""Training, metrics against truth on held-out beams, model files and inference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from icefb.constants import SurfaceType
from icefb.errors import ConfigError, CorruptFileError, MissingVariableError, ModelMismatchError
from icefb.ml.features import FeatureConfig
from icefb.ml.inference import predict, predict_proba
from icefb.ml.io import load_model, save_model
from icefb.ml.metrics import classification_metrics, confusion_matrix, confusion_matrix_figure
from icefb.ml.models import LSTMClassifier, MLPClassifier, focal_loss
from icefb.ml.train import TrainConfig, train


def _truth_metrics(seg, model):
    out = predict(seg, model)
    return classification_metrics(confusion_matrix(seg["truth_surface_type"].values,
                                                   out["surface_type"].values))


def test_lstm_and_mlp_on_heldout_beam(trained_lstm, trained_mlp, toy_heldout):
    lstm = _truth_metrics(toy_heldout, trained_lstm.model)
    mlp = _truth_metrics(toy_heldout, trained_mlp.model)
    for m in (lstm, mlp):
        assert m["accuracy"] >= 0.85
        assert m["macro_f1"] >= 0.75
        assert m["recall"][SurfaceType.OPEN_WATER] >= 0.5
    # the sequence model is at least as good as the per-segment baseline
    assert lstm["macro_f1"] >= mlp["macro_f1"] - 0.02
    # validation metrics were computed and logged through Lightning
    val = trained_lstm.metrics["val"]
    assert 0.0 <= val["accuracy"] <= 1.0 and len(val["recall"]) == 3
    assert trained_lstm.metrics["progress_bar"] is True


def test_training_is_reproducible(toy_tracks):
    cfg = TrainConfig(model="mlp", epochs=1, seed=3, progress_bar=False,
                      max_train_sequences=1500)
    a = train(cfg, toy_tracks).model
    b = train(cfg, toy_tracks).model
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_save_load_roundtrip_bit_identical(trained_lstm, toy_heldout, tmp_path):
    path = save_model(trained_lstm.model, tmp_path / "m")
    loaded = load_model(path)
    assert loaded.checksum == json.loads((tmp_path / "m.json").read_text())["weights_sha256"]
    # an unsaved model's digest is the checksum its file gets
    from icefb.ml.io import weights_digest

    assert weights_digest(loaded) == loaded.checksum
    np.testing.assert_array_equal(predict_proba(toy_heldout, trained_lstm.model),
                                  predict_proba(toy_heldout, loaded))
    # batching does not change the answer
    np.testing.assert_allclose(predict_proba(toy_heldout, loaded, batch_size=777),
                               predict_proba(toy_heldout, loaded), rtol=1e-5, atol=1e-6)


def test_model_mismatch_and_corruption(trained_mlp, tmp_path):
    save_model(trained_mlp.model, tmp_path / "m")
    with pytest.raises(ModelMismatchError, match="another feature set"):
        load_model(tmp_path / "m", feature_config=FeatureConfig(half_width=3))
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["feature_version"] = -1
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ModelMismatchError, match="another version of the features"):
        load_model(tmp_path / "m")
    save_model(trained_mlp.model, tmp_path / "m")
    with open(tmp_path / "m.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(CorruptFileError, match="checksum"):
        load_model(tmp_path / "m")
    with pytest.raises(CorruptFileError, match="not found"):
        load_model(tmp_path / "nothing")


def test_save_model_replaces_a_saved_model_whole(trained_lstm, trained_mlp, tmp_path,
                                                 monkeypatch):
    """A failed save leaves the model saved before intact (and no temporary files); a crash
    between the two renames is refused at load; files get the umask's permissions."""
    import os

    import icefb.ml.io as mio

    old_mask = os.umask(0o022)
    try:
        save_model(trained_lstm.model, tmp_path / "m")
    finally:
        os.umask(old_mask)
    files = [tmp_path / "m.safetensors", tmp_path / "m.json"]
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in files)
    before = [f.read_bytes() for f in files]

    def boom(*a, **k):
        raise OSError("disk full")

    with monkeypatch.context() as mp:
        mp.setattr(mio.json, "dumps", boom)
        with pytest.raises(OSError, match="disk full"):
            save_model(trained_mlp.model, tmp_path / "m")
    assert [f.read_bytes() for f in files] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]
    assert load_model(tmp_path / "m").checksum == trained_lstm.model.checksum

    real_write, writes = mio._write_temp, []

    def second_write_fails(final, data):
        writes.append(final)
        if len(writes) == 2:
            raise OSError("disk full")
        return real_write(final, data)

    with monkeypatch.context() as mp:
        mp.setattr(mio, "_write_temp", second_write_fails)
        with pytest.raises(OSError, match="disk full"):
            save_model(trained_mlp.model, tmp_path / "m")
    assert [f.read_bytes() for f in files] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]

    real_replace, calls = os.replace, []

    def replace_once(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("killed")
        real_replace(src, dst)

    with monkeypatch.context() as mp:
        mp.setattr(mio.os, "replace", replace_once)
        with pytest.raises(OSError, match="killed"):
            save_model(trained_mlp.model, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]
    with pytest.raises(CorruptFileError, match="checksum"):
        load_model(tmp_path / "m")
    save_model(trained_mlp.model, tmp_path / "m")
    assert load_model(tmp_path / "m").checksum == trained_mlp.model.checksum


def test_predict_output_contract(trained_mlp, toy_heldout):
    out = predict(toy_heldout, trained_mlp.model)
    assert out["surface_type"].dtype == np.int8
    assert out["surface_type"].dims == ("segment",)
    occupied = toy_heldout["n_photons"].values > 0
    st = out["surface_type"].values
    assert set(np.unique(st[occupied])) <= {0, 1, 2}
    assert np.all(st[~occupied] == -1)  # no signal photon: unlabeled, not a guess
    assert out["surface_type"].attrs["flag_meanings"].split()[0] == "unlabeled"
    assert out["surface_prob"].dims == ("segment", "class")
    assert out["surface_prob"].dtype == np.float32
    edge = out["surface_type_edge"].values
    assert edge.dtype == np.int8 and out["surface_type_edge"].attrs["flag_meanings"]
    for i in np.flatnonzero(st >= 0)[:500]:  # the flag against its definition
        near = st[max(i - 2, 0): i + 3]
        assert edge[i] == int(np.any((near >= 0) & (near != st[i])))
    assert np.all(edge[st < 0] == 0)
    np.testing.assert_allclose(out["surface_prob"].sum("class")[occupied], 1.0, rtol=1e-5)
    assert np.all(np.isnan(out["surface_prob"].values[~occupied]))
    assert out.attrs["classifier_sha256"]
    with pytest.raises(MissingVariableError):
        predict(toy_heldout.drop_vars("pcnt"), trained_mlp.model)


def test_pretrained_model_on_unseen_synthetic_granule(synth_heldout):
    from icefb.ml.pretrained import evaluate_heldout

    model = load_model("lstm-synthetic")
    cm = sum(confusion_matrix(s["truth_surface_type"].values,
                              predict(s, model)["surface_type"].values) for s in synth_heldout)
    m = classification_metrics(cm)
    # measured on this granule (shipped model of 2026-12-03): accuracy 0.976, macro-F1 0.875,
    # thin recall 0.96, water recall 0.76 / precision 0.77; on held-out seeds 901-905, six
    # beams: 0.982 / 0.896 / thin recall 0.82 / water recall 0.89 (docs/classification.md);
    # the bars below sit under those with margin for seed variation and retraining
    assert m["accuracy"] >= 0.95
    assert m["macro_f1"] >= 0.78
    assert m["recall"][SurfaceType.THIN_ICE] >= 0.85
    assert m["recall"][SurfaceType.OPEN_WATER] >= 0.6
    assert m["precision"][SurfaceType.OPEN_WATER] >= 0.65
    assert evaluate_heldout({"lstm": model}, tracks=synth_heldout)["lstm"]["confusion_matrix"] \
        == cm.tolist()
    # the errors sit where the footprint mixes two surfaces: without the segments next to a
    # change of true type (3 % of them) water recall is 0.95 here (0.969 on 901-905)
    away = evaluate_heldout({"lstm": model}, tracks=synth_heldout, boundary_width=1)["lstm"]
    assert 0.9 * cm.sum() < np.sum(away["confusion_matrix"]) < cm.sum()
    assert away["recall"][SurfaceType.OPEN_WATER] >= m["recall"][SurfaceType.OPEN_WATER] + 0.1
    assert away["macro_f1"] >= m["macro_f1"] + 0.03


def test_type_edge_flag_marks_where_the_errors_are(synth_heldout):
    # against the truth of an unseen granule: the few segments beside a change of predicted
    # type hold a large share of the errors; the rest is classified better than the whole
    model = load_model("lstm-synthetic")
    flagged = errors = flagged_errors = scored = 0
    cm_rest = 0
    for s in synth_heldout:
        out = predict(s, model)
        y, p = s["truth_surface_type"].values, out["surface_type"].values
        ok = (y >= 0) & (p >= 0)
        f = out["surface_type_edge"].values.astype(bool) & ok
        wrong = ok & (y != p)
        scored += ok.sum()
        flagged += f.sum()
        errors += wrong.sum()
        flagged_errors += (wrong & f).sum()
        cm_rest = cm_rest + confusion_matrix(np.where(f, -1, y), p)
    # measured on this granule: 6.5 % of segments flagged, 71 % of the errors there (held-out
    # 901-905: 3.8 % and 62 %); accuracy 0.976 overall, 0.993 on the rest (901-905: 0.993)
    assert flagged < 0.1 * scored
    assert flagged_errors > 0.4 * errors
    rest = classification_metrics(cm_rest)
    assert rest["accuracy"] > 1.0 - 0.6 * errors / scored


@given(st.lists(st.integers(-1, 2), max_size=40), st.integers(0, 4))
@settings(max_examples=200, deadline=None)
def test_boundary_mask_against_its_definition(types, width):
    from icefb.ml.metrics import boundary_mask

    t = np.array(types, np.int64)
    want = [t[i] >= 0 and any(t[j] >= 0 and t[j] != t[i]
                              for j in range(max(i - width, 0), min(i + width + 1, t.size)))
            for i in range(t.size)]
    assert boundary_mask(t, width).tolist() == want


@given(st.lists(st.integers(-1, 2), min_size=1, max_size=30), st.floats(0.5, 6.0))
@settings(max_examples=25, deadline=None)
def test_footprint_fractions_against_simulated_photons(types, sigma):
    from icefb.ml.metrics import footprint_fractions

    # photons reported uniformly over each 2 m bin, hitting the surface at a Gaussian offset:
    # the share of each bin's photons landing on each known type, counted
    t = np.array(types, np.int64)
    rng = np.random.default_rng(len(types))
    n = 20_000
    want = np.full((3, t.size), np.nan)
    for i in range(t.size):
        hit = np.floor((2.0 * i + rng.uniform(0, 2.0, n) + rng.normal(0, sigma, n)) / 2.0)
        hit = hit.astype(np.int64)
        ty = np.where((hit >= 0) & (hit < t.size), t[np.clip(hit, 0, t.size - 1)], -1)
        counts = np.bincount(ty[ty >= 0], minlength=3)
        if counts.sum() > 0.25 * n:  # >= 5000 photons on known surface: MC sd <= 0.007
            want[:, i] = counts / counts.sum()
    got = footprint_fractions(t, window=2.0, sigma=sigma)
    ok = np.isfinite(want[0])
    np.testing.assert_allclose(got[:, ok], want[:, ok], atol=0.03)
    assert np.allclose(got[:, np.isfinite(got[0])].sum(axis=0), 1.0)


def test_footprint_oracle_narrow_and_wide_leads(synth_heldout):
    from icefb.ml.metrics import footprint_fractions, footprint_oracle
    from icefb.ml.pretrained import evaluate_heldout

    lone = np.array([0] * 10 + [2] + [0] * 10)
    np.testing.assert_allclose(footprint_fractions(lone)[2, 10], 0.278, atol=0.001)
    assert footprint_oracle(lone)[10] == SurfaceType.THICK_ICE  # 2 m lead: the ice's photons
    wide = np.array([0] * 10 + [2] * 6 + [0] * 10)
    got = footprint_oracle(wide)
    # a 12 m lead: water in every bin, though its edge bins get 36 % of their photons from ice
    assert got[10:16].tolist() == [2] * 6 and got[:10].tolist() == [0] * 10
    np.testing.assert_allclose(footprint_fractions(wide)[2, [10, 11, 13]],
                               [0.639, 0.856, 0.956], atol=0.001)
    assert footprint_oracle(np.array([-1, 1, -1])).tolist() == [-1, 1, -1]
    with pytest.raises(ConfigError):
        footprint_fractions(lone, sigma=0.0)
    # noise-free footprint reference on the unseen granule: perfect away from type changes,
    # below 1 at them, scored on the same segments as the models
    res = evaluate_heldout({}, tracks=synth_heldout, footprint_oracle=True)["footprint oracle"]
    away = evaluate_heldout({}, tracks=synth_heldout, boundary_width=1,
                            footprint_oracle=True)["footprint oracle"]
    assert away["accuracy"] == 1.0 and res["accuracy"] < 1.0
    scored = sum(int(((s["n_photons"].values > 0) & (s["truth_surface_type"].values >= 0)).sum())
                 for s in synth_heldout)
    assert np.sum(res["confusion_matrix"]) == scored  # the segments the models are scored on
    with pytest.raises(ConfigError):
        evaluate_heldout({}, tracks=[], footprint_oracle=True)


def test_focal_loss_and_metrics_and_figure():
    logits = torch.randn(64, 3)
    y = torch.randint(0, 3, (64,))
    np.testing.assert_allclose(focal_loss(logits, y, 0.0).item(),
                               torch.nn.functional.cross_entropy(logits, y).item(), rtol=1e-6)
    cm = np.array([[5, 1, 0], [0, 3, 1], [0, 0, 0]])
    m = classification_metrics(cm)
    assert m["accuracy"] == pytest.approx(0.8)
    assert np.isnan(m["recall"][2])
    fig = confusion_matrix_figure(cm)
    assert fig.axes


def test_model_config_errors():
    with pytest.raises(ConfigError):
        LSTMClassifier(4, 4)
    with pytest.raises(ConfigError):
        MLPClassifier(4, 5, loss="hinge")
    with pytest.raises(ConfigError):
        TrainConfig(model="cnn")
    with pytest.raises(ConfigError):
        train(TrainConfig(), [], strategy="mpi")


def test_fast_inference_equals_sequence_forward(trained_lstm, trained_mlp, toy_heldout):
    # predict_proba's LSTM path (centre-only recurrences on a shared input projection) and
    # MLP path (centre rows only) equal the modules' forward on explicit sequences
    from icefb.ml.features import compute_features, make_sequences

    for model in (trained_lstm.model, trained_mlp.model):
        fc = model.feature_config
        f = compute_features(toy_heldout, fc)
        z = model.normalizer.apply(f["features"].values, f["valid"].values)
        model.eval()
        with torch.no_grad():
            ref = torch.softmax(model(torch.from_numpy(make_sequences(z, fc.half_width))),
                                -1).numpy()
        got = predict_proba(toy_heldout, model, batch_size=1000)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=5e-6)


def test_numba_and_torch_lstm_inference_agree(trained_lstm, toy_heldout, monkeypatch):
    import icefb.ml.inference as inf

    a = predict_proba(toy_heldout, trained_lstm.model, batch_size=4096)
    monkeypatch.setattr(inf, "USE_NUMBA_LSTM", False)
    b = predict_proba(toy_heldout, trained_lstm.model, batch_size=4096)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)
