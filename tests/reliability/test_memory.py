"""Bounded memory: peak RSS of one beam's unit does not grow with granule length.

Each measurement runs in a fresh interpreter (``resource.getrusage(RUSAGE_SELF).ru_maxrss``
after warming the imports and the JIT on a tiny granule, so the 1x and 4x runs share the same
baseline) and reports the peak. The 4x granule's peak must be within 20 % of the 1x one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_MEASURE = textwrap.dedent(
    """
    import resource, sys
    sys.path.insert(0, sys.argv[1])
    import bench_memory as bm
    path, warm, what = sys.argv[2], sys.argv[3], sys.argv[4]
    fn = getattr(bm, what)
    fn(warm)
    n = fn(path)
    print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _peak_kib(path: str, warm: str, what: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(BENCH), path, warm, what],
                         capture_output=True, text=True, timeout=400, check=True)
    n, rss = out.stdout.split()[-2:]
    return int(n), int(rss)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["resample_beam", "process_beam"])
def test_peak_memory_does_not_grow_with_length(what: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_memory as bm
    finally:
        sys.path.remove(str(BENCH))
    warm = str(tmp_path / "warm.h5")
    from icefb.synth import make_granule

    make_granule(warm, seed=1, length_km=0.5, beams=(bm.BEAM,))
    n1, rss1 = _peak_kib(bm.granule(1, str(tmp_path)), warm, what)
    n4, rss4 = _peak_kib(bm.granule(4, str(tmp_path)), warm, what)
    assert n4 > 3.5 * n1  # the long granule really has ~4x the segments
    assert rss4 <= 1.2 * rss1, f"peak RSS {rss1 / 1024:.0f} MiB (1x) -> {rss4 / 1024:.0f} MiB (4x)"
