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

__all__ = ["TYPE_EDGE_WIDTH", "classify", "context_halo", "predict", "predict_proba",
           "surface_type_edge"]

#: Reach (segments) of ``surface_type_edge``: 2 segments, 4 m, about where the ~11 m footprint
#: (sigma 2.75 m) still sends a seventh or more of a bin's photons to the neighbouring surface
#: (36 % one segment from the change, 14 % two segments away, 4 % three).
TYPE_EDGE_WIDTH = 2

_EDGE_ATTRS = {
    "long_name": "another predicted surface type within 2 segments (4 m)",
    "flag_values": np.array([0, 1], np.int8),
    "flag_meanings": "interior near_type_change",
    "comment": "the ~11 m footprint mixes photons of both surfaces near a change of type, "
               "where most classification errors are (icefb docs/classification.md, "
               "'Type-change flag'); segments without a predicted type (no signal photons) "
               "are 0",
    "units": "1",
}


def surface_type_edge(surface_type: np.ndarray, width: int = TYPE_EDGE_WIDTH) -> np.ndarray:
    """Flag segments with another surface type at most ``width`` segments away (int8 0/1).

    Unlabeled segments (``< 0``, e.g. empty bins) carry no type: they are never flagged and
    never flag a neighbour. Near a change of type the ~11 m footprint mixes both surfaces'
    photons into a 2 m bin, and that is where most classification errors are.

    Parameters
    ----------
    surface_type : numpy.ndarray
        One beam's along-track ``SurfaceType`` codes on the regular segment grid.
    width : int
        Reach in segments (>= 0).

    Returns
    -------
    numpy.ndarray
        int8, 1 where flagged.

    Examples
    --------
    >>> surface_type_edge(np.array([0, 0, 0, 0, 2, 2, -1, 2, 0, 0, 0, 0]), 2).tolist()
    [0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0]
    """
    from icefb.ml.metrics import boundary_mask

    return boundary_mask(np.asarray(surface_type), width).astype(np.int8)


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


def _lstm_centre_weights(model, dev):
    """Per-direction weights of a 1-layer bidirectional LSTM, gates reordered to i, f, o, g.

    Returns ``(W, b, U_fwd, U_bwd)``: ``W`` (c, 8H) and ``b`` (8H,) map an input row to the
    gate pre-activations of both directions; ``U_*`` (H, 4H) are the recurrent matrices.
    """
    import torch

    lstm = model.lstm
    hd = lstm.hidden_size
    perm = torch.cat([torch.arange(0, 2 * hd), torch.arange(3 * hd, 4 * hd),
                      torch.arange(2 * hd, 3 * hd)])
    w, b, u = [], [], []
    for sfx in ("", "_reverse"):
        w.append(getattr(lstm, f"weight_ih_l0{sfx}")[perm])
        b.append((getattr(lstm, f"bias_ih_l0{sfx}") + getattr(lstm, f"bias_hh_l0{sfx}"))[perm])
        u.append(getattr(lstm, f"weight_hh_l0{sfx}")[perm].t().contiguous().to(dev))
    return torch.cat(w).t().contiguous().to(dev), torch.cat(b).to(dev), u[0], u[1]


#: Run the shipped LSTM's CPU inference in the numba kernel (``icefb.ml._lstm_kernel``);
#: False: the torch implementation of the same centre-only recurrence (used on GPU).
USE_NUMBA_LSTM = True


def _numba_head(model):
    """(w1, b1, w2, b2) float32 numpy of a Dropout-Linear-ReLU-Linear head, else None."""
    from torch import nn

    mods = [m for m in model.head if not isinstance(m, nn.Dropout)]
    if (len(mods) != 3 or not isinstance(mods[0], nn.Linear) or not isinstance(mods[1], nn.ReLU)
            or not isinstance(mods[2], nn.Linear) or mods[0].bias is None
            or mods[2].bias is None):
        return None
    return tuple(np.ascontiguousarray(a.detach().cpu().numpy(), dtype=np.float32)
                 for a in (mods[0].weight.t(), mods[0].bias, mods[2].weight.t(), mods[2].bias))


