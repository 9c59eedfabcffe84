"""Deterministic HDF5 writing with ICESat-2 attribute encodings (private)."""

from __future__ import annotations

import os
from typing import Any, Literal

import h5py
import numpy as np

from icefb.errors import ConfigError

AttrEncoding = Literal["bytes", "str", "object"]
FILL_F4 = np.float32(3.4028235e38)
FILL_F8 = np.float64(1.7976931348623157e308)


def encode_attr(value: Any, encoding: AttrEncoding) -> Any:
    """Encode a string the way a given producer does (numeric values pass through)."""
    if not isinstance(value, str):
        return value
    if encoding == "bytes":  # NASA SIPS: fixed-length byte strings
        return np.bytes_(value.encode("utf-8"))
    if encoding == "str":
        return value
    if encoding == "object":  # e.g. files rewritten by R/rhdf5: 1-element vlen arrays
        return np.array([value], dtype=h5py.string_dtype())
    raise ConfigError("attr_encoding must be one of {'bytes', 'str', 'object'}", got=encoding)


class Writer:
    """Write groups and datasets without object timestamps so bytes depend only on content."""

    def __init__(self, path: str | os.PathLike[str], encoding: AttrEncoding = "bytes",
                 compression_level: int = 1):
        encode_attr("x", encoding)  # validate
        self.encoding = encoding
        self.level = int(compression_level)
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)
        fid = h5py.h5f.create(os.fsencode(os.fspath(path)), h5py.h5f.ACC_TRUNC, fapl=fapl,
                              fcpl=fcpl)
        self.f = h5py.File(fid)

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def attrs(self, obj, attrs: dict[str, Any] | None) -> None:
        for k, v in (attrs or {}).items():
            obj.attrs[k] = encode_attr(v, self.encoding)

    def group(self, name: str, attrs: dict[str, Any] | None = None) -> h5py.Group:
        if name in self.f:
            g = self.f[name]
        else:
            parent_name, _, leaf = name.rpartition("/")
            parent = self.group(parent_name) if parent_name else self.f
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            gid = h5py.h5g.create(parent.id, leaf.encode(), gcpl=gcpl)
            g = h5py.Group(gid)
        self.attrs(g, attrs)
        return g

    def dataset(self, name: str, data, *, attrs: dict[str, Any] | None = None,
                chunk: int | None = 10000, fill=None, resizable: bool = False) -> h5py.Dataset:
        data = np.asarray(data)
        parent_name, _, leaf = name.rpartition("/")
        parent = self.group(parent_name) if parent_name else self.f
        kw: dict[str, Any] = {"track_times": False}
        if chunk is not None and data.ndim >= 1:
            kw["chunks"] = (chunk, *data.shape[1:])
            kw["compression"] = "gzip"
            kw["compression_opts"] = self.level
            kw["maxshape"] = (None, *data.shape[1:])  # like NASA: unlimited first axis
        if fill is not None:
            kw["fillvalue"] = fill
        ds = parent.create_dataset(leaf, data=data, **kw)
        a = dict(attrs or {})
        if fill is not None:
            a["_FillValue"] = np.array([fill], dtype=data.dtype)
        self.attrs(ds, a)
        return ds

    @staticmethod
    def append(ds: h5py.Dataset, data) -> None:
        data = np.asarray(data, dtype=ds.dtype)
        n0 = ds.shape[0]
        ds.resize(n0 + data.shape[0], axis=0)
        ds[n0:] = data
