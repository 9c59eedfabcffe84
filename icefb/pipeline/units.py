"""The work unit of a run: read, resample, label, classify, sea surface, freeboard.

A unit is one beam, or the two beams of a pair (``gt1l``/``gt1r``, ...) when
``SSHConfig.pair_leads`` is on: each beam is read, resampled, labelled and classified on its
own, then the sea surface pools the leads of both beams (:func:`icefb.sea_surface` on a
two-beam tree). :func:`process_beams` returns the segments; :func:`process_and_write` also
writes them into the product and returns only small summaries, so the engine (dask or Spark)
ships kilobytes, not arrays, back to the driver.

With ``SSHConfig.cross_pairs`` a run has three phases over the same pair units, so that the
pairs of a granule still run in parallel: :func:`classify_unit` (held on the workers),
:func:`unit_windows` (each pair's window SSH, shipped to the driver, which combines the pairs of
each granule with :func:`icefb.seasurface.combine_pair_windows`; run as the ``summary`` of the
first phase's ``persist``, in the same pass), and :func:`finish_unit` (SSH from the combined
windows, freeboard, write).
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from icefb.backends import WorkUnit
from icefb.constants import SurfaceType
from icefb.pipeline.config import RunConfig

if TYPE_CHECKING:
    from icefb.seasurface import PairWindows, SSHConfig


def _model(name_or_path: str) -> Any:
    from icefb.ml.io import recorded_checksum

    # keyed by the recorded checksum too: a model saved again at the same path is reloaded
    return _loaded_model(name_or_path, recorded_checksum(name_or_path))


@functools.lru_cache(maxsize=4)
def _loaded_model(name_or_path: str, checksum: str) -> Any:
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
        ``seg`` with ``surface_type``, ``surface_prob`` and ``surface_type_edge`` (see
        :func:`icefb.ml.predict`; the flag from the whole beam's types).
    """
    from icefb.ml import predict

    n = int(seg.sizes.get("segment", 0))
    from icefb.ml.inference import context_halo, surface_type_edge

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
    assert last is not None  # n > block_segments: at least two blocks
    both = xr.concat(parts, dim="segment")
    out = seg.assign(surface_type=both["surface_type"], surface_prob=both["surface_prob"])
    # the flag reaches across block edges: from the whole beam's types
    out["surface_type_edge"] = xr.DataArray(surface_type_edge(out["surface_type"].values),
                                            dims=("segment",),
                                            attrs=last["surface_type_edge"].attrs)
    out.attrs.update({k: last.attrs[k] for k in ("classifier_sha256", "classifier_kind")
                      if last is not None and k in last.attrs})
    return out


def _classified_beam(unit: WorkUnit, config: RunConfig) -> tuple[xr.Dataset, dict[str, float]]:
    """Read, resample, (label,) classify one beam; returns the segments and stage times."""
    import dask

    from icefb.io import open_atl03_beam
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
    return seg, times


def ssh_config(config: RunConfig) -> SSHConfig:
    """The run's :class:`~icefb.seasurface.SSHConfig`, reading ``config.surface_source``."""
    ssh_cfg = config.ssh
    if config.surface_source == "s2_label":
        import dataclasses

        ssh_cfg = dataclasses.replace(ssh_cfg, surface_var="s2_label")
    return ssh_cfg


def process_beams(
    units: list[WorkUnit] | tuple[WorkUnit, ...], config: RunConfig
) -> list[tuple[xr.Dataset, dict[str, float]]]:
    """Run every stage on one beam or on the two beams of a pair.

    Parameters
    ----------
    units : list of WorkUnit
        One unit, or the two beams of a pair of the same granule, or with
        ``config.ssh.cross_pairs`` every beam of one granule (see :func:`pair_units`).
        Two beams share their leads in the sea surface when ``config.ssh.pair_leads`` is on,
        and the pairs of a granule are combined with ``cross_pairs``; otherwise each beam is
        processed alone.
    config : RunConfig
        Run parameters.

    Returns
    -------
    list of (segments, times)
        Per unit, in order: the 2 m segments with ``surface_type``, ``ssh``, ``freeboard``
        and, when a scene was given, ``s2_label`` and ``label_flag``; and the seconds spent
        per stage (a pair's shared sea-surface time is split evenly).
    """
    done = [_classified_beam(u, config) for u in units]
    return _surface_and_freeboard(list(units), done, config)


