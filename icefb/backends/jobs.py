"""The paper's two scale-out jobs, auto-labeling and freeboard, over any backend.

Each job runs the same picklable per-unit function on the same :class:`WorkUnit` objects, on
whichever :class:`~icefb.backends.Backend` it is given (``"serial"``, ``"dask"``, ``"spark"``),
so results are bit-identical across engines and speed can be compared side by side.

Both jobs have the paper's two phases, which can be run and timed apart:

* **data loading** (:func:`load_unit`, :func:`load_job`, :func:`load_units`): read the
  unit's photons (one beam, or one along-track block plus its halo) from the ATL03 HDF5 file
  into memory;
* **map-reduce** (:func:`autolabel_job` / :func:`freeboard_job` given :class:`LoadedUnit`
  objects): 2 m resampling (photons -> segments, the reduce) and the per-segment stage
  (Sentinel-2 labels; sea surface height and freeboard).

Given plain :class:`WorkUnit` objects, the jobs fuse both phases into one task per unit (what
a production run does: no photons travel between driver and workers).

Blocked freeboard: a unit with ``block=(x0, x1)`` loads the photons of ``[x0 - halo, x1 + halo)``
(``halo = icefb.seasurface.halo_length(config.ssh)``), and returns the segments with centres
in ``[x0, x1)``; :func:`combine_blocks` concatenates the blocks of each beam, which equals the
unblocked ``icefb.freeboard(icefb.sea_surface(...))`` exactly.

Examples
--------
>>> from icefb.backends import WorkUnit
>>> from icefb.backends.jobs import JobConfig, combine_blocks
>>> JobConfig().surface
's2'
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from icefb.backends._base import Resident, WorkUnit
from icefb.errors import ConfigError, InvalidGranuleError

if TYPE_CHECKING:  # pragma: no cover
    from icefb.backends._base import Backend
    from icefb.labeling import LabelConfig
    from icefb.seasurface import SSHConfig
    from icefb.segments import BinningConfig

__all__ = [
    "JobConfig",
    "LoadedUnit",
    "autolabel_job",
    "autolabel_unit",
    "combine_blocks",
    "freeboard_job",
    "freeboard_unit",
    "load_job",
    "load_unit",
    "load_units",
    "persist_units",
    "plan_units",
]

Stage = Literal["autolabel", "freeboard"]


def _binning() -> BinningConfig:
    from icefb.segments import BinningConfig

    return BinningConfig()


def _label() -> LabelConfig:
    from icefb.labeling import LabelConfig

    return LabelConfig()


def _ssh() -> SSHConfig:
    from icefb.seasurface import SSHConfig

    return SSHConfig()


@dataclass(frozen=True)
class JobConfig:
    """Parameters of the auto-labeling and freeboard jobs.

    Parameters
    ----------
    binning : BinningConfig
        2 m resampling (window, signal selection).
    label : LabelConfig
        Sentinel-2 labeling (thresholds, drift search).
    ssh : SSHConfig
        Sea surface windows; also sets the halo of blocked freeboard units.
    surface : {"s2", "truth"}
        Surface type used for the sea surface in :func:`freeboard_job`: ``"s2"`` labels each
        unit from its ``scene`` (``s2_label``); ``"truth"`` takes ``surface_type`` from the
        truth sidecar of a synthetic granule (:func:`icefb.synth.read_truth`: benchmarks and
        tests).

    Raises
    ------
    icefb.errors.ConfigError
        For an unknown ``surface`` or a config of the wrong type.

    Examples
    --------
    >>> JobConfig(surface="truth").binning.window
    2.0
    """

    binning: BinningConfig = field(default_factory=_binning)
    label: LabelConfig = field(default_factory=_label)
    ssh: SSHConfig = field(default_factory=_ssh)
    surface: Literal["s2", "truth"] = "s2"

    def __post_init__(self) -> None:
        from icefb.labeling import LabelConfig
        from icefb.seasurface import SSHConfig
        from icefb.segments import BinningConfig

        for name, cls in (("binning", BinningConfig), ("label", LabelConfig), ("ssh", SSHConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(
                    f"JobConfig.{name} must be a {cls.__name__}",
                    got=type(getattr(self, name)).__name__, expected=cls.__name__,
                )
        if self.surface not in ("s2", "truth"):
            raise ConfigError("unknown JobConfig.surface", got=self.surface,
                              expected='one of {"s2", "truth"}')


@dataclass(frozen=True)
class LoadedUnit:
    """A work unit with its photons in memory: the output of the data-loading phase.

    Parameters
    ----------
    unit : WorkUnit
        The unit the photons belong to.
    photons : xarray.Dataset
        numpy-backed photon Dataset (schema of ``docs/architecture.md``) of the unit's beam,
        restricted to the 2 m bins of its block (plus halo) when it has one.
    """

    unit: WorkUnit
    photons: xr.Dataset

    @property
    def key(self) -> str:
        """The unit's key (task names, logs)."""
        return self.unit.key


