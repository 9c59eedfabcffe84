"""The per-beam unit: blocked classification equals the unblocked one, in memory and on dask."""

from __future__ import annotations

import numpy as np
import pytest

from icefb.io import open_atl03_beam
from icefb.ml import load_model, predict
from icefb.ml.inference import context_halo
from icefb.pipeline.units import classify_blocked
from icefb.segments import resample
from icefb.synth import make_granule


@pytest.fixture(scope="module")
def beam(tmp_path_factory):
    path = tmp_path_factory.mktemp("units") / "g.h5"
    granule = make_granule(path, seed=4, length_km=30, beams=("gt2l",))
    seg = resample(open_atl03_beam(granule, "gt2l")).load()
    model = load_model("lstm-synthetic")
    return seg, model, predict(seg, model)


def _same(got, whole):
    np.testing.assert_array_equal(got["surface_type"].values, whole["surface_type"].values)
    np.testing.assert_allclose(got["surface_prob"].values, whole["surface_prob"].values,
                               rtol=0, atol=1e-5)
    a, b = got["surface_type"].attrs, whole["surface_type"].attrs
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # the type-change flag reaches across block / chunk edges
    np.testing.assert_array_equal(got["surface_type_edge"].values,
                                  whole["surface_type_edge"].values)
    assert got["surface_type_edge"].dtype == np.int8
    assert got.attrs["classifier_sha256"] == whole.attrs["classifier_sha256"]


def test_blocked_classification_equals_unblocked(beam):
    seg, model, whole = beam
    halo = context_halo(model, 2.0)
    # interior blocks that see neither beam end (the features reach ~5 km each way)
    assert seg.sizes["segment"] > 2 * halo + 777
    assert 0 < whole["surface_type_edge"].values.sum() < whole.sizes["segment"]
    for block in (777, 4000):
        _same(classify_blocked(seg, model, block_segments=block), whole)


def test_predict_on_dask_chunks_equals_in_memory(beam):
    seg, model, whole = beam
    lazy = seg.chunk({"segment": 3000})
    out = predict(lazy, model)
    # lazy in, lazy out, chunked like the input
    assert out["surface_type"].chunks == lazy["h_cor_mean"].chunks
    assert out["surface_prob"].dims == ("segment", "class")
    _same(out.compute(), whole)
    # a model never saved carries the digest its file would get
    assert len(out.attrs["classifier_sha256"]) == 64


@pytest.mark.parametrize("n", [1, 2, 3, 3001])
def test_lazy_predict_short_beams_and_one_segment_tails(beam, n, tmp_path):
    # a beam whose last chunk holds one segment (or a beam of one or two segments): the
    # type-change flag keeps the chunks of every other variable, so the Dataset has chunks
    # and writes to Zarr
    seg, model, _ = beam
    part = seg.isel(segment=slice(20_000, 20_000 + n))
    lazy = predict(part.chunk({"segment": 1500}), model)
    assert lazy["surface_type_edge"].chunks == lazy["surface_type"].chunks
    assert lazy.chunks["segment"] == lazy["surface_type"].chunks[0]
    lazy[["surface_type", "surface_type_edge"]].to_zarr(tmp_path / "p.zarr")
    _same(lazy.compute(), predict(part, model))


def test_predict_on_dask_chunks_on_a_distributed_cluster(beam):
    """The model reaches worker processes (pickled once, not walked by dask) and the result is
    the in-memory one; a serialization failure would leave the future pending, hence the
    timeout."""
    from distributed import Client, LocalCluster

    seg, model, whole = beam
    lazy = predict(seg.isel(segment=slice(0, 12_000)).chunk({"segment": 5000}), model)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        got = client.compute(lazy).result(timeout=300)
    ref = predict(seg.isel(segment=slice(0, 12_000)), model)
    _same(got, ref)
    # the first 12 000 segments see the rest of the beam in the whole run: compare the
    # classification of those with the whole beam's far from the cut only
    np.testing.assert_array_equal(got["surface_type"].values[:6000],
                                  whole["surface_type"].values[:6000])
