"""Measure the scaling benchmarks by hand, fit a work-span model, draw the figures.

Usage (from the repository root)::

    .venv/bin/python benchmarks/scaling_model.py            # measure + model + figures
    .venv/bin/python benchmarks/scaling_model.py --model    # figures from the saved JSON
    .venv/bin/python benchmarks/scaling_model.py --interleaved 9   # dask 1 vs 2 workers, ABBA

Measurements go to ``docs/figures/scaling_results.json``, figures to ``docs/figures/*.png``.
Not an asv benchmark (no ``time_*`` names): a script the docs cite.

Model (work-span with scheduler overhead). A job of ``n`` units with per-unit costs ``c_i``
(measured serially), a serial driver part ``s`` (planning, submit, gather) and a per-task
scheduler overhead ``o`` (from ``n`` empty tasks) takes on ``P`` workers

    T(P) = s + n * o + LPT(c, P),   LPT = greedy longest-first makespan >= max(sum(c)/P, max c)

and the speed-up is ``T(1) / T(P)``. ``n * o`` is charged serially (one scheduler), which is
pessimistic for Spark, whose executors deserialize in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIG = ROOT / "docs" / "figures"
RESULTS = FIG / "scaling_results.json"

# ---- assumptions for a month of Arctic granules (stated in docs/scaling.md) ----
GRANULES_PER_MONTH = 420  # ~14 orbits/day x 30 days, one Arctic sea-ice ATL03 granule each
PHOTONS_PER_GRANULE = 40e6  # all six beams (strong ~10 M, weak ~2.5 M each) incl. background
BEAMS = 6
FREEBOARD_BLOCK_KM = 100.0  # blocks of 100 km core (+ halos at the paper's 10 km windows)
TRACK_KM = 3200.0  # a full granule's along-track length


def _halo_km() -> float:
    from icefb.seasurface import SSHConfig, halo_length

    # the freeboard units hold one beam (icefb.backends.jobs): no cross-pair radius
    return halo_length(SSHConfig(cross_pairs=False)) / 1000.0


HALO_KM = _halo_km()  # the default SSH config's blocked halo: 70 km (lead floor +-5 km)
WORKERS = [1, 2, 4, 8, 16, 32, 64]
PAPER = {"autolabel": {"load": 9.0, "mapreduce": 16.25},
         "freeboard": {"load": 8.54, "mapreduce": 15.7}}


def _empty(unit, *args):
    return unit


def overhead(backend: str, n_workers: int = 2, n_tasks: int = 200, repeat: int = 3) -> float:
    """Seconds per empty task (best of ``repeat`` runs of ``n_tasks``)."""
    from icefb.backends import get_backend
    from icefb.backends.jobs import _Task

    with get_backend(backend, n_workers=n_workers, progress=False) as be:
        be.map(_Task(_empty), list(range(8)))
        best = np.inf
        for _ in range(repeat):
            t = time.perf_counter()
            be.map(_Task(_empty), list(range(n_tasks)))  # fresh task keys every run
            best = min(best, time.perf_counter() - t)
    return float(best / n_tasks)


def unit_costs(stage: str) -> dict:
    """Per-unit load and map-reduce seconds, run serially in this process."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_scaling as bs

    from icefb.backends.jobs import autolabel_unit, freeboard_unit, load_unit

    g, s = bs.bench_world()
    if stage == "autolabel":
        units = bs.plan_units(g, scenes=s, config=bs.CONFIG)
        proc = autolabel_unit
    else:
        units = bs.plan_units(g, block_length_m=bs.BLOCK_M, config=bs.CONFIG)
        proc = freeboard_unit
    lu0 = load_unit(units[0], bs.CONFIG, stage=stage)
    proc(lu0, bs.CONFIG)  # warm
    load, mr, photons, segments, driver = [], [], [], [], []
    for u in units:
        t = time.perf_counter()
        lu = load_unit(u, bs.CONFIG, stage=stage)
        t1 = time.perf_counter()
        out = proc(lu, bs.CONFIG)
        t2 = time.perf_counter()
        load.append(t1 - t)
        mr.append(t2 - t1)
        # the driver's share of map-reduce: the unit's segments come back (the photons stay
        # on the workers, persist_units)
        t3 = time.perf_counter()
        pickle.loads(pickle.dumps(out, protocol=5))
        driver.append(time.perf_counter() - t3)
        photons.append(int(lu.photons.sizes["photon"]))
        segments.append(int(out.sizes["segment"]))
    return {"load": load, "mapreduce": mr, "photons": photons, "segments": segments,
            "driver": driver}


