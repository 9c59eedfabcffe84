"""Shared HDF5 helpers for the ICESat-2 readers: opening, attributes, lazy arrays, metadata.

Everything here is private to :mod:`icefb.io`. The lazy arrays are xarray ``BackendArray``
subclasses that hold only a file path and a variable path, and open the file on every read, so
dask graphs built from them pickle to distributed workers and never share an open handle.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from xarray.backends import BackendArray
from xarray.core import indexing

from icefb.constants import ATL03_FILL_VALUE, ATLAS_SDP_GPS_EPOCH_SECONDS, BEAMS
from icefb.errors import CorruptFileError, InvalidGranuleError, MissingVariableError

__all__ = [
    "GranuleNotFoundError",
    "H5Variable",
    "attr_str",
    "granule_metadata",
    "h5open",
    "mask_fill",
]

#: Values at or above this are float fill values (ATL03/07/10 use 3.4028235e38).
FILL_THRESHOLD = float(ATL03_FILL_VALUE) * 0.5


class GranuleNotFoundError(CorruptFileError, FileNotFoundError):
    """A granule path does not exist (a :class:`~icefb.errors.CorruptFileError` too)."""


def _path_str(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


@contextlib.contextmanager
def h5open(path: str | os.PathLike[str], *, variable: str | None = None) -> Iterator[h5py.File]:
    """Open ``path`` read-only, turning every way it can fail into an icefb error.

    Raises
    ------
    GranuleNotFoundError
        The file does not exist.
    CorruptFileError
        The file is not HDF5, is truncated, or a read fails inside the block.
    """
    p = _path_str(path)
    if not os.path.exists(p):
        raise GranuleNotFoundError("no such file", path=p)
    if os.path.isdir(p):
        raise CorruptFileError("is a directory, not an HDF5 file", path=p)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise CorruptFileError(
            f"cannot open as HDF5 ({_short(exc)})", path=p, expected="an HDF5 ICESat-2 granule"
        ) from exc
    try:
        yield f
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, CorruptFileError):
            raise
        raise CorruptFileError(
            f"read failed, file truncated or corrupt ({_short(exc)})", path=p, variable=variable
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            f.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def attr_str(value: Any) -> str:
    """Decode an HDF5 attribute stored as bytes, str, or a 1-element (object) array to ``str``.

    Examples
    --------
    >>> attr_str(np.array([b"weak"], dtype=object))
    'weak'
    >>> attr_str(b"Backward")
    'Backward'
    """
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return ""
        value = value.reshape(-1)[0]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace").strip()
    return str(value).strip()


def attr_get(obj: h5py.Group | h5py.Dataset, name: str) -> str | None:
    """Attribute ``name`` of ``obj`` as ``str``, or ``None`` if absent."""
    if name not in obj.attrs:
        return None
    try:
        return attr_str(obj.attrs[name])
    except (OSError, TypeError, ValueError):
        return None


def scalar_get(f: h5py.File, name: str) -> float | None:
    """First element of dataset ``name`` as a float, or ``None`` if absent or empty."""
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset) or obj.size == 0:
        return None
    try:
        return float(np.asarray(obj[()]).reshape(-1)[0])
    except (TypeError, ValueError):
        return None


def require(
    f: h5py.File, name: str, *, path: str, beam: str | None, ndim: int | None = None
) -> h5py.Dataset:
    """Dataset ``name`` of ``f``; :class:`MissingVariableError` naming the group path if absent."""
    obj = f.get(name)
    if obj is None:
        parent = name.rsplit("/", 1)[0]
        what = "group" if parent and f.get(parent) is None else "variable"
        missing = parent if what == "group" else name
        raise MissingVariableError(
            f"missing {what} /{missing}", path=path, beam=beam, variable=name, expected=f"/{name}"
        )
    if not isinstance(obj, h5py.Dataset):
        raise InvalidGranuleError(
            "is a group, expected a dataset", path=path, beam=beam, variable=name
        )
    if ndim is not None and obj.ndim != ndim:
        raise InvalidGranuleError(
            "wrong number of dimensions",
            path=path,
            beam=beam,
            variable=name,
            got=obj.shape,
            expected=f"{ndim}-D",
        )
    return obj


def check_kind(ds: h5py.Dataset, kinds: str, *, path: str, beam: str | None) -> None:
    """Raise :class:`InvalidGranuleError` unless ``ds.dtype.kind`` is in ``kinds``."""
    if ds.dtype.kind not in kinds:
        names = {"f": "float", "i": "signed int", "u": "unsigned int"}
        raise InvalidGranuleError(
            "wrong dtype",
            path=path,
            beam=beam,
            variable=ds.name.lstrip("/"),
            got=str(ds.dtype),
            expected=" or ".join(names.get(k, k) for k in kinds),
        )


def mask_fill(values: np.ndarray, fill: Any = None) -> np.ndarray:
    """Float copy of ``values`` with fill values (>= 1.7e38, non-finite, or ``fill``) as NaN.

    Examples
    --------
    >>> mask_fill(np.array([1.0, 3.4028235e38], dtype=np.float32))
    array([ 1., nan], dtype=float32)
    """
    out = np.array(values, dtype=np.result_type(values.dtype, np.float32), copy=True)
    bad = ~np.isfinite(out) | (np.abs(out) >= FILL_THRESHOLD)
    if fill is not None:
        fv = np.asarray(fill).reshape(-1)
        if fv.size and np.isfinite(fv[0].astype(np.float64)):
            bad |= out == fv[0]
    out[bad] = np.nan
    return out


def fill_attr(ds: h5py.Dataset) -> Any:
    """The ``_FillValue`` attribute of ``ds`` or ``None``."""
    return ds.attrs.get("_FillValue")


class H5Variable(BackendArray):
    """Lazy, picklable view of one HDF5 dataset; opens the file on each read.

    Parameters
    ----------
    path : str
        HDF5 file.
    name : str
        Dataset path inside the file.
    shape : tuple of int
        Expected shape (checked when the granule is opened).
    dtype : numpy.dtype
        dtype returned (values are cast on read).
    """

    def __init__(self, path: str, name: str, shape: tuple[int, ...], dtype: Any) -> None:
        self.path = path
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._getitem
        )

    def _getitem(self, key: tuple) -> np.ndarray:
        with h5open(self.path, variable=self.name) as f:
            if 0 in self.shape:
                return np.empty(_result_shape(key, self.shape), dtype=self.dtype)
            data = f[self.name][key]
        return np.asarray(data, dtype=self.dtype)


def _result_shape(key: tuple, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for k, n in zip(key, shape, strict=False):
        if isinstance(k, slice):
            out.append(len(range(*k.indices(n))))
    return tuple(out)


def photon_range(key: tuple, n: int) -> tuple[int, int, int]:
    """``(start, stop, step)`` of a basic 1-D key along a dimension of length ``n``."""
    k = key[0] if key else slice(None)
    if isinstance(k, int | np.integer):
        i = int(k) + (n if k < 0 else 0)
        return i, i + 1, 0
    start, stop, step = k.indices(n)
    return start, stop, step


def granule_metadata(f: h5py.File, path: str, product: str) -> dict[str, Any]:
    """Granule-level attributes: ``granule_id``, ``rgt``, ``cycle_number``, epoch offset, notes.

    Missing ``orbit_info`` / ``ancillary_data`` fall back to root attributes, the file name
    (``ATLxx_YYYYMMDDhhmmss_ttttccss_rrr_vv.h5``) and the documented epoch; ``metadata_source``
    says where each value came from.
    """
    notes: list[str] = []
    stem = Path(path).stem
    granule_id = attr_get(f, "granule_id")
    if granule_id is None:
        meta = f.get("METADATA/DatasetIdentification")
        granule_id = attr_get(meta, "fileName") if meta is not None else None
        if granule_id:
            granule_id = Path(granule_id).stem
    if not granule_id:
        granule_id = stem
        notes.append("granule_id from file name")
    m = re.search(r"_(\d{14})_(\d{4})(\d{2})(\d{2})_", Path(path).name)
    rgt = scalar_get(f, "orbit_info/rgt")
    cycle = scalar_get(f, "orbit_info/cycle_number")
    for name, value in (("rgt", rgt), ("cycle_number", cycle)):
        if value is None:
            notes.append(f"{name} not in orbit_info")
    if rgt is None:
        a = attr_get(f, "rgt")
        rgt = float(a) if a and a.lstrip("-").isdigit() else (float(m.group(2)) if m else -1)
    if cycle is None:
        a = attr_get(f, "cycle_number")
        cycle = float(a) if a and a.lstrip("-").isdigit() else (float(m.group(3)) if m else -1)
    sc_orient = scalar_get(f, "orbit_info/sc_orient")
    epoch = scalar_get(f, "ancillary_data/atlas_sdp_gps_epoch")
    if epoch is None:
        epoch_source = "default (ancillary_data/atlas_sdp_gps_epoch absent)"
        epoch_offset = 0.0
    else:
        epoch_source = "ancillary_data/atlas_sdp_gps_epoch"
        epoch_offset = epoch - ATLAS_SDP_GPS_EPOCH_SECONDS
    short = attr_get(f, "short_name") or attr_get(f, "identifier_product_type")
    return {
        "granule_id": str(granule_id),
        "rgt": int(rgt),
        "cycle_number": int(cycle),
        "sc_orient": None if sc_orient is None else int(sc_orient),
        "epoch_offset": float(epoch_offset),
        "epoch_source": epoch_source,
        "short_name": short,
        "product": product,
        "metadata_source": "; ".join(notes) if notes else "orbit_info, ancillary_data",
    }


_ORIENT = {0: "backward", 1: "forward", 2: "transition"}


def beam_attrs(f: h5py.File, beam: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Beam attributes: strong/weak, spacecraft orientation, spot number, granule metadata."""
    g = f[beam]
    orient = attr_get(g, "sc_orientation")
    orient = orient.lower() if orient else _ORIENT.get(meta["sc_orient"], "unknown")
    btype = attr_get(g, "atlas_beam_type")
    if btype:
        btype = btype.lower()
    elif orient in ("backward", "forward"):
        strong_side = "l" if orient == "backward" else "r"
        btype = "strong" if beam.endswith(strong_side) else "weak"
    else:
        btype = "unknown"
    spot = attr_get(g, "atlas_spot_number")
    try:
        spot_n = int(spot) if spot is not None else -1
    except ValueError:
        spot_n = -1
    return {
        "beam": beam,
        "atlas_beam_type": btype,
        "sc_orientation": orient,
        "atlas_spot_number": spot_n,
        "granule_id": meta["granule_id"],
        "rgt": meta["rgt"],
        "cycle_number": meta["cycle_number"],
    }


def resolve_beams(
    f: h5py.File,
    beams: str | list[str] | tuple[str, ...] | None,
    *,
    path: str,
    has: str,
    product: str,
) -> list[str]:
    """Beams to read: those asked for (each must exist) or every beam group that has ``has``."""
    from icefb.errors import MissingBeamError

    present = [b for b in BEAMS if isinstance(f.get(b), h5py.Group)]
    if beams is None:
        chosen = [b for b in present if f.get(f"{b}/{has}") is not None]
        if not chosen:
            raise MissingBeamError(
                f"no beam group with {has} data; not an {product} granule?",
                path=path,
                expected=f"one of {', '.join(BEAMS)} with /gtx/{has}",
                got=sorted(f.keys()),
            )
        return chosen
    wanted = [beams] if isinstance(beams, str) else list(beams)
    for b in wanted:
        if b not in BEAMS:
            raise MissingBeamError(
                "not an ICESat-2 beam name", path=path, beam=b, expected=", ".join(BEAMS)
            )
        if b not in present:
            raise MissingBeamError(
                "beam not in granule", path=path, beam=b, got=present or "no beams"
            )
    return wanted
