"""asv benchmark of the whole pipeline: ``icefb.run`` end to end, dask vs Spark, 1 and 2 workers.

One run reads two synthetic granules (all six beams each), resamples to 2 m, classifies with
the shipped LSTM, computes the sea surface across beam pairs and the freeboard, and writes the
Zarr product: what a user's ``icefb run`` does, on the engine given. Its units are the beam
pairs of each granule (six per run), so two workers get three each.

The engine is started in ``setup`` (not timed) and warmed with one full run (imports, numba
caches, the model loaded on every worker); each timed run writes a new product (a run into an
existing product would resume and skip every beam). ``ICEFB_BENCH_KM`` sets the track length
(default 16 km), ``ICEFB_BENCH_DIR`` the cache folder of the granules.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from icefb.backends import get_backend
from icefb.pipeline import run

#: granule seeds of the two-granule world
SEEDS = (5, 6)


def pipeline_world(length_km: float | None = None) -> list[str]:
    """Paths of the benchmark's granules, written once (deterministic) into the cache folder."""
    from icefb.synth import make_granule

    km = float(length_km or os.environ.get("ICEFB_BENCH_KM", 16.0))
    root = Path(os.environ.get("ICEFB_BENCH_DIR",
                               Path(tempfile.gettempdir()) / "icefb-bench-scaling"))
    d = root / f"pipeline-{km:g}km"
    paths = [d / f"ATL03_bench_{s}.h5" for s in SEEDS]
    if not (d / "done").exists():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix="tmp-"))
        for s, p in zip(SEEDS, paths, strict=True):
            make_granule(tmp / p.name, seed=s, length_km=km)
        (tmp / "done").write_text("ok")
        try:
            os.replace(tmp, d)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return [str(p) for p in paths]


class EndToEnd:
    """``icefb.run`` of two granules on a started engine (1 or 2 workers)."""

    params = (["dask", "spark"], [1, 2])
    param_names = ["backend", "n_workers"]
    timeout = 900
    number = 1
    repeat = 3

    def setup(self, backend, n_workers):
        self.granules = pipeline_world()
        self.out = Path(tempfile.mkdtemp(prefix="icefb-bench-e2e-"))
        self.k = 0
        self.be = get_backend(backend, n_workers=n_workers, progress=False)
        self.segments = self._run()

    def teardown(self, backend, n_workers):
        be = getattr(self, "be", None)
        if be is not None:
            be.close()
        shutil.rmtree(getattr(self, "out", ""), ignore_errors=True)

    def _run(self) -> int:
        self.k += 1
        res = run(self.granules, self.out / f"run{self.k}.zarr", backend=self.be,
                  progress=False)
        if res.skipped or len(res.beams) != 6 * len(self.granules):
            raise RuntimeError(f"benchmark run processed {len(res.beams)} beams, "
                               f"skipped {res.skipped}")
        return sum(b["segments"] for b in res.beams)

    def time_run(self, backend, n_workers):
        self._run()

    def track_segments(self, backend, n_workers):
        """2 m segments written per run."""
        return self.segments

    track_segments.unit = "segments"