# ---------------------------------------------------------------------------------------------
# planning


def plan_units(
    granules: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    beams: Sequence[str] | None = None,
    *,
    block_length_m: float | None = None,
    scenes: dict[str, str] | str | None = None,
    config: JobConfig | None = None,
) -> list[WorkUnit]:
    """Cut granules into (granule, beam[, block]) work units.

    Parameters
    ----------
    granules : path or sequence of paths
        ATL03 granules.
    beams : sequence of str, optional
        Beams to use; default every beam with photons.
    block_length_m : float, optional
        Along-track core length (m) of each block; ``None`` for one unit per beam. Must be a
        multiple of the binning window, so that no 2 m bin straddles two blocks.
    scenes : dict or str, optional
        Sentinel-2 scene per granule path (dict), or one scene for all units.
    config : JobConfig, optional

    Returns
    -------
    list of WorkUnit
        In (granule, beam, block) order; blocks tile the beam's 2 m bins without overlap.

    Raises
    ------
    icefb.errors.ConfigError
        If ``block_length_m`` is not a positive multiple of the window.
    """
    from icefb.io import open_atl03
    from icefb.seasurface import plan_blocks

    cfg = config or JobConfig()
    w = float(cfg.binning.window)
    if block_length_m is not None:
        ratio = block_length_m / w if block_length_m > 0 else -1.0
        if not (np.isfinite(ratio) and ratio >= 1 and abs(ratio - round(ratio)) < 1e-9):
            raise ConfigError("block_length_m must be a positive multiple of the window",
                              got=block_length_m, expected=f"k * {w} m")
    paths = [granules] if isinstance(granules, (str, os.PathLike)) else list(granules)
    units: list[WorkUnit] = []
    for p in paths:
        path = os.fspath(p)
        scene = scenes.get(path) if isinstance(scenes, dict) else scenes
        tree = open_atl03(path, beams=list(beams) if beams else None, chunks=None)
        for beam in tree.children:
            if block_length_m is None:
                units.append(WorkUnit(path, beam, None, scene))
                continue
            x = tree[beam]["x_atc"].values
            if x.size == 0:
                continue
            first = (math.floor(float(np.nanmin(x)) / w) + 0.5) * w
            last = (math.floor(float(np.nanmax(x)) / w) + 0.5) * w
            for blk in plan_blocks((first, last), float(block_length_m), cfg.ssh):
                units.append(WorkUnit(path, beam, blk.core, scene))
    return units


# ---------------------------------------------------------------------------------------------
# phase 1: data loading


def _halo(stage: Stage, config: JobConfig) -> float:
    if stage == "freeboard":
        from dataclasses import replace

        from icefb.seasurface import halo_length

        # a unit is one beam: no other pair to combine, no cross_pair_radius in the halo
        return halo_length(replace(config.ssh, cross_pairs=False))
    if stage == "autolabel":
        return 0.0
    raise ConfigError("unknown stage", got=stage, expected='one of {"autolabel", "freeboard"}')


