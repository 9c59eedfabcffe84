"""Lazy ATL03 reader: one photon :class:`xarray.Dataset` per beam, gathered in a DataTree.

Nothing but metadata and two segment-rate index arrays (``ph_index_beg``, ``segment_ph_cnt``,
read to validate the photon/segment mapping) is read when a granule is opened. Every photon
variable is an xarray ``BackendArray`` that opens the file on each read; :func:`open_atl03`
wraps them in dask arrays, so each dask chunk is one independent HDF5 read and the graph
pickles to distributed workers. The derived variables (``x_atc``, the geophysical
corrections brought to photon rate, the decoded ``time``) are computed per chunk from the
photon slice and a cached segment-rate table, with no Python loop over segments.
"""

from __future__ import annotations

import functools
import glob as _glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import h5py
import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from icefb.constants import delta_time_to_datetime64
from icefb.errors import InvalidGranuleError
from icefb.io._h5 import (
    GranuleNotFoundError,
    H5Variable,
    attr_get,
    beam_attrs,
    check_kind,
    granule_metadata,
    h5open,
    mask_fill,
    photon_range,
    require,
    resolve_beams,
)

__all__ = [
    "CORRECTIONS",
    "PIPELINE_VARIABLES",
    "TRUTH_SIDECAR_SUFFIX",
    "glob_granules",
    "open_atl03",
    "open_atl03_beam",
    "open_atl03_many",
]

#: Geophysical corrections brought from segment rate to photon rate (all in metres).
CORRECTIONS: tuple[str, ...] = ("geoid", "tide_ocean", "tide_equilibrium", "dac")

#: The photon variables the 2 m resampling stage reads.
PIPELINE_VARIABLES: tuple[str, ...] = (
    "h_ph",
    "x_atc",
    "delta_time",
    "lat_ph",
    "lon_ph",
    "signal_conf_ph",
    "quality_ph",
    *CORRECTIONS,
)

#: Bits of ``geophys_corr_flag``.
CORR_FLAG_BITS: dict[str, int] = {
    "geoid": 1,
    "tide_ocean": 2,
    "tide_equilibrium": 4,
    "dac": 8,
    "no_segment": 16,
}

ChunksLike = Literal["auto"] | int | dict[str, Any] | None

# name -> (dtype, accepted dtype kinds, required, CF attributes)
_HEIGHTS: dict[str, tuple[Any, str, bool, dict[str, Any]]] = {
    "h_ph": (
        np.float32,
        "f",
        True,
        {
            "units": "m",
            "long_name": "photon height above the WGS84 ellipsoid",
            "standard_name": "height_above_reference_ellipsoid",
        },
    ),
    "lat_ph": (
        np.float64,
        "f",
        True,
        {"units": "degrees_north", "long_name": "photon latitude", "standard_name": "latitude"},
    ),
    "lon_ph": (
        np.float64,
        "f",
        True,
        {"units": "degrees_east", "long_name": "photon longitude", "standard_name": "longitude"},
    ),
    "delta_time": (
        np.float64,
        "f",
        True,
        {
            "units": "s",
            "long_name": "photon time, seconds since 2018-01-01T00:00:00 (ATLAS SDP epoch)",
        },
    ),
    "signal_conf_ph": (
        np.int8,
        "iu",
        True,
        {
            "units": "1",
            "long_name": "photon signal confidence per surface type "
            "(land, ocean, sea ice, land ice, inland water)",
            "flag_values": np.array([-2, -1, 0, 1, 2, 3, 4], dtype=np.int8),
            "flag_meanings": "possible_tep not_considered noise buffer low medium high",
        },
    ),
    "quality_ph": (np.int8, "iu", True, {"units": "1", "long_name": "photon quality (0 nominal)"}),
    "dist_ph_along": (
        np.float32,
        "f",
        True,
        {
            "units": "m",
            "long_name": "along-track distance of the photon from its geolocation segment start",
        },
    ),
    "ph_id_pulse": (np.uint8, "iu", False, {"units": "1", "long_name": "laser pulse counter"}),
    "ph_id_count": (np.uint8, "iu", False, {"units": "1", "long_name": "photon event counter"}),
    "ph_id_channel": (np.uint8, "iu", False, {"units": "1", "long_name": "receiver channel"}),
}

