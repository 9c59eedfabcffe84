"""Train surface-type classifiers: single process, DDP or Horovod.

``train(config, data, strategy=..., devices=...)`` fits an LSTM or MLP on labeled segment
tracks and returns the model and its metrics. Multi-process runs are launched as a separate
command so they work from any caller (pytest, notebooks)::

    python -m icefb.ml.train --strategy ddp --devices 2 --data a.zarr b.zarr --out run/
    horovodrun -np 2 -H localhost:2 --gloo python -m icefb.ml.train --strategy horovod ...

``train`` builds those commands itself when ``devices > 1``. Each run writes, in ``out``:
``model.safetensors`` + ``model.json`` (rank 0), ``metrics.json``, ``confusion.png`` and one
``rank{R}.json`` per process (rank, world size, the training indices its sampler drew, a
checksum of its final parameters).

Learning rate and batch: ``batch_size`` is per process; with ``W`` processes the effective
batch is ``W * batch_size`` and the learning rate is multiplied by ``W`` (the linear scaling
rule Horovod documents; done by :class:`icefb.ml.horovod.HorovodStrategy` for Horovod and
here for DDP).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from icefb.errors import ConfigError, IcefbError
from icefb.ml.features import FeatureConfig

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "main", "train"]

STRATEGIES = ("auto", "ddp", "horovod")


class TrainingError(IcefbError, RuntimeError):
    """A training run (or one of its processes) failed."""


@dataclass(frozen=True)
class TrainConfig:
    """Training parameters (shared by the Python API and the command line).

    Parameters
    ----------
    model : {"lstm", "mlp"}
        Classifier kind.
    hidden : int
        Hidden units (per LSTM direction, or per MLP layer).
    epochs : int
        Passes over the training sequences.
    batch_size : int
        Sequences per batch and per process.
    lr : float
        Adam learning rate for one process (scaled by the number of processes).
    loss : {"weighted_ce", "focal"}
        Class-weighted cross-entropy or focal loss.
    focal_gamma : float
        Focal-loss exponent.
    class_weighting : {"balanced", "sqrt", "none"}
        Loss weights from training label frequencies.
    features : FeatureConfig
        Feature set and sequence half-width.
    val_fraction, test_fraction : float
        Fractions of (granule, beam) tracks held out.
    max_train_sequences : int, optional
        Cap on training sequences (seeded subsample).
    seed : int
        Seed of the split, initial weights, shuffling and dropout.
    progress_bar : bool
        Show Lightning's progress bar.
    num_threads : int, optional
        Torch CPU threads per process during training (the small models train fastest on
        one; ``None`` keeps torch's setting).

    Examples
    --------
    >>> TrainConfig(model="mlp", epochs=2).to_dict()["features"]["half_width"]
    2
    """

    model: Literal["lstm", "mlp"] = "lstm"
    hidden: int = 32
    epochs: int = 8
    batch_size: int = 256
    lr: float = 3e-3
    loss: Literal["weighted_ce", "focal"] = "weighted_ce"
    focal_gamma: float = 2.0
    class_weighting: Literal["balanced", "sqrt", "none"] = "balanced"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    max_train_sequences: int | None = None
    seed: int = 0
    progress_bar: bool = True
    num_threads: int | None = 1

    def __post_init__(self) -> None:
        if self.model not in ("lstm", "mlp"):
            raise ConfigError("unknown model", variable="model", got=self.model,
                              expected='{"lstm", "mlp"}')
        if self.epochs < 1 or self.batch_size < 1 or self.hidden < 1:
            raise ConfigError("epochs, batch_size and hidden must be >= 1",
                              got=(self.epochs, self.batch_size, self.hidden))
        if not (self.lr > 0):
            raise ConfigError("lr must be positive", variable="lr", got=self.lr)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        d = asdict(self)
        d["features"] = self.features.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if isinstance(kw.get("features"), dict):
            kw["features"] = FeatureConfig.from_dict(kw["features"])
        return cls(**kw)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : LSTMClassifier or MLPClassifier
        The trained model (with ``normalizer`` and ``feature_config``).
    metrics : dict
        ``val`` / ``test`` metric dicts (see :func:`icefb.ml.metrics.classification_metrics`),
        ``throughput`` (training sequences/s), ``world_size``, ``fit_seconds``.
    out_dir : pathlib.Path or None
        Where the model and reports were written.
    ranks : list of dict
        Per-process reports (rank, world size, training indices drawn, parameter checksum).
    """

    model: Any
    metrics: dict[str, Any]
    out_dir: Path | None = None
    ranks: list[dict[str, Any]] = field(default_factory=list)


def _param_digest(model) -> str:
    h = hashlib.sha256()
    for _, p in sorted(model.state_dict().items()):
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _strategy_object(strategy: str, cuda: bool):
    if strategy == "ddp":
        from pytorch_lightning.strategies import DDPStrategy

        return DDPStrategy(process_group_backend="nccl" if cuda else "gloo")
    if strategy == "horovod":
        from icefb.ml.horovod import HorovodStrategy

        return HorovodStrategy()
    return "auto"


def _fit(config: TrainConfig, data, strategy: str, devices: int, out_dir: Path | None,
         val_keys=None, test_keys=None):
    """Fit in this process (one rank of a multi-process run, or the only process)."""
    import torch

    cuda = torch.cuda.is_available()
    if strategy == "horovod":
        import horovod.torch as hvd

        hvd.init()
        world = hvd.size()
    else:
        world = devices if strategy == "ddp" else 1
    threads = torch.get_num_threads()
    if config.num_threads is not None and not cuda:
        torch.set_num_threads(max(1, int(config.num_threads)))
    try:
        return _fit_body(config, data, strategy, devices, out_dir, val_keys, test_keys,
                         world, cuda)
    finally:
        torch.set_num_threads(threads)


def _fit_body(config, data, strategy, devices, out_dir, val_keys, test_keys, world, cuda):
    import pytorch_lightning as pl
    import torch

    from icefb.ml.data import SegmentDataModule
    from icefb.ml.io import save_model
    from icefb.ml.metrics import confusion_matrix_figure
    from icefb.ml.models import build_model


    dm = SegmentDataModule(
        data, config.features, val_fraction=config.val_fraction,
        test_fraction=config.test_fraction, val_keys=val_keys, test_keys=test_keys,
        batch_size=config.batch_size, class_weighting=config.class_weighting,
        max_train_sequences=config.max_train_sequences, seed=config.seed,
    )
    dm.setup()
    lr = config.lr * (world if strategy == "ddp" else 1)  # Horovod scales in its strategy
    kw: dict[str, Any] = {"hidden": config.hidden, "lr": lr, "loss": config.loss,
                          "focal_gamma": config.focal_gamma, "class_weights": dm.class_weights}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(config.model, n_features=dm.n_features,
                            sequence_length=config.features.sequence_length, **kw)
        trainer = pl.Trainer(
            accelerator="gpu" if cuda else "cpu",
            devices=devices if strategy == "ddp" else 1,
            strategy=_strategy_object(strategy, cuda),
            max_epochs=config.epochs,
            enable_progress_bar=config.progress_bar,
            enable_model_summary=False,
            enable_checkpointing=False,
            logger=False,
            use_distributed_sampler=False,
            num_sanity_val_steps=0,
            limit_val_batches=1.0 if len(dm.val_split.y) else 0,
        )
        t0 = time.perf_counter()
        trainer.fit(model, datamodule=dm)
        fit_seconds = time.perf_counter() - t0
        if len(dm.test_split.y):
            trainer.test(model, datamodule=dm, verbose=False)
    rank = trainer.global_rank
    world = trainer.world_size
    model.normalizer = dm.normalizer
    model.feature_config = config.features
    n_train = len(dm.train_split.y)
    model.training_info = {
        "config": config.to_dict(), "strategy": strategy, "world_size": world,
        "train_keys": [list(k) for k in dm.train_keys],
        "val_keys": [list(k) for k in dm.val_keys],
        "test_keys": [list(k) for k in dm.test_keys],
        "class_counts": dm.class_counts, "class_weights": dm.class_weights,
        "train_sequences": n_train,
    }
    metrics = {
        "val": model.last_metrics.get("val"), "test": model.last_metrics.get("test"),
        "world_size": world, "strategy": strategy, "fit_seconds": fit_seconds,
        "train_sequences": n_train, "epochs": config.epochs,
        "throughput": config.epochs * n_train / fit_seconds if fit_seconds > 0 else float("nan"),
        "progress_bar": trainer.progress_bar_callback is not None,
    }
    sampler = getattr(trainer.train_dataloader, "sampler", None)
    sampler = getattr(sampler, "sampler", sampler)  # unwrap the batch sampler
    drawn = sorted(int(i) for i in iter(sampler)) if sampler is not None else []
    report = {"rank": rank, "world_size": world, "n_train": n_train, "indices": drawn,
              "param_sha256": _param_digest(model)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"rank{rank}.json").write_text(json.dumps(report))
        if rank == 0:
            save_model(model, out_dir / "model")
            (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
            best = metrics["test"] or metrics["val"]
            if best is not None:
                which = "test" if metrics["test"] else "val"
                fig = confusion_matrix_figure(np.asarray(best["confusion_matrix"]),
                                              f"{config.model} ({which})")
                fig.savefig(out_dir / "confusion.png")
    return TrainResult(model=model, metrics=metrics, out_dir=out_dir, ranks=[report])


def _horovodrun() -> str:
    cand = Path(sys.executable).with_name("horovodrun")
    if cand.exists():
        return str(cand)
    found = shutil.which("horovodrun")
    if found is None:
        raise TrainingError("horovodrun not found", expected="horovod installed (make horovod)")
    return found


def _launch(config: TrainConfig, data, strategy: str, devices: int, out_dir: Path | None,
            val_keys, test_keys, timeout: float | None) -> TrainResult:
    from icefb.ml.data import open_tracks
    from icefb.ml.io import load_model

    work = Path(tempfile.mkdtemp(prefix="icefb-train-"))
    try:
        out = Path(out_dir) if out_dir is not None else work / "out"
        items = data if isinstance(data, (list, tuple)) else [data]
        paths = []
        for i, item in enumerate(items):
            if isinstance(item, (str, os.PathLike)):
                paths.append(os.fspath(item))
                continue
            for j, t in enumerate(open_tracks(item)):
                p = work / f"track{i}_{j}.zarr"
                t.to_zarr(p, mode="w", consolidated=False)
                paths.append(str(p))
        cfg = work / "config.json"
        cfg.write_text(json.dumps({"config": config.to_dict(),
                                   "val_keys": val_keys, "test_keys": test_keys}))
        per_proc = 1 if strategy == "horovod" else devices
        cmd = [sys.executable, "-m", "icefb.ml.train", "--config", str(cfg), "--strategy",
               strategy, "--devices", str(per_proc), "--out", str(out), "--data", *paths]
        if strategy == "horovod":
            cmd = [_horovodrun(), "-np", str(devices), "-H", f"localhost:{devices}", "--gloo",
                   *cmd]
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        log = work / "train.log"
        with open(log, "w") as fh:
            try:
                proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                      timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise TrainingError("training run timed out", got=f"{timeout} s",
                                    expected=" ".join(cmd[:4])) from exc
        text = log.read_text()
        if out_dir is not None:
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, out / "train.log")
        if proc.returncode != 0:
            raise TrainingError(f"training command failed (rc {proc.returncode}):\n"
                                + text[-4000:], got=" ".join(cmd))
        metrics = json.loads((out / "metrics.json").read_text())
        metrics["log"] = text
        ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(devices)]
        model = load_model(out / "model")
        return TrainResult(model=model, metrics=metrics,
                           out_dir=Path(out_dir) if out_dir is not None else None, ranks=ranks)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def train(
    config: TrainConfig | None = None,
    data=None,
    *,
    strategy: Literal["auto", "ddp", "horovod"] = "auto",
    devices: int = 1,
    out_dir: str | os.PathLike[str] | None = None,
    val_keys: Sequence[tuple[str, str]] | None = None,
    test_keys: Sequence[tuple[str, str]] | None = None,
    timeout: float | None = None,
) -> TrainResult:
    """Train a surface-type classifier.

    Parameters
    ----------
    config : TrainConfig, optional
        Model and training parameters.
    data : Dataset, DataTree, Zarr path or sequence of them
        Labeled segment tracks (``s2_label``), split by (granule, beam).
    strategy : {"auto", "ddp", "horovod"}
        Single process, PyTorch DDP (gloo on CPU, nccl on GPU) or Horovod.
    devices : int
        Processes (one per GPU, or CPU processes). ``devices > 1`` launches
        ``python -m icefb.ml.train`` (DDP) or ``horovodrun -np N`` (Horovod) and waits.
    out_dir : path-like, optional
        Where to write the model, ``metrics.json``, ``confusion.png`` and rank reports.
    val_keys, test_keys : sequence of (granule, beam), optional
        Explicit held-out tracks.
    timeout : float, optional
        Seconds before a launched run is abandoned.

    Returns
    -------
    TrainResult

    Raises
    ------
    ConfigError
        Unknown strategy or bad device count.
    TrainingError
        A launched run failed (the message holds the end of its log).
    """
    config = config or TrainConfig()
    if strategy not in STRATEGIES:
        raise ConfigError("unknown strategy", got=strategy, expected='{"auto", "ddp", "horovod"}')
    if int(devices) < 1:
        raise ConfigError("devices must be >= 1", got=devices)
    if data is None:
        raise ConfigError("no training data", expected="segment Datasets or Zarr paths")
    vk = None if val_keys is None else [list(k) for k in val_keys]
    tk = None if test_keys is None else [list(k) for k in test_keys]
    if int(devices) > 1 and strategy == "auto":
        strategy = "ddp"
    if int(devices) > 1:
        return _launch(config, data, strategy, int(devices),
                       None if out_dir is None else Path(out_dir), vk, tk, timeout)
    return _fit(config, data, strategy, 1, None if out_dir is None else Path(out_dir), vk, tk)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m icefb.ml.train`` (also behind ``icefb train``)."""
    p = argparse.ArgumentParser(prog="icefb-train", description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True, help="segment Zarr stores")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="JSON with a TrainConfig dict (key 'config')")
    p.add_argument("--model", choices=["lstm", "mlp"])
    p.add_argument("--strategy", choices=list(STRATEGIES), default="auto")
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--no-progress-bar", action="store_true")
    a = p.parse_args(argv)
    blob: dict[str, Any] = {}
    if a.config:
        blob = json.loads(Path(a.config).read_text())
    cfg = blob.get("config", {})
    for key, val in (("model", a.model), ("epochs", a.epochs), ("batch_size", a.batch_size),
                     ("lr", a.lr), ("seed", a.seed)):
        if val is not None:
            cfg[key] = val
    if a.no_progress_bar:
        cfg["progress_bar"] = False
    config = TrainConfig.from_dict(cfg)
    vk = blob.get("val_keys")
    tk = blob.get("test_keys")
    if a.strategy == "horovod" or (a.strategy == "ddp" and a.devices > 1):
        _fit(config, list(a.data), a.strategy, a.devices, Path(a.out),
             None if vk is None else [tuple(k) for k in vk],
             None if tk is None else [tuple(k) for k in tk])
    else:
        train(config, list(a.data), strategy=a.strategy, devices=a.devices, out_dir=a.out,
              val_keys=vk, test_keys=tk)
    return 0


if __name__ == "__main__":  # pragma: no cover - command line
    sys.exit(main())