def load_unit(unit: WorkUnit, config: JobConfig | None = None, *,
              stage: Stage = "autolabel") -> LoadedUnit:
    """Data loading: read one unit's photons from the granule into memory.

    Parameters
    ----------
    unit : WorkUnit
        Granule, beam and optional block ``(x0, x1)`` (m along track).
    config : JobConfig, optional
    stage : {"autolabel", "freeboard"}
        ``"freeboard"`` widens a block by :func:`icefb.seasurface.halo_length` on each side.

    Returns
    -------
    LoadedUnit
        The unit and its numpy-backed photon Dataset: every photon whose 2 m bin
        ``floor(x_atc / window)`` lies in the (widened) block.

    Raises
    ------
    icefb.errors.CorruptFileError, icefb.errors.MissingBeamError, icefb.errors.InvalidGranuleError
        As :func:`icefb.open_atl03`.
    """
    import dask

    from icefb.io import open_atl03_beam

    cfg = config or JobConfig()
    halo = _halo(stage, cfg)
    # inside a worker: read here, synchronously (one core per worker, bounded memory)
    with dask.config.set(scheduler="synchronous"):
        ds = open_atl03_beam(unit.granule, unit.beam, chunks=None)
        if unit.block is not None:
            w = float(cfg.binning.window)
            x0, x1 = unit.block
            if not x1 > x0:
                raise InvalidGranuleError("empty along-track block", path=unit.granule,
                                          beam=unit.beam, got=unit.block,
                                          expected="(x0, x1) with x1 > x0 (m)")
            b0 = math.floor((x0 - halo) / w + 1e-9)
            b1 = math.ceil((x1 + halo) / w - 1e-9)
            bins = np.floor(ds["x_atc"].values / w)
            idx = np.flatnonzero((bins >= b0) & (bins < b1))
            if idx.size:
                # read one contiguous photon range, then drop the few out-of-block photons
                i0 = int(idx[0])
                ds = ds.isel(photon=slice(i0, int(idx[-1]) + 1)).load()
                if idx.size != ds.sizes["photon"]:
                    ds = ds.isel(photon=idx - i0)
            else:
                ds = ds.isel(photon=slice(0, 0))
        ds = ds.load()
    return LoadedUnit(unit, ds)


