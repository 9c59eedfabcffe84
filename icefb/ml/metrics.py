"""Classification metrics from a confusion matrix, and its figure.

Examples
--------
>>> import numpy as np
>>> m = classification_metrics(np.array([[8, 2, 0], [1, 4, 0], [0, 0, 5]]))
>>> round(m["accuracy"], 3), [round(r, 2) for r in m["recall"]]
(0.85, [0.8, 0.8, 1.0])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from icefb.constants import CLASSES
from icefb.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["CLASS_NAMES", "boundary_mask", "classification_metrics", "confusion_matrix",
           "confusion_matrix_figure"]

CLASS_NAMES: tuple[str, ...] = tuple(c.name.lower() for c in CLASSES)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = len(CLASSES)):
    """Confusion matrix ``cm[true, predicted]`` (int64), ignoring ``y_true < 0`` (unlabeled).

    Examples
    --------
    >>> confusion_matrix(np.array([0, 1, -1, 2]), np.array([0, 2, 1, 2])).tolist()
    [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    """
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ConfigError("y_true and y_pred differ in length", got=(t.size, p.size))
    keep = (t >= 0) & (t < n_classes) & (p >= 0) & (p < n_classes)
    return np.bincount(t[keep] * n_classes + p[keep], minlength=n_classes**2).reshape(
        n_classes, n_classes
    )


def boundary_mask(surface_type: np.ndarray, width: int = 1) -> np.ndarray:
    """Segments within ``width`` segments of a change of (known) surface type.

    ``surface_type`` is one beam's along-track sequence of types (contiguous 2 m segments,
    ``< 0`` unknown). A segment is marked when it has a known type and a segment at most
    ``width`` positions away has another known type. At 2 m spacing such segments share the
    ~11 m ATLAS footprint with another surface, so their photons mix both (used to split the
    held-out scores: :func:`icefb.ml.pretrained.evaluate_heldout`).

    Parameters
    ----------
    surface_type : numpy.ndarray
        Integer types along the track.
    width : int
        Reach in segments (>= 0; 0 marks nothing).

    Returns
    -------
    numpy.ndarray
        Boolean mask, same length.

    Examples
    --------
    >>> boundary_mask(np.array([0, 0, 0, 2, 2, -1, 2, 0]), 1).astype(int).tolist()
    [0, 0, 1, 1, 0, 0, 1, 1]
    """
    t = np.asarray(surface_type).astype(np.int64).ravel()
    if isinstance(width, bool) or int(width) != width or width < 0:
        raise ConfigError("boundary width must be a non-negative integer", got=width)
    out = np.zeros(t.size, bool)
    for d in range(1, min(int(width), max(t.size - 1, 0)) + 1):
        diff = (t[d:] != t[:-d]) & (t[d:] >= 0) & (t[:-d] >= 0)
        out[d:] |= diff
        out[:-d] |= diff
    return out


def classification_metrics(cm: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision / recall / F1 from ``cm[true, pred]``.

    Classes absent from both truth and prediction get NaN precision/recall/F1 and are left out
    of the macro average.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1`` (floats), ``precision``, ``recall``, ``f1``, ``support``
        (lists per class), ``confusion_matrix`` (nested list), ``classes`` (names).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.where(support > 0, 0.0, np.nan))
        recall = np.where(support > 0, tp / support, np.nan)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall),
                      np.where(np.isfinite(recall) | np.isfinite(precision), 0.0, np.nan))
    total = cm.sum()
    present = (support > 0) | (predicted > 0)
    return {
        "accuracy": float(tp.sum() / total) if total > 0 else float("nan"),
        "macro_f1": float(np.nanmean(f1[present])) if present.any() else float("nan"),
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
        "confusion_matrix": cm.astype(np.int64).tolist(),
        "classes": list(CLASS_NAMES[: cm.shape[0]]),
    }


def confusion_matrix_figure(cm: np.ndarray, title: str = "confusion matrix") -> Figure:
    """Row-normalised confusion-matrix heat map with counts (a matplotlib ``Figure``).

    Uses ``matplotlib.figure.Figure`` directly (no pyplot state, safe in workers); save with
    ``fig.savefig(path)``.
    """
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = cm / cm.sum(axis=1, keepdims=True)
    fig = Figure(figsize=(4.2, 3.6), dpi=100)
    ax = fig.add_subplot()
    im = ax.imshow(np.nan_to_num(norm), vmin=0, vmax=1, cmap="Blues")
    names = CLASS_NAMES[: cm.shape[0]]
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if np.nan_to_num(norm[i, j]) > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, label="recall fraction")
    fig.tight_layout()
    return fig
