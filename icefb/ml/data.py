"""``SegmentDataModule``: labeled segment Datasets -> train/val/test sequence loaders.

The split is by track (granule, beam), never by random segments: a segment's neighbours are in
its sequence, so a random split would leak them across the split. Normalisation statistics are
fitted on the training tracks only; class weights come from the training labels.

Examples
--------
>>> from icefb.ml._toyworld import toy_segments
>>> tracks = [toy_segments(s, 600, granule=f"g{s}") for s in range(3)]
>>> dm = SegmentDataModule(tracks, val_fraction=0.34)
>>> dm.setup()
>>> len(dm.train_keys), len(dm.val_keys)
(2, 1)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytorch_lightning as pl
import torch
import xarray as xr
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from icefb.constants import N_CLASSES
from icefb.errors import ConfigError, MissingVariableError
from icefb.ml.features import FeatureConfig, Normalizer, compute_features, make_sequences

__all__ = ["SegmentDataModule", "TrackKey", "open_tracks", "track_key"]

TrackKey = tuple[str, str]
LABEL_VARIABLE = "s2_label"


def track_key(ds: xr.Dataset, i: int = 0) -> TrackKey:
    """(granule, beam) of a segment Dataset, from its attributes (or its position ``i``)."""
    g = ds.attrs.get("granule_id", ds.attrs.get("granule", ds.attrs.get("source_path", f"#{i}")))
    return (str(g), str(ds.attrs.get("beam", f"beam{i}")))


def open_tracks(data) -> list[xr.Dataset]:
    """Normalise ``data`` to a list of per-beam segment Datasets.

    ``data`` may be a Dataset, a path to a Zarr store (one group per beam, or a flat store of
    one beam), an ``xarray.DataTree``, or a sequence of any of these.
    """
    if isinstance(data, xr.Dataset):
        return [data]
    if isinstance(data, xr.DataTree):
        out = []
        for node in data.subtree:
            if "segment" in node.dims and node.has_data:
                ds = node.to_dataset()
                ds.attrs.setdefault("beam", node.name)
                out.append(ds)
        return out
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.exists(path):
            raise MissingVariableError("no such segment store", path=path,
                                       expected="a Zarr store of segment Datasets")
        tree = xr.open_datatree(path, engine="zarr")
        tracks = open_tracks(tree)
        for t in tracks:
            t.attrs.setdefault("source_path", path)
        return tracks
    if isinstance(data, Sequence):
        return [t for d in data for t in open_tracks(d)]
    raise ConfigError("cannot read training data", got=type(data).__name__,
                      expected="Dataset, DataTree, Zarr path or a list of them")


def _strided(n: int, rank: int, world: int) -> list[int]:
    return list(range(rank, n, world))


class _StridedSampler(Sampler[int]):
    """Deterministic, non-padding split for evaluation: rank r gets items r, r+W, ..."""

    def __init__(self, n: int, rank: int, world: int) -> None:
        self.idx = _strided(n, rank, world)

    def __iter__(self):
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


class _EpochBatchSampler(BatchSampler):
    """Batches of indices whose ``set_epoch`` reaches the wrapped (distributed) sampler."""

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


@dataclass
class _Split:
    x: torch.Tensor
    y: torch.Tensor
    where: torch.Tensor  # (track index, segment position)


class SegmentDataModule(pl.LightningDataModule):
    """Lightning data module over labeled segment Datasets or Zarr stores.

    Parameters
    ----------
    data : Dataset, DataTree, path or sequence of them
        Per-beam segment Datasets carrying ``s2_label`` (int8, -1 unlabeled) and the
        variables of :data:`icefb.ml.features.REQUIRED_VARIABLES`.
    feature_config : FeatureConfig, optional
        Features and sequence half-width.
    val_fraction, test_fraction : float
        Fractions of the (granule, beam) tracks held out, chosen by ``seed``.
    val_keys, test_keys : sequence of (granule, beam), optional
        Explicit held-out tracks (override the fractions).
    batch_size : int
        Sequences per batch and process.
    class_weighting : {"balanced", "sqrt", "none"}
        Loss weights from the training label frequencies: ``n / (K n_c)``, its square root,
        or ones.
    max_train_sequences : int, optional
        Subsample the training sequences to at most this many (seeded).
    seed : int
        Seed of the split, subsampling and shuffling.
    num_workers : int
        DataLoader workers.
    """

    def __init__(
        self,
        data,
        feature_config: FeatureConfig | None = None,
        *,
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        val_keys: Sequence[TrackKey] | None = None,
        test_keys: Sequence[TrackKey] | None = None,
        batch_size: int = 256,
        class_weighting: Literal["balanced", "sqrt", "none"] = "balanced",
        max_train_sequences: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if class_weighting not in ("balanced", "sqrt", "none"):
            raise ConfigError("unknown class_weighting", got=class_weighting,
                              expected='{"balanced", "sqrt", "none"}')
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1):
            raise ConfigError("split fractions must be in [0, 1)",
                              got=(val_fraction, test_fraction))
        self.data = data
        self.feature_config = feature_config or FeatureConfig()
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self._val_keys = None if val_keys is None else [tuple(k) for k in val_keys]
        self._test_keys = None if test_keys is None else [tuple(k) for k in test_keys]
        self.batch_size = int(batch_size)
        self.class_weighting = class_weighting
        self.max_train_sequences = max_train_sequences
        self.seed = seed
        self.num_workers = num_workers
        self._ready = False

    # -- split ------------------------------------------------------------------------------
    def _split_keys(self, keys: list[TrackKey]) -> tuple[list, list, list]:
        if self._val_keys is not None or self._test_keys is not None:
            val = [k for k in keys if k in (self._val_keys or [])]
            test = [k for k in keys if k in (self._test_keys or [])]
            train = [k for k in keys if k not in val and k not in test]
        else:
            order = sorted(keys)
            rng = np.random.default_rng(self.seed)
            order = [order[i] for i in rng.permutation(len(order))]
            n_val = int(round(self.val_fraction * len(order)))
            n_test = int(round(self.test_fraction * len(order)))
            if self.val_fraction > 0:
                n_val = max(n_val, 1)
            if self.test_fraction > 0:
                n_test = max(n_test, 1)
            val, test = order[:n_val], order[n_val : n_val + n_test]
            train = order[n_val + n_test :]
        if not train:
            raise ConfigError("no (granule, beam) track left for training",
                              got=f"{len(keys)} tracks", expected="more tracks than held out")
        return train, val, test

    def setup(self, stage: str | None = None) -> None:
        """Read the tracks, compute features, fit the normaliser, build the sequences."""
        if self._ready:
            return
        tracks = open_tracks(self.data)
        keys = [track_key(t, i) for i, t in enumerate(tracks)]
        if len(set(keys)) != len(keys):
            keys = [(g, f"{b}#{i}") for i, (g, b) in enumerate(keys)]
        for t, k in zip(tracks, keys, strict=True):
            if LABEL_VARIABLE not in t:
                raise MissingVariableError("training track has no labels", path=k[0],
                                           beam=k[1], variable=LABEL_VARIABLE)
        self.keys = keys
        self.train_keys, self.val_keys, self.test_keys = self._split_keys(keys)
        feats = {k: compute_features(t, self.feature_config)
                 for k, t in zip(keys, tracks, strict=True)}
        labels = {k: np.asarray(t[LABEL_VARIABLE].values, np.int64)
                  for k, t in zip(keys, tracks, strict=True)}
        x_tr = np.concatenate([feats[k]["features"].values for k in self.train_keys])
        v_tr = np.concatenate([feats[k]["valid"].values for k in self.train_keys])
        self.normalizer = Normalizer.fit(x_tr, v_tr, self.feature_config.feature_names)
        self.n_features = len(self.feature_config.feature_names)

        def build(split_keys: list[TrackKey], limit: int | None) -> _Split:
            xs, ys, ws = [], [], []
            for k in split_keys:
                z = self.normalizer.apply(feats[k]["features"].values, feats[k]["valid"].values)
                lab = labels[k]
                idx = np.flatnonzero((lab >= 0) & (lab < N_CLASSES))
                xs.append(make_sequences(z, self.feature_config.half_width, idx))
                ys.append(lab[idx])
                ws.append(np.stack([np.full(idx.size, keys.index(k)), idx], axis=1))
            c = self.n_features + 1
            x = np.concatenate(xs) if xs else np.zeros((0, self.feature_config.sequence_length, c),
                                                       np.float32)
            y = np.concatenate(ys) if ys else np.zeros(0, np.int64)
            w = np.concatenate(ws) if ws else np.zeros((0, 2), np.int64)
            if limit is not None and y.size > limit:
                sel = np.sort(np.random.default_rng(self.seed).choice(y.size, limit, replace=False))
                x, y, w = x[sel], y[sel], w[sel]
            return _Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y),
                          torch.from_numpy(w))

        self.train_split = build(self.train_keys, self.max_train_sequences)
        self.val_split = build(self.val_keys, None)
        self.test_split = build(self.test_keys, None)
        counts = np.bincount(self.train_split.y.numpy(), minlength=N_CLASSES).astype(float)
        if counts.sum() == 0:
            raise ConfigError("no labeled segment in the training tracks",
                              expected="s2_label >= 0 somewhere")
        if self.class_weighting == "none":
            w = np.ones(N_CLASSES)
        else:
            w = counts.sum() / (N_CLASSES * np.maximum(counts, 1.0))
            if self.class_weighting == "sqrt":
                w = np.sqrt(w)
        self.class_weights = [float(v) for v in w]
        self.class_counts = [int(c) for c in counts]
        self._ready = True

    # -- loaders ----------------------------------------------------------------------------
    def _world(self) -> tuple[int, int]:
        t = getattr(self, "trainer", None)
        if t is None:
            return 0, 1
        return int(t.global_rank), int(t.world_size)

    def _loader(self, ds: TensorDataset, sampler: Sampler[int], batch_size: int) -> DataLoader:
        # whole batches are sliced from the tensors at once (no per-item collation)
        return DataLoader(ds, sampler=_EpochBatchSampler(sampler, batch_size, drop_last=False),
                          batch_size=None, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:  # noqa: D102
        ds = TensorDataset(self.train_split.x, self.train_split.y)
        rank, world = self._world()
        if world > 1:
            sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True,
                                         seed=self.seed, drop_last=True)
        else:
            sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(self.seed))
        return self._loader(ds, sampler, self.batch_size)

    def _eval_loader(self, split: _Split) -> DataLoader:
        ds = TensorDataset(split.x, split.y)
        rank, world = self._world()
        return self._loader(ds, _StridedSampler(len(ds), rank, world), max(self.batch_size, 1024))

    def val_dataloader(self) -> DataLoader:  # noqa: D102
        return self._eval_loader(self.val_split)

    def test_dataloader(self) -> DataLoader:  # noqa: D102
        return self._eval_loader(self.test_split)
