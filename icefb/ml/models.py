"""LSTM and MLP surface-type classifiers as PyTorch Lightning modules.

Both take a batch of sequences ``(batch, 2*h+1, n_features + 1)`` (normalised features plus the
valid mask, see :func:`icefb.ml.features.make_sequences`) and return logits for the centre
segment. The MLP sees only the centre step (the paper's per-segment baseline); the LSTM reads
the whole sequence in both directions. The loss is class-weighted cross-entropy or focal loss.
Validation/test accumulate a confusion matrix, summed over ranks (DDP or Horovod) at epoch end.

Examples
--------
>>> import torch
>>> m = LSTMClassifier(n_features=4, sequence_length=5)
>>> m(torch.zeros(2, 5, 5)).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from icefb.constants import N_CLASSES
from icefb.errors import ConfigError
from icefb.ml.metrics import classification_metrics

__all__ = ["LSTMClassifier", "MLPClassifier", "focal_loss"]


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-class focal loss ``-w_y (1 - p_y)^gamma log p_y``, averaged over the batch.

    ``gamma = 0`` gives (weighted) cross-entropy up to the normalisation by the weights.

    Examples
    --------
    >>> logits = torch.tensor([[2.0, 0.0, 0.0]]); y = torch.tensor([0])
    >>> bool(focal_loss(logits, y, 2.0) < F.cross_entropy(logits, y))
    True
    """
    logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
    p = logp.exp()
    loss = -((1.0 - p) ** gamma) * logp
    if weight is not None:
        loss = loss * weight[target]
    return loss.mean()