_BCKGRD: dict[str, tuple[str, Any, str, dict[str, Any]]] = {
    "bckgrd_delta_time": (
        "delta_time",
        np.float64,
        "f",
        {
            "units": "s",
            "long_name": "time of the 50-shot background sum, seconds since 2018-01-01T00:00:00",
        },
    ),
    "bckgrd_counts": (
        "bckgrd_counts",
        np.int32,
        "iu",
        {"units": "count", "long_name": "background photon counts in 50 shots"},
    ),
    "bckgrd_rate": (
        "bckgrd_rate",
        np.float32,
        "f",
        {"units": "counts/s", "long_name": "background count rate"},
    ),
}

_CORR_ATTRS: dict[str, dict[str, Any]] = {
    "geoid": {"long_name": "geoid height above WGS84 (EGM2008, tide-free)"},
    "tide_ocean": {"long_name": "ocean tide (not applied to h_ph)"},
    "tide_equilibrium": {"long_name": "long-period equilibrium tide (not applied to h_ph)"},
    "dac": {
        "long_name": "dynamic atmosphere correction / inverted barometer (not applied to h_ph)"
    },
}


# --------------------------------------------------------------------------------------------
# photon <-> segment mapping
# --------------------------------------------------------------------------------------------


def _photon_mapping(
    beg: np.ndarray, cnt: np.ndarray, n_photons: int, *, path: str, beam: str
) -> Literal["ph_index_beg", "segment_ph_cnt"]:
    """Validate ``ph_index_beg``/``segment_ph_cnt`` against the photon count.

    Returns which array defines the photon ranges: ``"ph_index_beg"`` (the ATL03 definition,
    1-based, 0 = empty segment) when its ranges are in bounds and disjoint, else
    ``"segment_ph_cnt"`` (cumulative counts) when the counts add up to the photon count
    (some third-party clips rewrite ``ph_index_beg``), else an error.
    """
    if beg.shape != cnt.shape:
        raise InvalidGranuleError(
            "ph_index_beg and segment_ph_cnt differ in length",
            path=path,
            beam=beam,
            got=(beg.shape, cnt.shape),
            expected="equal shapes",
        )
    beg = beg.astype(np.int64)
    cnt = cnt.astype(np.int64)
    if (cnt < 0).any():
        raise InvalidGranuleError(
            "negative segment_ph_cnt",
            path=path,
            beam=beam,
            variable="geolocation/segment_ph_cnt",
            got=int(cnt.min()),
            expected=">= 0",
        )
    full = cnt > 0
    b = beg[full]
    e = b + cnt[full] - 1
    if b.size and (b.min() < 1 or e.max() > n_photons):
        bad = int(np.flatnonzero((b < 1) | (e > n_photons))[0])
        raise InvalidGranuleError(
            "ph_index_beg out of range",
            path=path,
            beam=beam,
            variable="geolocation/ph_index_beg",
            got=f"segment {int(np.flatnonzero(full)[bad])}: photons {int(b[bad])}..{int(e[bad])}",
            expected=f"1-based ranges within 1..{n_photons}",
        )
    if b.size < 2 or bool((b[1:] > e[:-1]).all()):
        return "ph_index_beg"
    if int(cnt.sum()) == n_photons:
        return "segment_ph_cnt"
    raise InvalidGranuleError(
        "ph_index_beg ranges overlap and segment_ph_cnt does not add up to the photon count",
        path=path,
        beam=beam,
        variable="geolocation/ph_index_beg",
        got=f"sum(segment_ph_cnt)={int(cnt.sum())}",
        expected=f"{n_photons} photons",
    )


@dataclass(frozen=True)
class _SegmentTable:
    starts: np.ndarray  # int64, 0-based first photon of each non-empty segment (sorted)
    ends: np.ndarray  # int64, one past the last photon
    seg: np.ndarray  # int64, geolocation-segment index of each non-empty segment
    dist_x: np.ndarray  # float64 (n_segments,)
    corr: np.ndarray  # float32 (4, n_segments), NaN-filled then interpolated
    flag: np.ndarray  # int8 (n_segments,), CORR_FLAG_BITS of interpolated corrections


