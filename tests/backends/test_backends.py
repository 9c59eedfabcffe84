"""Both engines run the same function on the same units and return the same results."""

from __future__ import annotations

import pytest

from icefb.backends import WorkUnit, get_backend
from icefb.errors import ConfigError, InvalidGranuleError
from icefb.testing import (
    checksum_summary,
    scaled_checksum,
    unit_checksum,
    unit_fails,
    worker_dask_config,
    worker_environ,
)

UNITS = [WorkUnit("g1.h5", b) for b in ("gt1l", "gt1r", "gt2l")] + [
    WorkUnit("g2.h5", "gt3r", block=(0.0, 5000.0))
]


def test_unit_keys_are_stable():
    assert UNITS[-1].key == "g2/gt3r/0-5000"
    assert sorted(UNITS)[0] == UNITS[0]


def test_unknown_backend():
    with pytest.raises(ConfigError, match="unknown backend"):
        get_backend("ray")


def test_dask_spark_serial_identical(dask_backend, spark_backend):
    serial = get_backend("serial").map(unit_checksum, UNITS, 2.0)
    assert dask_backend.map(unit_checksum, UNITS, 2.0) == serial
    assert spark_backend.map(unit_checksum, UNITS, 2.0) == serial
    assert [k for k, _ in serial] == [u.key for u in UNITS]


def test_map_over_resident_results_with_a_value_per_unit(dask_backend, spark_backend):
    # the pipeline's cross-pair phases: results held by the engine, then a map over them that
    # gives each unit its own value (and the shared arguments after it)
    factors = [1.0, -2.0, 0.5, 3.0]
    serial = get_backend("serial")
    want = [(k, v * f + 1.0) for (k, v), f in zip(serial.map(unit_checksum, UNITS, 2.0), factors,
                                                   strict=True)]
    for be in (serial, dask_backend, spark_backend):
        with be.persist(unit_checksum, UNITS, 2.0) as held:
            assert be.map(scaled_checksum, held, 1.0, per_unit=factors) == want
            with pytest.raises(ConfigError, match="one value per unit"):
                be.map(scaled_checksum, held, 1.0, per_unit=factors[:2])
        assert be.map(unit_checksum, UNITS, 2.0, per_unit=None) == serial.map(unit_checksum,
                                                                              UNITS, 2.0)


def test_persist_with_a_summary_of_each_result(dask_backend, spark_backend):
    # the pipeline's first cross-pair phase: results held by the engine and a small summary of
    # each back to the driver from the same pass; the held results stay usable
    serial = get_backend("serial")
    results = serial.map(unit_checksum, UNITS, 2.0)
    factors = [1.0, -2.0, 0.5, 3.0]
    for be in (serial, dask_backend, spark_backend):
        with be.persist(unit_checksum, UNITS, 2.0, summary=checksum_summary) as held:
            assert held.summaries == [(k, v / 2.0) for k, v in results]
            assert be.map(scaled_checksum, held, 0.0, per_unit=factors) == [
                (k, v * f) for (k, v), f in zip(results, factors, strict=True)]
        with be.persist(unit_checksum, UNITS, 2.0) as held:
            assert held.summaries is None


def test_errors_cross_engines_with_their_context(dask_backend):
    with pytest.raises(InvalidGranuleError, match=r"g1.h5 \[beam gt1l\]: no photons"):
        dask_backend.map(unit_fails, UNITS[:1])


ENV = ("MALLOC_TRIM_THRESHOLD_", "NUMBA_NUM_THREADS")


def test_spark_python_workers_run_numba_on_their_own_core(spark_backend):
    # without it each Python worker's prange kernels started a thread per machine core
    got = spark_backend.map(worker_environ, UNITS[:2], ENV)
    assert [e["NUMBA_NUM_THREADS"] for e in got] == ["1", "1"]


def test_local_workers_environment(dask_backend):
    # icefb's local workers keep glibc's adaptive malloc thresholds (distributed's default
    # MALLOC_TRIM_THRESHOLD_=65536 made labeling units 20 % slower), run numba kernels on
    # their own threads only and have no statistical profiler; trim_memory=True and
    # profile=True restore distributed's settings
    import os

    prof = "distributed.worker.profile.enabled"
    assert dask_backend.map(worker_dask_config, UNITS[:2], prof) == [False, False]
    got = dask_backend.map(worker_environ, UNITS[:2], ENV)
    assert [e["NUMBA_NUM_THREADS"] for e in got] == ["1", "1"]
    # the environment the workers start from is this process's at cluster start (a plain
    # LocalCluster started earlier in the session, as in tests/pipeline, leaves the variable
    # set here; the shared fixture's cluster may predate that)
    inherited = os.environ.get("MALLOC_TRIM_THRESHOLD_")  # None unless something set one
    with get_backend("dask", n_workers=2, progress=False) as be:
        got = be.map(worker_environ, UNITS[:2], ENV)
        assert got == [{"MALLOC_TRIM_THRESHOLD_": inherited, "NUMBA_NUM_THREADS": "1"}] * 2
        be.client.restart()  # a restarted worker (memory-limit kill, client.restart) keeps them
        assert be.map(worker_environ, UNITS[:1], ENV)[0]["MALLOC_TRIM_THRESHOLD_"] == inherited
        assert be.map(worker_dask_config, UNITS[:1], prof) == [False]
    # last: distributed's nannies also set the variable in this process's own environment
    try:
        with get_backend("dask", n_workers=1, progress=False, trim_memory=True,
                         profile=True) as be:
            assert be.map(worker_environ, UNITS[:1], ENV)[0]["MALLOC_TRIM_THRESHOLD_"] == "65536"
            assert be.map(worker_dask_config, UNITS[:1], prof) == [True]
            be.client.restart()
            assert be.map(worker_environ, UNITS[:1], ENV)[0]["MALLOC_TRIM_THRESHOLD_"] == "65536"
            assert be.map(worker_dask_config, UNITS[:1], prof) == [True]
    finally:  # later clusters of this test session start as a user's would
        if inherited is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = inherited



def test_gather_directly_only_where_every_worker_is_reachable(dask_backend):
    import dask
    from distributed import Client

    from icefb.backends.dask import _own_direct, gather_directly

    # icefb's own local cluster: results straight from the workers
    assert dask_backend.client.direct_to_workers is True
    assert gather_directly(dask_backend.client)
    assert dask_backend._direct is True
    # a user's client of a LocalCluster object of this process: direct too
    with Client(dask_backend._cluster, set_as_default=False) as c:
        assert c.direct_to_workers is None and gather_directly(c)
    # by address only, the workers may be another machine's (an SSH tunnel to 127.0.0.1):
    # dask's default, through the scheduler; the backend then leaves distributed its choice
    addr = dask_backend.client.scheduler.address
    with Client(addr, set_as_default=False) as c:
        assert not gather_directly(c)
        be = get_backend("dask", client=c, progress=False)
        assert be._direct is None
        assert be.map(unit_checksum, UNITS[:2], 2.0) == dask_backend.map(unit_checksum,
                                                                          UNITS[:2], 2.0)
    # an explicit user setting wins either way
    with Client(addr, set_as_default=False, direct_to_workers=True) as c:
        assert gather_directly(c)
    with Client(dask_backend._cluster, set_as_default=False, direct_to_workers=False) as c:
        assert not gather_directly(c)
    assert _own_direct() is True
    with dask.config.set({"distributed.client.direct-to-workers": False}):
        assert _own_direct() is False