class _SegmentClassifier(pl.LightningModule):
    """Shared training / evaluation logic of the classifiers."""

    kind: str = "base"

    def __init__(
        self,
        n_features: int,
        sequence_length: int,
        *,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        loss: Literal["weighted_ce", "focal"] = "weighted_ce",
        focal_gamma: float = 2.0,
        class_weights: list[float] | None = None,
        n_classes: int = N_CLASSES,
    ) -> None:
        super().__init__()
        if loss not in ("weighted_ce", "focal"):
            raise ConfigError("unknown loss", got=loss, expected='{"weighted_ce", "focal"}')
        if sequence_length < 1 or sequence_length % 2 != 1:
            raise ConfigError("sequence_length must be odd and >= 1", got=sequence_length)
        self.save_hyperparameters()
        cw = torch.ones(n_classes) if class_weights is None else torch.tensor(class_weights)
        self.register_buffer("class_weights", cw.float())
        self.centre = sequence_length // 2
        self._cm: dict[str, torch.Tensor] = {}
        #: metrics of the last validation / test epoch (dicts from classification_metrics)
        self.last_metrics: dict[str, dict[str, Any]] = {}

    # -- training -------------------------------------------------------------------------
    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "focal":
            return focal_loss(logits, y, self.hparams.focal_gamma, self.class_weights)
        return F.cross_entropy(logits, y, weight=self.class_weights)

    def training_step(self, batch, batch_idx):  # noqa: D102
        x, y = batch[0], batch[1]
        logits = self(x)
        loss = self._loss(logits, y)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=x.shape[0])
        return loss

    def configure_optimizers(self):  # noqa: D102
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr,
                                weight_decay=self.hparams.weight_decay)

    # -- evaluation -----------------------------------------------------------------------
    def _eval_step(self, batch, stage: str) -> None:
        x, y = batch[0], batch[1]
        logits = self(x)
        loss = self._loss(logits, y)
        self.log(f"{stage}_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True,
                 batch_size=x.shape[0])
        n = self.hparams.n_classes
        pred = logits.argmax(dim=-1)
        cm = torch.bincount(y * n + pred, minlength=n * n).reshape(n, n)
        if stage not in self._cm:
            self._cm[stage] = torch.zeros(n, n, dtype=torch.float64, device=x.device)
        self._cm[stage] += cm.to(torch.float64)

    def _eval_epoch_end(self, stage: str) -> None:
        n = self.hparams.n_classes
        cm = self._cm.pop(stage, torch.zeros(n, n, dtype=torch.float64, device=self.device))
        if self.trainer is not None and self.trainer.world_size > 1:
            cm = self.trainer.strategy.reduce(cm, reduce_op="sum")
        m = classification_metrics(cm.detach().cpu().numpy())
        self.last_metrics[stage] = m
        if not np.isnan(m["accuracy"]):
            self.log(f"{stage}_acc", m["accuracy"], prog_bar=True)
            self.log(f"{stage}_macro_f1", float(np.nan_to_num(m["macro_f1"])), prog_bar=True)

    def validation_step(self, batch, batch_idx):  # noqa: D102
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self):  # noqa: D102
        self._eval_epoch_end("val")

    def test_step(self, batch, batch_idx):  # noqa: D102
        self._eval_step(batch, "test")

    def on_test_epoch_end(self):  # noqa: D102
        self._eval_epoch_end("test")

    def predict_step(self, batch, batch_idx):  # noqa: D102
        return torch.softmax(self(batch[0]), dim=-1)

    def architecture(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this module."""
        return {"kind": self.kind, **{k: v for k, v in dict(self.hparams).items()}}


class LSTMClassifier(_SegmentClassifier):
    """Bidirectional LSTM over the segment and its neighbours; predicts the centre segment.

    Parameters
    ----------
    n_features : int
        Features per step, without the valid mask (the input has ``n_features + 1``).
    sequence_length : int
        Steps per sequence (odd, ``2 * half_width + 1``).
    hidden : int
        LSTM hidden units per direction.
    layers : int
        Stacked LSTM layers.
    dropout : float
        Dropout before the output layer.
    **kwargs
        ``lr``, ``weight_decay``, ``loss`` (``{"weighted_ce", "focal"}``), ``focal_gamma``,
        ``class_weights``, ``n_classes``.
    """

    kind = "lstm"

    def __init__(self, n_features: int, sequence_length: int, hidden: int = 32,
                 layers: int = 1, dropout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(n_features, sequence_length, **kwargs)
        self.save_hyperparameters()
        self.lstm = nn.LSTM(n_features + 1, hidden, num_layers=layers, batch_first=True,
                            bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, 32), nn.ReLU(),
                                  nn.Linear(32, self.hparams.n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out, _ = self.lstm(x)
        return self.head(out[:, self.centre])


class MLPClassifier(_SegmentClassifier):
    """Multi-layer perceptron on the centre segment's features (``context=False``, the paper's
    baseline) or on the flattened sequence (``context=True``).

    Parameters
    ----------
    n_features, sequence_length : int
        As for :class:`LSTMClassifier`.
    hidden : int
        Units of each of the two hidden layers.
    context : bool
        Use the whole sequence instead of the centre step only.
    dropout : float
        Dropout after each hidden layer.
    **kwargs
        As for :class:`LSTMClassifier`.
    """

    kind = "mlp"

    def __init__(self, n_features: int, sequence_length: int, hidden: int = 64,
                 context: bool = False, dropout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(n_features, sequence_length, **kwargs)
        self.save_hyperparameters()
        n_in = (n_features + 1) * (sequence_length if context else 1)
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, self.hparams.n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x.flatten(1) if self.hparams.context else x[:, self.centre]
        return self.net(x)


MODEL_CLASSES: dict[str, type[_SegmentClassifier]] = {"lstm": LSTMClassifier,
                                                      "mlp": MLPClassifier}


def build_model(kind: str, **kwargs: Any) -> _SegmentClassifier:
    """Instantiate a classifier by kind ``{"lstm", "mlp"}``."""
    if kind not in MODEL_CLASSES:
        raise ConfigError("unknown model kind", got=kind, expected='{"lstm", "mlp"}')
    return MODEL_CLASSES[kind](**kwargs)
