"""Backend protocol, the serial backend and the factory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from icefb.errors import ConfigError

BackendName = Literal["serial", "dask", "spark"]


@dataclass(frozen=True, order=True)
class WorkUnit:
    """One independent piece of work: a beam of a granule, optionally an along-track block.

    Parameters
    ----------
    granule : str
        Path of the ATL03 granule.
    beam : str
        Beam name (``"gt1l"`` ... ``"gt3r"``).
    block : tuple of float, optional
        ``(x_start, x_end)`` along-track block in m, or ``None`` for the whole beam.
    scene : str, optional
        Path of the Sentinel-2 scene paired with this beam, if any.
    """

    granule: str
    beam: str
    block: tuple[float, float] | None = None
    scene: str | None = None

    @property
    def key(self) -> str:
        """A short, stable name used for task keys and logs."""
        from pathlib import Path

        name = f"{Path(self.granule).stem}/{self.beam}"
        if self.block is not None:
            name += f"/{self.block[0]:.0f}-{self.block[1]:.0f}"
        return name


class Resident:
    """Per-unit results held in the engine's memory, not the driver's.

    Made by :meth:`Backend.persist`; pass it to :meth:`Backend.map` of the same backend to run
    the next phase where the data already are (dask futures on their workers, a cached Spark
    RDD on its executors), as the paper's map-reduce phase runs on data loaded beforehand.
    Release it when done (or use it as a context manager).

    Parameters
    ----------
    backend : Backend
        The backend holding the data.
    handle : object
        Engine-specific: a list (serial), a list of ``distributed.Future`` (dask), a cached
        ``pyspark.RDD`` of ``(index, result)`` pairs (Spark).
    n : int
        Number of units.
    summaries : list, optional
        ``summary(result, *args)`` of every unit, in unit order, when :meth:`Backend.persist`
        was given a ``summary``; None otherwise.
    """

    def __init__(self, backend: Backend, handle: Any, n: int,
                 summaries: list[Any] | None = None) -> None:
        self.backend = backend
        self.handle = handle
        self.n = n
        self.summaries = summaries

    def __len__(self) -> int:
        return self.n

    def collect(self) -> list[Any]:
        """Ship every unit's result to the driver, in unit order."""
        return self.backend._collect(self)

    def release(self) -> None:
        """Free the engine's memory held for these results (idempotent)."""
        if self.handle is not None:
            self.backend._release(self)
            self.handle = None

    def __enter__(self) -> Resident:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Backend:
    """Base class: ``map(func, units, *args)`` returns ``[func(u, *args) for u in units]``.

    Subclasses run the calls elsewhere (dask workers, Spark executors). Use as a context
    manager so clusters and sessions are shut down. ``persist`` keeps per-unit results in the
    engine's memory (a :class:`Resident`) and ``map`` over a ``Resident`` runs where they are.
    """

    name: str = "base"

    def map(self, func: Callable[..., Any], units: Sequence[Any] | Resident,
            *args: Any, per_unit: Sequence[Any] | None = None) -> list[Any]:
        """``[func(u, *args) for u in units]``, in unit order, run by the engine.

        ``units`` may be a :class:`Resident` of this backend: ``func`` then gets each held
        result, on the worker that holds it, and nothing is shipped from the driver.
        ``per_unit``: one more value per unit, passed after the unit
        (``func(u, per_unit[i], *args)``); each task is sent only its own.
        """
        raise NotImplementedError

    @staticmethod
    def _check_per_unit(per_unit: Sequence[Any] | None, n: int) -> None:
        if per_unit is not None and len(per_unit) != n:
            raise ConfigError("per_unit needs one value per unit", got=len(per_unit),
                              expected=n)

    def persist(self, func: Callable[..., Any], units: Sequence[Any], *args: Any,
                summary: Callable[..., Any] | None = None) -> Resident:
        """Run ``func(u, *args)`` for every unit and keep the results in the engine's memory.

        Returns once every unit is done (a unit's error is raised here). Only the results'
        handles come back to the driver, and, with ``summary``, ``summary(result, *args)`` of
        each result (:attr:`Resident.summaries`), computed where the result is made, in the
        same pass: on Spark a later ``map`` over the cached results would read them all back
        out of the cache, only to compute a few numbers.
        """
        raise NotImplementedError

    def _collect(self, resident: Resident) -> list[Any]:
        raise NotImplementedError

    def _release(self, resident: Resident) -> None:
        raise NotImplementedError

    def _check_resident(self, resident: Resident) -> None:
        if resident.backend is not self:
            raise ConfigError("these resident results belong to another backend",
                              got=resident.backend.name, expected=f"results of this {self.name} "
                              "backend (Backend.persist)")
        if resident.handle is None:
            raise ConfigError("these resident results were released",
                              expected="a Resident that has not been released")

    @property
    def n_workers(self) -> int:
        """Number of parallel workers (processes or executor slots)."""
        return 1

    def close(self) -> None:
        """Release the engine's resources."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialBackend(Backend):
    """Run every unit in this process, one after the other (tests, debugging)."""

    name = "serial"

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def map(self, func: Callable[..., Any], units: Sequence[Any] | Resident,
            *args: Any, per_unit: Sequence[Any] | None = None) -> list[Any]:
        from tqdm.auto import tqdm

        if isinstance(units, Resident):
            self._check_resident(units)
            units = units.handle
        self._check_per_unit(per_unit, len(units))
        it: Iterable[Any] = units
        if self.progress:
            it = tqdm(units, desc=getattr(func, "__name__", "units"), unit="unit")
        if per_unit is not None:
            return [func(u, v, *args) for u, v in zip(it, per_unit, strict=True)]
        return [func(u, *args) for u in it]

    def persist(self, func: Callable[..., Any], units: Sequence[Any], *args: Any,
                summary: Callable[..., Any] | None = None) -> Resident:
        held = self.map(func, units, *args)
        summaries = None if summary is None else [summary(r, *args) for r in held]
        return Resident(self, held, len(units), summaries)

    def _collect(self, resident: Resident) -> list[Any]:
        self._check_resident(resident)
        return list(resident.handle)

    def _release(self, resident: Resident) -> None:
        pass


def get_backend(name: BackendName = "dask", **kwargs: Any) -> Backend:
    """Create a backend by name.

    Parameters
    ----------
    name : {"dask", "spark", "serial"}
        Engine. ``"dask"`` starts a ``distributed.LocalCluster`` unless ``scheduler`` (an
        address such as ``"tcp://host:8786"``) or ``client`` is given; ``"spark"`` starts a
        local PySpark session unless ``master`` is given.
    **kwargs
        Passed to :class:`~icefb.backends.dask.DaskBackend` or
        :class:`~icefb.backends.spark.SparkBackend`.

    Returns
    -------
    Backend

    Raises
    ------
    icefb.errors.ConfigError
        For an unknown backend name.
    """
    if name == "serial":
        return SerialBackend(**kwargs)
    if name == "dask":
        from icefb.backends.dask import DaskBackend

        return DaskBackend(**kwargs)
    if name == "spark":
        from icefb.backends.spark import SparkBackend

        return SparkBackend(**kwargs)
    raise ConfigError("unknown backend", got=name, expected='one of {"dask", "spark", "serial"}')
