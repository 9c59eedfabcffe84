"""Batched inference: add ``surface_type`` and ``surface_prob`` to a beam's segments.

Works on one beam (one segment Dataset) at a time, so an orchestrator maps it over
(granule, beam) units; the features need the whole beam (their reference windows reach a few
hundred metres), so map it per beam, not per arbitrary chunk. Runs on CUDA when available.

Examples
--------
>>> from icefb.ml._toyworld import toy_segments
>>> out = predict(toy_segments(1, 300), "lstm-synthetic")
>>> str(out["surface_type"].dtype), out["surface_prob"].shape
('int8', (300, 3))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from icefb.constants import (
    CLASSES,
    SURFACE_TYPE_FLAG_MEANINGS,
    SURFACE_TYPE_FLAG_VALUES,
    SurfaceType,
)
from icefb.errors import ConfigError
from icefb.ml.features import compute_features

__all__ = ["classify", "predict", "predict_proba"]


def _device(device: str | None):
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _as_model(model: Any):
    if isinstance(model, (str, os.PathLike)):
        from icefb.ml.io import load_model

        return load_model(model)
    for attr in ("normalizer", "feature_config"):
        if getattr(model, attr, None) is None:
            raise ConfigError(f"model has no {attr}; load it with icefb.ml.load_model",
                              expected=f"model.{attr}")
    return model


def predict_proba(segments: xr.Dataset, model: Any, *, batch_size: int = 65536,
                  device: str | None = None) -> np.ndarray:
    """Class probabilities (segment, class) float32 for one beam.

    Parameters
    ----------
    segments : xarray.Dataset
        One beam's segments (docs/architecture.md).
    model : classifier, str or path-like
        A loaded model, a pretrained name (``"lstm-synthetic"``) or a model path.
    batch_size : int
        Sequences per forward pass.
    device : str, optional
        Torch device; CUDA when available, else CPU.

    Returns
    -------
    numpy.ndarray
        float32 (n_segment, n_classes), rows sum to 1.
    """
    import torch

    if batch_size < 1:
        raise ConfigError("batch_size must be >= 1", got=batch_size)
    model = _as_model(model)
    fc = model.feature_config
    feats = compute_features(segments, fc)
    z = model.normalizer.apply(feats["features"].values, feats["valid"].values)
    n, c = z.shape
    h = fc.half_width
    dev = _device(device)
    padded = torch.zeros((n + 2 * h, c), dtype=torch.float32)
    padded[h : h + n] = torch.from_numpy(z)
    padded = padded.to(dev)
    out = np.empty((n, len(CLASSES)), np.float32)
    was_training = model.training
    model.eval()
    model.to(dev)
    try:
        with torch.inference_mode():
            for s in range(0, n, batch_size):
                e = min(n, s + batch_size)
                # (e-s, c, L) view of the padded rows -> (e-s, L, c)
                seq = padded[s : e + 2 * h].unfold(0, 2 * h + 1, 1).transpose(1, 2)
                prob = torch.softmax(model(seq.contiguous()), dim=-1)
                out[s:e] = prob.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def predict(segments: xr.Dataset, model: Any, *, batch_size: int = 65536,
            device: str | None = None) -> xr.Dataset:
    """Classify every segment of one beam.

    Parameters
    ----------
    segments : xarray.Dataset
        One beam's segments; must hold the variables the model's features need.
    model : classifier, str or path-like
        A loaded model, ``"lstm-synthetic"`` or a model path.
    batch_size : int
        Sequences per forward pass.
    device : str, optional
        Torch device; CUDA when available, else CPU.

    Returns
    -------
    xarray.Dataset
        A copy of ``segments`` with ``surface_type`` (segment) int8 ``SurfaceType`` codes (the
        most probable class; empty bins are classified from their neighbours) and
        ``surface_prob`` (segment, class) float32, with CF flag attributes; attribute
        ``classifier_sha256`` records the model weights' checksum.

    Raises
    ------
    MissingVariableError
        A variable the features need is missing.
    """
    model = _as_model(model)
    prob = predict_proba(segments, model, batch_size=batch_size, device=device)
    codes = np.array([int(c) for c in CLASSES], np.int8)
    st = codes[prob.argmax(axis=1)] if prob.shape[0] else np.zeros(0, np.int8)
    if "n_photons" in segments and prob.shape[0]:
        # no signal photon: no evidence of any surface (the neighbours still saw this bin
        # through their sequences, but the bin itself is reported unlabeled)
        empty = np.asarray(segments["n_photons"].values) <= 0
        st = np.where(empty, np.int8(SurfaceType.UNLABELED), st).astype(np.int8)
        prob = np.where(empty[:, None], np.float32(np.nan), prob).astype(np.float32)
    out = segments.copy()
    out["surface_type"] = xr.DataArray(st, dims=("segment",), attrs={
        "long_name": "predicted surface type",
        "flag_values": SURFACE_TYPE_FLAG_VALUES,
        "flag_meanings": SURFACE_TYPE_FLAG_MEANINGS,
        "units": "1",
    })
    out["surface_prob"] = xr.DataArray(prob, dims=("segment", "class"), attrs={
        "long_name": "predicted surface type probability", "units": "1",
    })
    out = out.assign_coords({"class": ("class", codes, {
        "flag_values": SURFACE_TYPE_FLAG_VALUES,
        "flag_meanings": SURFACE_TYPE_FLAG_MEANINGS,
    })})
    out.attrs["classifier_sha256"] = getattr(model, "checksum", "") or ""
    out.attrs["classifier_kind"] = getattr(model, "kind", "")
    return out


#: Alias used by the top-level API (``icefb.classify``).
classify = predict
