"""The shipped ``lstm-synthetic`` model: training data from the synthetic world, and retraining.

``synthetic_tracks`` makes synthetic granules (:func:`icefb.synth.make_granule`), reads them
(:func:`icefb.io.atl03.open_atl03`), resamples them to 2 m (:func:`icefb.segments.resample`)
and attaches the true surface type of each bin as ``s2_label`` (the labels a perfect
Sentinel-2 labeling would give). ``retrain_default_model`` retrains the shipped model from
fixed seeds; the same seeds and icefb version give the same weights on the same platform.
``evaluate_heldout`` measures a model against the truth of granules whose seeds were never
used in training (the figures in docs/classification.md)::

    python -m icefb.ml.pretrained icefb/data/lstm-synthetic      # retrain the shipped model
    python -m icefb.ml.pretrained --evaluate                     # held-out LSTM and MLP table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from icefb.errors import ConfigError

__all__ = [
    "DEFAULT_BEAMS",
    "DEFAULT_SEEDS",
    "HELDOUT_SEEDS",
    "default_train_config",
    "evaluate_heldout",
    "retrain_default_model",
    "synthetic_tracks",
]

#: Seeds of the granules the shipped model is trained on (tests hold out other seeds).
DEFAULT_SEEDS: tuple[int, ...] = tuple(range(101, 125))

#: Beams of the training granules: all six (strong and weak).
DEFAULT_BEAMS: tuple[str, ...] = ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r")

#: Held-out granules (never used in training) of the evaluation in docs/classification.md
#: (all six beams of each: a few granules hold only a handful of refrozen leads).
HELDOUT_SEEDS: tuple[int, ...] = (901, 902, 903, 904, 905)


def synthetic_tracks(
    seeds: Sequence[int], *, length_km: float = 10.0,
    beams: Sequence[str] = ("gt1l", "gt1r", "gt2l"), workdir: str | os.PathLike[str] | None = None,
) -> list[xr.Dataset]:
    """Segment Datasets of synthetic granules, labeled with the true surface type.

    Parameters
    ----------
    seeds : sequence of int
        One granule per seed.
    length_km : float
        Along-track length of each granule (km).
    beams : sequence of str
        Beams to make and resample.
    workdir : path-like, optional
        Where the granules are written (a temporary folder by default, removed afterwards).

    Returns
    -------
    list of xarray.Dataset
        One per (granule, beam), with ``s2_label`` (int8 truth, -1 where the truth has none)
        and attributes ``granule_id`` and ``beam``.
    """
    from icefb.io.atl03 import open_atl03
    from icefb.segments import resample
    from icefb.synth import make_granule, read_truth

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="icefb-synth-")
        workdir = tmp.name
    out = []
    try:
        for seed in seeds:
            path = make_granule(Path(workdir) / f"synth_{seed}.h5", seed=int(seed),
                                length_km=length_km, beams=tuple(beams))
            tree = open_atl03(path)
            for beam in beams:
                seg = resample(tree[beam].to_dataset()).load()
                _, truth = read_truth(path, beam)
                lab = truth["surface_type"].reindex(segment=seg["segment"], fill_value=-1)
                seg["s2_label"] = lab.astype(np.int8)
                seg["truth_surface_type"] = seg["s2_label"].copy()
                seg.attrs["granule_id"] = f"synth-{seed}"
                seg.attrs["beam"] = beam
                out.append(seg)
            tree.close()
    finally:
        if tmp is not None:
            tmp.cleanup()
    return out


def default_train_config(model: str = "lstm", *, seed: int = 0, epochs: int = 12):
    """The training configuration of the shipped model (``model="mlp"``: its baseline twin).

    Both kinds share the features, sequence window, class weighting, data and split. Every
    training sequence (~650 k), 12 epochs at a learning rate of 2e-3 (since 2026-12-03; the
    model before sampled 240 k sequences for 6 epochs at 4e-3: docs/classification.md).
    """
    from icefb.ml.features import FeatureConfig
    from icefb.ml.train import TrainConfig

    return TrainConfig(
        model=model, hidden=16 if model == "lstm" else 64, epochs=epochs, seed=seed,
        batch_size=512, lr=2e-3, val_fraction=0.1, class_weighting="sqrt",
        max_train_sequences=None, features=FeatureConfig(half_width=4),
        progress_bar=False,
    )


def retrain_default_model(out: str | os.PathLike[str] | None, *, seed: int = 0, epochs: int = 12,
                          seeds: Sequence[int] = DEFAULT_SEEDS, length_km: float = 10.0,
                          beams: Sequence[str] = DEFAULT_BEAMS, model: str = "lstm",
                          tracks: list[xr.Dataset] | None = None):
    """Retrain the shipped ``lstm-synthetic`` model reproducibly and save it to ``out``.

    Parameters
    ----------
    out : path-like or None
        Destination (``OUT.safetensors`` + ``OUT.json``); None: do not save.
    seed : int
        Training seed (split, initial weights, shuffling).
    epochs : int
        Training epochs.
    seeds : sequence of int
        Granule seeds of the training world.
    length_km : float
        Granule length (km).
    beams : sequence of str
        Beams of each training granule.
    model : {"lstm", "mlp"}
        ``"mlp"`` trains the per-segment baseline on the same data (for the comparison).
    tracks : list of xarray.Dataset, optional
        Precomputed :func:`synthetic_tracks` output (skips making the granules).

    Returns
    -------
    TrainResult
        The trained model and its validation metrics.
    """
    from icefb.ml.io import save_model
    from icefb.ml.train import train

    if tracks is None:
        tracks = synthetic_tracks(seeds, length_km=length_km, beams=beams)
    result = train(default_train_config(model, seed=seed, epochs=epochs), tracks)
    if out is not None:
        save_model(result.model, out)
    return result


def evaluate_heldout(models, *, seeds: Sequence[int] = HELDOUT_SEEDS, length_km: float = 10.0,
                     beams: Sequence[str] = DEFAULT_BEAMS,
                     tracks: list[xr.Dataset] | None = None,
                     boundary_width: int = 0, footprint_oracle: bool = False) -> dict[str, dict]:
    """Metrics of classifiers against the truth of held-out synthetic granules.

    Every segment with signal photons and a true surface type counts (empty bins are reported
    unlabeled by :func:`icefb.ml.inference.predict` and are left out); with
    ``boundary_width=k``, except those within ``k`` segments of a change of true type
    (:func:`icefb.ml.metrics.boundary_mask`: the footprint mixes two surfaces there).

    Parameters
    ----------
    models : dict of name -> model (or name / path)
        The classifiers to evaluate.
    seeds : sequence of int
        Granule seeds (never used in training).
    length_km : float
        Granule length (km).
    beams : sequence of str
        Beams of each granule.
    tracks : list of xarray.Dataset, optional
        Precomputed :func:`synthetic_tracks` output.
    boundary_width : int
        Leave out segments within this many segments of a change of true surface type
        (0: score every segment).
    footprint_oracle : bool
        Also score ``"footprint oracle"``: each segment given the type most of its photons
        come from (:func:`icefb.ml.metrics.footprint_oracle`, from the truth itself, no photon
        noise), on the same segments: what the ~11 m footprint allows against a 2 m truth.

    Returns
    -------
    dict
        name -> :func:`icefb.ml.metrics.classification_metrics` dict (with ``confusion_matrix``).
    """
    from icefb.ml.inference import predict
    from icefb.ml.metrics import boundary_mask, classification_metrics, confusion_matrix
    from icefb.ml.metrics import footprint_oracle as oracle

    if tracks is None:
        tracks = synthetic_tracks(seeds, length_km=length_km, beams=beams)
    if not tracks:
        raise ConfigError("no held-out tracks to score", expected="at least one segment Dataset")
    truths = []
    for t in tracks:
        y = t["truth_surface_type"].values
        truths.append(np.where(boundary_mask(y, boundary_width), -1, y))
    out = {}
    for name, model in models.items():
        cm = sum(confusion_matrix(y, predict(t, model)["surface_type"].values)
                 for t, y in zip(tracks, truths, strict=True))
        out[name] = classification_metrics(cm)
    if footprint_oracle:
        window = float(tracks[0].attrs.get("window", 2.0))
        # scored where a classifier is: bins with signal photons (empty ones are unlabeled)
        cm = sum(confusion_matrix(y, np.where(t["n_photons"].values > 0, oracle(
            t["truth_surface_type"].values, window=window), -1))
            for t, y in zip(tracks, truths, strict=True))
        out["footprint oracle"] = classification_metrics(cm)
    return out


def _row(name: str, m: dict) -> str:
    r = " / ".join(f"{v:.3f}" for v in m["recall"])
    p = " / ".join(f"{v:.3f}" for v in m["precision"][1:])
    return f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {r} | {p} |"


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - command line
    """Command line: retrain the shipped model, or print the held-out evaluation table."""
    ap = argparse.ArgumentParser(prog="python -m icefb.ml.pretrained", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="icefb/data/lstm-synthetic")
    ap.add_argument("--evaluate", action="store_true",
                    help="evaluate the shipped LSTM and a freshly trained MLP twin on "
                         "held-out granules instead of retraining")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(HELDOUT_SEEDS))
    ap.add_argument("--beams", nargs="+", default=list(DEFAULT_BEAMS))
    ap.add_argument("--model", default="lstm-synthetic", help="model to evaluate")
    ap.add_argument("--no-mlp", action="store_true", help="do not train the MLP twin")
    ap.add_argument("--boundary-width", type=int, default=1,
                    help="also score without segments this close (in segments) to a change of "
                         "true surface type (0: only all segments)")
    a = ap.parse_args(argv)
    if not a.evaluate:
        t0 = time.perf_counter()
        r = retrain_default_model(a.out)
        sys.stdout.write(f"trained in {time.perf_counter() - t0:.0f} s; "
                         f"validation {json.dumps(r.metrics['val'])}\n")
        return 0
    from icefb.ml.io import load_model

    models = {"LSTM": load_model(a.model)}
    if not a.no_mlp:
        models["MLP"] = retrain_default_model(None, model="mlp").model
    tracks = synthetic_tracks(a.seeds, beams=a.beams)
    sys.stdout.write(f"held-out seeds {a.seeds}, beams {a.beams}\n")
    sys.stdout.write("| model | accuracy | macro-F1 | recall thick / thin / water "
                     "| precision thin / water |\n")
    for width in sorted({0, a.boundary_width}):
        res = evaluate_heldout(models, tracks=tracks, boundary_width=width,
                               footprint_oracle=True)
        for name, m in res.items():
            label = name if width == 0 else f"{name}, > {width} segment(s) from a type change"
            sys.stdout.write(_row(label, m) + "\n")
            sys.stdout.write(f"  confusion (true x predicted): {m['confusion_matrix']}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover - command line
    raise SystemExit(main())
