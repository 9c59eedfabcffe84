"""The shipped ``lstm-synthetic`` model: training data from the synthetic world, and retraining.

``synthetic_tracks`` makes synthetic granules (:func:`icefb.synth.make_granule`), reads them
(:func:`icefb.io.atl03.open_atl03`), resamples them to 2 m (:func:`icefb.segments.resample`)
and attaches the true surface type of each bin as ``s2_label`` (the labels a perfect
Sentinel-2 labeling would give). ``retrain_default_model`` retrains the shipped model from
fixed seeds; the same seeds and icefb version give the same weights on the same platform::

    python -m icefb.ml.pretrained icefb/data/lstm-synthetic
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["DEFAULT_SEEDS", "retrain_default_model", "synthetic_tracks"]

#: Seeds of the granules the shipped model is trained on (tests hold out other seeds).
DEFAULT_SEEDS: tuple[int, ...] = (101, 102, 103, 104, 105, 106)


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


def retrain_default_model(out: str | os.PathLike[str], *, seed: int = 0, epochs: int = 12,
                          seeds: Sequence[int] = DEFAULT_SEEDS, length_km: float = 10.0):
    """Retrain the shipped ``lstm-synthetic`` model reproducibly and save it to ``out``.

    Parameters
    ----------
    out : path-like
        Destination (``OUT.safetensors`` + ``OUT.json``).
    seed : int
        Training seed (split, initial weights, shuffling).
    epochs : int
        Training epochs.
    seeds : sequence of int
        Granule seeds of the training world.
    length_km : float
        Granule length (km).

    Returns
    -------
    TrainResult
        The trained model and its validation metrics.
    """
    from icefb.ml.features import FeatureConfig
    from icefb.ml.io import save_model
    from icefb.ml.train import TrainConfig, train

    tracks = synthetic_tracks(seeds, length_km=length_km)
    cfg = TrainConfig(model="lstm", hidden=24, epochs=epochs, seed=seed, val_fraction=0.2,
                      class_weighting="sqrt", features=FeatureConfig(half_width=4))
    result = train(cfg, tracks)
    save_model(result.model, out)
    return result


if __name__ == "__main__":  # pragma: no cover - command line
    dest = sys.argv[1] if len(sys.argv) > 1 else "icefb/data/lstm-synthetic"
    r = retrain_default_model(dest)
    sys.stdout.write(f"{r.metrics['val']}\n")
