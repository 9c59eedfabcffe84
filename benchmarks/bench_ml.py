"""asv benchmarks of surface-type classification: training (1 vs 2 DDP processes), inference."""

from __future__ import annotations

import time

from icefb.ml._toyworld import toy_segments
from icefb.ml.features import compute_features
from icefb.ml.inference import predict_proba
from icefb.ml.io import load_model
from icefb.ml.train import TrainConfig, train


class TrainThroughput:
    """Training sequences/s of the LSTM with 1 process and 2 DDP processes (CPU, gloo).

    The figure is measured inside the run (``Trainer.fit`` wall time), so process start-up and
    data loading are excluded.
    """

    params = [1, 2]
    param_names = ["processes"]
    timeout = 300

    def setup(self, processes):
        self.tracks = [toy_segments(s, 3000, granule=f"b{s}", beam="gt1l") for s in range(3)]
        self.cfg = TrainConfig(model="lstm", epochs=1, progress_bar=False, val_fraction=0.34)

    def track_train_sequences_per_second(self, processes):
        r = train(self.cfg, self.tracks, strategy="ddp" if processes > 1 else "auto",
                  devices=processes)
        return r.metrics["throughput"]

    track_train_sequences_per_second.unit = "sequences/s"


class Inference:
    """Inference with the shipped LSTM on one beam of 2 m segments.

    ``predict_proba`` = features + normalisation + the LSTM (numba kernel on CPU, 2 threads on
    the 2-core machine); ``time_features`` is the feature part alone.
    """

    params = [200_000, 1_000_000]
    param_names = ["segments"]

    def setup(self, segments):
        self.seg = toy_segments(7, segments)
        self.model = load_model("lstm-synthetic")
        predict_proba(toy_segments(8, 2000), self.model)  # warm the numba kernels

    def time_features(self, segments):
        compute_features(self.seg, self.model.feature_config)

    def time_predict(self, segments):
        predict_proba(self.seg, self.model)

    def track_segments_per_second(self, segments):
        t = time.perf_counter()
        predict_proba(self.seg, self.model)
        return segments / (time.perf_counter() - t)

    track_segments_per_second.unit = "segments/s"

    def peakmem_predict(self, segments):
        predict_proba(self.seg, self.model)
