"""Surface-type classification: label-free features, LSTM/MLP models, training, inference.

Heavy modules (torch, Lightning, Horovod) load on first use of a name.

Examples
--------
>>> from icefb import ml
>>> ml.FeatureConfig().sequence_length
5
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "FeatureConfig": "icefb.ml.features",
    "Normalizer": "icefb.ml.features",
    "compute_features": "icefb.ml.features",
    "make_sequences": "icefb.ml.features",
    "SegmentDataModule": "icefb.ml.data",
    "LSTMClassifier": "icefb.ml.models",
    "MLPClassifier": "icefb.ml.models",
    "focal_loss": "icefb.ml.models",
    "HorovodStrategy": "icefb.ml.horovod",
    "TrainConfig": "icefb.ml.train",
    "TrainResult": "icefb.ml.train",
    "TrainingError": "icefb.ml.train",
    "train": "icefb.ml.train",
    "save_model": "icefb.ml.io",
    "load_model": "icefb.ml.io",
    "predict": "icefb.ml.inference",
    "predict_proba": "icefb.ml.inference",
    "classify": "icefb.ml.inference",
    "classification_metrics": "icefb.ml.metrics",
    "confusion_matrix": "icefb.ml.metrics",
    "confusion_matrix_figure": "icefb.ml.metrics",
    "retrain_default_model": "icefb.ml.pretrained",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'icefb.ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
