"""Two-process data-parallel training for real: DDP (gloo on CPU) and Horovod (horovodrun)."""

from __future__ import annotations

import pytest

from icefb.constants import SurfaceType
from icefb.ml.inference import predict
from icefb.ml.metrics import classification_metrics, confusion_matrix
from icefb.ml.train import TrainConfig, train

CFG = TrainConfig(model="lstm", epochs=2, seed=0)


@pytest.fixture(scope="module")
def small_tracks(toy_tracks):
    return toy_tracks[:4]


@pytest.fixture(scope="module")
def single(small_tracks):
    return train(CFG, small_tracks)


def _check_run(result, single, heldout):
    ranks = result.ranks
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    a, b = (set(r["indices"]) for r in ranks)
    n = ranks[0]["n_train"]
    # each rank draws a disjoint half of the training sequences
    assert a.isdisjoint(b)
    assert len(a) == len(b) == n // 2
    # data parallel: identical parameters on both ranks at the end
    assert ranks[0]["param_sha256"] == ranks[1]["param_sha256"]
    assert result.metrics["world_size"] == 2
    assert "Epoch 1" in result.metrics["log"]  # Lightning's progress bar ran
    # same validation split, metrics agree with the single-process run
    assert result.metrics["val"]["accuracy"] == pytest.approx(
        single.metrics["val"]["accuracy"], abs=0.03)
    pred = predict(heldout, result.model)["surface_type"].values
    m = classification_metrics(confusion_matrix(heldout["truth_surface_type"].values, pred))
    assert m["accuracy"] >= 0.85
    assert m["recall"][SurfaceType.OPEN_WATER] >= 0.5


@pytest.mark.timeout(300)
def test_ddp_two_processes(small_tracks, single, toy_heldout, tmp_path):
    result = train(CFG, small_tracks, strategy="ddp", devices=2, out_dir=tmp_path, timeout=280)
    _check_run(result, single, toy_heldout)
    assert (tmp_path / "confusion.png").stat().st_size > 0
    assert (tmp_path / "model.safetensors").exists()


@pytest.mark.horovod
@pytest.mark.timeout(300)
def test_horovod_two_processes(small_tracks, single, toy_heldout, tmp_path):
    result = train(CFG, small_tracks, strategy="horovod", devices=2, out_dir=tmp_path,
                   timeout=280)
    _check_run(result, single, toy_heldout)
    assert result.metrics["strategy"] == "horovod"
