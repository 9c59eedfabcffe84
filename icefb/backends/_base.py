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


class Backend:
    """Base class: ``map(func, units, *args)`` returns ``[func(u, *args) for u in units]``.

    Subclasses run the calls elsewhere (dask workers, Spark executors). Use as a context
    manager so clusters and sessions are shut down.
    """

    name: str = "base"

    def map(self, func: Callable[..., Any], units: Sequence[Any], *args: Any) -> list[Any]:
        raise NotImplementedError

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

    def map(self, func: Callable[..., Any], units: Sequence[Any], *args: Any) -> list[Any]:
        from tqdm.auto import tqdm

        it: Iterable[Any] = units
        if self.progress:
            it = tqdm(units, desc=getattr(func, "__name__", "units"), unit="unit")
        return [func(u, *args) for u in it]


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
