"""The per-beam unit: blocked classification equals the unblocked one."""

from __future__ import annotations

import numpy as np

from icefb.io import open_atl03_beam
from icefb.ml import load_model, predict
from icefb.pipeline.units import classify_blocked
from icefb.segments import resample
from icefb.synth import make_granule


def test_blocked_classification_equals_unblocked(tmp_path):
    granule = make_granule(tmp_path / "g.h5", seed=4, length_km=10, beams=("gt2l",))
    seg = resample(open_atl03_beam(granule, "gt2l")).load()
    model = load_model("lstm-synthetic")
    whole = predict(seg, model)
    # blocks far shorter than the features' 2 km reach: interior blocks see neither beam end
    assert seg.sizes["segment"] > 4 * 1009 + 777
    for block in (250, 777):
        blocked = classify_blocked(seg, model, block_segments=block)
        np.testing.assert_array_equal(blocked["surface_type"].values,
                                      whole["surface_type"].values)
        np.testing.assert_allclose(blocked["surface_prob"].values,
                                   whole["surface_prob"].values, rtol=0, atol=1e-5)
        assert blocked["surface_type"].attrs == whole["surface_type"].attrs
        assert blocked.attrs["classifier_sha256"] == whole.attrs["classifier_sha256"]
