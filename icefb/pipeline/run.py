"""``icefb.run``: granules (and scenes) in, a Zarr product out, on dask or Spark."""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icefb.backends import Backend, WorkUnit, get_backend
from icefb.errors import ConfigError, MissingBeamError
from icefb.io.atl03 import glob_granules
from icefb.pipeline import product as _product
from icefb.pipeline.config import BackendName, RunConfig
from icefb.pipeline.units import (
    classify_unit,
    finish_unit,
    pair_units,
    process_and_write,
    ssh_config,
    unit_windows,
)
from icefb.seasurface import PairWindows, pair_beam_name

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass
class RunResult:
    """What a run did.

    Attributes
    ----------
    product : pathlib.Path
        The Zarr store.
    beams : list of dict
        One summary per beam processed in this run (see :func:`icefb.pipeline.units.beam_summary`).
    skipped : list of str
        Beam groups already complete from an earlier run with the same parameters.
    seconds : float
        Wall time of the run.
    """

    product: Path
    beams: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        """The end-of-run summary table, one line per beam."""
        return format_summary(self.beams, self.skipped)


def expand_granules(granules: PathLike | Sequence[PathLike]) -> list[str]:
    """Expand paths and glob patterns into a sorted, de-duplicated list of granule paths.

    Raises
    ------
    icefb.errors.ConfigError
        If nothing matches.
    """
    items = [granules] if isinstance(granules, str | os.PathLike) else list(granules)
    out: list[str] = []
    for item in items:
        s = os.fspath(item)
        matches = glob_granules(s) if glob.has_magic(s) else [s]
        if not matches:
            raise ConfigError("no granule matches the pattern", path=s, expected="ATL03 files")
        out.extend(matches)
    if not out:
        raise ConfigError("no granules given", expected="at least one ATL03 path or glob")
    for p in out:
        if not Path(p).is_file():
            from icefb.io import GranuleNotFoundError

            raise GranuleNotFoundError("granule not found", path=p, expected="an ATL03 HDF5 file")
    return list(dict.fromkeys(out))


def _granule_beams(path: str, wanted: tuple[str, ...] | None) -> list[str]:
    from icefb.io import open_atl03

    present = list(open_atl03(path).children)
    if wanted is None:
        return present
    missing = [b for b in wanted if b not in present]
    if missing:
        raise MissingBeamError(
            "requested beams are not in the granule", path=path, got=missing,
            expected=f"some of {present}",
        )
    return [b for b in present if b in wanted]


def _pair_scene(granule: str, scenes: PathLike | None, config: RunConfig) -> str | None:
    if scenes is None:
        return None
    scenes = Path(scenes)
    if scenes.is_file():
        return str(scenes)
    from icefb.labeling.pairing import find_scenes

    matches = find_scenes(granule, scenes, max_time_gap=config.label.max_time_gap_s)
    if not matches:
        log.warning("no Sentinel-2 scene in %s crosses %s; running without labels", scenes, granule)
        return None
    return str(matches[0].path)


def _model_provenance(config: RunConfig) -> dict[str, Any]:
    from icefb.pipeline.units import _model

    model = _model(config.model)
    return {
        "model": config.model,
        "model_checksum_sha256": str(getattr(model, "checksum", "")),
        "model_architecture": str(getattr(model, "metadata", {}).get("architecture", "")),
    }


