"""Resampling a >= 20 M photon beam on 1 and 2 dask workers, interleaved (issue #4).

Times, in ABBA rounds with both clusters up (so that the machine's drift hits both sides
alike), three ways of doing the same binning of :func:`bench_resample.lazy_beam`:

- ``eager``: ``icefb.resample(ds)``, the segments gathered into this process (numpy-backed);
- ``lazy``: ``icefb.resample(ds, lazy=True).persist()``, the segments finished and kept on the
  workers;
- ``processes``: the block work alone in 1 or 2 plain processes (``ProcessCeiling``), what this
  machine's cores give the work without any engine.

With ``--granule PATH`` the input is instead every beam of an ATL03 HDF5 file read lazily with
``icefb.open_atl03(PATH, chunks=--chunk)`` (e.g. the 3200 km granule of
``bench_memory.full_granule(3200)``), and only ``eager`` and ``lazy`` are timed. After every
dask run the scheduler is waited on until it has forgotten the run's tasks (:func:`forget`).

Usage: ``python benchmarks/resample_workers.py [--photons 20000000] [--rounds 5] [--granule P]``.
Prints each round's 1-over-2 ratio per mode and their medians; nothing is written.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_resample import (  # noqa: E402
    DaskSuite,
    _warm,
    _warm_ceiling,
    ceiling_blocks,
    lazy_beam,
    persist_lazy,
)


def _n_tasks(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


def forget(client, timeout: float = 30.0) -> None:
    """Wait until the scheduler has forgotten every task of the last run, so that the next run
    (same graph, same keys) recomputes everything instead of finding results still held."""
    import gc

    gc.collect()
    end = time.monotonic() + timeout
    while client.run_on_scheduler(_n_tasks) and time.monotonic() < end:
        time.sleep(0.01)
    if client.run_on_scheduler(_n_tasks):
        raise RuntimeError("the scheduler still holds tasks of the last run")


def main() -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import dask
    from distributed import Client, LocalCluster

    from icefb.segments import resample

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photons", type=int, default=20_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=DaskSuite.chunk)
    ap.add_argument("--granule", help="an ATL03 HDF5 file: resample all its beams instead")
    args = ap.parse_args()
    n, chunk = args.photons, args.chunk
    nblocks = -(-n // chunk)

    clients, pools = {}, {}
    for k in (1, 2):
        cluster = LocalCluster(n_workers=k, threads_per_worker=1, processes=True,
                               dashboard_address=":0")  # fmt: skip
        clients[k] = Client(cluster, set_as_default=False)
        clients[k].run(_warm)
        pools[k] = ProcessPoolExecutor(k, mp_context=mp.get_context("spawn"))
        list(pools[k].map(_warm_ceiling, range(k)))
    if args.granule:
        from icefb.io import open_atl03

        ds = open_atl03(args.granule, chunks=chunk)
        n = sum(int(b.ds.sizes.get("photon", 0)) for b in ds.subtree)
        nblocks = sum(len(b.ds.chunks.get("photon", ())) for b in ds.subtree)
    else:
        ds = lazy_beam(n, chunk)

    def once(mode: str, k: int) -> float:
        t = time.perf_counter()
        if mode == "processes":
            shares = [list(range(i, nblocks, k)) for i in range(k)]
            list(pools[k].map(ceiling_blocks, [n] * k, [chunk] * k, shares))
        else:
            with clients[k].as_current(), dask.config.set(scheduler=clients[k].get):
                resample(ds) if mode == "eager" else persist_lazy(ds)
        took = time.perf_counter() - t
        if mode != "processes":
            forget(clients[k])
        return took

    modes = ("eager", "lazy") if args.granule else ("eager", "lazy", "processes")
    for mode in modes:  # warm-up, not counted
        once(mode, 1), once(mode, 2)
    ratios: dict[str, list[float]] = {m: [] for m in modes}
    times: dict[str, dict[int, list[float]]] = {m: {1: [], 2: []} for m in modes}
    for r in range(args.rounds):
        order = (1, 2, 2, 1) if r % 2 == 0 else (2, 1, 1, 2)
        line = [f"round {r}:"]
        for mode in modes:
            t: dict[int, list[float]] = {1: [], 2: []}
            for k in order:
                t[k].append(once(mode, k))
            a, b = statistics.mean(t[1]), statistics.mean(t[2])
            times[mode][1].append(a)
            times[mode][2].append(b)
            ratios[mode].append(a / b)
            line.append(f"{mode} {a:.2f} -> {b:.2f} s {a / b:.2f}x")
        print("  ".join(line), flush=True)
    print(f"\n{n / 1e6:.1f} M photons, {nblocks} blocks, {args.rounds} ABBA rounds (medians):")
    for mode in modes:
        rs = ratios[mode]
        print(f"  {mode:9s} 1 worker {statistics.median(times[mode][1]):.2f} s, 2 workers "
              f"{statistics.median(times[mode][2]):.2f} s, speed-up {statistics.median(rs):.2f}x "
              f"({min(rs):.2f}-{max(rs):.2f})")  # fmt: skip
    for k in (1, 2):
        clients[k].close()
        pools[k].shutdown()


if __name__ == "__main__":
    main()
