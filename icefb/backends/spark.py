"""PySpark backend: the same work units on a local (or remote) Spark session.

This exists to compare engines side by side, as in the paper's PySpark tables: the units and
the per-unit function are exactly those of the dask backend.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from icefb.backends._base import Backend, Resident

log = logging.getLogger(__name__)


class SparkBackend(Backend):
    """Run work units as Spark tasks, one partition per unit.

    Parameters
    ----------
    n_workers : int
        Local cores when ``master`` is not given (``local[n_workers]``; default 2).
    master : str, optional
        Spark master URL (``"spark://host:7077"``, ``"yarn"``...).
    progress : bool
        Show Spark's console progress bar.
    conf : dict, optional
        Extra Spark configuration.
    """

    name = "spark"

    def __init__(
        self,
        n_workers: int | None = None,
        *,
        master: str | None = None,
        progress: bool = True,
        conf: dict[str, str] | None = None,
        app_name: str = "icefb",
    ) -> None:
        from pyspark.sql import SparkSession

        # executors must run the same interpreter (the venv) as the driver
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        self._n = n_workers or 2
        builder = (
            # local[N,F]: local mode ignores spark.task.maxFailures; F retries a failed task
            SparkSession.builder.master(master or f"local[{self._n},4]")
            .appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", str(progress).lower())
            .config("spark.driver.memory", "2g")
            .config("spark.python.worker.reuse", "true")
            .config("spark.task.maxFailures", "4")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(self._n))
            # a task slot is one core: numba's parallel kernels (classifier inference) run on
            # it alone, as on a dask worker, not on every core of the machine at once
            .config("spark.executorEnv.NUMBA_NUM_THREADS", "1")
        )
        for k, v in (conf or {}).items():
            builder = builder.config(k, v)
        self.session = builder.getOrCreate()
        self.session.sparkContext.setLogLevel("ERROR")
        self._master = master

    @property
    def n_workers(self) -> int:
        return int(self.session.sparkContext.defaultParallelism)

    def map(self, func: Callable[..., Any], units: Sequence[Any] | Resident,
            *args: Any, per_unit: Sequence[Any] | None = None) -> list[Any]:
        """Run ``func(unit, *args)`` for every unit as a Spark task; results in unit order.

        Over a :class:`~icefb.backends.Resident` the tasks read the cached partitions.
        ``per_unit`` values travel as a broadcast variable (once per executor).
        """
        if isinstance(units, Resident):
            self._check_resident(units)
            self._check_per_unit(per_unit, len(units))
            rdd = units.handle
        else:
            self._check_per_unit(per_unit, len(units))
            if not units:
                return []
            rdd = self._parallelize(units)
        if per_unit is None:
            out = rdd.map(lambda iu: (iu[0], func(iu[1], *args))).collect()
        else:
            bc = self.session.sparkContext.broadcast(list(per_unit))
            try:
                out = rdd.map(lambda iu: (iu[0], func(iu[1], bc.value[iu[0]], *args))).collect()
            finally:
                bc.unpersist()
        out.sort(key=lambda t: t[0])
        return [r for _, r in out]

    def persist(self, func: Callable[..., Any], units: Sequence[Any], *args: Any,
                summary: Callable[..., Any] | None = None) -> Resident:
        """Run every unit into a cached RDD (``MEMORY_ONLY``), forced with ``count()``.

        With ``summary`` the forcing action collects ``summary(result, *args)`` instead of a
        count: the job that computes and caches the results also returns their summaries.
        """
        from pyspark import StorageLevel

        rdd = self._parallelize(units).map(lambda iu: (iu[0], func(iu[1], *args)))
        rdd = rdd.persist(StorageLevel.MEMORY_ONLY)
        if summary is None:
            rdd.count()
            return Resident(self, rdd, len(units))
        try:
            out = rdd.map(lambda ir: (ir[0], summary(ir[1], *args))).collect()
        except BaseException:
            rdd.unpersist()
            raise
        out.sort(key=lambda t: t[0])
        return Resident(self, rdd, len(units), [r for _, r in out])

    def _collect(self, resident: Resident) -> list[Any]:
        self._check_resident(resident)
        out = resident.handle.collect()
        out.sort(key=lambda t: t[0])
        return [r for _, r in out]

    def _release(self, resident: Resident) -> None:
        resident.handle.unpersist()

    def _parallelize(self, units: Sequence[Any]) -> Any:
        indexed = list(enumerate(units))
        return self.session.sparkContext.parallelize(indexed, numSlices=max(len(indexed), 1))

    def close(self) -> None:
        self.session.stop()