def run(
    granules: PathLike | Sequence[PathLike],
    output: PathLike,
    *,
    scenes: PathLike | None = None,
    config: RunConfig | None = None,
    backend: BackendName | Backend = "dask",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> RunResult:
    """Run the whole pipeline and write a Zarr product.

    Parameters
    ----------
    granules : path, glob or list of them
        ATL03 granules.
    output : path
        Product store (``.zarr``). An existing icefb product is resumed: beams already
        complete with the same parameters are skipped, interrupted ones redone.
    scenes : path, optional
        A Sentinel-2 scene, or a folder of scenes to pair with each granule by footprint and
        time; adds ``s2_label``/``label_flag``.
    config : RunConfig, optional
        Parameters of every stage.
    backend : {"dask", "spark", "serial"} or Backend
        Engine for the (granule, beam) units; an already started backend is used as is.
    workers : int, optional
        Local workers (dask LocalCluster processes or Spark ``local[N]``).
    scheduler : str, optional
        Address of an existing dask-distributed scheduler.
    progress : bool
        Show progress bars.

    Returns
    -------
    RunResult

    Raises
    ------
    icefb.errors.ProductError
        ``output`` exists and is not an icefb product.
    icefb.errors.IcefbError
        Any stage's error, naming the granule and beam.
    """
    import icefb

    t0 = time.perf_counter()
    config = config or RunConfig()
    paths = expand_granules(granules)
    store = Path(output)
    digest = config.digest()

    units: list[tuple[WorkUnit, str]] = []
    # pair partners of requested beams that were not requested themselves: read for their
    # leads only (a beam's sea surface must not depend on which beams were asked for)
    partners: list[tuple[WorkUnit, str]] = []
    scene_ids: list[str] = []
    for g in paths:
        scene = _pair_scene(g, scenes, config)
        if scene:
            scene_ids.append(Path(scene).name)
        elif config.surface_source == "s2_label":
            raise ConfigError("surface_source s2_label needs a Sentinel-2 scene for every "
                              "granule", path=g,
                              expected="scenes= (icefb run --scenes) that cross the granule")
        wanted = _granule_beams(g, config.beams)
        cross = config.ssh.cross_pairs
        present = (_granule_beams(g, None) if config.beams and (config.ssh.pair_leads or cross)
                   else wanted)
        for beam in present:
            group = beam if len(paths) == 1 else f"{Path(g).stem}/{beam}"
            item = (WorkUnit(g, beam, scene=scene), group)
            if beam in wanted:
                units.append(item)
            elif cross or pair_beam_name(beam) in wanted:
                partners.append(item)

    provenance = {
        "title": "icefb 2 m along-track sea-ice surface type, sea surface height and freeboard",
        "Conventions": "CF-1.10",
        "icefb_version": icefb.__version__,
        "input_granules": [Path(p).name for p in paths],
        "input_scenes": sorted(set(scene_ids)),
        "parameters": config.to_dict(),
        "config_digest": digest,
        **_model_provenance(config),
    }
    sources = {g: _product.source_id(u.granule, u.scene) for u, g in units + partners}
    _product.check_no_stale_beams(store, {g for _, g in units}, digest, set(sources.values()))
    created = not store.exists()
    _product.open_or_create(store, {k: v for k, v in provenance.items() if k != "date_created"})
    try:
        result = _run_units(store, units, partners, sources, config, digest, backend, workers,
                            scheduler, progress)
    except BaseException:
        if created and not _product.complete_beams(store):
            # nothing of this run's survived: leave no empty product where there was none
            _product.remove(store)
        raise
    _product.finalize(store, provenance)
    result.seconds = time.perf_counter() - t0
    return result


def _run_units(store: Path, units: list[tuple[WorkUnit, str]],
               partners: list[tuple[WorkUnit, str]], sources: dict[str, str],
               config: RunConfig, digest: str, backend: BackendName | Backend,
               workers: int | None, scheduler: str | None, progress: bool) -> RunResult:
    """Process what is not complete yet and write it (the body of :func:`run`)."""
    _product.cleanup_partial(store)
    done = {g for _, g in units if _product.beam_complete(store, g, digest, sources[g])}
    skipped = [g for _, g in units if g in done]
    # the two beams of a pair run together (their sea surface shares leads); a pair with one
    # beam complete is processed again for the other's leads but written only where missing
    helpers = {g for _, g in partners}

    def pending(grp: list[tuple[WorkUnit, str]]) -> bool:
        return any(g not in done and g not in helpers for _, g in grp)

    # with cross_pairs still one unit per pair: the pairs of a granule meet only through
    # their window sea surface, combined on the driver (_run_cross_pairs)
    work = pair_units(units + partners, config.ssh.pair_leads)
    if config.ssh.cross_pairs:
        live = {grp[0][0].granule for grp in work if pending(grp)}
        work = [grp for grp in work if grp[0][0].granule in live]
    else:
        work = [grp for grp in work if pending(grp)]
    result = RunResult(product=store, skipped=skipped)
    if work:
        own = not isinstance(backend, Backend)
        be = (
            get_backend(backend, **_backend_kwargs(backend, workers, scheduler, progress))
            if own
            else backend
        )
        items = [(tuple(u for u, _ in grp), "+".join(g for _, g in grp),
                  tuple(g for _, g in grp),
                  tuple(g not in done and g not in helpers for _, g in grp))
                 for grp in work]
        try:
            if config.ssh.cross_pairs:
                per_unit = _run_cross_pairs(be, items, config, str(store), digest)
            else:
                per_unit = be.map(_unit_task, items, config, str(store), digest)
        finally:
            if own:
                be.close()
        result.beams = [b for beams in per_unit for b in beams]
    return result


def _unit_task(item: tuple[tuple[WorkUnit, ...], str, tuple[str, ...], tuple[bool, ...]],
               config: RunConfig, store: str, digest: str) -> list[dict[str, Any]]:
    """One run unit: ``(units, name, groups, write)``; ``name`` joins the groups with ``+``."""
    units, _, groups, write = item
    return process_and_write(list(units), config, store, list(groups), digest, list(write))


def _run_cross_pairs(be: Backend, items: list[Any], config: RunConfig, store: str,
                     digest: str) -> list[list[dict[str, Any]]]:
    """The three phases of a run with ``SSHConfig.cross_pairs`` (see :mod:`icefb.pipeline.units`).

    The classified segments stay on the workers; only each pair's window sea surface (a few
    numbers per 5 km window) travels to the driver and back. Granules go through the phases in
    batches of ``max(2, workers)``, so the engine holds the segments of one batch, not of the
    whole run.
    """
    from icefb.seasurface import combine_pair_windows, cross_pairs_name

    ssh_cfg = ssh_config(config)
    by_granule: dict[str, list[int]] = {}
    for i, (units, *_) in enumerate(items):
        by_granule.setdefault(units[0].granule, []).append(i)
    granules = list(by_granule.values())
    # a batch of granules at a time: the engine holds only their classified segments
    step = max(2, be.n_workers)
    out: list[list[dict[str, Any]]] = [[] for _ in items]
    for b in range(0, len(granules), step):
        batch = [i for idx in granules[b:b + step] for i in idx]
        # each pair's window sea surface is computed in the pass that classifies it (on
        # Spark a second pass would read every classified unit back out of the cache)
        with be.persist(classify_unit, [items[i] for i in batch], config,
                        summary=unit_windows) as held:
            windows = dict(zip(batch, held.summaries, strict=True))
            combined: dict[int, tuple[PairWindows, str] | None] = dict.fromkeys(batch)
            for idx in granules[b:b + step]:
                if len(idx) < 2:  # one pair: its own sea surface, as without cross_pairs
                    continue
                name = cross_pairs_name([windows[i].beams for i in idx])
                for i, w in zip(idx, combine_pair_windows([windows[i] for i in idx], ssh_cfg),
                                strict=True):
                    combined[i] = (w, name)
            done = be.map(finish_unit, held, config, store, digest,
                          per_unit=[combined[i] for i in batch])
        for i, r in zip(batch, done, strict=True):
            out[i] = r
    return out


def _backend_kwargs(name: str, workers: int | None, scheduler: str | None, progress: bool):
    kw: dict[str, Any] = {"progress": progress}
    if name == "serial":
        return kw
    if workers is not None:
        kw["n_workers"] = workers
    if scheduler is not None:
        if name != "dask":
            raise ConfigError("--scheduler is a dask address", got=name, expected='backend "dask"')
        kw["scheduler"] = scheduler
    return kw


def format_summary(beams: list[dict[str, Any]], skipped: Sequence[str] = ()) -> str:
    """Format per-beam summaries as a fixed-width table."""
    cols = [
        ("beam", "group", "{:<22}"),
        ("segments", "occupied", "{:>9d}"),
        ("thick", "frac_thick_ice", "{:>6.1%}"),
        ("thin", "frac_thin_ice", "{:>6.1%}"),
        ("water", "frac_open_water", "{:>6.1%}"),
        ("ssh leads", "ssh_from_leads", "{:>9.1%}"),
        ("fb mean", "freeboard_mean", "{:>8.3f}"),
        ("fb p5", "freeboard_p5", "{:>7.3f}"),
        ("fb p50", "freeboard_p50", "{:>7.3f}"),
        ("fb p95", "freeboard_p95", "{:>7.3f}"),
    ]
    stages = sorted({k for b in beams for k in b if k.startswith("t_")})
    head = " ".join(f"{h:>{len(f.format(0) if 'd' in f or 'f' in f or '%' in f else 'x' * 22)}}"
                    if i else f"{h:<22}" for i, (h, _, f) in enumerate(cols))
    head += "".join(f" {s[2:]:>14}" for s in stages)
    lines = [head, "-" * len(head)]
    for b in beams:
        parts = []
        for _, key, fmt in cols:
            v = b.get(key)
            parts.append(fmt.format(v) if v is not None else " " * len(fmt.format(0)))
        parts += [f"{b.get(s, 0.0):>13.2f}s" for s in stages]
        lines.append(" ".join(parts))
    for g in skipped:
        lines.append(f"{g:<22} (complete from an earlier run, skipped)")
    return "\n".join(lines)
