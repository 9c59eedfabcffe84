"""The per-beam work unit of a run: read, resample, label, classify, sea surface, freeboard.

:func:`process_beam` returns the beam's segments; :func:`process_and_write` also writes them
into the product and returns only a small summary, so the engine (dask or Spark) ships
kilobytes, not arrays, back to the driver.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from icefb.backends import WorkUnit
from icefb.constants import SurfaceType
from icefb.pipeline.config import RunConfig


@functools.lru_cache(maxsize=4)
def _model(name_or_path: str) -> Any:
    from icefb.ml import load_model

    return load_model(name_or_path)


@contextmanager
def _timed(times: dict[str, float], stage: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        times[stage] = times.get(stage, 0.0) + time.perf_counter() - t0


#: Segments classified per block (100 km of 2 m bins): bounds the classifier's memory.
CLASSIFY_BLOCK_SEGMENTS = 200_000  # 400 km of 2 m segments; halo 2 x 5 km (the 10 km reference)


def classify_blocked(
    seg: xr.Dataset,
    model: Any,
    *,
    block_segments: int = CLASSIFY_BLOCK_SEGMENTS,
    device: str | None = None,
) -> xr.Dataset:
    """Classify a beam block by block, each block with a halo wide enough for its features.

    The features look at most ``max(ref windows) / 2`` along track and the sequences
    ``sequence_length // 2`` segments further, so a halo of the longest reference window plus
    one sequence gives every core segment exactly the inputs of the unblocked run; memory is
    bounded by ``block_segments + 2 * halo`` instead of the beam length.

    Parameters
    ----------
    seg : xarray.Dataset
        One beam's segments.
    model : classifier
        From :func:`icefb.ml.load_model`.
    block_segments : int
        Core segments per block.
    device : str, optional
        Torch device.

    Returns
    -------
    xarray.Dataset
        ``seg`` with ``surface_type`` and ``surface_prob`` (see :func:`icefb.ml.predict`).
    """
    from icefb.ml import predict

    n = int(seg.sizes.get("segment", 0))
    from icefb.ml.inference import context_halo

    halo = context_halo(model, float(seg.attrs.get("window", 2.0)))
    if n <= block_segments:
        return predict(seg, model, device=device)
    parts = []
    last = None
    for a in range(0, n, block_segments):
        b = min(n, a + block_segments)
        lo, hi = max(0, a - halo), min(n, b + halo)
        last = predict(seg.isel(segment=slice(lo, hi)), model, device=device)
        parts.append(
            last[["surface_type", "surface_prob"]].isel(segment=slice(a - lo, a - lo + b - a))
        )
    both = xr.concat(parts, dim="segment")
    out = seg.assign(surface_type=both["surface_type"], surface_prob=both["surface_prob"])
    out.attrs.update({k: last.attrs[k] for k in ("classifier_sha256", "classifier_kind")
                      if last is not None and k in last.attrs})
    return out


def process_beam(unit: WorkUnit, config: RunConfig) -> tuple[xr.Dataset, dict[str, float]]:
    """Run every stage on one beam; returns the beam's segments (in memory) and stage times.

    Parameters
    ----------
    unit : WorkUnit
        Granule path, beam and (optionally) the paired Sentinel-2 scene.
    config : RunConfig
        Run parameters.

    Returns
    -------
    segments : xarray.Dataset
        2 m segments with ``surface_type``, ``ssh``, ``freeboard`` and, when a scene was
        given, ``s2_label`` and ``label_flag``.
    times : dict
        Seconds spent per stage.
    """
    import dask

    from icefb.freeboard import freeboard
    from icefb.io import open_atl03_beam
    from icefb.seasurface import sea_surface
    from icefb.segments import resample

    times: dict[str, float] = {}
    # inside a worker, compute the beam's chunks here, one after the other (bounded memory)
    with dask.config.set(scheduler="synchronous"):
        with _timed(times, "read+resample"):
            photons = open_atl03_beam(unit.granule, unit.beam)
            n_photons = int(photons.sizes.get("photon", 0))
            seg = resample(photons, config.binning)
            seg = seg.load()
        seg.attrs["n_photons_in_beam"] = n_photons
        if unit.scene is not None:
            from icefb.labeling import autolabel

            with _timed(times, "autolabel"):
                seg = autolabel(seg, unit.scene, config.label)
                seg.attrs["s2_scene"] = Path(unit.scene).name
        with _timed(times, "classify"):
            seg = classify_blocked(seg, _model(config.model), device=config.device)
        ssh_cfg = config.ssh
        if config.surface_source == "s2_label":
            import dataclasses

            ssh_cfg = dataclasses.replace(ssh_cfg, surface_var="s2_label")
        with _timed(times, "sea_surface+freeboard"):
            seg = freeboard(sea_surface(seg, ssh_cfg), ssh_cfg)
    return seg, times


def beam_summary(seg: xr.Dataset, times: dict[str, float]) -> dict[str, Any]:
    """Small per-beam numbers for the end-of-run table."""
    n = seg["n_photons"].values
    occupied = n > 0
    st = seg["surface_type"].values
    out: dict[str, Any] = {
        "segments": int(seg.sizes["segment"]),
        "occupied": int(occupied.sum()),
    }
    for s in (SurfaceType.THICK_ICE, SurfaceType.THIN_ICE, SurfaceType.OPEN_WATER):
        out[f"frac_{s.name.lower()}"] = float(np.mean(st[occupied] == s)) if occupied.any() else 0.0
    if "ssh_flag" in seg:
        flag = seg["ssh_flag"].values
        out["ssh_from_leads"] = float(np.mean(flag == 0)) if flag.size else 0.0
    fb = seg["freeboard"].values
    fb = fb[np.isfinite(fb)]
    out["freeboard_mean"] = float(fb.mean()) if fb.size else float("nan")
    for q in (5, 50, 95):
        out[f"freeboard_p{q}"] = float(np.percentile(fb, q)) if fb.size else float("nan")
    if "s2_label" in seg:
        lab = seg["s2_label"].values
        ok = lab >= 0
        out["labeled"] = int(ok.sum())
        out["agreement_with_s2"] = float(np.mean(st[ok] == lab[ok])) if ok.any() else float("nan")
    out.update({f"t_{k}": v for k, v in times.items()})
    return out


def process_and_write(
    unit: WorkUnit, config: RunConfig, store: str, group: str, digest: str
) -> dict[str, Any]:
    """Process one beam and write it atomically into the product; returns its summary."""
    from icefb.pipeline.product import write_beam

    seg, times = process_beam(unit, config)
    t0 = time.perf_counter()
    write_beam(store, group, seg, digest)
    times["write"] = time.perf_counter() - t0
    return {"group": group, "granule": unit.granule, "beam": unit.beam, **beam_summary(seg, times)}