def _surface_and_freeboard(
    units: list[WorkUnit], done: list[tuple[xr.Dataset, dict[str, float]]], config: RunConfig,
    windows: PairWindows | None = None, cross_name: str = "",
) -> list[tuple[xr.Dataset, dict[str, float]]]:
    """SSH and freeboard of classified beams (``windows``: the pair's combined window SSH)."""
    from icefb.freeboard import freeboard
    from icefb.seasurface import apply_pair_windows, sea_surface

    ssh_cfg = ssh_config(config)
    t0 = time.perf_counter()
    if windows is not None:
        segs = [freeboard(apply_pair_windows(seg, u.beam, windows, ssh_cfg,
                                             cross_pairs=cross_name), ssh_cfg)
                for u, (seg, _) in zip(units, done, strict=True)]
    elif len(units) >= 2 and (ssh_cfg.pair_leads or ssh_cfg.cross_pairs):
        tree = xr.DataTree.from_dict({u.beam: seg for u, (seg, _) in zip(units, done,
                                                                          strict=True)})
        tree = freeboard(sea_surface(tree, ssh_cfg), ssh_cfg)
        segs = [tree[u.beam].to_dataset() for u in units]
    else:
        segs = [freeboard(sea_surface(seg, ssh_cfg), ssh_cfg) for seg, _ in done]
    dt = (time.perf_counter() - t0) / max(len(units), 1)
    out = []
    for seg, (_, times) in zip(segs, done, strict=True):
        times["sea_surface+freeboard"] = dt
        out.append((seg, times))
    return out


@dataclass
class ClassifiedUnit:
    """A run unit after reading, resampling and classification (the first phase of a run
    with ``SSHConfig.cross_pairs``, held on the worker that made it).

    Attributes
    ----------
    units : list of WorkUnit
        One beam or the two beams of a pair, of one granule.
    groups : list of str
        Their product groups.
    write : list of bool
        Whether each is written (False: read for its leads only).
    done : list of (xarray.Dataset, dict)
        Per beam: the classified segments and the stage times so far.
    """

    units: list[WorkUnit]
    groups: list[str]
    write: list[bool]
    done: list[tuple[xr.Dataset, dict[str, float]]]


def classify_unit(item: tuple[tuple[WorkUnit, ...], str, tuple[str, ...], tuple[bool, ...]],
                  config: RunConfig) -> ClassifiedUnit:
    """First phase of a cross-pair run: read, resample and classify the beams of one unit."""
    units, _, groups, write = item
    return ClassifiedUnit(list(units), list(groups), list(write),
                          [_classified_beam(u, config) for u in units])


def unit_windows(cu: ClassifiedUnit, config: RunConfig) -> PairWindows:
    """Second phase: the unit's window SSH (its pair's leads pooled), a few numbers per window."""
    from icefb.seasurface import pair_windows

    ssh_cfg = ssh_config(config)
    beams = {u.beam: seg for u, (seg, _) in zip(cu.units, cu.done, strict=True)}
    if not ssh_cfg.pair_leads and len(beams) > 1:
        from icefb.errors import ConfigError

        raise ConfigError("a unit of two beams needs SSHConfig.pair_leads",
                          got=sorted(beams), expected="pair_units(..., pair_leads=True)")
    return pair_windows(beams, ssh_cfg)


def finish_unit(cu: ClassifiedUnit, windows: tuple[PairWindows, str] | None, config: RunConfig,
                store: str, digest: str) -> list[dict[str, Any]]:
    """Last phase: SSH from the combined windows (``None``: the unit's own, as
    :func:`process_beams`), freeboard, and the atomic write of each beam to be written."""
    w, name = windows if windows is not None else (None, "")
    results = _surface_and_freeboard(cu.units, cu.done, config, w, name)
    return _write_beams(cu.units, cu.groups, cu.write, results, store, digest)


