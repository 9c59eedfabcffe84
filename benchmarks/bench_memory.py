"""asv ``peakmem`` benchmarks: peak memory of one beam does not grow with granule length.

A synthetic single-beam granule of 1x and 4x the base length is resampled to 2 m segments
(:func:`icefb.resample` on the lazily read beam) and, in ``peakmem_process_beam``, run through
the whole per-beam unit (read, resample, classify, sea surface, freeboard) as a pipeline worker
does. ``tests/reliability/test_memory.py`` measures the same in fresh subprocesses and asserts the
4x/1x ratio of peak RSS stays within 20 %.
"""

from __future__ import annotations

import os
import tempfile

from icefb.synth import make_granule

BASE_KM = 4.0
BEAM = "gt1l"


def granule(factor: int, root: str | None = None) -> str:
    """A one-beam synthetic granule of ``factor * BASE_KM`` km (cached in a temp folder)."""
    root = root or os.path.join(tempfile.gettempdir(), "icefb-bench-memory")
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, f"ATL03_mem_{factor}x.h5")
    if not os.path.exists(path):
        make_granule(path, seed=5, length_km=factor * BASE_KM, beams=(BEAM,))
    return path


def resample_beam(path: str) -> int:
    """Read and resample one beam the way a pipeline unit does; returns the segment count."""
    import dask

    from icefb.io import open_atl03_beam
    from icefb.segments import resample

    with dask.config.set(scheduler="synchronous"):
        seg = resample(open_atl03_beam(path, BEAM)).load()
    return int(seg.sizes["segment"])


def process_beam(path: str) -> int:
    """The whole per-beam unit without a scene; returns the segment count."""
    from icefb.backends import WorkUnit
    from icefb.pipeline import RunConfig
    from icefb.pipeline.units import process_beam as _process

    seg, _ = _process(WorkUnit(path, BEAM), RunConfig(beams=(BEAM,)))
    return int(seg.sizes["segment"])


class PeakMemorySuite:
    """Peak RSS of one beam, 1x vs 4x along-track length."""

    params = [1, 4]
    param_names = ["length_factor"]
    timeout = 180

    def setup(self, factor):
        self.path = granule(factor)
        resample_beam(granule(1))  # warm numba and the imports outside the measurement

    def peakmem_resample(self, factor):
        resample_beam(self.path)

    def peakmem_process_beam(self, factor):
        process_beam(self.path)


#: Length of the "full granule" of :class:`FullGranuleSuite` (km). 3200 km is a full 461 s
#: ATL03 granule (about 25 M photons over six beams in the synthetic world); the default is
#: short so that the suite's quick pass stays cheap. ``ICEFB_BENCH_FULL_KM=3200`` for issue #4.
FULL_KM = float(os.environ.get("ICEFB_BENCH_FULL_KM", 20))


def full_granule(km: float = FULL_KM, root: str | None = None) -> str:
    """A six-beam synthetic granule of ``km`` km (cached in a temp folder; ~5 min at 3200 km)."""
    root = root or os.path.join(tempfile.gettempdir(), "icefb-bench-memory")
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, f"ATL03_full_{km:g}km.h5")
    if not os.path.exists(path):
        make_granule(path, seed=11, length_km=km)
    return path


def resample_granule(path: str) -> int:
    """Read all six beams lazily and resample them in this process; returns the segment count."""
    import dask

    from icefb.io import open_atl03
    from icefb.segments import resample

    with dask.config.set(scheduler="synchronous"):
        tree = resample(open_atl03(path))
    return sum(int(n.ds.sizes.get("segment", 0)) for n in tree.subtree if "segment" in n.ds.dims)


class FullGranuleSuite:
    """Peak RSS to resample every beam of one granule (issue #4 target: < 3 GB at 3200 km)."""

    timeout = 1800

    def setup(self):
        self.path = full_granule()
        resample_beam(granule(1))  # warm numba and the imports outside the measurement

    def peakmem_resample_granule(self):
        resample_granule(self.path)
