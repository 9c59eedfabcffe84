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
from scipy.special import ndtr

from icefb.constants import CLASSES
from icefb.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["CLASS_NAMES", "FOOTPRINT_SIGMA_M", "boundary_mask", "classification_metrics",
           "confusion_matrix", "confusion_matrix_figure", "footprint_fractions",
           "footprint_oracle"]

CLASS_NAMES: tuple[str, ...] = tuple(c.name.lower() for c in CLASSES)

#: Along-track Gaussian sigma (m) of where a photon hits the surface around the footprint centre
#: that ATL03 reports (~11 m footprint; the synthetic world's ``footprint_sigma_m``).
FOOTPRINT_SIGMA_M = 2.75


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


def _footprint_weights(window: float, sigma: float) -> np.ndarray:
    """Share of a bin's photons that hit the bin ``j`` positions away, ``j = -r .. r``.

    Reported positions uniform over the bin, hit points Gaussian (``sigma``) around them: the
    box-Gaussian-box overlap, in closed form (``G(t) = t Phi(t) + phi(t)`` integrates ``Phi``).
    """
    r = int(np.ceil(6.0 * sigma / window)) + 1
    j = np.arange(-r, r + 1, dtype=np.float64)

    def g(t: np.ndarray) -> np.ndarray:
        return t * ndtr(t) + np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)

    def box(c: np.ndarray) -> np.ndarray:
        # (1 / window) * integral over the bin of Phi((c - x) / sigma) dx
        return sigma / window * (g((c + window / 2) / sigma) - g((c - window / 2) / sigma))

    w = box(j * window + window / 2) - box(j * window - window / 2)
    return w / w.sum()


def footprint_fractions(surface_type: np.ndarray, *, window: float = 2.0,
                        sigma: float = FOOTPRINT_SIGMA_M) -> np.ndarray:
    """Expected share of each bin's photons coming from each surface type.

    ATL03 reports every photon at its footprint centre, but the photon hit a point of the
    ~11 m footprint (Gaussian, ``sigma`` along track). For a known along-track sequence of 2 m
    types this gives, per bin, the fraction of its photons expected from each type: what the
    footprint lets any classifier see, before photon noise. Unknown types (``< 0``) take no
    share (the known shares are renormalised; a bin with no known type near it gets NaN).

    Parameters
    ----------
    surface_type : numpy.ndarray
        One beam's contiguous along-track types (``SurfaceType`` codes, ``< 0`` unknown).
    window : float
        Bin length (m).
    sigma : float
        Along-track Gaussian sigma of the hit point around the reported position (m).

    Returns
    -------
    numpy.ndarray
        ``(n_classes, n)`` float64, columns summing to 1.

    Examples
    --------
    >>> f = footprint_fractions(np.array([0] * 8 + [2] + [0] * 8))
    >>> round(float(f[2, 8]), 2)  # a lone 2 m lead: most of its bin's photons hit the ice
    0.28
    """
    t = np.asarray(surface_type).astype(np.int64).ravel()
    if not (np.isfinite(window) and window > 0 and np.isfinite(sigma) and sigma > 0):
        raise ConfigError("window and sigma must be positive", got=(window, sigma))
    n_classes = len(CLASSES)
    out = np.zeros((n_classes, t.size))
    if t.size == 0:
        return out
    w = _footprint_weights(float(window), float(sigma))
    r = w.size // 2
    for c in range(n_classes):  # w is symmetric: the convolution is the weighted sum
        out[c] = np.convolve((t == c).astype(np.float64), w)[r: r + t.size]
    total = out.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 1e-12, out / total, np.nan)


def footprint_oracle(surface_type: np.ndarray, *, window: float = 2.0,
                     sigma: float = FOOTPRINT_SIGMA_M) -> np.ndarray:
    """The type most of a bin's photons come from (:func:`footprint_fractions`).

    A noise-free reference for classifier scores against a 2 m truth: a bin whose photons come
    mostly from the neighbouring surface (a lead narrower than the footprint, the edge of a
    lead) is assigned that surface. ``-1`` where the bin's own type is unknown.

    Examples
    --------
    >>> footprint_oracle(np.array([0] * 8 + [2] + [0] * 8))[8]
    np.int8(0)
    """
    t = np.asarray(surface_type).astype(np.int64).ravel()
    f = footprint_fractions(t, window=window, sigma=sigma)
    out = np.where(np.isfinite(f).all(axis=0), np.argmax(np.nan_to_num(f, nan=-1.0), axis=0), -1)
    return np.where(t >= 0, out, -1).astype(np.int8)


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
