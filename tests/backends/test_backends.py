"""Both engines run the same function on the same units and return the same results."""

from __future__ import annotations

import pytest

from icefb.backends import WorkUnit, get_backend
from icefb.errors import ConfigError, InvalidGranuleError
from icefb.testing import unit_checksum, unit_fails

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


def test_errors_cross_engines_with_their_context(dask_backend):
    with pytest.raises(InvalidGranuleError, match=r"g1.h5 \[beam gt1l\]: no photons"):
        dask_backend.map(unit_fails, UNITS[:1])
