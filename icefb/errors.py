"""Exceptions and warnings raised by icefb.

Every error names what it can of the file, the beam, the bad value and what was expected, so a
user with a thousand granules can find the one that failed. Each class also subclasses the
built-in exception a user would naturally catch (``ValueError``, ``OSError``, ...).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ConfigError",
    "CorruptFileError",
    "IcefbError",
    "IcefbWarning",
    "InvalidGranuleError",
    "MissingBeamError",
    "MissingVariableError",
    "ModelMismatchError",
    "NoOverlapError",
    "ProductError",
    "SceneCRSError",
    "SceneError",
]


def format_message(
    problem: str,
    *,
    path: str | os.PathLike[str] | None = None,
    beam: str | None = None,
    variable: str | None = None,
    expected: Any = None,
    got: Any = None,
) -> str:
    """Build a one-line message naming the file, beam, variable, what was found and expected.

    Examples
    --------
    >>> print(format_message("missing group", path="g.h5", beam="gt1l", expected="/gt1l/heights"))
    g.h5 [beam gt1l]: missing group (expected /gt1l/heights)
    """
    where = []
    if path is not None:
        where.append(os.fspath(path))
    if beam is not None:
        where.append(f"[beam {beam}]")
    if variable is not None:
        where.append(f"[variable {variable}]")
    msg = (" ".join(where) + ": " if where else "") + problem
    extra = []
    if got is not None:
        extra.append(f"got {got!r}" if not isinstance(got, str) else f"got {got}")
    if expected is not None:
        extra.append(f"expected {expected}")
    if extra:
        msg += " (" + "; ".join(extra) + ")"
    return msg


class IcefbError(Exception):
    """Base class of every icefb error.

    Parameters
    ----------
    problem : str
        What went wrong, in words.
    path, beam, variable : optional
        Where it went wrong; kept as attributes for programs that handle the error.
    expected, got : optional
        What was expected and what was found.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | os.PathLike[str] | None = None,
        beam: str | None = None,
        variable: str | None = None,
        expected: Any = None,
        got: Any = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        self.beam = beam
        self.variable = variable
        self.expected = expected
        self.got = got
        super().__init__(
            format_message(
                problem, path=path, beam=beam, variable=variable, expected=expected, got=got
            )
        )

    def __reduce__(self):  # picklable across dask/spark workers
        state = (self.problem, self.path, self.beam, self.variable, self.expected, self.got)
        return (_rebuild, (type(self), *state))


def _rebuild(cls, problem, path, beam, variable, expected, got):  # pragma: no cover - pickle
    return cls(problem, path=path, beam=beam, variable=variable, expected=expected, got=got)


class ConfigError(IcefbError, ValueError):
    """A parameter is out of range or inconsistent."""


class InvalidGranuleError(IcefbError, ValueError):
    """An ICESat-2 file does not have the layout or values the product defines."""


class MissingBeamError(InvalidGranuleError):
    """A requested beam (or all beams) is absent from a granule."""


class MissingVariableError(InvalidGranuleError):
    """A group or variable icefb needs is absent from a granule."""


class CorruptFileError(IcefbError, OSError):
    """A file cannot be read: truncated, not HDF5, or a chunk fails to decompress."""


class SceneError(IcefbError, ValueError):
    """A Sentinel-2 scene cannot be used (bands, scaling, metadata)."""


class SceneCRSError(SceneError):
    """A scene is in a CRS icefb cannot sample (e.g. geographic) or has none."""


class NoOverlapError(SceneError):
    """A scene and a ground track do not overlap."""


class ModelMismatchError(IcefbError, ValueError):
    """A saved model was trained on another feature set or class set."""


class ProductError(IcefbError, OSError):
    """An output path is not an icefb product, or a product is incomplete."""


class IcefbWarning(UserWarning):
    """Warnings issued by icefb (filter with ``warnings.filterwarnings(..., IcefbWarning)``)."""
