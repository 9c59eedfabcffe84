"""ATL07 (sea-ice height) and ATL10 (freeboard) readers: one segment Dataset per beam.

These products are small (10^4-10^5 segments per beam), so they are read eagerly into numpy
for the comparison stage. Variables get clear names (mapping in :data:`ATL07_VARIABLES`,
:data:`ATL10_VARIABLES` and ``docs/reading.md``); every variable keeps its HDF5 path in the
``source`` attribute. Float fill values (3.4028235e38) become NaN; integer variables keep
their values, with the file's fill value in the ``missing_value`` attribute.

Dimension: ``sea_ice_segment`` (distinct from the 2 m product's ``segment``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
import xarray as xr

from icefb.constants import delta_time_to_datetime64
from icefb.errors import InvalidGranuleError, MissingVariableError
from icefb.io._h5 import (
    attr_get,
    beam_attrs,
    granule_metadata,
    h5open,
    mask_fill,
    resolve_beams,
)

__all__ = ["ATL07_VARIABLES", "ATL10_VARIABLES", "open_atl07", "open_atl10"]

DIM = "sea_ice_segment"

#: ATL07 clear name -> (path under /gtx/sea_ice_segments, required, attributes).
ATL07_VARIABLES: dict[str, tuple[str, bool, dict[str, Any]]] = {
    "delta_time": (
        "delta_time",
        True,
        {"units": "s", "long_name": "segment time, seconds since 2018-01-01T00:00:00"},
    ),
    "latitude": (
        "latitude",
        True,
        {"units": "degrees_north", "standard_name": "latitude", "long_name": "segment latitude"},
    ),
    "longitude": (
        "longitude",
        True,
        {"units": "degrees_east", "standard_name": "longitude", "long_name": "segment longitude"},
    ),
    "x_atc": (
        "seg_dist_x",
        True,
        {"units": "m", "long_name": "along-track distance (same frame as ATL03 x_atc)"},
    ),
    "height": (
        "heights/height_segment_height",
        True,
        {
            "units": "m",
            "long_name": "segment surface height relative to the mean sea surface "
            "(ATL07 corrected for geoid/MSS, tides and inverted barometer)",
        },
    ),
    "segment_type": (
        "heights/height_segment_type",
        True,
        {
            "units": "1",
            "long_name": "ATL07 surface type (0 cloud, 1 snow-covered ice, "
            "2-5 specular leads, 6-9 dark leads)",
        },
    ),
    "sea_surface_flag": (
        "heights/height_segment_ssh_flag",
        True,
        {
            "units": "1",
            "long_name": "1 where ATL07 uses the segment as sea surface (lead)",
            "flag_values": np.array([0, 1], dtype=np.int8),
            "flag_meanings": "sea_ice sea_surface",
        },
    ),
    "height_segment_id": (
        "height_segment_id",
        False,
        {"units": "1", "long_name": "height segment id"},
    ),
    "geoseg_beg": ("geoseg_beg", False, {"units": "1", "long_name": "first ATL03 geoseg"}),
    "geoseg_end": ("geoseg_end", False, {"units": "1", "long_name": "last ATL03 geoseg"}),
    "segment_length": (
        "heights/height_segment_length_seg",
        False,
        {"units": "m", "long_name": "along-track length of the segment"},
    ),
    "height_confidence": (
        "heights/height_segment_confidence",
        False,
        {"units": "1", "long_name": "surface height confidence"},
    ),
    "height_quality": (
        "heights/height_segment_quality",
        False,
        {"units": "1", "long_name": "height quality flag (1 good)"},
    ),
    "fit_quality": (
        "heights/height_segment_fit_quality_flag",
        False,
        {"units": "1", "long_name": "fit quality flag (1 best .. 5 poor)"},
    ),
    "height_rms": ("heights/height_segment_rms", False, {"units": "m", "long_name": "height rms"}),
    "height_error": (
        "heights/height_segment_surface_error_est",
        False,
        {"units": "m", "long_name": "surface height error estimate"},
    ),
    "gaussian_width": (
        "heights/height_segment_w_gaussian",
        False,
        {"units": "m", "long_name": "width of the best-fit Gaussian"},
    ),
    "n_pulses": (
        "heights/height_segment_n_pulse_seg",
        False,
        {"units": "count", "long_name": "laser pulses in the segment"},
    ),
    "n_photons": (
        "stats/n_photons_actual",
        False,
        {"units": "count", "long_name": "photons in the segment"},
    ),
    "photon_rate": (
        "stats/photon_rate",
        False,
        {"units": "photons/shot", "long_name": "photon rate"},
    ),
    "ice_conc": (
        "stats/ice_conc",
        False,
        {"units": "percent", "long_name": "sea ice concentration"},
    ),
    "mss": (
        "geophysical/height_segment_mss",
        False,
        {"units": "m", "long_name": "mean sea surface"},
    ),
    "geoid": ("geophysical/height_segment_geoid", False, {"units": "m", "long_name": "geoid"}),
    "tide_ocean": (
        "geophysical/height_segment_ocean",
        False,
        {"units": "m", "long_name": "ocean tide"},
    ),
    "tide_equilibrium": (
        "geophysical/height_segment_lpe",
        False,
        {"units": "m", "long_name": "long-period equilibrium tide"},
    ),
    "dac": (
        "geophysical/height_segment_dac",
        False,
        {"units": "m", "long_name": "dynamic atmosphere correction"},
    ),
    "ib": (
        "geophysical/height_segment_ib",
        False,
        {"units": "m", "long_name": "inverted barometer"},
    ),
}

#: ATL10 clear name -> (candidate paths under /gtx, required, attributes). r006+ files keep
#: segments in ``freeboard_segment``; r003-r005 in ``freeboard_beam_segment`` (with the
#: freeboard in ``beam_freeboard/`` and heights in ``height_segments/``).
ATL10_VARIABLES: dict[str, tuple[tuple[str, ...], bool, dict[str, Any]]] = {}


def _atl10_paths(*names: str) -> tuple[str, ...]:
    out = []
    for n in names:
        out += [
            f"freeboard_segment/{n}",
            f"freeboard_beam_segment/beam_freeboard/{n}",
            f"freeboard_beam_segment/{n}",
        ]
    return tuple(out)


def _atl10_heights(name: str) -> tuple[str, ...]:
    return (
        f"freeboard_segment/heights/{name}",
        f"freeboard_beam_segment/height_segments/{name}",
        f"freeboard_beam_segment/heights/{name}",
    )


ATL10_VARIABLES.update(
    {
        "delta_time": (_atl10_paths("delta_time"), True, ATL07_VARIABLES["delta_time"][2]),
        "latitude": (_atl10_paths("latitude"), True, ATL07_VARIABLES["latitude"][2]),
        "longitude": (_atl10_paths("longitude"), True, ATL07_VARIABLES["longitude"][2]),
        "x_atc": (_atl10_paths("seg_dist_x"), True, ATL07_VARIABLES["x_atc"][2]),
        "freeboard": (
            _atl10_paths("beam_fb_height"),
            True,
            {
                "units": "m",
                "long_name": "total (snow + ice) freeboard above the beam's reference sea surface",
            },
        ),
        "freeboard_uncertainty": (
            _atl10_paths("beam_fb_unc", "beam_fb_sigma"),
            False,
            {"units": "m", "long_name": "freeboard uncertainty"},
        ),
        "freeboard_quality": (
            _atl10_paths("beam_fb_quality_flag"),
            False,
            {"units": "1", "long_name": "freeboard quality flag (1 best .. 5 poor, -1 invalid)"},
        ),
        "height_segment_id": (
            _atl10_paths("height_segment_id"),
            False,
            ATL07_VARIABLES["height_segment_id"][2],
        ),
        "height": (_atl10_heights("height_segment_height"), False, ATL07_VARIABLES["height"][2]),
        "segment_type": (
            _atl10_heights("height_segment_type"),
            False,
            ATL07_VARIABLES["segment_type"][2],
        ),
        "sea_surface_flag": (
            _atl10_heights("height_segment_ssh_flag"),
            False,
            ATL07_VARIABLES["sea_surface_flag"][2],
        ),
        "segment_length": (
            _atl10_heights("height_segment_length_seg"),
            False,
            ATL07_VARIABLES["segment_length"][2],
        ),
    }
)

_REFSURF_NDX = _atl10_paths("beam_refsurf_ndx")
_REFSURF_HEIGHT = (
    "reference_surface_section/beam_refsurf_height",
    "freeboard_beam_segment/beam_refsurf_height",
    "freeboard_beam_segment/beam_freeboard/beam_refsurf_height",
)


def _read(ds: h5py.Dataset, n: int | None, *, path: str, beam: str) -> tuple[np.ndarray, dict]:
    if n is not None and ds.shape[:1] != (n,):
        raise InvalidGranuleError(
            "wrong shape",
            path=path,
            beam=beam,
            variable=ds.name.lstrip("/"),
            got=ds.shape,
            expected=f"({n},) segments",
        )
    if ds.dtype.kind not in "fiub":
        raise InvalidGranuleError(
            "wrong dtype",
            path=path,
            beam=beam,
            variable=ds.name.lstrip("/"),
            got=str(ds.dtype),
            expected="numeric",
        )
    raw = ds[()]
    extra: dict[str, Any] = {"source": ds.name}
    fill = ds.attrs.get("_FillValue")
    if ds.dtype.kind == "f":
        values = mask_fill(raw, fill)
    else:
        values = raw
        if fill is not None:
            extra["missing_value"] = np.asarray(fill).reshape(-1)[0].item()
    return values, extra


def _segments_dataset(
    f: h5py.File,
    path: str,
    beam: str,
    table: dict[str, tuple[tuple[str, ...], bool, dict[str, Any]]],
    meta: dict[str, Any],
    product: str,
) -> xr.Dataset:
    g = f[beam]
    found: dict[str, h5py.Dataset] = {}
    for name, (candidates, required, _attrs) in table.items():
        ds = next((g[c] for c in candidates if isinstance(g.get(c), h5py.Dataset)), None)
        if ds is None and required:
            raise MissingVariableError(
                f"missing variable {name}",
                path=path,
                beam=beam,
                variable=name,
                expected=" or ".join(f"/{beam}/{c}" for c in candidates),
            )
        if ds is not None:
            found[name] = ds
    n = found["delta_time"].shape[0] if found["delta_time"].ndim == 1 else None
    if n is None:
        raise InvalidGranuleError(
            "delta_time is not 1-D",
            path=path,
            beam=beam,
            variable="delta_time",
            got=found["delta_time"].shape,
        )
    variables: dict[str, xr.Variable] = {}
    for name, ds in found.items():
        values, extra = _read(ds, n, path=path, beam=beam)
        variables[name] = xr.Variable((DIM,), values, {**table[name][2], **extra})
    attrs = beam_attrs(f, beam, meta)
    attrs.update(
        product=product,
        source_path=path,
        epoch_source=meta["epoch_source"],
        metadata_source=meta["metadata_source"],
    )
    coords = {
        "time": xr.Variable(
            (DIM,),
            delta_time_to_datetime64(variables["delta_time"].values + meta["epoch_offset"]),
            {"long_name": "segment time (UTC), decoded from delta_time"},
        )
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _empty_beam(
    f: h5py.File, beam: str, meta: dict[str, Any], table: dict, product: str, path: str
) -> xr.Dataset:
    ints = ("segment_type", "sea_surface_flag")
    variables = {
        name: xr.Variable(
            (DIM,), np.zeros(0, np.int8 if name in ints else np.float64), dict(spec[2])
        )
        for name, spec in table.items()
        if spec[1]
    }
    attrs = beam_attrs(f, beam, meta)
    attrs.update(
        product=product,
        source_path=path,
        n_segments=0,
        note=f"beam has no {product} segments in this file",
    )
    return xr.Dataset(
        variables, coords={"time": ((DIM,), np.zeros(0, "datetime64[ns]"))}, attrs=attrs
    )


def _open_segments(
    path: str | os.PathLike[str],
    beams: str | Sequence[str] | None,
    *,
    product: str,
    group: str,
    table: dict[str, tuple[tuple[str, ...], bool, dict[str, Any]]],
    markers: tuple[str, ...],
) -> xr.DataTree:
    p = os.fspath(path)
    with h5open(p) as f:
        meta = granule_metadata(f, p, product)
        short = meta["short_name"]
        if short and not short.upper().startswith(product):
            raise InvalidGranuleError(
                f"not an {product} product", path=p, got=short, expected=product
            )
        chosen = resolve_beams(f, beams, path=p, has=group, product=product)
        out: dict[str, xr.Dataset] = {}
        for beam in chosen:
            g = f[beam]
            if not any(isinstance(g.get(m), h5py.Dataset) for m in markers):
                if g.get(group) is None:
                    raise MissingVariableError(
                        f"missing group /{beam}/{group}",
                        path=p,
                        beam=beam,
                        variable=group,
                        expected=f"/{beam}/{group}",
                    )
                # the producer left the beam without segments (e.g. only stats/): empty
                out[f"/{beam}"] = _empty_beam(f, beam, meta, table, product, p)
                continue
            ds = _segments_dataset(f, p, beam, table, meta, product)
            if product == "ATL10":
                ds = _add_reference_ssh(f, p, beam, ds)
            out[f"/{beam}"] = ds
        root = xr.Dataset(
            attrs={
                "product": product,
                "granule_id": meta["granule_id"],
                "rgt": meta["rgt"],
                "cycle_number": meta["cycle_number"],
                "source_path": p,
                "beams": list(chosen),
                "epoch_source": meta["epoch_source"],
                "metadata_source": meta["metadata_source"],
            }
        )
        title = attr_get(f, "short_name")
        if title:
            root.attrs["short_name"] = title
    return xr.DataTree.from_dict({"/": root, **out})


def _add_reference_ssh(f: h5py.File, path: str, beam: str, ds: xr.Dataset) -> xr.Dataset:
    g = f[beam]
    ndx = next((g[c] for c in _REFSURF_NDX if isinstance(g.get(c), h5py.Dataset)), None)
    ref = next((g[c] for c in _REFSURF_HEIGHT if isinstance(g.get(c), h5py.Dataset)), None)
    attrs = {
        "units": "m",
        "long_name": "the beam's reference sea surface height (relative to "
        "the mean sea surface) under the segment",
    }
    if ndx is not None and ref is not None:
        idx = np.asarray(ndx[()], dtype=np.int64).reshape(-1)
        heights = mask_fill(ref[()], ref.attrs.get("_FillValue")).reshape(-1)
        if idx.size != ds.sizes[DIM]:
            raise InvalidGranuleError(
                "beam_refsurf_ndx length differs from segments",
                path=path,
                beam=beam,
                variable=ndx.name.lstrip("/"),
                got=idx.size,
                expected=ds.sizes[DIM],
            )
        ok = (idx >= 1) & (idx <= heights.size)
        ssh = np.full(idx.shape, np.nan, dtype=np.float32)
        ssh[ok] = heights[idx[ok] - 1]
        attrs["source"] = f"{ref.name}[{ndx.name} - 1] (1-based index)"
    elif "height" in ds:
        ssh = (ds["height"].values - ds["freeboard"].values).astype(np.float32)
        attrs["source"] = "height - freeboard (no beam_refsurf_ndx/beam_refsurf_height)"
    else:
        raise MissingVariableError(
            "no reference surface",
            path=path,
            beam=beam,
            variable="beam_refsurf_height",
            expected="beam_refsurf_ndx + beam_refsurf_height, or height_segment_height",
        )
    return ds.assign(ssh=xr.Variable((DIM,), ssh, attrs))


def open_atl07(
    path: str | os.PathLike[str], beams: str | Sequence[str] | None = None
) -> xr.DataTree:
    """Open an ATL07 sea-ice height granule: one ``sea_ice_segment`` Dataset per beam.

    Parameters
    ----------
    path : str or os.PathLike
        ATL07 HDF5 granule.
    beams : str or sequence of str, optional
        Beams to read; default every beam group that has ``sea_ice_segments``.

    Returns
    -------
    xarray.DataTree
        Per beam: ``delta_time`` (s), ``latitude``, ``longitude``, ``x_atc`` (m, from
        ``seg_dist_x``), ``height`` (m, relative to the MSS, from ``height_segment_height``),
        ``segment_type``, ``sea_surface_flag`` (from ``height_segment_ssh_flag``),
        ``n_photons``, ``segment_length`` and the others in :data:`ATL07_VARIABLES` when
        present; coordinate ``time``. A beam group without segments gives an empty Dataset.

    Raises
    ------
    CorruptFileError, MissingBeamError, MissingVariableError, InvalidGranuleError
        As for :func:`icefb.io.atl03.open_atl03`.

    Examples
    --------
    >>> from icefb.testing import real_file
    >>> t = open_atl07(
    ...     real_file("processed_ATL07-01_20190222003738_08490201_003_02.h5")
    ... )
    >>> len(t.children), int(t["gt1l"].sizes["sea_ice_segment"])
    (6, 75)
    """
    table = {k: ((v[0],), v[1], v[2]) for k, v in ATL07_VARIABLES.items()}
    table = {
        k: (tuple(f"sea_ice_segments/{c}" for c in v[0]), v[1], v[2]) for k, v in table.items()
    }
    return _open_segments(
        path,
        beams,
        product="ATL07",
        group="sea_ice_segments",
        table=table,
        markers=("sea_ice_segments/delta_time",),
    )


def open_atl10(
    path: str | os.PathLike[str], beams: str | Sequence[str] | None = None
) -> xr.DataTree:
    """Open an ATL10 freeboard granule: one ``sea_ice_segment`` Dataset per beam.

    Reads r006+ (``freeboard_segment`` + ``reference_surface_section``) and r003-r005
    (``freeboard_beam_segment/beam_freeboard``) layouts.

    Parameters
    ----------
    path : str or os.PathLike
        ATL10 HDF5 granule.
    beams : str or sequence of str, optional
        Beams to read; default every beam with freeboard segments.

    Returns
    -------
    xarray.DataTree
        Per beam: ``delta_time``, ``latitude``, ``longitude``, ``x_atc``, ``freeboard`` (m,
        from ``beam_fb_height``), ``ssh`` (m, the beam's reference surface under each
        segment, via the 1-based ``beam_refsurf_ndx``; ``height - freeboard`` when the file
        has no reference-surface arrays), ``height``, ``segment_type``,
        ``sea_surface_flag``, ``freeboard_uncertainty``, ``freeboard_quality`` when present.

    Raises
    ------
    CorruptFileError, MissingBeamError, MissingVariableError, InvalidGranuleError
        As for :func:`icefb.io.atl03.open_atl03`.
    """
    p = os.fspath(path)
    with h5open(p) as f:
        group = next(
            (
                gname
                for gname in ("freeboard_segment", "freeboard_beam_segment")
                if any(isinstance(f.get(f"{b}/{gname}"), h5py.Group) for b in f)
            ),
            "freeboard_segment",
        )
    return _open_segments(
        p,
        beams,
        product="ATL10",
        group=group,
        table=ATL10_VARIABLES,
        markers=ATL10_VARIABLES["delta_time"][0],
    )
