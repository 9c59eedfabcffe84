"""asv benchmarks of the 2 m resampling (issue #4).

``KernelSuite``: the numba kernel (full feature set incl. medians) against its numpy twin and a
pandas ``groupby(...).agg([count, mean, median, std, min, max])`` of the same photons.
``DaskSuite``: :func:`icefb.resample` of a lazily generated dask-backed beam on a LocalCluster
with 1 or 2 single-threaded worker processes.
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

    def peakmem_numba_kernel(self, n):
        bin_block(self.a, window=WINDOW, min_conf=3, kernel=bin_photons)


def lazy_beam(n: int, chunk: int) -> xr.Dataset:
    """A dask-backed photon Dataset of ``n`` photons whose blocks are generated on the workers."""
    import dask.array as da

    i = da.arange(n, chunks=chunk, dtype=np.float64)
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
        self.ds = lazy_beam(self.n_photons, self.chunk)

    def teardown(self, n_workers):
        self.client.close()
        self.cluster.close()

    def time_resample(self, n_workers):
        from icefb.segments import resample

        resample(self.ds)


def _warm() -> None:
    bin_block(make_photons(3000), window=WINDOW, min_conf=3)