def _fast_lstm_ok(model) -> bool:
    lstm = getattr(model, "lstm", None)
    return (getattr(model, "kind", "") == "lstm" and lstm is not None and lstm.num_layers == 1
            and lstm.bidirectional and lstm.batch_first and lstm.bias
            and getattr(lstm, "proj_size", 0) == 0)


def _lstm_centre_proba(padded, n, h, model, weights, batch_size, out) -> None:
    """Centre-step output of the bidirectional LSTM for every segment, without sequences.

    The forward direction's output at the centre depends only on steps ``0..h`` of the
    window and the backward one's only on steps ``h..2h``, so each direction runs ``h + 1``
    steps (not ``2h + 1``); the input projection of a segment is shared by the ``2h + 1``
    windows it appears in and computed once; the windows of a block are contiguous slices of
    that projection (no sequence tensor is built). Equal to ``model(sequences)`` up to float
    rounding.
    """
    import torch

    w, b, u_f, u_b = weights
    hd = u_f.shape[0]
    head = _numba_head(model) if padded.device.type == "cpu" and USE_NUMBA_LSTM else None
    if head is not None:
        from icefb.ml._lstm_kernel import LANE_HIDDEN, lstm_centre_head, lstm_centre_head_lanes

        uf, ub = u_f.numpy(), u_b.numpy()
        if hd == LANE_HIDDEN:  # the lane kernel, compiled for this hidden size
            kernel, uf, ub = lstm_centre_head_lanes, uf.T.copy(), ub.T.copy()
        else:
            kernel = lstm_centre_head
        # one projection buffer for all batches: a fresh 33 MB array per batch page-faults
        buf = torch.empty((min(n, batch_size) + 2 * h, w.shape[1]), dtype=w.dtype)
        for s in range(0, n, batch_size):
            e = min(n, s + batch_size)
            proj = torch.addmm(b, padded[s : e + 2 * h], w, out=buf[: e - s + 2 * h])
            kernel(proj.numpy(), uf, ub, *head, h, out[s:e])
        return
    for s in range(0, n, batch_size):
        e = min(n, s + batch_size)
        m = e - s
        proj = torch.addmm(b, padded[s : e + 2 * h], w)  # (m + 2h, 8H)
        hs = []
        for d, u in ((0, u_f), (1, u_b)):
            hcur = c = None
            for t in range(h + 1):
                k = t if d == 0 else 2 * h - t
                g = proj[k : k + m, 4 * hd * d : 4 * hd * (d + 1)]
                if hcur is not None:
                    g = torch.addmm(g, hcur, u)
                ifo = torch.sigmoid(g[:, : 3 * hd])
                gg = torch.tanh(g[:, 3 * hd :])
                if c is None:
                    c = ifo[:, :hd] * gg
                else:
                    c = torch.addcmul(ifo[:, hd : 2 * hd] * c, ifo[:, :hd], gg)
                hcur = ifo[:, 2 * hd :] * torch.tanh(c)
            hs.append(hcur)
        logits = model.head(torch.cat(hs, dim=1))
        out[s:e] = torch.softmax(logits, dim=-1).float().cpu().numpy()


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
        Segments per forward pass.
    device : str, optional
        Torch device; CUDA when available, else CPU.

    Returns
    -------
    numpy.ndarray
        float32 (n_segment, n_classes), rows sum to 1.

    Notes
    -----
    A one-layer bidirectional LSTM runs each direction only up to the centre step and shares
    each segment's input projection between the windows it is in (see
    ``_lstm_centre_proba``); the per-segment MLP sees the centre rows only. Neither builds
    the (segment, step, feature) sequence tensor. Other models take the generic path over
    sequence views. All run under ``torch.inference_mode``.
    """
    import torch

    if batch_size < 1:
        raise ConfigError("batch_size must be >= 1", got=batch_size)
    model = _as_model(model)
    fc = model.feature_config
    feats = compute_features(segments, fc)
    h = fc.half_width
    n = feats.sizes["segment"]
    c = len(model.normalizer.mean) + 1
    # normalised features written straight into the rows of the zero-padded sequence buffer
    padded_np = np.zeros((n + 2 * h, c), np.float32)
    z = model.normalizer.apply_into(feats["features"].values, feats["valid"].values,
                                    padded_np[h : h + n])
    dev = _device(device)
    out = np.empty((n, len(CLASSES)), np.float32)
    if n == 0:
        return out
    was_training = model.training
    model.eval()
    model.to(dev)
    try:
        with torch.inference_mode():
            if getattr(model, "kind", "") == "mlp" and not model.hparams.get("context", False):
                zt = torch.from_numpy(z).to(dev)
                for s in range(0, n, batch_size):
                    e = min(n, s + batch_size)
                    prob = torch.softmax(model.net(zt[s:e]), dim=-1)
                    out[s:e] = prob.float().cpu().numpy()
                return out
            padded = torch.from_numpy(padded_np).to(dev)
            if _fast_lstm_ok(model):
                _lstm_centre_proba(padded, n, h, model, _lstm_centre_weights(model, dev),
                                   batch_size, out)
                return out
            for s in range(0, n, batch_size):
                e = min(n, s + batch_size)
                # (e-s, c, L) view of the padded rows -> (e-s, L, c)
                seq = padded[s : e + 2 * h].unfold(0, 2 * h + 1, 1).transpose(1, 2)
                prob = torch.softmax(model(seq.contiguous()), dim=-1)
                out[s:e] = prob.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def context_halo(model: Any, window: float = 2.0) -> int:
    """Segments on each side a block needs so that its core is classified as in the whole beam.

    The features look at most ``max(reference windows) / 2`` along track and the sequence
    ``half_width`` segments further; this returns the longest reference window (a safe bound)
    in segments plus the sequence length.
    """
    fc = _as_model(model).feature_config
    reach = max(fc.long_ref_window, fc.ref_window, fc.rough_window)
    return int(np.ceil(reach / window)) + int(fc.sequence_length)


def _is_lazy(segments: xr.Dataset) -> bool:
    return any(type(v.data).__module__.startswith("dask") for v in segments.data_vars.values())


class _ShippedModel:
    """A classifier pickled once on the client, unpickled once per worker process.

    dask would otherwise walk the module's attributes when it builds and ships the task graph
    (an LSTM keeps weak references to its parameters, which cannot be serialized).
    """

    _loaded: dict[str, Any] = {}

    def __init__(self, model: Any, digest: str) -> None:
        import pickle

        self.digest = digest
        self.payload = pickle.dumps(model, protocol=5)

    def get(self) -> Any:
        import pickle

        model = self._loaded.get(self.digest)
        if model is None:
            model = pickle.loads(self.payload)  # noqa: S301 - our own bytes, made in predict
            type(self)._loaded = {self.digest: model}  # one model per process at a time
        return model


def _predict_block(block: xr.Dataset, shipped: _ShippedModel, core: tuple[int, int],
                   batch_size: int, device: str | None) -> tuple[np.ndarray, np.ndarray]:
    out = predict(block, shipped.get(), batch_size=batch_size, device=device)
    a, b = core
    return out["surface_type"].values[a:b], out["surface_prob"].values[a:b]


def _predict_dask(segments: xr.Dataset, model: Any, *, batch_size: int,
                  device: str | None) -> xr.Dataset:
    """:func:`predict` of dask-backed segments, chunk by chunk with halos (lazy result)."""
    import dask
    import dask.array as da

    from icefb.ml.io import weights_digest

    n = int(segments.sizes.get("segment", 0))
    segments = segments.unify_chunks()
    chunks = segments.chunks.get("segment", (n,)) if n else ()
    halo = context_halo(model, float(segments.attrs.get("window", 2.0)))
    digest = getattr(model, "checksum", "") or weights_digest(model)
    held = dask.delayed(_ShippedModel(model, digest), name=f"icefb-classifier-{digest[:16]}")
    ncls = len(CLASSES)
    types, probs = [], []
    a = 0
    for size in chunks:
        b = a + size
        lo, hi = max(0, a - halo), min(n, b + halo)
        part = dask.delayed(_predict_block, nout=2, pure=True)(
            segments.isel(segment=slice(lo, hi)), held, (a - lo, b - lo), batch_size, device
        )
        types.append(da.from_delayed(part[0], shape=(size,), dtype=np.int8))
        probs.append(da.from_delayed(part[1], shape=(size, ncls), dtype=np.float32))
        a = b
    # the attributes (flag values, long names) of a tiny in-memory run of the same model
    proto = predict(segments.isel(segment=slice(0, min(n, 8))).load(), model,
                    batch_size=batch_size, device=device)
    out = segments.copy()
    st = da.concatenate(types) if types else da.zeros((0,), dtype=np.int8)
    pr = da.concatenate(probs) if probs else da.zeros((0, ncls), dtype=np.float32)
    out["surface_type"] = xr.DataArray(st, dims=("segment",),
                                       attrs=proto["surface_type"].attrs)
    out["surface_prob"] = xr.DataArray(pr, dims=("segment", "class"),
                                       attrs=proto["surface_prob"].attrs)
    # the flag needs the types TYPE_EDGE_WIDTH segments into the neighbouring chunks
    if n > TYPE_EDGE_WIDTH:
        edge = st.map_overlap(surface_type_edge, depth=TYPE_EDGE_WIDTH, boundary="none",
                              dtype=np.int8, meta=np.empty((0,), np.int8))
    else:  # shorter than the overlap: one block
        edge = st.rechunk(-1).map_blocks(surface_type_edge, dtype=np.int8,
                                         meta=np.empty((0,), np.int8))
    # map_overlap merges chunks shorter than its depth (a beam's 1-segment tail): give the flag
    # the chunks of every other variable, or the Dataset has none and to_zarr refuses it
    edge = edge.rechunk(st.chunks)
    out["surface_type_edge"] = xr.DataArray(edge, dims=("segment",), attrs=dict(_EDGE_ATTRS))
    out = out.assign_coords({"class": proto["class"]})
    out.attrs["classifier_sha256"] = digest
    out.attrs["classifier_kind"] = proto.attrs.get("classifier_kind", "")
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
        most probable class; empty bins are classified from their neighbours),
        ``surface_prob`` (segment, class) float32, with CF flag attributes, and
        ``surface_type_edge`` (segment) int8, 1 within :data:`TYPE_EDGE_WIDTH` segments of
        another predicted type (:func:`surface_type_edge`: where the footprint mixes two
        surfaces and most errors are); attribute ``classifier_sha256`` records the model
        weights' checksum.

    Raises
    ------
    MissingVariableError
        A variable the features need is missing.

    Notes
    -----
    Dask-backed ``segments`` (e.g. from ``xarray.open_zarr``) are classified chunk by chunk:
    each chunk's task reads the chunk plus :func:`context_halo` segments on each side (what the
    features and the sequence window reach), classifies that and keeps its core, so the lazy
    result equals the in-memory one; ``surface_type``, ``surface_prob`` and
    ``surface_type_edge`` come back lazy, chunked like ``segments``, and run on the active
    dask scheduler (a ``distributed.Client`` included).
    """
    model = _as_model(model)
    if _is_lazy(segments):
        return _predict_dask(segments, model, batch_size=batch_size, device=device)
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
    out["surface_type_edge"] = xr.DataArray(surface_type_edge(st), dims=("segment",),
                                            attrs=dict(_EDGE_ATTRS))
    out = out.assign_coords({"class": ("class", codes, {
        "flag_values": SURFACE_TYPE_FLAG_VALUES,
        "flag_meanings": SURFACE_TYPE_FLAG_MEANINGS,
    })})
    digest = getattr(model, "checksum", "")
    if not digest and hasattr(model, "state_dict"):
        from icefb.ml.io import weights_digest

        digest = weights_digest(model)
    out.attrs["classifier_sha256"] = digest
    out.attrs["classifier_kind"] = getattr(model, "kind", "")
    return out


#: Alias used by the top-level API (``icefb.classify``).
classify = predict