def _write_beams(units: list[WorkUnit], groups: list[str], write: list[bool],
                 results: list[tuple[xr.Dataset, dict[str, float]]], store: str,
                 digest: str) -> list[dict[str, Any]]:
    from icefb.pipeline.product import source_id, write_beam

    out = []
    for u, g, w, (seg, times) in zip(units, groups, write, results, strict=True):
        if not w:
            continue
        t0 = time.perf_counter()
        write_beam(store, g, seg, digest, source_id(u.granule, u.scene))
        times["write"] = time.perf_counter() - t0
        out.append({"group": g, "granule": u.granule, "beam": u.beam,
                    **beam_summary(seg, times)})
    return out


def process_beam(unit: WorkUnit, config: RunConfig) -> tuple[xr.Dataset, dict[str, float]]:
    """Run every stage on one beam alone (no pair partner); see :func:`process_beams`."""
    return process_beams([unit], config)[0]


def pair_units(items: list[tuple[WorkUnit, str]],
               pair_leads: bool = True) -> list[list[tuple[WorkUnit, str]]]:
    """Group ``(unit, group)`` items into run units: the two beams of a pair together.

    Parameters
    ----------
    items : list of (WorkUnit, str)
        Beams of one or more granules with their product group names.
    pair_leads : bool
        Group pairs (``gtNl`` with ``gtNr`` of the same granule); False: one beam per unit.

    Returns
    -------
    list of list of (WorkUnit, str)
        In the order of the first beam of each unit.

    Examples
    --------
    >>> from icefb.backends import WorkUnit
    >>> items = [(WorkUnit("g.h5", b), b) for b in ("gt1l", "gt1r", "gt2l")]
    >>> [[g for _, g in u] for u in pair_units(items)]
    [['gt1l', 'gt1r'], ['gt2l']]
    """
    from icefb.seasurface import pair_beam_name

    if not pair_leads:
        return [[it] for it in items]
    out: list[list[tuple[WorkUnit, str]]] = []
    where: dict[tuple[str, str], int] = {}
    for it in items:
        unit = it[0]
        partner = pair_beam_name(unit.beam)
        key = (unit.granule, min(unit.beam, partner) if partner else unit.beam)
        if partner is not None and key in where:
            out[where[key]].append(it)
        else:
            where[key] = len(out)
            out.append([it])
    return out


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
        # 0: own leads; 4/5: pooled with / only the pair partner's leads (pair_leads)
        out["ssh_from_leads"] = float(np.mean(np.isin(flag, (0, 4, 5)))) if flag.size else 0.0
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
    unit: WorkUnit | list[WorkUnit], config: RunConfig, store: str, group: str | list[str],
    digest: str, write: list[bool] | None = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Process one beam (or a pair) and write it atomically into the product.

    Parameters
    ----------
    unit : WorkUnit or list of WorkUnit
        A beam, or the beams of a pair (:func:`process_beams`).
    config : RunConfig
    store : str
        Product store.
    group : str or list of str
        Product group of each beam.
    digest : str
        The run's config digest.
    write : list of bool, optional
        Per beam, whether to write it (a pair whose other beam is already complete is
        processed for its leads but written once). Default: all.

    Returns
    -------
    dict or list of dict
        Summary of each written beam (a single dict for a single unit).
    """
    single = isinstance(unit, WorkUnit)
    units = [unit] if single else list(unit)
    groups = [group] if isinstance(group, str) else list(group)
    flags = write if write is not None else [True] * len(units)
    out = _write_beams(units, groups, flags, process_beams(units, config), store, digest)
    if single:
        if not out:
            from icefb.errors import ConfigError

            raise ConfigError("process_and_write of one beam with write=[False] writes nothing",
                              beam=units[0].beam, expected="write=None or [True]")
        return out[0]
    return out
