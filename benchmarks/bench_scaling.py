"""asv benchmarks: the paper's scaling tables, dask vs Spark, 1 and 2 workers.

Two jobs (auto-labeling, freeboard), each in the paper's two phases:

* ``time_load``: data loading, every unit's photons read from HDF5 into worker memory
  (:func:`icefb.backends.jobs.load_job`);
* ``time_mapreduce``: 2 m resampling + labeling (or SSH + freeboard) of photons already loaded
  into the workers' memory (:func:`icefb.backends.jobs.persist_units`: dask futures, a cached
  Spark RDD), as in the paper; the segments come back to the driver.

The cluster / Spark session is started in ``setup`` (not timed) and warmed with one full run;
``teardown`` closes it. Speed-up = time with 1 worker / time with 2 workers.

The synthetic granule (all six beams) and its Sentinel-2 scene are written once into a cache
folder (``ICEFB_BENCH_DIR``, default ``$TMPDIR/icefb-bench-scaling``); ``ICEFB_BENCH_KM`` sets the
track length (default 16 km; the asv-once test uses a shorter one).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from icefb.backends import get_backend
from icefb.backends.jobs import (
    JobConfig,
    autolabel_job,
    freeboard_job,
    load_job,
    persist_units,
    plan_units,
)
from icefb.labeling import LabelConfig
from icefb.seasurface import SSHConfig

#: SSH windows (and the lead floor, +-5 km by default) shortened so that a 16 km track holds
#: several blocks with real halos (6 km: ``halo_length(SSH)``)
SSH = SSHConfig(window=2000.0, stride=1000.0, max_gap=2000.0, floor_radius=1000.0)
BLOCK_M = 4000.0
LABEL = LabelConfig()
CONFIG = JobConfig(label=LABEL, ssh=SSH, surface="truth")


def bench_world(length_km: float | None = None) -> tuple[str, str]:
    """Granule + scene paths, written once (deterministic) into the cache folder."""
    from icefb.synth import make_granule, make_scene

    km = float(length_km or os.environ.get("ICEFB_BENCH_KM", 16.0))
    root = Path(os.environ.get("ICEFB_BENCH_DIR",
                               Path(tempfile.gettempdir()) / "icefb-bench-scaling"))
    d = root / f"{km:g}km"
    g, s = d / "ATL03_bench.h5", d / "scene.tif"
    if not (d / "done").exists():
        tmp = Path(tempfile.mkdtemp(dir=root if root.exists() else None, prefix="tmp-"))
        make_granule(tmp / g.name, seed=5, length_km=km)
        make_scene(tmp / s.name, tmp / g.name, time_offset_s=-1800.0)
        (tmp / "done").write_text("ok")
        root.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, d)
        except OSError:  # another process won the race
            pass
    return str(g), str(s)


class _Scaling:
    params = (["dask", "spark"], [1, 2])
    param_names = ["backend", "n_workers"]
    timeout = 600
    number = 1
    repeat = 3
    stage = "autolabel"

    def _units(self, granule: str, scene: str) -> list:
        raise NotImplementedError

    def _mapreduce(self, units: list) -> list:
        raise NotImplementedError

    def setup(self, backend, n_workers):
        granule, scene = bench_world()
        self.units = self._units(granule, scene)
        self.be = get_backend(backend, n_workers=n_workers, progress=False)
        # warm every worker (imports, numba cache, Spark python workers) with one full run
        self.loaded = persist_units(self.units, self.be, CONFIG, stage=self.stage)
        self._mapreduce(self.loaded)
        self.n_photons = sum(load_job(self.units, self.be, CONFIG, stage=self.stage))

    def teardown(self, backend, n_workers):
        loaded = getattr(self, "loaded", None)
        if loaded is not None:
            loaded.release()
        be = getattr(self, "be", None)
        if be is not None:
            be.close()

    def time_load(self, backend, n_workers):
        load_job(self.units, self.be, CONFIG, stage=self.stage)

    def time_mapreduce(self, backend, n_workers):
        self._mapreduce(self.loaded)

    def track_photons(self, backend, n_workers):
        """Photons read per run (with halos for freeboard)."""
        return self.n_photons

    track_photons.unit = "photons"


class AutolabelScaling(_Scaling):
    """Auto-labeling: (granule, beam, scene) units, all six beams."""

    stage = "autolabel"

    def _units(self, granule, scene):
        return plan_units(granule, scenes=scene, config=CONFIG)

    def _mapreduce(self, units):
        return autolabel_job(units, self.be, CONFIG)


class FreeboardScaling(_Scaling):
    """SSH + freeboard: (granule, beam, 4 km block) units with 6 km halos, all six beams."""

    stage = "freeboard"

    def _units(self, granule, scene):
        return plan_units(granule, block_length_m=BLOCK_M, config=CONFIG)

    def _mapreduce(self, units):
        return freeboard_job(units, self.be, CONFIG)


_HELD: list = []  # the loaded units of a MapReduceCeiling worker process


def _ceiling_init(stage: str) -> None:
    from icefb.backends.jobs import load_unit

    granule, scene = bench_world()
    units = (plan_units(granule, scenes=scene, config=CONFIG) if stage == "autolabel"
             else plan_units(granule, block_length_m=BLOCK_M, config=CONFIG))
    _HELD[:] = [(stage, load_unit(u, CONFIG, stage=stage)) for u in units]
    for i in range(len(_HELD)):  # warm (imports, numba) with one full pass
        _ceiling_unit(i)


def _ceiling_unit(i: int):
    from icefb.backends.jobs import autolabel_unit, freeboard_unit

    stage, lu = _HELD[i]
    return (autolabel_unit if stage == "autolabel" else freeboard_unit)(lu, CONFIG)


class MapReduceCeiling:
    """The map-reduce phase of ``AutolabelScaling`` / ``FreeboardScaling`` in plain processes.

    Every process holds every unit's photons (loaded in ``setup``, not timed, like
    ``persist_units``); ``time_mapreduce`` hands the units out one at a time (a process takes
    the next when it is free, as dask's workers do) and the segments come back to this process.
    No scheduler, no engine: the 1-over-2-process ratio is what this machine's cores give the
    same per-unit work, the ceiling of the engines' 1-over-2-worker ratio.
    """

    params = (["autolabel", "freeboard"], [1, 2])
    param_names = ["stage", "n_processes"]
    timeout = 600
    number = 1
    repeat = 3

    def setup(self, stage, n_processes):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        bench_world()  # written once, before the processes read it
        self.pool = ProcessPoolExecutor(n_processes, mp_context=mp.get_context("spawn"),
                                        initializer=_ceiling_init, initargs=(stage,))
        granule, scene = bench_world()
        self.n_units = len(plan_units(granule, scenes=scene, config=CONFIG)
                           if stage == "autolabel"
                           else plan_units(granule, block_length_m=BLOCK_M, config=CONFIG))
        # every process has loaded and warmed (its initializer) once each has run a task
        pids: set[int] = set()
        while len(pids) < n_processes:
            pids |= set(self.pool.map(_pid_after, [0.2] * (2 * n_processes), chunksize=1))

    def teardown(self, stage, n_processes):
        self.pool.shutdown()

    def time_mapreduce(self, stage, n_processes):
        list(self.pool.map(_ceiling_unit, range(self.n_units), chunksize=1))


def _pid_after(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()