class _Task:
    """A picklable per-unit function with a fresh name per job run.

    Backends derive task keys from the function name and the unit; a fresh name makes every
    run of a job compute anew (dask would otherwise hand back results still held under the
    same keys from a previous run).
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.__name__ = f"{func.__name__}-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: Any) -> Any:
        import dask

        # a worker is one core: the unit's own dask arrays (scene rasters, photon chunks) are
        # computed here, one after the other, not by a thread pool competing with the other
        # workers (which also made a 1-worker run use every core and hid the scaling)
        with dask.config.set(scheduler="synchronous"):
            return self.func(*args)


def _load(unit: WorkUnit, config: JobConfig, stage: Stage) -> LoadedUnit:
    return load_unit(unit, config, stage=stage)


def _count_photons(unit: WorkUnit, config: JobConfig, stage: Stage) -> int:
    return int(load_unit(unit, config, stage=stage).photons.sizes.get("photon", 0))


def load_job(units: Sequence[WorkUnit], backend: Backend, config: JobConfig | None = None, *,
             stage: Stage = "autolabel") -> list[int]:
    """Data-loading phase alone: every worker reads its units; returns photons per unit.

    Like Spark's ``df.count()`` after a read, this forces the load without shipping the
    photons back to the driver.

    Parameters
    ----------
    units : sequence of WorkUnit
    backend : Backend
        From :func:`icefb.backends.get_backend`.
    config : JobConfig, optional
    stage : {"autolabel", "freeboard"}
        Whether blocks are widened by the SSH halo.

    Returns
    -------
    list of int
        Photons read per unit, in unit order.
    """
    return backend.map(_Task(_count_photons), list(units), config or JobConfig(), stage)


def load_units(units: Sequence[WorkUnit], backend: Backend, config: JobConfig | None = None, *,
               stage: Stage = "autolabel") -> list[LoadedUnit]:
    """Data-loading phase, keeping the photons: input of the map-reduce phase alone.

    Parameters
    ----------
    units, backend, config, stage
        As :func:`load_job`.

    Returns
    -------
    list of LoadedUnit
        In unit order.
    """
    return backend.map(_Task(_load), list(units), config or JobConfig(), stage)


def persist_units(units: Sequence[WorkUnit], backend: Backend, config: JobConfig | None = None,
                  *, stage: Stage = "autolabel") -> Resident:
    """Data-loading phase into the engine's memory: each worker reads and keeps its units.

    The paper's loading phase (Spark: read, ``cache()``, ``count()``): the photons stay on the
    workers (dask futures, a cached Spark RDD) and :func:`autolabel_job` / :func:`freeboard_job`
    given the returned :class:`~icefb.backends.Resident` run the map-reduce phase where the
    photons are, without shipping them through the driver.

    Parameters
    ----------
    units, backend, config, stage
        As :func:`load_job`.

    Returns
    -------
    icefb.backends.Resident
        One :class:`LoadedUnit` per unit, held by the engine; ``release()`` it when done.

    Examples
    --------
    >>> from icefb.backends import get_backend
    >>> with get_backend("dask", n_workers=2) as be:  # doctest: +SKIP
    ...     with persist_units(units, be, stage="freeboard") as held:
    ...         out = freeboard_job(held, be)
    """
    return backend.persist(_Task(_load), list(units), config or JobConfig(), stage)


# ---------------------------------------------------------------------------------------------
# phase 2: map-reduce


def _loaded(unit: WorkUnit | LoadedUnit, config: JobConfig, stage: Stage) -> LoadedUnit:
    if isinstance(unit, LoadedUnit):
        return unit
    if isinstance(unit, WorkUnit):
        return load_unit(unit, config, stage=stage)
    raise ConfigError("a job unit must be a WorkUnit or a LoadedUnit",
                      got=type(unit).__name__, expected="icefb.backends.WorkUnit")


def _segments(lu: LoadedUnit, config: JobConfig) -> xr.Dataset:
    import dask

    from icefb.segments import resample

    with dask.config.set(scheduler="synchronous"):
        seg = resample(lu.photons, config.binning)
    seg.attrs["beam"] = lu.unit.beam
    return seg


def autolabel_unit(unit: WorkUnit | LoadedUnit, config: JobConfig | None = None) -> xr.Dataset:
    """One auto-labeling task: (load,) resample to 2 m, label from the unit's Sentinel-2 scene.

    Parameters
    ----------
    unit : WorkUnit or LoadedUnit
        A unit with a ``scene``; a :class:`LoadedUnit` skips the loading.
    config : JobConfig, optional

    Returns
    -------
    xarray.Dataset
        The unit's 2 m segments with ``s2_label`` and ``label_flag`` (see
        :func:`icefb.autolabel`), in memory.

    Raises
    ------
    icefb.errors.ConfigError
        If the unit has no scene.
    icefb.errors.NoOverlapError, icefb.errors.SceneError
        As :func:`icefb.labeling.label_unit`.
    """
    from icefb.labeling import label_unit

    cfg = config or JobConfig()
    lu = _loaded(unit, cfg, "autolabel")
    if lu.unit.scene is None:
        raise ConfigError("auto-labeling unit without a Sentinel-2 scene", path=lu.unit.granule,
                          beam=lu.unit.beam, expected="WorkUnit(..., scene=path)")
    return label_unit(_segments(lu, cfg), lu.unit.scene, cfg.label)


def _truth_surface(seg: xr.Dataset, unit: WorkUnit) -> xr.Dataset:
    from icefb.constants import SurfaceType
    from icefb.synth import read_truth

    _, truth = read_truth(unit.granule, unit.beam)
    st = truth["surface_type"].reindex(segment=seg["segment"].values,
                                       fill_value=int(SurfaceType.UNLABELED))
    return seg.assign(surface_type=("segment", st.values.astype(np.int8),
                                    truth["surface_type"].attrs))


def freeboard_unit(unit: WorkUnit | LoadedUnit, config: JobConfig | None = None) -> xr.Dataset:
    """One freeboard task: (load the block with its halo,) resample, surface type, SSH, freeboard.

    Parameters
    ----------
    unit : WorkUnit or LoadedUnit
        ``(granule, beam, block)``; a :class:`LoadedUnit` must come from
        ``load_unit(..., stage="freeboard")``.
    config : JobConfig, optional
        ``config.surface`` picks the surface type (Sentinel-2 labels or synthetic truth).

    Returns
    -------
    xarray.Dataset
        The segments with centres in the block's core (the whole beam without a block), with
        ``ssh``, ``ssh_uncertainty``, ``ssh_flag``, ``freeboard``, ``freeboard_uncertainty``:
        the same values as the unblocked ``icefb.freeboard(icefb.sea_surface(...))`` of this
        beam alone. The unit holds one beam, so ``config.ssh.pair_leads`` and
        ``config.ssh.cross_pairs`` do not apply here (the pipeline, ``icefb.run``, pools the
        leads of beam pairs and combines the pairs of a granule).

    Raises
    ------
    icefb.errors.ConfigError
        ``surface="s2"`` and the unit has no scene.
    """
    from icefb.seasurface import sea_surface_block

    cfg = config or JobConfig()
    lu = _loaded(unit, cfg, "freeboard")
    seg = _segments(lu, cfg)
    if cfg.surface == "truth":
        seg = _truth_surface(seg, lu.unit)
    else:
        if lu.unit.scene is None:
            raise ConfigError('JobConfig.surface="s2" needs a scene per unit',
                              path=lu.unit.granule, beam=lu.unit.beam,
                              expected='WorkUnit(..., scene=path) or surface="truth"')
        from icefb.labeling import label_unit

        seg = label_unit(seg, lu.unit.scene, cfg.label)
    core = lu.unit.block if lu.unit.block is not None else (-math.inf, math.inf)
    return sea_surface_block(seg, core, cfg.ssh, with_freeboard=True, beam=lu.unit.beam)


def _as_units(units: Sequence[WorkUnit | LoadedUnit] | Resident) -> list[Any] | Resident:
    return units if isinstance(units, Resident) else list(units)


def autolabel_job(units: Sequence[WorkUnit | LoadedUnit] | Resident, backend: Backend,
                  config: JobConfig | None = None) -> list[xr.Dataset]:
    """Auto-label (granule, beam, scene) units on a backend.

    Parameters
    ----------
    units : sequence of WorkUnit or LoadedUnit, or Resident
        Plain units run loading + map-reduce in one task each; loaded units (from
        :func:`load_units`, shipped from the driver) or a ``Resident`` (from
        :func:`persist_units`, held on the workers) run the map-reduce phase alone.
    backend : Backend
        ``get_backend("dask" | "spark" | "serial", ...)``.
    config : JobConfig, optional

    Returns
    -------
    list of xarray.Dataset
        Labeled segments per unit, in unit order (identical on every backend).
    """
    return backend.map(_Task(autolabel_unit), _as_units(units), config or JobConfig())


def freeboard_job(units: Sequence[WorkUnit | LoadedUnit] | Resident, backend: Backend,
                  config: JobConfig | None = None) -> list[xr.Dataset]:
    """SSH and freeboard of (granule, beam, block) units on a backend.

    Parameters
    ----------
    units : sequence of WorkUnit or LoadedUnit, or Resident
        As :func:`autolabel_job` (loaded with ``stage="freeboard"``).
    backend : Backend
    config : JobConfig, optional

    Returns
    -------
    list of xarray.Dataset
        Each unit's core segments, in unit order; :func:`combine_blocks` joins them per beam.
    """
    return backend.map(_Task(freeboard_unit), _as_units(units), config or JobConfig())


def combine_blocks(units: Sequence[WorkUnit | LoadedUnit],
                   results: Sequence[xr.Dataset]) -> dict[tuple[str, str], xr.Dataset]:
    """Concatenate the block results of each beam along ``segment``, in along-track order.

    Parameters
    ----------
    units : sequence of WorkUnit or LoadedUnit
        The units the results came from.
    results : sequence of xarray.Dataset
        Output of :func:`freeboard_job` or :func:`autolabel_job`, one per unit.

    Returns
    -------
    dict
        ``{(granule, beam): segments}``.

    Raises
    ------
    icefb.errors.ConfigError
        If ``units`` and ``results`` differ in length.

    Examples
    --------
    >>> a = xr.Dataset({"v": ("segment", [1, 2])}, coords={"segment": [0, 1]})
    >>> b = xr.Dataset({"v": ("segment", [3])}, coords={"segment": [2]})
    >>> u = [WorkUnit("g.h5", "gt1l", (4.0, 6.0)), WorkUnit("g.h5", "gt1l", (0.0, 4.0))]
    >>> combine_blocks(u, [b, a])[("g.h5", "gt1l")].v.values.tolist()
    [1, 2, 3]
    """
    if len(units) != len(results):
        raise ConfigError("one result per unit is needed", got=len(results),
                          expected=f"{len(units)} results")
    groups: dict[tuple[str, str], list[tuple[float, xr.Dataset]]] = {}
    for u, r in zip(units, results, strict=True):
        wu = u.unit if isinstance(u, LoadedUnit) else u
        start = wu.block[0] if wu.block is not None else -math.inf
        groups.setdefault((wu.granule, wu.beam), []).append((start, r))
    out = {}
    for k, parts in groups.items():
        parts.sort(key=lambda t: t[0])
        ds = [p for _, p in parts if p.sizes.get("segment", 0) > 0] or [parts[0][1]]
        out[k] = ds[0] if len(ds) == 1 else xr.concat(ds, dim="segment", data_vars="all",
                                                      coords="different", compat="equals",
                                                      join="outer", combine_attrs="override")
    return out
