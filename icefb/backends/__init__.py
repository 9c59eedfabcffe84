"""Execution backends: run the same work units on dask-distributed or PySpark.

A work unit is any picklable object (typically :class:`icefb.backends.WorkUnit`); a task is a
picklable function ``func(unit, *args) -> result``. Both backends call the very same function on
the very same units, so results are identical and speed can be compared side by side.

Examples
--------
>>> from icefb.backends import get_backend
>>> with get_backend("serial") as be:
...     be.map(abs, [-1, 2, -3])
[1, 2, 3]
"""

from __future__ import annotations

from icefb.backends._base import Backend, Resident, SerialBackend, WorkUnit, get_backend

__all__ = ["Backend", "Resident", "SerialBackend", "WorkUnit", "get_backend"]