def _file_stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def _segment_table(path: str, beam: str, mode: str) -> _SegmentTable:
    return _segment_table_cached(path, beam, mode, _file_stamp(path))


@functools.lru_cache(maxsize=64)
def _segment_table_cached(path: str, beam: str, mode: str, stamp: tuple[int, int]) -> _SegmentTable:
    with h5open(path, variable=f"{beam}/geolocation") as f:
        beg = f[f"{beam}/geolocation/ph_index_beg"][()].astype(np.int64)
        cnt = f[f"{beam}/geolocation/segment_ph_cnt"][()].astype(np.int64)
        dist_x = f[f"{beam}/geolocation/segment_dist_x"][()].astype(np.float64)
        raw = []
        for name in CORRECTIONS:
            ds = f[f"{beam}/geophys_corr/{name}"]
            raw.append(mask_fill(ds[()].astype(np.float32), ds.attrs.get("_FillValue")))
    step = np.diff(dist_x[np.isfinite(dist_x)])
    if step.size and (step < 0).any():  # along-track distance only grows within a granule
        raise InvalidGranuleError(
            "segment_dist_x is not monotonic",
            path=path,
            beam=beam,
            variable=f"{beam}/geolocation/segment_dist_x",
            got=f"decreases after finite segment {int(np.flatnonzero(step < 0)[0])}",
            expected="non-decreasing along-track distance",
        )
    full = cnt > 0
    if mode == "ph_index_beg":
        starts = beg[full] - 1
    else:
        starts = (np.cumsum(cnt) - cnt)[full]
    ends = starts + cnt[full]
    seg = np.flatnonzero(full).astype(np.int64)
    corr = np.empty((len(CORRECTIONS), dist_x.size), dtype=np.float32)
    flag = np.zeros(dist_x.size, dtype=np.int8)
    order = np.argsort(dist_x, kind="stable")
    for j, (name, values) in enumerate(zip(CORRECTIONS, raw, strict=True)):
        bad = np.isnan(values)
        flag[bad] |= CORR_FLAG_BITS[name]
        if bad.all() or not bad.any():
            corr[j] = values
            continue
        x, v = dist_x[order], values[order]
        ok = ~np.isnan(v)
        filled = np.interp(x, x[ok], v[ok]).astype(np.float32)
        corr[j, order] = filled
    return _SegmentTable(starts, ends, seg, dist_x, corr, flag)


def _segment_of_photons(table: _SegmentTable, start: int, stop: int) -> np.ndarray:
    """Geolocation-segment index of photons ``start..stop-1``; -1 where none."""
    i = np.arange(start, stop, dtype=np.int64)
    k = np.searchsorted(table.starts, i, side="right") - 1
    kk = np.clip(k, 0, max(table.starts.size - 1, 0))
    if table.starts.size == 0:
        return np.full(i.shape, -1, dtype=np.int64)
    inside = (k >= 0) & (i < table.ends[kk])
    return np.where(inside, table.seg[kk], -1)


