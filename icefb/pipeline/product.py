"""The Zarr v3 product: crash-safe per-beam writes, provenance, and reading back.

Layout: ``PRODUCT.zarr/<beam>`` (one granule) or ``PRODUCT.zarr/<granule>/<beam>`` (several),
dimension ``segment``. A beam is written to ``PRODUCT.zarr.partial/`` and renamed into the store
only when complete, so a killed run never leaves a beam that looks complete but is not; a re-run
finds complete beams with the same parameters and skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from icefb.constants import delta_time_to_datetime64
from icefb.errors import ProductError

PRODUCT_KIND = "icefb 2 m sea-ice product"
_COORDS = ("x_atc", "lat", "lon", "delta_time")


def _root_meta(store: Path) -> dict[str, Any] | None:
    meta = store / "zarr.json"
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError):
        return None


def open_or_create(store: str | os.PathLike[str], attrs: dict[str, Any]) -> Path:
    """Create the product root (or reopen an icefb product) and mark it in progress.

    Raises
    ------
    icefb.errors.ProductError
        If ``store`` exists and is not an icefb product (nothing there is touched).
    """
    import zarr

    store = Path(store)
    if store.exists():
        meta = _root_meta(store)
        if meta is None or meta.get("product") != PRODUCT_KIND:
            raise ProductError(
                "output path exists and is not an icefb product; refusing to write into it",
                path=store,
                expected=f"a new path or a store whose root attribute product={PRODUCT_KIND!r}",
            )
    root = zarr.open_group(str(store), mode="a", zarr_format=3)
    root.attrs.update({**attrs, "product": PRODUCT_KIND, "status": "incomplete"})
    return store


def _partial_dir(store: Path) -> Path:
    return store.with_name(store.name + ".partial")


def source_id(granule: str | os.PathLike[str], scene: str | os.PathLike[str] | None) -> str:
    """What a beam was made from: the granule's (and scene's) file name and size in bytes.

    ATL03 file names are unique per granule and version, and the size catches a file replaced
    under the same name; a content hash of a multi-GB granule would cost a full read.

    Examples
    --------
    >>> source_id("/nonexistent/ATL03_x.h5", None)
    'ATL03_x.h5:?'
    """

    def one(path: str | os.PathLike[str]) -> str:
        try:
            size = str(os.stat(path).st_size)
        except OSError:
            size = "?"
        return f"{Path(path).name}:{size}"

    return one(granule) + (f" scene {one(scene)}" if scene else "")


def _beam_attrs(store: Path, group: str) -> dict[str, Any] | None:
    meta_path = store / group / "zarr.json"
    if not meta_path.is_file():
        return None
    try:
        return json.loads(meta_path.read_text()).get("attributes", {})
    except (OSError, ValueError):
        return None


def beam_complete(store: str | os.PathLike[str], group: str, digest: str,
                  source: str | None = None) -> bool:
    """True when ``group`` is in the store, complete, made with parameters ``digest`` and,
    when ``source`` is given, from those inputs (:func:`source_id`)."""
    attrs = _beam_attrs(Path(store), group)
    if attrs is None:
        return False
    return (attrs.get("icefb_complete") == 1 and attrs.get("icefb_config_digest") == digest
            and (source is None or attrs.get("icefb_source") == source))


def complete_beams(store: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Every complete beam group of a product (``"gt1l"`` or ``"<granule>/gt1l"``): its attrs."""
    store = Path(store)
    out: dict[str, dict[str, Any]] = {}
    if not store.is_dir():
        return out
    for meta in sorted(store.glob("*/zarr.json")) + sorted(store.glob("*/*/zarr.json")):
        group = meta.parent.relative_to(store).as_posix()
        attrs = _beam_attrs(store, group)
        if attrs and attrs.get("icefb_complete") == 1:
            out[group] = attrs
    return out


def check_no_stale_beams(store: str | os.PathLike[str], groups: set[str], digest: str,
                         sources: set[str]) -> None:
    """Refuse to add to a product whose other beams came from other parameters or inputs.

    A run writes or skips its own ``groups``; a complete beam outside them that was made with
    another config digest, or from a granule that is not an input of this run, would be left
    beside the new beams under root metadata that no longer describes it.

    Raises
    ------
    icefb.errors.ProductError
        Naming those beams; nothing in the store is touched.
    """
    granules = {s.split(" scene ")[0] for s in sources}
    stale = [g for g, a in complete_beams(store).items() if g not in groups and (
        a.get("icefb_config_digest") != digest
        or str(a.get("icefb_source", "")).split(" scene ")[0] not in granules)]
    if stale:
        raise ProductError(
            "the output holds beams made with other parameters or from other granules; "
            "they would be mixed with this run's",
            path=store, got=stale,
            expected="a new output path, or the same granules and parameters as before "
            "(delete those beams to replace them)",
        )


