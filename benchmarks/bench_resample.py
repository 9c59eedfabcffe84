"""asv benchmarks of the 2 m resampling (issue #4).

``KernelSuite``: the numba kernel (full feature set incl. medians) against its numpy twin, a
pandas ``groupby(...).agg([count, mean, median, std, min, max])`` of the heights of the same
photons (the issue's reference), and :func:`pandas_same_features`, a pandas groupby that
computes the kernel's whole feature set.
``DaskSuite``: :func:`icefb.resample` of a lazily generated dask-backed beam on a LocalCluster
with 1 or 2 single-threaded worker processes.
``ProcessCeiling``: the same per-block work (generate the block's photons, bin them) in 1 or 2
plain processes, without dask's scheduler, transfers or the beam's assembly: the speed-up two
cores of the machine give this work at all, against which ``DaskSuite``'s ratio is read.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from icefb.kernels.binning import bin_block, bin_photons, bin_photons_numpy

WINDOW = 2.0


def make_photons(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Strong-beam-like photons: 0.7 m shots, ~3 photons per shot, a third of them noise."""
    rng = np.random.default_rng(seed)
    shot = np.sort(rng.integers(0, n // 3, n))
    x = shot * 0.7 + rng.normal(0.0, 0.005, n)
    x.sort()
    conf = np.zeros((n, 5), np.int8)
    conf[:, 2] = rng.choice(np.array([0, 1, 2, 3, 4], np.int8), n, p=[0.2, 0.05, 0.05, 0.2, 0.5])
    h = np.where(conf[:, 2] >= 3, rng.normal(0.3, 0.1, n), rng.uniform(-15, 15, n))
    return {
        "x_atc": x,
        "h_ph": h.astype(np.float32),
        "signal_conf_ph": conf,
        "quality_ph": (rng.random(n) < 0.01).astype(np.int8),
        "geoid": np.full(n, 1.5, np.float32),
        "tide_ocean": rng.normal(0.0, 0.01, n).astype(np.float32),
        "tide_equilibrium": np.full(n, 0.01, np.float32),
        "dac": np.full(n, -0.05, np.float32),
        "lat_ph": 80.0 + x * 1e-5,
        "lon_ph": -150.0 + x * 1e-5,
        "delta_time": 1e7 + shot * 1e-4,
    }


def pandas_same_features(a: dict[str, np.ndarray], window: float = WINDOW, min_conf: int = 3):
    """The kernel's per-bin features with a pandas groupby: counts, high-confidence counts,
    mean/median/std/min/max of ``h_ph``, mean and median of the corrected height, mean
    latitude, longitude (relative to the bin's first signal photon, across the dateline) and
    time, indexed by bin (bins without signal photons are absent). For finite inputs, as
    ``make_photons`` gives: pandas' means skip NaN values where the kernel's do not, and a NaN
    ``x_atc`` would make a bin of its own here.
    """
    import pandas as pd

    conf = a["signal_conf_ph"][:, 2]
    sel = (a["quality_ph"] == 0) & (conf >= min_conf)
    h = a["h_ph"][sel].astype(np.float64)
    h_cor = h
    for k in ("geoid", "tide_ocean", "tide_equilibrium", "dac"):
        h_cor = h_cor - a[k][sel].astype(np.float64)
    frame = pd.DataFrame(
        {
            "bin": np.floor(a["x_atc"][sel] / window).astype(np.int64),
            "h": h,
            "h_cor": h_cor,
            "high": conf[sel] >= 4,
            "lat": a["lat_ph"][sel],
            "lon": a["lon_ph"][sel],
            "t": a["delta_time"][sel],
        }
    )
    lon0 = frame.groupby("bin", sort=True)["lon"].first()
    rel = frame["lon"].to_numpy() - lon0.reindex(frame["bin"]).to_numpy()
    frame["lon"] = rel - 360.0 * np.floor((rel + 180.0) / 360.0)
    out = frame.groupby("bin", sort=True).agg(
        n_photons=("h", "size"),
        n_high=("high", "sum"),
        h_mean=("h", "mean"),
        h_median=("h", "median"),
        h_min=("h", "min"),
        h_max=("h", "max"),
        h_cor_mean=("h_cor", "mean"),
        h_cor_median=("h_cor", "median"),
        lat=("lat", "mean"),
        lon=("lon", "mean"),
        delta_time=("t", "mean"),
    )
    out["h_std"] = frame.groupby("bin", sort=True)["h"].std(ddof=0)  # the kernel's ddof
    lon = lon0.to_numpy() + out["lon"].to_numpy()
    out["lon"] = lon - 360.0 * np.floor((lon + 180.0) / 360.0)
    return out


class KernelSuite:
    """Photons per second of one beam block on one core."""

    params = [2_000_000]
    param_names = ["n_photons"]
    timeout = 120

    def setup(self, n):
        self.a = make_photons(n)
        bin_block(self.a, window=WINDOW, min_conf=3)  # warm the JIT
        import pandas as pd

        a = self.a
        sel = (a["quality_ph"] == 0) & (a["signal_conf_ph"][:, 2] >= 3)
        self.frame = pd.DataFrame(
            {"bin": np.floor(a["x_atc"] / WINDOW).astype(np.int64), "h": a["h_ph"], "sel": sel}
        )

    def time_numba_kernel(self, n):
        bin_block(self.a, window=WINDOW, min_conf=3, kernel=bin_photons)

    def time_numpy_twin(self, n):
        bin_block(self.a, window=WINDOW, min_conf=3, kernel=bin_photons_numpy)

    def time_pandas_groupby(self, n):
        f = self.frame
        f[f["sel"]].groupby("bin")["h"].agg(["count", "mean", "median", "std", "min", "max"])

    def time_pandas_same_features(self, n):
        pandas_same_features(self.a)

    def peakmem_numba_kernel(self, n):
        bin_block(self.a, window=WINDOW, min_conf=3, kernel=bin_photons)


def lazy_beam(n: int, chunk: int, salt: int = 0) -> xr.Dataset:
    """A dask-backed photon Dataset of ``n`` photons whose blocks are generated on the workers.

    Another ``salt`` gives the same values under other task keys: a timed run then recomputes
    everything rather than finding results a previous run's release has not yet dropped.
    """
    import dask.array as da

    i = da.arange(salt, salt + n, chunks=chunk, dtype=np.float64) - float(salt)
    x = i * (0.7 / 3.0)  # 3 photons per 0.7 m shot
    # cheap deterministic "noise" so that the input costs little next to the resampling
    wobble = da.sin(i * 12.9898) * 0.1
    conf = da.broadcast_to(((i * 7) % 5).astype(np.int8)[:, None], (n, 5)).rechunk((chunk, 5))
    f32 = np.float32
    p = "photon"
    return xr.Dataset(
        {
            "x_atc": (p, x),
            "h_ph": (p, (0.3 + wobble).astype(f32)),
            "signal_conf_ph": ((p, "ds_surf_type"), conf),
            "quality_ph": (p, da.zeros(n, chunks=chunk, dtype=np.int8)),
            "geoid": (p, da.full(n, 1.5, chunks=chunk, dtype=f32)),
            "tide_ocean": (p, da.zeros(n, chunks=chunk, dtype=f32)),
            "tide_equilibrium": (p, da.zeros(n, chunks=chunk, dtype=f32)),
            "dac": (p, da.zeros(n, chunks=chunk, dtype=f32)),
            "lat_ph": (p, 80.0 + x * 1e-5),
            "lon_ph": (p, -150.0 + x * 1e-5),
            "delta_time": (p, 1e7 + x / 7000.0),
            "bckgrd_delta_time": ("bckgrd", 1e7 + np.arange(1000) * 0.005),
            "bckgrd_counts": ("bckgrd", np.full(1000, 10, np.int32)),
            "bckgrd_rate": ("bckgrd", np.full(1000, 1e6, np.float32)),
        },
        attrs={"beam": "gt1l"},
    )


class DaskSuite:
    """Resampling a dask-backed beam with 1 or 2 single-threaded worker processes.

    4 M photons by default so that one run stays short on the 2-core CI machine; set
    ``ICEFB_BENCH_DASK_PHOTONS=20000000`` for the >= 20 M photon comparison of issue #4.
    """

    params = [[1, 2]]
    param_names = ["n_workers"]
    timeout = 300
    n_photons = int(os.environ.get("ICEFB_BENCH_DASK_PHOTONS", 4_000_000))
    chunk = 1_000_000

    def setup(self, n_workers):
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        self.client = Client(self.cluster)
        self.client.run(_warm)  # compile/load the numba kernels in every worker
        self.salt = 0

    def teardown(self, n_workers):
        self.client.close()
        self.cluster.close()

    def _beam(self) -> xr.Dataset:
        # new keys for every run (lazy_beam's salt): same graph size, nothing reused
        self.salt += 1
        return lazy_beam(self.n_photons, self.chunk, self.salt)

    def time_resample(self, n_workers):
        from icefb.segments import resample

        resample(self._beam())

    def time_resample_lazy(self, n_workers):
        """``resample(lazy=True)`` persisted: the segments finished and kept on the workers."""
        persist_lazy(self._beam())


def persist_lazy(ds: xr.Dataset | xr.DataTree) -> None:
    """Resample ``ds`` with ``lazy=True``, persist the segments on the active client and wait."""
    from distributed import futures_of, wait

    from icefb.segments import resample

    out = resample(ds, lazy=True).persist()
    wait(futures_of(out))


def ceiling_blocks(n: int, chunk: int, blocks: list[int]) -> int:
    """Generate and bin the given blocks of :func:`lazy_beam` in this process, one by one.

    The work of ``DaskSuite``'s block tasks (input generation + ``_run_block``) without dask's
    distributed machinery: the blocks are computed with the synchronous scheduler.
    """
    import dask

    from icefb.segments import _PHOTON_VARS, _run_block

    arrays = {v: lazy_beam(n, chunk)[v].data for v in _PHOTON_VARS}
    bins = 0
    for b in blocks:
        sl = slice(b * chunk, min((b + 1) * chunk, n))
        [block] = dask.compute({v: a[sl] for v, a in arrays.items()}, scheduler="sync")
        res = _run_block(block, WINDOW, 3, 4, 2, with_edges=True)
        bins += int(res["stats"][0].size)
    return bins


class ProcessCeiling:
    """``DaskSuite``'s block work in 1 or 2 plain worker processes (no scheduler, no assembly).

    ``time_blocks`` at 1 over 2 processes is the speed-up the machine's cores give this work;
    ``DaskSuite``'s 1-over-2-worker ratio is bounded by it.
    """

    params = [[1, 2]]
    param_names = ["n_processes"]
    timeout = 300
    n_photons = DaskSuite.n_photons
    chunk = DaskSuite.chunk

    def setup(self, n_processes):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(n_processes, mp_context=mp.get_context("spawn"))
        self.n = n_processes
        list(self.pool.map(_warm_ceiling, range(n_processes)))

    def teardown(self, n_processes):
        self.pool.shutdown()

    def time_blocks(self, n_processes):
        nblocks = -(-self.n_photons // self.chunk)
        shares = [list(range(i, nblocks, self.n)) for i in range(self.n)]
        list(self.pool.map(ceiling_blocks, [self.n_photons] * self.n, [self.chunk] * self.n,
                           shares))


def _warm_ceiling(_: int) -> None:
    _warm()
    ceiling_blocks(3000, 1000, [0])


def _warm() -> None:
    bin_block(make_photons(3000), window=WINDOW, min_conf=3)