def measure_jobs(repeat: int = 2) -> dict:
    """Best-of-``repeat`` times of the asv classes for every (backend, workers)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_scaling as bs

    out: dict = {}
    for cls in (bs.AutolabelScaling, bs.FreeboardScaling):
        for backend in ("dask", "spark"):
            for n in (1, 2):
                b = cls()
                b.setup(backend, n)
                try:
                    rec = {"photons": b.n_photons, "units": len(b.units)}
                    for ph in ("load", "mapreduce"):
                        fn = getattr(b, f"time_{ph}")
                        ts = []
                        for _ in range(repeat):
                            t = time.perf_counter()
                            fn(backend, n)
                            ts.append(time.perf_counter() - t)
                        rec[ph] = min(ts)
                finally:
                    b.teardown(backend, n)
                out[f"{cls.stage}/{backend}/{n}"] = rec
                print(cls.stage, backend, n, rec, flush=True)
    return out


def interleaved(rounds: int) -> dict:
    """dask 1 vs 2 workers timed in alternation, for a speed-up that survives machine drift.

    Both clusters stay up; each round times the 1-worker and the 2-worker job back to back,
    in ABBA order (1, 2, then 2, 1), so slow minutes of a shared VM fall on both. Sequential
    best-of-N cells (``measure_jobs``) put minutes between the two; on this VM the same code
    gave 1.44x and 1.89x for labeling map-reduce in two such runs. Spark is left out: one
    process holds one SparkSession, so its 1- and 2-worker sessions cannot alternate.

    Returns
    -------
    dict
        Per ``stage/phase``: the per-round times and speed-ups (``t1 / t2``).
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_scaling as bs

    out: dict = {}
    for cls in (bs.AutolabelScaling, bs.FreeboardScaling):
        b1, b2 = cls(), cls()
        b1.setup("dask", 1)
        b2.setup("dask", 2)
        try:
            for ph in ("load", "mapreduce"):
                t1, t2 = [], []
                for r in range(rounds):
                    for b, acc in ((b1, t1), (b2, t2)) if r % 2 == 0 else ((b2, t2), (b1, t1)):
                        fn = getattr(b, f"time_{ph}")
                        t = time.perf_counter()
                        fn("dask", 1 if b is b1 else 2)
                        acc.append(time.perf_counter() - t)
                sp = np.array(t1) / np.array(t2)
                out[f"{cls.stage}/{ph}"] = {"t1": t1, "t2": t2, "speedup": sp.tolist()}
                print(cls.stage, ph, "speed-up per round", np.round(sp, 2), flush=True)
        finally:
            b1.teardown("dask", 1)
            b2.teardown("dask", 2)
    return out


