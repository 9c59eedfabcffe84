"""asv benchmarks: local sea surface + freeboard kernels (numba vs numpy) and blocked runs."""

from __future__ import annotations

import numpy as np
import xarray as xr

from icefb.kernels import ssh as k
from icefb.seasurface import SSHConfig, sea_surface, sea_surface_blocked, ssh_arrays


def make_arrays(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Segment arrays on a 2 m grid: floes of thick/thin ice and leads, noisy heights."""
    rng = np.random.default_rng(seed)
    n_runs = n // 100 + 2
    kinds = rng.choice(np.array([0, 1, 2], np.int64), n_runs, p=[0.75, 0.13, 0.12])
    lengths = np.maximum(1, rng.exponential(np.array([300.0, 30.0, 20.0])[kinds])).astype(int)
    surface = np.repeat(kinds, lengths)[:n]
    if surface.size < n:
        surface = np.resize(surface, n)
    x = np.arange(n) * 2.0 + 1.0
    ssh = 0.15 * np.sin(2 * np.pi * x / 200e3)
    fb = np.select([surface == 0, surface == 1], [0.3, 0.05], 0.0)
    nph = rng.poisson(np.select([surface == 0, surface == 1], [6.0, 4.0], 8.0)).astype(np.float64)
    h = ssh + fb + rng.normal(0, 0.05, n)
    h[nph == 0] = np.nan
    h_std = np.full(n, 0.1)
    return {"x": x, "h": h, "h_std": h_std, "n": nph, "surface": surface}


def as_dataset(a: dict[str, np.ndarray]) -> xr.Dataset:
    return xr.Dataset(
        {
            "x_atc": ("segment", a["x"]),
            "h_cor_mean": ("segment", a["h"].astype(np.float32)),
            "h_std": ("segment", a["h_std"].astype(np.float32)),
            "n_photons": ("segment", a["n"].astype(np.int32)),
            "surface_type": ("segment", a["surface"].astype(np.int8)),
        },
        coords={"segment": np.arange(a["x"].size)},
    )


def ssh_and_freeboard(a: dict[str, np.ndarray], engine: str = "numba") -> np.ndarray:
    """SSH + freeboard on plain arrays with the numba kernels or their numpy twins."""
    ssh, unc, _, err = ssh_arrays(a["x"], a["h"], a["h_std"], a["n"], a["surface"],
                                  SSHConfig(), engine=engine)
    fbk = k.freeboard_kernel if engine == "numba" else k.freeboard_kernel_numpy
    return fbk(a["h"], err, a["surface"], ssh, unc)[0]


class SSHKernels:
    """SSH + freeboard kernels, segments/s = n / time."""

    params = (["numba", "numpy"], [1_000_000])
    param_names = ["engine", "n_segments"]

    def setup(self, engine, n_segments):
        self.a = make_arrays(n_segments)
        ssh_and_freeboard(make_arrays(1000), engine)  # warm the JIT

    def time_ssh_freeboard(self, engine, n_segments):
        ssh_and_freeboard(self.a, engine)

    def peakmem_ssh_freeboard(self, engine, n_segments):
        ssh_and_freeboard(self.a, engine)


class SSHDataset:
    """Dataset API, unblocked and blocked (block length in m)."""

    params = ([0, 20_000, 100_000],)
    param_names = ["block_length_m"]

    def setup(self, block_length_m):
        self.ds = as_dataset(make_arrays(250_000))
        sea_surface(self.ds.isel(segment=slice(0, 1000)))

    def time_sea_surface(self, block_length_m):
        if block_length_m:
            sea_surface_blocked(self.ds, float(block_length_m))
        else:
            sea_surface(self.ds)

    def peakmem_sea_surface(self, block_length_m):
        if block_length_m:
            sea_surface_blocked(self.ds, float(block_length_m))
        else:
            sea_surface(self.ds)