def _encode(ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, dict[str, Any]]]:
    """Coordinates, decoded time and zstd compression for the product."""
    from zarr.codecs import ZstdCodec

    ds = ds.copy()
    if "delta_time" in ds and "time" not in ds:
        ds = ds.assign_coords(
            time=("segment", delta_time_to_datetime64(ds["delta_time"].values))
        )
        ds["time"].attrs.update(
            {"long_name": "UTC time of the segment centre", "standard_name": "time"}
        )
    ds = ds.set_coords([c for c in _COORDS if c in ds.data_vars])
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        enc: dict[str, Any] = {"compressors": [ZstdCodec(level=3)]}
        if var.ndim and var.shape[0]:
            enc["chunks"] = (min(var.shape[0], 262_144),) + var.shape[1:]
        if np.issubdtype(var.dtype, np.floating) and name != "time":
            enc["_FillValue"] = np.nan
        encoding[str(name)] = enc
        var.encoding = {}
    return ds, encoding


def write_beam(store: str | os.PathLike[str], group: str, ds: xr.Dataset, digest: str,
               source: str = "") -> Path:
    """Write one beam's segments atomically into the product.

    The beam goes to a temporary store beside the product, gets ``icefb_complete = 1`` only
    after every array is written, and is then renamed into place, replacing an older copy.

    Parameters
    ----------
    store : path
        The product root (already created by :func:`open_or_create`).
    group : str
        ``"gt1l"`` or ``"<granule>/gt1l"``.
    ds : xarray.Dataset
        The beam's segments (in memory).
    digest : str
        :meth:`RunConfig.digest` of the run, stored so re-runs can skip complete beams.
    source : str
        :func:`source_id` of the beam's granule and scene, stored beside the digest.

    Returns
    -------
    pathlib.Path
        The beam's directory in the store.
    """
    import zarr

    store = Path(store)
    partial = _partial_dir(store)
    partial.mkdir(exist_ok=True)
    tmp = partial / f"{group.replace('/', '__')}.{uuid.uuid4().hex}"
    out, encoding = _encode(ds)
    out.attrs = {**out.attrs, "icefb_complete": 0, "icefb_config_digest": digest,
                 "icefb_source": source}
    final = store / group
    try:
        # encoded in memory, then written as files: each Zarr operation on a local store is a
        # round trip to zarr's I/O thread (~90 per beam, ~1.7 ms each here), in memory it is not
        encoded: dict[str, Any] = {}
        mem = zarr.storage.MemoryStore(encoded)
        out.to_zarr(mem, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
        zarr.open_group(mem, mode="r+").attrs["icefb_complete"] = 1
        _dump_store(encoded, tmp)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.parent != store and not (final.parent / "zarr.json").exists():
            zarr.open_group(str(final.parent), mode="a", zarr_format=3)
        if final.exists():  # a stale or interrupted copy: only ever inside the product
            trash = partial / f"old.{uuid.uuid4().hex}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
    except OSError as exc:  # disk full, permissions...: beams written before stay intact
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, ProductError):
            raise
        raise ProductError(
            f"cannot write the beam into the product: {exc.strerror or exc}",
            path=store, beam=group, expected="a writable output with free space",
        ) from exc
    return final


def _dump_store(encoded: dict[str, Any], root: Path) -> None:
    """Write the keys of an in-memory Zarr store as the files a local store has under ``root``.

    The group's own metadata (``zarr.json`` at the root) comes last, so an interrupted dump
    leaves no openable group.
    """
    for key in sorted(encoded, key=lambda k: k == "zarr.json"):
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(encoded[key].to_bytes())


def finalize(store: str | os.PathLike[str], attrs: dict[str, Any]) -> None:
    """Mark the product complete, store provenance and consolidate metadata."""
    import zarr

    store = Path(store)
    root = zarr.open_group(str(store), mode="a", zarr_format=3)
    root.attrs.update(
        {**attrs, "status": "complete", "date_created": datetime.now(UTC).isoformat()}
    )
    with warnings.catch_warnings():  # consolidated metadata is an extension in Zarr v3
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(store))
    partial = _partial_dir(store)
    if partial.is_dir():
        shutil.rmtree(partial, ignore_errors=True)


def remove(store: str | os.PathLike[str]) -> None:
    """Delete a product and its ``.partial`` folder (only ever one this run created)."""
    store = Path(store)
    shutil.rmtree(_partial_dir(store), ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)


def cleanup_partial(store: str | os.PathLike[str]) -> None:
    """Remove leftovers of an interrupted run (the ``.partial`` folder only)."""
    partial = _partial_dir(Path(store))
    if partial.is_dir():
        shutil.rmtree(partial, ignore_errors=True)


def open_product(store: str | os.PathLike[str]) -> xr.DataTree:
    """Open an icefb product as a DataTree.

    Raises
    ------
    icefb.errors.ProductError
        If ``store`` is not an icefb product.
    """
    store = Path(store)
    meta = _root_meta(store)
    if meta is None or meta.get("product") != PRODUCT_KIND:
        raise ProductError(
            "not an icefb product", path=store, expected=f"root product={PRODUCT_KIND!r}"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        return xr.open_datatree(
            str(store), engine="zarr", consolidated=meta.get("status") == "complete"
        )


def product_beams(tree: xr.DataTree) -> list[tuple[str, xr.Dataset]]:
    """``(group path, Dataset)`` for every beam node (nodes with a ``segment`` dimension)."""
    out = []
    for node in tree.subtree:
        if "segment" in node.dims and node.path != "/":
            out.append((node.path.strip("/"), node.to_dataset()))
    return out
