"""asv benchmarks of ATL03 reading: the pipeline's variables from HDF5 vs from the Zarr copy.

Input: a synthetic granule from :func:`icefb.synth.make_granule` (``length_km`` along track,
one strong and one weak beam), converted once with :func:`icefb.io.atl03_to_zarr`. Each
``time_*`` opens the granule and loads ``PIPELINE_VARIABLES`` (h_ph, x_atc, delta_time,
lat/lon, signal_conf_ph, quality_ph and the four photon-rate corrections) for every beam.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import dask

from icefb.io import PIPELINE_VARIABLES, atl03_to_zarr, open_atl03, open_atl03_zarr
from icefb.synth import make_granule

BEAMS = ("gt1l", "gt1r")


@functools.lru_cache(maxsize=4)
def _inputs(length_km: float) -> tuple[Path, Path, int]:
    folder = Path(tempfile.mkdtemp(prefix="icefb_bench_io_"))
    h5 = make_granule(
        folder / "ATL03_20190222004500_08490201_006_01.h5",
        seed=7,
        length_km=length_km,
        beams=BEAMS,
    )
    store = atl03_to_zarr(h5, folder / "granule.zarr")
    n = sum(open_atl03(h5)[b].sizes["photon"] for b in BEAMS)
    return h5, store, n


def _load(tree) -> int:
    with dask.config.set(scheduler="threads"):
        total = 0
        for beam in BEAMS:
            ds = tree[beam].to_dataset()[list(PIPELINE_VARIABLES)].load()
            total += ds.sizes["photon"]
    return total


class ReadPipelineVariables:
    """Open + load of the pipeline's photon variables; photons/s = n_photons / time."""

    params = [[20.0]]
    param_names = ["length_km"]
    timeout = 120

    def setup(self, length_km: float) -> None:
        self.h5, self.store, self.n_photons = _inputs(length_km)

    def time_hdf5(self, length_km: float) -> None:
        _load(open_atl03(self.h5))

    def time_zarr(self, length_km: float) -> None:
        _load(open_atl03_zarr(self.store))

    def time_open_hdf5_metadata_only(self, length_km: float) -> None:
        open_atl03(self.h5)

    def peakmem_hdf5(self, length_km: float) -> None:
        _load(open_atl03(self.h5))

    def peakmem_zarr(self, length_km: float) -> None:
        _load(open_atl03_zarr(self.store))

    def track_n_photons(self, length_km: float) -> int:
        return self.n_photons

    track_n_photons.unit = "photons"  # type: ignore[attr-defined]


class WriteZarr:
    """ATL03 -> Zarr copy time."""

    params = [[20.0]]
    param_names = ["length_km"]
    timeout = 120

    def setup(self, length_km: float) -> None:
        self.h5, _, _ = _inputs(length_km)
        self.out = Path(tempfile.mkdtemp(prefix="icefb_bench_zarr_"))
        self.i = 0

    def time_atl03_to_zarr(self, length_km: float) -> None:
        self.i += 1
        atl03_to_zarr(self.h5, self.out / f"g{self.i}.zarr")
