"""Fixtures shared by the whole suite (stage-specific fixtures live beside their tests)."""

from __future__ import annotations

import os

import pytest

# keep numba/BLAS from oversubscribing the 2-core CI machine when dask/spark start workers
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def dask_backend():
    """A real two-worker dask-distributed LocalCluster, shared by the session."""
    from icefb.backends.dask import DaskBackend

    be = DaskBackend(n_workers=2, progress=False)
    yield be
    be.close()


@pytest.fixture(scope="session")
def spark_backend():
    """A real local PySpark session (local[2]), shared by the session."""
    from icefb.backends.spark import SparkBackend

    be = SparkBackend(n_workers=2, progress=False)
    yield be
    be.close()
