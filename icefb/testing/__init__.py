"""Assertion helpers shared by icefb's tests and benchmarks (and useful to users' own tests)."""

from __future__ import annotations

import os
from typing import Any

import xarray as xr

__all__ = [
    "assert_products_identical",
    "checksum_summary",
    "product_beams_loaded",
    "real_file",
    "scaled_checksum",
    "segments_with_truth",
    "unit_checksum",
    "unit_fails",
    "worker_dask_config",
    "worker_environ",
]

#: Attributes that legitimately differ between two runs of the same inputs and parameters.
VOLATILE_ATTRS = ("date_created",)


def _strip(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items()
                if k not in VOLATILE_ATTRS and not k.startswith("t_")}
    return ds


def product_beams_loaded(store: str | os.PathLike[str]) -> dict[str, xr.Dataset]:
    """Every beam group of an icefb product, loaded into memory, keyed by group path."""
    from icefb.pipeline.product import open_product, product_beams

    return {g: ds.load() for g, ds in product_beams(open_product(store))}


def assert_products_identical(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
    """Assert two products hold bit-identical beams and provenance (time stamps aside).

    Raises
    ------
    AssertionError
        Naming the first beam, variable or attribute that differs.
    """
    from icefb.pipeline.product import open_product

    ra = {k: v for k, v in open_product(a).attrs.items() if k not in VOLATILE_ATTRS}
    rb = {k: v for k, v in open_product(b).attrs.items() if k not in VOLATILE_ATTRS}
    if ra != rb:
        diff = sorted(k for k in set(ra) | set(rb) if ra.get(k) != rb.get(k))
        raise AssertionError(f"product attributes differ: {diff}")
    ba, bb = product_beams_loaded(a), product_beams_loaded(b)
    if sorted(ba) != sorted(bb):
        raise AssertionError(f"beam groups differ: {sorted(ba)} vs {sorted(bb)}")
    for g in ba:
        try:
            xr.testing.assert_identical(_strip(ba[g]), _strip(bb[g]))
        except AssertionError as err:
            raise AssertionError(f"beam {g} differs: {err}") from None


# --- picklable work-unit functions for engine tests (dask/Spark workers import them by name) ---
def unit_checksum(unit, scale: float) -> tuple[str, float]:
    """A deterministic, CPU-light function of a work unit: ``(unit.key, number)``."""
    import zlib

    import numpy as np

    rng = np.random.default_rng(zlib.crc32(unit.key.encode()))
    return unit.key, float(rng.standard_normal(1000).sum() * scale)


def scaled_checksum(result: tuple[str, float], factor: float, offset: float) -> tuple[str, float]:
    """``(key, value * factor + offset)`` of a :func:`unit_checksum` result (per-unit maps)."""
    return result[0], result[1] * factor + offset


def checksum_summary(result: tuple[str, float], scale: float) -> tuple[str, float]:
    """``(key, value / scale)`` of a :func:`unit_checksum` result (``persist(summary=...)``)."""
    return result[0], result[1] / scale


def worker_environ(unit, names: tuple[str, ...]) -> dict[str, str | None]:
    """The environment variables ``names`` as the process running the unit sees them."""
    return {k: os.environ.get(k) for k in names}


def worker_dask_config(unit, key: str) -> Any:
    """The dask configuration value ``key`` as the process running the unit sees it."""
    import dask

    return dask.config.get(key, None)


def unit_fails(unit) -> None:
    """Raise the icefb error a bad granule would raise on a worker."""
    from icefb.errors import InvalidGranuleError

    raise InvalidGranuleError("no photons", path=unit.granule, beam=unit.beam)


def _local_origin(root):
    """The checkout a local clone was made from (``remote.origin.url`` a local path), or None."""
    import configparser
    from pathlib import Path

    cfg = configparser.ConfigParser(strict=False)
    try:
        cfg.read(root / ".git" / "config")
        url = cfg.get('remote "origin"', "url", fallback="")
    except (configparser.Error, OSError):
        return None
    url = url.removeprefix("file://")
    if not url or "://" in url or ":" in url.split("/")[0]:
        return None  # a network remote (https, ssh, git@host:...)
    path = (root / url).resolve() if not Path(url).is_absolute() else Path(url).resolve()
    return path if path.is_dir() else None


def real_file(name: str) -> str:
    """Path of one of the real ICESat-2 files kept beside the repository (``../shared/data/real``).

    Looks in ``$ICEFB_REAL_DATA`` first, then in ``shared/data/real`` next to the checkout, then
    (for a local clone such as ``git clone . /tmp/x``) next to the checkout it was cloned from.

    Raises
    ------
    FileNotFoundError
        Naming every place looked in.

    Examples
    --------
    >>> real_file("ATL03_land_clip_gt1r.h5").endswith("ATL03_land_clip_gt1r.h5")
    True
    """
    from pathlib import Path

    import icefb

    candidates = []
    if os.environ.get("ICEFB_REAL_DATA"):
        candidates.append(Path(os.environ["ICEFB_REAL_DATA"]))
    root = Path(icefb.__file__).resolve().parents[1]
    roots = [root]
    origin = _local_origin(root)
    if origin is not None:  # a local clone (git clone . /tmp/x): look beside its origin too
        roots.append(origin)
    for r in roots:
        candidates += [r.parent / "shared" / "data" / "real", r / "shared" / "data" / "real"]
    for c in candidates:
        if (c / name).is_file():
            return str(c / name)
    raise FileNotFoundError(f"{name} not found in any of {[str(c) for c in candidates]}")


def segments_with_truth(
    granule: str | os.PathLike[str], beams: tuple[str, ...] | list[str]
) -> dict[str, tuple[xr.Dataset, xr.Dataset]]:
    """Resampled segments of a synthetic granule beside its truth, per beam.

    Each beam is resampled (``icefb.resample``, in memory) and cut to the segments that also
    appear in the truth sidecar; the segments get the true ``surface_type``, so that the sea
    surface and freeboard can be scored against the truth without a classifier.

    Parameters
    ----------
    granule : path
        A granule written by :func:`icefb.synth.make_granule`.
    beams : sequence of str
        Beams to return.

    Returns
    -------
    dict
        ``{beam: (segments, truth)}``, both on the same ``segment`` coordinate.
    """
    import numpy as np

    from icefb.io.atl03 import open_atl03
    from icefb.segments import resample
    from icefb.synth import read_truth

    tree = resample(open_atl03(granule, beams=list(beams)))
    out: dict[str, tuple[xr.Dataset, xr.Dataset]] = {}
    for beam in beams:
        seg = tree[beam].to_dataset().load()
        _, truth = read_truth(granule, beam)
        common = np.intersect1d(seg.segment.values, truth.segment.values)
        seg, truth = seg.sel(segment=common), truth.sel(segment=common)
        out[beam] = (seg.assign(surface_type=truth.surface_type), truth)
    return out