class _PhotonDerived(BackendArray):
    """Photon-rate variable computed per read from a photon slice and the segment table.

    ``kind`` is ``"x_atc"``, one of :data:`CORRECTIONS`, ``"geophys_corr_flag"`` or
    ``"time"``. Picklable: holds only the path, the beam and small scalars.
    """

    def __init__(
        self, path: str, beam: str, kind: str, n: int, mode: str, epoch_offset: float
    ) -> None:
        self.path = path
        self.beam = beam
        self.kind = kind
        self.mode = mode
        self.epoch_offset = epoch_offset
        self.shape = (int(n),)
        self.dtype = np.dtype(
            {"x_atc": np.float64, "geophys_corr_flag": np.int8, "time": "datetime64[ns]"}.get(
                kind, np.float32
            )
        )

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._getitem
        )

    def _getitem(self, key: tuple) -> np.ndarray:
        start, stop, step = photon_range(key, self.shape[0])
        scalar = step == 0
        if step < 0:  # pragma: no cover - xarray hands backends positive steps
            raise IndexError("negative steps are not supported")
        lo, hi = (start, stop) if step > 0 else (start, start + 1)
        if step > 1:
            hi = lo + ((hi - lo - 1) // step) * step + 1 if hi > lo else lo
        out = self._compute(lo, max(lo, hi))
        if step > 1:
            out = out[::step]
        return out[0] if scalar else out

    def _read(self, name: str, lo: int, hi: int) -> np.ndarray:
        with h5open(self.path, variable=name) as f:
            return f[name][lo:hi]

    def _compute(self, lo: int, hi: int) -> np.ndarray:
        if self.kind == "time":
            dt = self._read(f"{self.beam}/heights/delta_time", lo, hi).astype(np.float64)
            return delta_time_to_datetime64(dt + self.epoch_offset)
        table = _segment_table(self.path, self.beam, self.mode)
        seg = _segment_of_photons(table, lo, hi)
        missing = seg < 0
        segc = np.where(missing, 0, seg)
        if self.kind == "x_atc":
            along = self._read(f"{self.beam}/heights/dist_ph_along", lo, hi).astype(np.float64)
            out = table.dist_x[segc] + along if table.dist_x.size else along * np.nan
            out[missing] = np.nan
            return out
        if self.kind == "geophys_corr_flag":
            out = table.flag[segc] if table.flag.size else np.zeros(hi - lo, np.int8)
            return np.where(missing, CORR_FLAG_BITS["no_segment"], out).astype(np.int8)
        j = CORRECTIONS.index(self.kind)
        if table.corr.shape[1] == 0:
            return np.full(hi - lo, np.nan, dtype=np.float32)
        out = table.corr[j, segc]
        out[missing] = np.nan
        return out


# --------------------------------------------------------------------------------------------
# opening one beam
# --------------------------------------------------------------------------------------------


def _lazy(array: BackendArray) -> indexing.LazilyIndexedArray:
    return indexing.LazilyIndexedArray(array)


def _beam_dataset(f: h5py.File, path: str, beam: str, meta: dict[str, Any]) -> xr.Dataset:
    """The lazily indexed (not yet dask) photon Dataset of ``beam``."""
    hgrp = f.get(f"{beam}/heights")
    if hgrp is None:
        raise _missing_group(path, beam, f"{beam}/heights")
    if not isinstance(hgrp, h5py.Group):
        raise InvalidGranuleError(
            "not a group",
            path=path,
            beam=beam,
            variable=f"{beam}/heights",
            expected=f"group /{beam}/heights",
        )
    h_ph = require(f, f"{beam}/heights/h_ph", path=path, beam=beam, ndim=1)
    n = int(h_ph.shape[0])
    variables: dict[str, xr.Variable] = {}
    chunks = h_ph.chunks[0] if h_ph.chunks else None
    for name, (dtype, kinds, required, attrs) in _HEIGHTS.items():
        vname = f"{beam}/heights/{name}"
        if not required and f.get(vname) is None:
            continue
        ds = require(f, vname, path=path, beam=beam)
        check_kind(ds, kinds, path=path, beam=beam)
        expected_shape = (n, 5) if name == "signal_conf_ph" else (n,)
        if ds.shape != expected_shape:
            raise InvalidGranuleError(
                "wrong shape",
                path=path,
                beam=beam,
                variable=vname,
                got=ds.shape,
                expected=f"{expected_shape} (photon count from h_ph)",
            )
        dims = ("photon", "ds_surf_type") if name == "signal_conf_ph" else ("photon",)
        enc = {"preferred_chunks": {"photon": chunks}} if chunks else {}
        variables[name] = xr.Variable(
            dims, _lazy(H5Variable(path, vname, ds.shape, dtype)), dict(attrs), enc
        )

    geo = {
        name: require(f, f"{beam}/geolocation/{name}", path=path, beam=beam, ndim=1)
        for name in ("ph_index_beg", "segment_ph_cnt", "segment_dist_x")
    }
    for name in ("ph_index_beg", "segment_ph_cnt"):
        check_kind(geo[name], "iu", path=path, beam=beam)
    check_kind(geo["segment_dist_x"], "f", path=path, beam=beam)
    n_seg = geo["ph_index_beg"].shape[0]
    for ds in geo.values():
        if ds.shape[0] != n_seg:
            raise InvalidGranuleError(
                "geolocation arrays differ in length",
                path=path,
                beam=beam,
                variable=ds.name.lstrip("/"),
                got=ds.shape[0],
                expected=n_seg,
            )
    for name in CORRECTIONS:
        ds = require(f, f"{beam}/geophys_corr/{name}", path=path, beam=beam, ndim=1)
        check_kind(ds, "f", path=path, beam=beam)
        if ds.shape[0] != n_seg:
            raise InvalidGranuleError(
                "geophys_corr length differs from geolocation",
                path=path,
                beam=beam,
                variable=ds.name.lstrip("/"),
                got=ds.shape[0],
                expected=n_seg,
            )
    mode = _photon_mapping(
        geo["ph_index_beg"][()], geo["segment_ph_cnt"][()], n, path=path, beam=beam
    )

    def derived(kind: str) -> indexing.LazilyIndexedArray:
        return _lazy(_PhotonDerived(path, beam, kind, n, mode, meta["epoch_offset"]))

    variables["x_atc"] = xr.Variable(
        ("photon",),
        derived("x_atc"),
        {
            "units": "m",
            "long_name": "along-track distance from the equator crossing "
            "(segment_dist_x + dist_ph_along)",
        },
    )
    for name in CORRECTIONS:
        variables[name] = xr.Variable(
            ("photon",),
            derived(name),
            {
                "units": "m",
                **_CORR_ATTRS[name],
                "source": f"/{beam}/geophys_corr/{name} (segment rate, value of the photon's "
                "geolocation segment; fill values replaced by along-track interpolation, see "
                "geophys_corr_flag)",
            },
        )
    variables["geophys_corr_flag"] = xr.Variable(
        ("photon",),
        derived("geophys_corr_flag"),
        {
            "units": "1",
            "long_name": "corrections interpolated over fill values",
            "flag_masks": np.array(list(CORR_FLAG_BITS.values()), dtype=np.int8),
            "flag_meanings": " ".join(
                f"{k}_interpolated" if k != "no_segment" else "photon_outside_geolocation_segments"
                for k in CORR_FLAG_BITS
            ),
        },
    )

    bgrp = f"{beam}/bckgrd_atlas"
    bck = {
        k: require(f, f"{bgrp}/{src}", path=path, beam=beam, ndim=1)
        for k, (src, *_rest) in _BCKGRD.items()
    }
    nb = bck["bckgrd_delta_time"].shape[0]
    for k, (src, dtype, kinds, attrs) in _BCKGRD.items():
        check_kind(bck[k], kinds, path=path, beam=beam)
        if bck[k].shape[0] != nb:
            raise InvalidGranuleError(
                "bckgrd_atlas arrays differ in length",
                path=path,
                beam=beam,
                variable=f"{bgrp}/{src}",
                got=bck[k].shape[0],
                expected=nb,
            )
        variables[k] = xr.Variable(
            ("bckgrd",), _lazy(H5Variable(path, f"{bgrp}/{src}", (nb,), dtype)), dict(attrs)
        )

    coords = {
        "time": xr.Variable(
            ("photon",),
            derived("time"),
            {"long_name": "photon time (UTC), decoded from delta_time"},
        ),
    }
    attrs = beam_attrs(f, beam, meta)
    attrs.update(
        source_path=path,
        product="ATL03",
        n_photons=n,
        x_atc_source="ph_index_beg (1-based)"
        if mode == "ph_index_beg"
        else "cumulative segment_ph_cnt (ph_index_beg inconsistent with the photon arrays)",
        epoch="2018-01-01T00:00:00",
        epoch_source=meta["epoch_source"],
        metadata_source=meta["metadata_source"],
    )
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _missing_group(path: str, beam: str, group: str) -> Exception:
    from icefb.errors import MissingVariableError

    return MissingVariableError(
        f"missing group /{group}", path=path, beam=beam, variable=group, expected=f"/{group}"
    )


def _check_product(f: h5py.File, path: str) -> dict[str, Any]:
    meta = granule_metadata(f, path, "ATL03")
    short = meta["short_name"]
    if short and short.upper() not in ("ATL03", "SET_BY_META"):
        raise InvalidGranuleError("not an ATL03 product", path=path, got=short, expected="ATL03")
    return meta


def _photon_chunks(ds: xr.Dataset, chunks: ChunksLike) -> dict[str, Any]:
    n = ds.sizes.get("photon", 0)
    if isinstance(chunks, dict):
        return dict(chunks)
    if chunks is None or chunks == -1 or n == 0:
        return {"photon": -1, "bckgrd": -1, "ds_surf_type": -1}
    if isinstance(chunks, int | np.integer):
        if chunks <= 0:
            from icefb.errors import ConfigError

            raise ConfigError("chunks must be positive", got=chunks, expected="> 0 photons")
        return {"photon": int(chunks), "bckgrd": -1, "ds_surf_type": -1}
    if chunks != "auto":
        from icefb.errors import ConfigError

        raise ConfigError("unknown chunks", got=chunks, expected='"auto", an int or a dict')
    from dask.array.core import normalize_chunks

    prev = ds["h_ph"].encoding.get("preferred_chunks", {}).get("photon") or min(n, 10_000)
    c = normalize_chunks(("auto",), shape=(n,), dtype=np.float64, previous_chunks=((prev,),))
    return {"photon": int(c[0][0]), "bckgrd": -1, "ds_surf_type": -1}


def open_atl03_beam(
    path: str | os.PathLike[str], beam: str, *, chunks: ChunksLike = "auto"
) -> xr.Dataset:
    """Open one beam of an ATL03 granule as a dask-backed photon Dataset.

    Parameters
    ----------
    path : str or os.PathLike
        ATL03 HDF5 granule.
    beam : str
        One of ``gt1l`` ... ``gt3r``.
    chunks : {"auto"}, int, dict or None
        Photons per dask chunk (``"auto"``: dask's default size, a multiple of the HDF5 chunk;
        ``None``: one chunk).

    Returns
    -------
    xarray.Dataset
        Variables and attributes as in ``docs/architecture.md``.

    Raises
    ------
    CorruptFileError, MissingBeamError, MissingVariableError, InvalidGranuleError
        As for :func:`open_atl03`.
    """
    return open_atl03(path, beams=[beam], chunks=chunks)[beam].to_dataset()


def _open_tree_lazy(
    path: str | os.PathLike[str], beams: str | Sequence[str] | None
) -> dict[str, xr.Dataset]:
    p = os.fspath(path)
    with h5open(p) as f:
        meta = _check_product(f, p)
        chosen = resolve_beams(f, beams, path=p, has="heights", product="ATL03")
        groups: dict[str, xr.Dataset] = {}
        for beam in chosen:
            groups[f"/{beam}"] = _beam_dataset(f, p, beam, meta)
        root_attrs = {
            "product": "ATL03",
            "granule_id": meta["granule_id"],
            "rgt": meta["rgt"],
            "cycle_number": meta["cycle_number"],
            "source_path": p,
            "beams": list(chosen),
            "epoch": "2018-01-01T00:00:00",
            "epoch_source": meta["epoch_source"],
            "metadata_source": meta["metadata_source"],
        }
        title = attr_get(f, "short_name")
        if title:
            root_attrs["short_name"] = title
    return {"/": xr.Dataset(attrs=root_attrs), **groups}


def open_atl03(
    path: str | os.PathLike[str],
    beams: str | Sequence[str] | None = None,
    *,
    chunks: ChunksLike = "auto",
) -> xr.DataTree:
    """Open an ATL03 granule lazily as a DataTree with one photon Dataset per beam.

    Parameters
    ----------
    path : str or os.PathLike
        ATL03 HDF5 granule (full or subsetted).
    beams : str or sequence of str, optional
        Beams to open (``gt1l`` ... ``gt3r``); default every beam with photon data.
    chunks : {"auto"}, int, dict or None, default "auto"
        Photons per dask chunk: ``"auto"`` (dask's target size, aligned to the HDF5 chunks),
        an int, a dict of dimension -> chunk size, or ``None`` for one chunk per variable.

    Returns
    -------
    xarray.DataTree
        Root attributes: ``granule_id``, ``rgt``, ``cycle_number``, ``source_path``, ``beams``.
        One child per beam with dimension ``photon`` (``h_ph``, ``lat_ph``, ``lon_ph``,
        ``delta_time``, ``signal_conf_ph``, ``quality_ph``, ``dist_ph_along``, ``ph_id_*``,
        ``x_atc`` [m], ``geoid``/``tide_ocean``/``tide_equilibrium``/``dac`` [m] at photon
        rate, ``geophys_corr_flag``; coordinate ``time``) and dimension ``bckgrd``
        (``bckgrd_delta_time``, ``bckgrd_counts``, ``bckgrd_rate``). Dask-backed; nothing but
        metadata and the segment index arrays is read until computed.

    Raises
    ------
    CorruptFileError
        Missing file (:class:`GranuleNotFoundError`), not HDF5, truncated, corrupt chunk.
    MissingBeamError
        A requested beam is absent, or the file has no beam with photons.
    MissingVariableError
        A group or variable the product needs is absent (the message names its path).
    InvalidGranuleError
        Wrong dtype or shape, not an ATL03 product, ``ph_index_beg`` out of range or
        inconsistent with the photon arrays.

    Examples
    --------
    >>> from icefb.testing import real_file
    >>> tree = open_atl03(real_file("ATL03_land_clip_gt1r.h5"))
    >>> list(tree.children), tree["gt1r"].attrs["atlas_beam_type"]
    (['gt1r'], 'weak')
    >>> tree["gt1r"]["x_atc"].chunks is not None
    True
    """
    groups = _open_tree_lazy(path, beams)
    out: dict[str, xr.Dataset] = {"/": groups.pop("/")}
    for name, ds in groups.items():
        out[name] = ds.chunk(_photon_chunks(ds, chunks))
    return xr.DataTree.from_dict(out)


#: Name ending of the truth sidecar icefb.synth writes beside a synthetic granule.
TRUTH_SIDECAR_SUFFIX = ".truth.h5"


def glob_granules(pattern: str) -> list[str]:
    """Sorted files matching a glob pattern, without synthetic truth sidecars.

    ``ATL03_*.h5`` also matches ``ATL03_x.h5.truth.h5``, the truth file
    :func:`icefb.synth.make_granule` writes beside its granule; it is not a granule.

    Examples
    --------
    >>> glob_granules("/nonexistent/ATL03_*.h5")
    []
    """
    return [p for p in sorted(_glob.glob(pattern)) if not p.endswith(TRUTH_SIDECAR_SUFFIX)]


def open_atl03_many(
    paths_or_glob: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    beams: str | Sequence[str] | None = None,
    *,
    chunks: ChunksLike = "auto",
) -> list[xr.DataTree]:
    """Open many ATL03 granules: one lazy DataTree per granule, in sorted path order.

    Parameters
    ----------
    paths_or_glob : str, os.PathLike or iterable of them
        A glob pattern (``"/data/ATL03_*.h5"``), one path, or a list of paths.
    beams, chunks
        As for :func:`open_atl03`.

    Returns
    -------
    list of xarray.DataTree
        One tree per granule; ``tree.attrs["source_path"]`` names its file.

    Raises
    ------
    GranuleNotFoundError
        The pattern matches no file, or a listed path does not exist.

    Examples
    --------
    >>> from icefb.testing import real_file
    >>> trees = open_atl03_many(real_file("ATL03_land_clip_gt1r.h5").replace("land_clip_gt1r", "*"))
    >>> len(trees)
    1
    """
    if isinstance(paths_or_glob, str | os.PathLike):
        pattern = os.fspath(paths_or_glob)
        paths = glob_granules(pattern) if _glob.has_magic(pattern) else [pattern]
        if not paths:
            raise GranuleNotFoundError("glob matches no file", path=pattern)
    else:
        paths = [os.fspath(p) for p in paths_or_glob]
    return [open_atl03(p, beams, chunks=chunks) for p in paths]