def ceiling_interleaved(rounds: int) -> dict:
    """Map-reduce on dask against the same units in plain processes, 1 vs 2 of each, in turns.

    Each round times, in ABBA order, dask's 1- and 2-worker map-reduce (``time_mapreduce`` of
    the asv classes) and ``MapReduceCeiling``'s 1- and 2-process one, so that the engine's
    speed-up and the machine's ceiling for the same work come from the same minutes.

    Returns
    -------
    dict
        Per ``stage/what`` (``what`` = ``dask`` or ``processes``): times and speed-ups.
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_scaling as bs

    out: dict = {}
    for cls in (bs.AutolabelScaling, bs.FreeboardScaling):
        st = cls.stage
        d1, d2 = cls(), cls()
        c1, c2 = bs.MapReduceCeiling(), bs.MapReduceCeiling()
        d1.setup("dask", 1)
        d2.setup("dask", 2)
        c1.setup(st, 1)
        c2.setup(st, 2)
        runs = {("dask", 1): (d1, ("dask", 1)), ("dask", 2): (d2, ("dask", 2)),
                ("processes", 1): (c1, (st, 1)), ("processes", 2): (c2, (st, 2))}
        order = list(runs)
        times: dict = {k: [] for k in runs}
        try:
            for r in range(rounds):
                for k in order if r % 2 == 0 else order[::-1]:
                    bench, params = runs[k]
                    t = time.perf_counter()
                    bench.time_mapreduce(*params)
                    times[k].append(time.perf_counter() - t)
        finally:
            d1.teardown("dask", 1)
            d2.teardown("dask", 2)
            c1.teardown(st, 1)
            c2.teardown(st, 2)
        for what in ("dask", "processes"):
            sp = np.array(times[(what, 1)]) / np.array(times[(what, 2)])
            out[f"{st}/{what}"] = {"t1": times[(what, 1)], "t2": times[(what, 2)],
                                   "speedup": sp.tolist()}
            print(st, what, "speed-up per round", np.round(sp, 2), flush=True)
    return out


def report_interleaved(inter: dict) -> str:
    lines = ["| stage | phase | rounds | 1 worker, median (s) | 2 workers, median (s) "
             "| speed-up per round: median (min-max) | efficiency, median |",
             "|" + "---|" * 7]
    for k, v in inter.items():
        stage, phase = k.split("/")
        sp = np.array(v["speedup"])
        lines.append(f"| {stage} | {phase} | {sp.size} | {np.median(v['t1']):.2f} | "
                     f"{np.median(v['t2']):.2f} | {np.median(sp):.2f}x ({sp.min():.2f}-"
                     f"{sp.max():.2f}) | {50 * np.median(sp):.0f} % |")
    return "\n".join(lines)


def lpt(costs: np.ndarray, p: int) -> float:
    """Greedy longest-processing-time-first makespan on ``p`` identical workers."""
    loads = np.zeros(p)
    for c in np.sort(costs)[::-1]:
        loads[np.argmin(loads)] += c
    return float(loads.max())


def model_month(res: dict) -> dict:
    """Predicted speed-ups for a month of Arctic granules, per stage and phase and engine."""
    pred: dict = {}
    for stage in ("autolabel", "freeboard"):
        uc = res["units"][stage]
        ph_total = float(np.sum(uc["photons"]))
        for phase in ("load", "mapreduce", "fused"):
            # "fused": one task reads and processes its unit (icefb.run, autolabel_job on
            # WorkUnits): no photons through the driver, only small results back
            secs = (float(np.sum(uc["load"])) + float(np.sum(uc["mapreduce"]))
                    if phase == "fused" else float(np.sum(uc[phase])))
            rate = ph_total / secs  # photons/s/core, serial
            if stage == "autolabel":
                n_units = GRANULES_PER_MONTH * BEAMS
                ph_unit = PHOTONS_PER_GRANULE / BEAMS
                work_ph = ph_unit
            else:
                n_blocks = int(np.ceil(TRACK_KM / FREEBOARD_BLOCK_KM))
                n_units = GRANULES_PER_MONTH * BEAMS * n_blocks
                ph_unit = PHOTONS_PER_GRANULE / BEAMS / n_blocks
                work_ph = ph_unit * (FREEBOARD_BLOCK_KM + 2 * HALO_KM) / FREEBOARD_BLOCK_KM
            # strong/weak beams: 4x cost ratio, same mean
            rng = np.random.default_rng(0)
            weights = np.where(rng.random(n_units) < 0.5, 1.6, 0.4)
            costs = weights * work_ph / rate
            if phase == "fused":
                drv = 0.0
            else:
                sf = res["serial_fraction"][stage][phase]
                # driver work scales with the photons shipped (Amdahl's serial part)
                drv = sf["driver_s"] / sf["work_s"] * float(costs.sum())
            for engine in ("dask", "spark"):
                o = res["overhead_split"][engine]
                T = {p: drv + n_units * o["serial"] + lpt(costs + o["parallel"], p)
                     for p in WORKERS}
                pred[f"{stage}/{phase}/{engine}"] = {
                    "units": n_units, "unit_cost_s": float(costs.mean()),
                    "overhead_serial_s": o["serial"], "overhead_parallel_s": o["parallel"],
                    "serial_fraction": T[1] and (drv + n_units * o["serial"]) / T[1],
                    "hours_1": T[1] / 3600,
                    "speedup": {p: T[1] / T[p] for p in WORKERS},
                }
    return pred


def serial_fraction(res: dict) -> dict:
    """Serial fraction of each job phase: driver work / (driver work + unit work), one core.

    The driver's serial work is measured directly: in the map-reduce phase it unpickles each
    unit's segments (the photons stay on the workers: ``persist_units``;
    ``units[...]["driver"]``); in loading it only receives photon counts (0). Scheduler
    overhead is modelled apart (``overhead``). The Amdahl fraction implied by the measured
    2-worker speed-up, ``2 T2 / T1 - 1``, is reported beside it (``<engine>_amdahl_2w``).
    """
    out: dict = {}
    for stage in ("autolabel", "freeboard"):
        out[stage] = {}
        uc = res["units"][stage]
        for phase in ("load", "mapreduce"):
            work = float(np.sum(uc[phase]))
            drv = float(np.sum(uc["driver"])) if phase == "mapreduce" else 0.0
            out[stage][phase] = {"driver_s": drv, "work_s": work, "s": drv / (drv + work)}
            for engine in ("dask", "spark"):
                t1 = res["jobs"][f"{stage}/{engine}/1"][phase]
                t2 = res["jobs"][f"{stage}/{engine}/2"][phase]
                out[stage][phase][f"{engine}_amdahl_2w"] = float(
                    np.clip(2.0 * t2 / t1 - 1.0, 0.0, 1.0))
    return out


def split_overhead(res: dict) -> dict:
    """Per-task overhead split into a serial (scheduler) and a parallel (per-worker) part.

    With ``o1``, ``o2`` the seconds per empty task on 1 and 2 workers: fully serial overhead
    gives ``o2 = o1``, fully parallel ``o2 = o1 / 2``; so ``o_serial = clip(2 o2 - o1, 0, o1)``
    and ``o_parallel = o1 - o_serial``.
    """
    out = {}
    for engine in ("dask", "spark"):
        o1, o2 = res["overhead1"][engine], res["overhead"][engine]
        os_ = float(np.clip(2 * o2 - o1, 0.0, o1))
        out[engine] = {"o1": o1, "o2": o2, "serial": os_, "parallel": o1 - os_}
    return out


def figures(res: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIG.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, stage in zip(axes, ("autolabel", "freeboard"), strict=True):
        for phase, ls in (("load", "--"), ("mapreduce", "-"), ("fused", "-.")):
            for engine, col in (("dask", "C0"), ("spark", "C1")):
                pr = res["model"][f"{stage}/{phase}/{engine}"]["speedup"]
                ps = [int(p) for p in pr]
                ax.plot(ps, [pr[p] for p in pr], ls, color=col,
                        label=f"{engine} {phase} (model)")
                if phase == "fused":
                    continue
                j = res["jobs"]
                meas = [1.0, j[f"{stage}/{engine}/1"][phase] / j[f"{stage}/{engine}/2"][phase]]
                ax.plot([1, 2], meas, "o" if phase == "mapreduce" else "s", color=col,
                        mfc="none" if phase == "load" else col)
            if phase not in PAPER[stage]:
                continue
            ax.plot([16], [PAPER[stage][phase]], "*", ms=13, color="k" if phase == "mapreduce"
                    else "0.5", label=f"paper {phase} (PySpark; drawn at 16)")
        ax.plot(WORKERS, WORKERS, ":", color="0.6", label="ideal")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("workers")
        ax.set_title({"autolabel": "auto-labeling", "freeboard": "SSH + freeboard"}[stage])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("speed-up T(1)/T(P)")
    axes[1].legend(fontsize=7, loc="upper left")
    fig.suptitle("measured (markers, P<=2, shared 2-core machine) and predicted for a month "
                 "of Arctic granules (lines)", fontsize=9)
    fig.tight_layout()
    p = FIG / "speedup_vs_workers.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    fig, ax = plt.subplots(figsize=(7, 4))
    labels, vals = [], []
    for stage in ("autolabel", "freeboard"):
        uc = res["units"][stage]
        for phase in ("load", "mapreduce"):
            labels.append(f"{stage}\n{phase}")
            vals.append(np.sum(uc["photons"]) / np.sum(uc[phase]) / 1e6)
    ax.bar(labels, vals, color=["C2", "C3", "C2", "C3"])
    ax.set_ylabel("M photons / s / core (serial)")
    ax.set_title("throughput per stage, one core")
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.2f}", ha="center", va="bottom")
    fig.tight_layout()
    p = FIG / "throughput_per_stage.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


def report(res: dict) -> str:
    lines = ["| stage | phase | dask 1w (s) | dask 2w (s) | dask S2 | spark 1w (s) | "
             "spark 2w (s) | spark S2 | dask/spark time (2w) |", "|" + "---|" * 9]
    j = res["jobs"]
    for stage in ("autolabel", "freeboard"):
        for phase in ("load", "mapreduce"):
            d1, d2 = j[f"{stage}/dask/1"][phase], j[f"{stage}/dask/2"][phase]
            s1, s2 = j[f"{stage}/spark/1"][phase], j[f"{stage}/spark/2"][phase]
            lines.append(f"| {stage} | {phase} | {d1:.2f} | {d2:.2f} | {d1 / d2:.2f}x | "
                         f"{s1:.2f} | {s2:.2f} | {s1 / s2:.2f}x | {d2 / s2:.2f} |")
    lines += ["", "| stage/phase/engine | units/month | serial frac | T1 (h) | S8 | S16 | S64 |",
              "|---|---|---|---|---|---|---|"]
    for k, v in res["model"].items():
        sp = v["speedup"]
        lines.append(f"| {k} | {v['units']} | {v['serial_fraction']:.4f} | {v['hours_1']:.1f} | "
                     f"{sp[8]:.1f} | {sp[16]:.1f} | {sp[64]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="store_true", help="only model + figures from the JSON")
    ap.add_argument("--refit", action="store_true",
                    help="re-measure unit costs and overheads only, keep the job times")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--interleaved", type=int, default=0, metavar="ROUNDS",
                    help="only time dask 1 vs 2 workers in alternation; saved in the JSON")
    ap.add_argument("--ceiling", type=int, default=0, metavar="ROUNDS",
                    help="only time dask's map-reduce against the same units in plain "
                         "processes (MapReduceCeiling), 1 vs 2, in alternation; printed")
    args = ap.parse_args(argv)
    if args.ceiling:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        print(report_interleaved(ceiling_interleaved(args.ceiling)))
        return
    if args.interleaved:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        inter = interleaved(args.interleaved)
        res = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        res["interleaved"] = inter
        RESULTS.write_text(json.dumps(res, indent=1, default=float))
        print(report_interleaved(inter))
        return
    if args.model:
        res = json.loads(RESULTS.read_text())
    elif args.refit:
        res = json.loads(RESULTS.read_text())
        res["units"] = {st: unit_costs(st) for st in ("autolabel", "freeboard")}
        res["overhead1"] = {e: overhead(e, n_workers=1) for e in ("dask", "spark")}
        res["overhead"] = {e: overhead(e, n_workers=2) for e in ("dask", "spark")}
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        res = {"machine": {"cpus": os.cpu_count(), "note": "2 cores shared with other jobs"}}
        res["units"] = {st: unit_costs(st) for st in ("autolabel", "freeboard")}
        print("unit costs done", flush=True)
        res["overhead1"] = {e: overhead(e, n_workers=1) for e in ("dask", "spark")}
        res["overhead"] = {e: overhead(e, n_workers=2) for e in ("dask", "spark")}
        print("overhead", res["overhead"], flush=True)
        res["jobs"] = measure_jobs(args.repeat)
    res["serial_fraction"] = serial_fraction(res)
    res["overhead_split"] = split_overhead(res)
    res["model"] = model_month(res)
    FIG.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1, default=float))
    # JSON turns int keys into str: reload for the figures
    res = json.loads(RESULTS.read_text())
    for k in res["model"]:
        res["model"][k]["speedup"] = {int(p): v for p, v in res["model"][k]["speedup"].items()}
    figures(res)
    print(report(res))


if __name__ == "__main__":
    main()
