"""Local sea surface height (SSH) from leads, per beam or beam pair, on the 2 m segment grid.

Leads are open-water segments (``SurfaceType.OPEN_WATER``) with at least ``min_photons`` signal
photons. Along-track windows (default 10 km long, 5 km stride, anchored at ``x_atc = 0``) give
one SSH each, the lead-weighted mean

    w = exp(-((h - h_min) / sigma) ** 2),   SSH = sum(w h) / sum(w),

with ``h_min`` the window's lowest lead, so that thin ice mistaken for water (which sits
higher) is weighted down. Windows without leads are filled from the nearest windows with leads
(``ssh_flag`` 1 interpolated, 2 extrapolated, 3 none) and never from ice segments. The window
values are interpolated linearly between window centres to every segment.

Beam pairs: with ``SSHConfig.pair_leads`` (the default), :func:`sea_surface` on a DataTree pools,
window by window, the leads of the two beams of each pair (``gt1l``/``gt1r``, ``gt2l``/``gt2r``,
``gt3l``/``gt3r``, siblings in the tree), which lie ~90 m apart across track at the same
``x_atc``. Each beam selects its own leads (edge buffer, height floor); the pooled leads share
one ``h_min`` and one weighted mean, so both beams of a pair get the same window SSH. Windows
with leads of the partner only get ``ssh_flag`` 5, windows with both beams' leads 4
(:data:`SSH_PAIR_FLAG_MEANINGS`). A beam without a partner, and a single Dataset, are processed
alone, exactly as without pairing.

Scale-out: :func:`plan_blocks` cuts a beam into along-track blocks, :func:`halo_length` says how
much data each block needs on either side, and :func:`sea_surface_block` is the pure per-block
function (Dataset in, Dataset out, picklable) that dask or Spark run; concatenating the blocks
gives exactly the unblocked result (:func:`sea_surface_blocked`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import xarray as xr

from icefb.constants import SurfaceType
from icefb.errors import ConfigError, InvalidGranuleError, MissingVariableError
from icefb.kernels import ssh as _k

__all__ = [
    "SSH_FLAG_MEANINGS",
    "SSH_FLAG_VALUES",
    "SSH_PAIR_FLAG_MEANINGS",
    "SSH_PAIR_FLAG_VALUES",
    "SSH_CROSS_FLAG_MEANINGS",
    "SSH_CROSS_FLAG_VALUES",
    "SSHBlock",
    "PairWindows",
    "SSHConfig",
    "apply_pair_windows",
    "combine_pair_windows",
    "cross_pair_windows",
    "halo_length",
    "pair_windows",
    "pair_beam_name",
    "plan_blocks",
    "sea_surface",
    "sea_surface_block",
    "sea_surface_blocked",
]

SSH_FLAG_VALUES = np.array([0, 1, 2, 3], dtype=np.int8)
SSH_FLAG_MEANINGS = "leads_in_window interpolated extrapolated no_ssh"
#: ``ssh_flag`` values of a beam whose pair partner's leads were pooled with its own, for a
#: segment whose two bracketing windows both hold leads: 0 leads of this beam only, 4 leads of
#: this beam and, in at least one window, of the partner, 5 leads of the partner only (in both
#: windows); 1-3 (filled windows) as without pairing.
SSH_PAIR_FLAG_VALUES = np.array([0, 1, 2, 3, 4, 5], dtype=np.int8)
SSH_PAIR_FLAG_MEANINGS = (
    "leads_in_window interpolated extrapolated no_ssh pair_leads_pooled pair_leads_only"
)
#: ``ssh_flag`` values with ``SSHConfig.cross_pairs``: as :data:`SSH_PAIR_FLAG_VALUES`, plus 6
#: where a bracketing window held no lead of this beam's pair and its SSH came from the other
#: pairs of the granule (with their offsets).
SSH_CROSS_FLAG_VALUES = np.array([0, 1, 2, 3, 4, 5, 6], dtype=np.int8)
SSH_CROSS_FLAG_MEANINGS = SSH_PAIR_FLAG_MEANINGS + " other_pairs_only"
_FLAG_POOLED = 4
_FLAG_PAIR_ONLY = 5
_FLAG_OTHER_PAIRS = 6
_EARTH_RADIUS_M = 6_371_000.0  # mean radius; only for the pair-separation sanity check

HeightVar = Literal["h_cor_mean", "h_cor_median"]


@dataclass(frozen=True)
class SSHConfig:
    """Parameters of the local sea surface.

    Parameters
    ----------
    window : float
        Along-track window length (m). Default 10 km (paper).
    stride : float
        Distance between window starts (m), ``0 < stride <= window``. Default 5 km.
    sigma : float
        Scale of the lead weights ``exp(-((h - h_min) / sigma) ** 2)`` (m).
    min_photons : int
        Fewest signal photons for an open-water segment to count as a lead.
    lead_edge_buffer : float
        Open-water segments closer than this (m) to a non-water segment are not leads: the
        ~11 m footprint mixes ice photons into them. 0 disables. Default 6 m.
    photon_precision : float
        Single-photon height error (m), used for the segment error ``h_std / sqrt(n)`` where
        ``h_std`` is unusable (one photon, NaN or 0), and the floor of the photon spread in
        ``freeboard_uncertainty`` (see ``footprint_error``).
    max_gap : float
        Farthest distance (m, between window centres) from which a window without leads may
        take its value; beyond it the SSH is NaN with flag 3.
    gap_error_rate : float
        Sea surface slope the windows do not resolve (m/m). The uncertainty grows by it per
        metre between where an SSH is given and where its leads are: from a window's centre
        to its leads' weighted centroid, and, for a filled window, to the nearest window with
        leads (added in quadrature). Default 5e-6 (5 cm per 10 km), calibrated against the
        synthetic world's sea surface (docs/seasurface.md, "Uncertainty calibration").
    lead_max_above_floor : float
        Label-free sanity check on leads (m): an open-water segment higher than this above the
        local height floor (the ``floor_percentile`` of the heights of all segments with
        ``>= min_photons`` photons within ``floor_radius``) is not used as a lead: at least
        that share of its neighbourhood lies more than this below it. It keeps ice a
        classifier mistook for water from lifting the sea surface. ``inf`` disables.
        Default 0.15 m.
    floor_radius : float
        Half-width (m) of the along-track neighbourhood of the height floor. Default 5 km:
        wide enough that lead-poor stretches still hold some sea surface (with 1 km the floor
        sat on the ice there; docs/seasurface.md, "Lead floor").
    floor_percentile : float
        Percentile (0-100) of segment heights that defines the floor. Default 5.
    height_var : {"h_cor_mean", "h_cor_median"}
        Segment height used for leads (and, by default, for the freeboard).
    freeboard_smoothing : float
        Half-width (m) of the photon-weighted triangular kernel that averages an ice segment's
        height with its neighbours of the same surface type before the freeboard is taken
        (4 m gives weights ``[1, 2, 1] * n_photons`` on 2 m segments). The ~11 m footprint
        makes neighbouring 2 m segments sample nearly the same surface, so 4 m cuts the
        thick-ice freeboard RMSE by 0.4-1.1 cm at little cost in resolution (docs/seasurface.md,
        "Numbers"). Default 0 (off): the freeboard is the segment's own height minus the SSH,
        as in DESIGN.md. Leads are never smoothed.
    footprint_error : float
        Part of a segment's photon height spread ``s = max(h_std, photon_precision)`` that
        does not average out over its photons (dimensionless): the photons of a 2 m bin come
        from the ~11 m footprint around it, so their mean differs from the surface under the
        bin by an error that more photons do not shrink. ``freeboard_uncertainty`` adds
        ``footprint_error * s`` in quadrature. Default 0.5, calibrated against the synthetic
        truth (docs/seasurface.md, "Uncertainty calibration"); 0 gives the photon error alone.
    surface_var : str or tuple of str
        Surface-type variable, or names tried in order; the first present is used.
    pair_leads : bool
        On a DataTree of beams, pool each window's leads with those of the other beam of the
        pair (``gt1l``/``gt1r``, ...; sibling nodes), matched by ``x_atc``, which ATL03 measures
        along the reference ground track for every beam, so that both beams of a pair have the
        same ``x_atc`` at the same along-track position. Leads are still selected per beam;
        the weights and the weighted mean are over the pooled leads. No effect on a single
        Dataset or on a beam whose partner is not in the tree. Default True: on the synthetic
        granules (seeds 3 and 7, six beams) it lowers the weak beams' SSH RMSE from 3.05 to
        2.58 cm (up to 4.72 -> 2.41 cm on a beam with 6 leads in 30 km) and leaves the strong
        beams' within -0.11/+0.02 cm (docs/seasurface.md, "Beam pairs").
    pair_max_separation : float
        Largest median distance (m) between the two beams of a pair at equal ``x_atc``
        (from ``lat``/``lon`` where both beams have them) before pooling refuses with
        :class:`icefb.errors.InvalidGranuleError`: it catches an along-track offset between
        the beams' ``x_atc`` or beams that are not a pair. ATL03 pairs are ~90 m apart.
        ``inf`` disables the check. Default 500 m.
    cross_pairs : bool
        On a DataTree holding more than one beam pair of a granule (sibling nodes), combine
        each pair's window SSH with the other pairs' (~3.3 km across track): in every window,
        another pair's SSH plus the offset between the two pairs (the inverse-variance mean of
        their differences over the windows within ``cross_pair_radius`` where both have leads,
        the window itself left out) is one more estimate, and the estimates are averaged with
        inverse-variance weights. A window without leads of its own pair takes the other
        pairs' estimates (``ssh_flag`` 6) instead of being interpolated or extrapolated along
        track. Leads are still selected per beam. Needs every beam of the granule in one
        tree: :func:`sea_surface`, :func:`icefb.freeboard` and :func:`sea_surface_blocked` on
        a tree, and ``icefb.run`` (which keeps one unit per pair: the pairs' window SSH is
        combined on the driver); :func:`sea_surface_block` sees one pair and the scaling jobs
        one beam, so it has no effect there. No effect on a single Dataset.
        Default True (docs/seasurface.md, "Across beam pairs": on five 30 km granules of the
        synthetic world, run end to end with the shipped classifier, beams above the 2 cm SSH
        target go from 16 of 30 to 6 of 30, the worst from 6.1 to 3.0 cm).
    cross_pair_radius : float
        Along-track distance (m, between window centres) over which the offset between two
        pairs is estimated. Default 20 km.
    cross_pair_error : float
        Floor (m) of the error of that offset: the cross-track difference of the sea surface
        changes along track, and neighbouring windows share leads, so the formal error of
        the offset is too small. It sets how much another pair's estimate counts against a
        pair's own. Default 0.02 m (chosen on seeds 3, 5 and 7 of the synthetic world from
        0.005, 0.01 and 0.02 m: the smallest SSH RMSE with a calibrated uncertainty).

    Raises
    ------
    icefb.errors.ConfigError
        For a non-positive length, ``stride > window`` or an unknown height variable.

    Examples
    --------
    >>> SSHConfig(window=5000.0, stride=2500.0).surface_var
    ('surface_type', 's2_label')
    """

    window: float = 10_000.0
    stride: float = 5_000.0
    sigma: float = 0.3
    min_photons: int = 3
    lead_edge_buffer: float = 6.0
    photon_precision: float = 0.1
    max_gap: float = 50_000.0
    gap_error_rate: float = 5e-6
    lead_max_above_floor: float = 0.15
    floor_radius: float = 5_000.0
    floor_percentile: float = 5.0
    height_var: HeightVar = "h_cor_mean"
    freeboard_smoothing: float = 0.0
    footprint_error: float = 0.5
    surface_var: str | tuple[str, ...] = field(default=("surface_type", "s2_label"))
    pair_leads: bool = True
    pair_max_separation: float = 500.0
    cross_pairs: bool = True
    cross_pair_radius: float = 20_000.0
    cross_pair_error: float = 0.02

    def __post_init__(self) -> None:
        if isinstance(self.surface_var, str):
            object.__setattr__(self, "surface_var", (self.surface_var,))
        else:
            object.__setattr__(self, "surface_var", tuple(self.surface_var))
        for name in ("window", "stride", "sigma", "photon_precision"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"SSHConfig.{name} must be > 0", got=value, expected="> 0")
        if self.stride > self.window:
            raise ConfigError(
                "SSHConfig.stride must not exceed the window",
                got=self.stride,
                expected=f"<= window ({self.window})",
            )
        if not (self.lead_edge_buffer >= 0 and np.isfinite(self.lead_edge_buffer)):
            raise ConfigError("SSHConfig.lead_edge_buffer must be >= 0",
                              got=self.lead_edge_buffer)
        if not (self.max_gap >= 0 and np.isfinite(self.max_gap)):
            raise ConfigError("SSHConfig.max_gap must be >= 0", got=self.max_gap)
        if not (np.isfinite(self.footprint_error) and self.footprint_error >= 0):
            raise ConfigError("SSHConfig.footprint_error must be >= 0",
                              got=self.footprint_error)
        if not (np.isfinite(self.gap_error_rate) and self.gap_error_rate >= 0):
            raise ConfigError("SSHConfig.gap_error_rate must be finite and >= 0",
                              got=self.gap_error_rate)
        if not (self.lead_max_above_floor > 0):
            raise ConfigError("SSHConfig.lead_max_above_floor must be > 0 (inf disables)",
                              got=self.lead_max_above_floor)
        if not (np.isfinite(self.floor_radius) and self.floor_radius > 0):
            raise ConfigError("SSHConfig.floor_radius must be > 0", got=self.floor_radius)
        if not (0 <= self.floor_percentile <= 100):
            raise ConfigError("SSHConfig.floor_percentile must be in [0, 100]",
                              got=self.floor_percentile)
        if not (np.isfinite(self.freeboard_smoothing) and self.freeboard_smoothing >= 0):
            raise ConfigError("SSHConfig.freeboard_smoothing must be >= 0 (0 disables)",
                              got=self.freeboard_smoothing)
        if int(self.min_photons) < 1:
            raise ConfigError("SSHConfig.min_photons must be >= 1", got=self.min_photons)
        if self.height_var not in ("h_cor_mean", "h_cor_median"):
            raise ConfigError(
                "unknown SSHConfig.height_var",
                got=self.height_var,
                expected='"h_cor_mean" or "h_cor_median"',
            )
        if not self.surface_var:
            raise ConfigError("SSHConfig.surface_var is empty", expected="a variable name")
        if not isinstance(self.pair_leads, (bool, np.bool_)):
            raise ConfigError("SSHConfig.pair_leads must be a bool", got=self.pair_leads,
                              expected="True or False")
        if not (self.pair_max_separation > 0):
            raise ConfigError("SSHConfig.pair_max_separation must be > 0 (inf disables)",
                              got=self.pair_max_separation)
        if not isinstance(self.cross_pairs, (bool, np.bool_)):
            raise ConfigError("SSHConfig.cross_pairs must be a bool", got=self.cross_pairs,
                              expected="True or False")
        if not (np.isfinite(self.cross_pair_radius) and self.cross_pair_radius > 0):
            raise ConfigError("SSHConfig.cross_pair_radius must be > 0",
                              got=self.cross_pair_radius)
        if not (np.isfinite(self.cross_pair_error) and self.cross_pair_error >= 0):
            raise ConfigError("SSHConfig.cross_pair_error must be >= 0",
                              got=self.cross_pair_error)

    @property
    def max_gap_windows(self) -> int:
        """``max_gap`` in window strides (rounded down)."""
        return int(math.floor(self.max_gap / self.stride + 1e-9))


@dataclass(frozen=True, order=True)
class SSHBlock:
    """One along-track block: the segments it owns and the data it needs.

    Parameters
    ----------
    core : tuple of float
        ``(x_start, x_end)`` (m): the block returns the segments with centres in this range.
    extent : tuple of float
        ``(x_start, x_end)`` (m): ``core`` widened by :func:`halo_length` on both sides; pass
        :func:`sea_surface_block` every segment with centre in this range.
    """

    core: tuple[float, float]
    extent: tuple[float, float]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _beam_name(ds: xr.Dataset, beam: str | None) -> str | None:
    return beam if beam is not None else ds.attrs.get("beam")


def resolve_surface_var(ds: xr.Dataset, config: SSHConfig, beam: str | None = None) -> str:
    """Name of the surface-type variable used: the first of ``config.surface_var`` present.

    Raises
    ------
    icefb.errors.MissingVariableError
        If none is present.
    """
    for name in config.surface_var:
        if name in ds.variables:
            return name
    raise MissingVariableError(
        "no surface-type variable in the segments",
        beam=_beam_name(ds, beam),
        expected=" or ".join(config.surface_var),
    )


def _require(ds: xr.Dataset, names: tuple[str, ...], beam: str | None) -> None:
    for name in names:
        if name not in ds.variables:
            raise MissingVariableError(
                "segment variable missing",
                beam=_beam_name(ds, beam),
                variable=name,
                expected="a segment Dataset from icefb.resample (docs/architecture.md)",
            )


def _segment_arrays(
    ds: xr.Dataset, config: SSHConfig, beam: str | None, height_var: str | None = None
) -> dict[str, np.ndarray]:
    """Load the numpy arrays the kernels need, validating them."""
    hv = height_var or config.height_var
    _require(ds, ("x_atc", hv, "h_std", "n_photons"), beam)
    sv = resolve_surface_var(ds, config, beam)
    for name in ("x_atc", hv, "h_std", "n_photons", sv):
        if ds[name].dims != ("segment",):
            raise InvalidGranuleError(
                "segment variable has the wrong dimensions",
                beam=_beam_name(ds, beam),
                variable=name,
                got=ds[name].dims,
                expected="('segment',)",
            )
    x = np.ascontiguousarray(ds["x_atc"].values, dtype=np.float64)
    if x.size and not (np.all(np.isfinite(x)) and np.all(np.diff(x) >= 0)):
        raise InvalidGranuleError(
            "x_atc must be finite and non-decreasing along segment",
            beam=_beam_name(ds, beam),
            variable="x_atc",
        )
    surface = ds[sv].values
    if not np.issubdtype(surface.dtype, np.integer):
        surface = np.where(np.isfinite(surface), surface, int(SurfaceType.UNLABELED))
    n = np.ascontiguousarray(ds["n_photons"].values, dtype=np.float64)
    h = np.ascontiguousarray(ds[hv].values, dtype=np.float64)
    # a height without a photon behind it (hand-made or edited input; resampled segments are
    # NaN when empty) is empty: no lead, no freeboard, rather than a freeboard whose
    # uncertainty (photon spread / sqrt(0)) is NaN
    h = np.where(n >= 1.0, h, np.nan)
    return {
        "x": x,
        "h": h,
        "h_std": np.ascontiguousarray(ds["h_std"].values, dtype=np.float64),
        "n": n,
        "surface": np.ascontiguousarray(surface, dtype=np.int64),
        "surface_var": sv,  # type: ignore[dict-item]
        "height_var": hv,  # type: ignore[dict-item]
    }


_UNC_COMMENT = (
    "error of the weighted mean of {leads}: the larger of the propagated segment errors, "
    "sqrt(sum(w^2 e^2))/sum(w) with e = h_std/sqrt(n_photons), and the leads' own scatter, "
    "sqrt(n/(n-1) sum(w^2 (h - ssh)^2))/sum(w); plus, in quadrature, gap_error_rate times "
    "the distance from the window centre to the leads' weighted centroid, and where filled "
    "times the distance to the nearest window with leads"
)


def window_range(x_first: float, x_last: float, config: SSHConfig) -> tuple[int, int]:
    """Absolute indices ``(k0, n_windows)`` of the windows bracketing ``[x_first, x_last]``.

    Examples
    --------
    >>> window_range(1.0, 19_999.0, SSHConfig())
    (-1, 5)
    """
    k0 = int(math.floor((x_first - 0.5 * config.window) / config.stride))
    k1 = int(math.floor((x_last - 0.5 * config.window) / config.stride)) + 1
    return k0, k1 - k0 + 1


@dataclass(frozen=True)
class _LeadSet:
    """The selected leads of one beam (sorted by ``x``) and the beam's ``x`` range."""

    x: np.ndarray
    h: np.ndarray
    err: np.ndarray
    x_first: float
    x_last: float


def _kernels(engine: Literal["numba", "numpy"]) -> Any:
    return _k if engine == "numba" else _NumpyKernels


def _select_leads(
    x: np.ndarray,
    h: np.ndarray,
    h_std: np.ndarray,
    n_photons: np.ndarray,
    surface: np.ndarray,
    config: SSHConfig,
    k: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Lead mask (edge buffer and height floor applied) and segment height error of one beam."""
    is_lead, err = k.lead_mask_and_error(
        x,
        np.ascontiguousarray(h, dtype=np.float64),
        np.ascontiguousarray(h_std, dtype=np.float64),
        np.ascontiguousarray(n_photons, dtype=np.float64),
        np.ascontiguousarray(surface, dtype=np.int64),
        float(config.min_photons),
        float(config.photon_precision),
        float(config.lead_edge_buffer),
    )
    is_lead = _reject_high_leads(x, np.ascontiguousarray(h, dtype=np.float64), is_lead, config,
                                 np.asarray(n_photons, dtype=np.float64), k)
    return is_lead, err


def _lead_set(
    x: np.ndarray,
    h: np.ndarray,
    h_std: np.ndarray,
    n_photons: np.ndarray,
    surface: np.ndarray,
    config: SSHConfig,
    k: Any,
) -> tuple[_LeadSet, np.ndarray]:
    """Selected leads of one beam as a :class:`_LeadSet`, and the segment height error."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return _LeadSet(empty, empty, empty, math.nan, math.nan), empty.copy()
    is_lead, err = _select_leads(x, h, h_std, n_photons, surface, config, k)
    h64 = np.asarray(h, dtype=np.float64)
    leads = _LeadSet(
        np.ascontiguousarray(x[is_lead]),
        np.ascontiguousarray(h64[is_lead]),
        np.ascontiguousarray(err[is_lead]),
        float(x[0]),
        float(x[-1]),
    )
    return leads, err


def _pooled_windows(
    own: _LeadSet, pair: _LeadSet, k0: int, nw: int, config: SSHConfig, k: Any,
    own_first: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Window SSH, uncertainty and lead counts (all, this beam's) of a beam and its partner.

    Leads are merged in ``x`` order, ties broken by a fixed beam order (``own_first``: this
    beam's leads first; callers pass it from the beam names, so both beams of a pair merge
    the same way and get bit-identical window sums); every window's leads are then a
    contiguous run, summed in the same order whatever block the window is computed in.
    """
    first, second = (own, pair) if own_first else (pair, own)
    lx = np.concatenate([first.x, second.x])
    lh = np.concatenate([first.h, second.h])
    le = np.concatenate([first.err, second.err])
    order = np.argsort(lx, kind="stable")
    lx, lh, le = lx[order], lh[order], le[order]
    ssh_w, unc_w, n_all = k.window_ssh(
        lx, lh, le, np.ones(lx.size, dtype=np.bool_), k0, nw,
        float(config.window), float(config.stride), float(config.sigma),
        float(config.gap_error_rate),
    )
    # own leads per window, with the kernel's window bounds: start <= x < start + window
    start = (k0 + np.arange(nw, dtype=np.int64)) * float(config.stride)
    n_own = (np.searchsorted(own.x, start + float(config.window), side="left")
             - np.searchsorted(own.x, start, side="left"))
    return ssh_w, unc_w, n_all, n_own


def _windows_to_segments(
    x: np.ndarray, k0: int, ssh_w: np.ndarray, unc_w: np.ndarray, n_all: np.ndarray,
    n_own: np.ndarray, config: SSHConfig, k: Any, n_group: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill the windows, interpolate them to the segments ``x`` and set the pair flags.

    ``n_group``: leads of this beam's pair per window when ``ssh_w`` also holds other pairs'
    estimates (``cross_pairs``); segments whose bracketing windows lack them get flag 6.
    """
    has_pair = (n_all > n_own).astype(np.int8)
    has_own = (n_own > 0).astype(np.int8)
    ssh_f, unc_f, flag_w = k.fill_windows(
        ssh_w, unc_w, config.max_gap_windows, float(config.stride), float(config.gap_error_rate)
    )
    args = (float(config.window), float(config.stride))
    ssh, unc, flag = k.interp_to_segments(x, k0, ssh_f, unc_f, flag_w, *args)
    # the same bracketing windows, with 0/1 indicators as flags: 1 where either has the property
    _, _, f_pair = k.interp_to_segments(x, k0, ssh_f, unc_f, has_pair, *args)
    _, _, f_own = k.interp_to_segments(x, k0, ssh_f, unc_f, has_own, *args)
    leads_both_sides = flag == 0
    # 5 only where neither bracketing window holds a lead of this beam; 4 where any holds
    # a partner's lead and this beam's leads were used too
    flag = np.where(leads_both_sides & (f_own == 0), np.int8(_FLAG_PAIR_ONLY),
                    np.where(leads_both_sides & (f_pair == 1), np.int8(_FLAG_POOLED), flag))
    if n_group is not None:
        # 1 where a bracketing window holds no lead of this pair (the window SSH then came
        # from the other pairs alone)
        lacks = (n_group == 0).astype(np.int8)
        _, _, f_lacks = k.interp_to_segments(x, k0, ssh_f, unc_f, lacks, *args)
        flag = np.where(leads_both_sides & (f_lacks == 1), np.int8(_FLAG_OTHER_PAIRS), flag)
    return ssh, unc, flag.astype(np.int8)


def _pooled_ssh(
    x: np.ndarray, own: _LeadSet, pair: _LeadSet, config: SSHConfig, k: Any,
    own_first: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SSH, uncertainty and flag of a beam's segments ``x`` from its own and its partner's leads.

    The windows span both beams' ``x`` ranges and are the same for both beams of the pair
    (:func:`_pooled_windows`).
    """
    x_first = own.x_first if math.isnan(pair.x_first) else min(own.x_first, pair.x_first)
    x_last = own.x_last if math.isnan(pair.x_last) else max(own.x_last, pair.x_last)
    k0, nw = window_range(x_first, x_last, config)
    ssh_w, unc_w, n_all, n_own = _pooled_windows(own, pair, k0, nw, config, k, own_first)
    return _windows_to_segments(x, k0, ssh_w, unc_w, n_all, n_own, config, k)


def cross_pair_windows(
    ssh_w: np.ndarray, unc_w: np.ndarray, n_w: np.ndarray, config: SSHConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Combine the window SSH of the beam pairs of a granule (``SSHConfig.cross_pairs``).

    Parameters
    ----------
    ssh_w, unc_w : float arrays (n_pairs, n_windows)
        Each pair's window SSH and uncertainty (m) on the same windows (NaN without leads).
    n_w : int array (n_pairs, n_windows)
        Leads per window and pair.
    config : SSHConfig, optional
        ``cross_pair_radius``, ``cross_pair_error``, ``stride``.

    Returns
    -------
    ssh_c, unc_c : float64 arrays (n_pairs, n_windows)
        Per pair and window, the inverse-variance mean of its own estimate (where it has
        leads) and of every other pair ``q`` with leads in the window, taken as ``ssh_q +
        offset``: ``offset`` is the inverse-variance mean of ``ssh_p - ssh_q`` over the
        other windows within ``cross_pair_radius`` where both have leads (none: ``q`` is not
        used), its variance ``1 / sum(weights)`` floored at ``cross_pair_error ** 2``. NaN
        where no estimate exists.

    Examples
    --------
    >>> ssh = np.array([[0.10, 0.11, np.nan], [0.05, 0.06, 0.08]])
    >>> unc = np.full((2, 3), 0.01)
    >>> n = np.where(np.isnan(ssh), 0, 5)
    >>> ssh_c, _ = cross_pair_windows(ssh, unc, n)
    >>> round(float(ssh_c[0, 2]), 3)  # 0.08 + the offset of 0.05 over the other windows
    0.13
    """
    config = config or SSHConfig()
    ssh_w = np.asarray(ssh_w, dtype=np.float64)
    unc_w = np.asarray(unc_w, dtype=np.float64)
    has = np.asarray(n_w) > 0
    n_pairs, nw = ssh_w.shape
    reach = int(math.floor(config.cross_pair_radius / config.stride + 1e-9))
    floor_var = float(config.cross_pair_error) ** 2
    var_w = np.where(has, unc_w**2, np.inf)
    # inverse-variance sums of the estimates, starting with each pair's own
    num = np.where(has, ssh_w / var_w, 0.0)
    den = np.where(has, 1.0 / var_w, 0.0)
    for p in range(n_pairs):
        for q in range(n_pairs):
            if q == p:
                continue
            both = has[p] & has[q]
            wgt = np.where(both, 1.0 / (var_w[p] + var_w[q]), 0.0)
            wdiff = wgt * np.where(both, ssh_w[p] - ssh_w[q], 0.0)
            # sums over the windows j - reach .. j + reach except j, added in that order for
            # every window: the same bits whatever window the arrays start at (a block, a
            # pipeline unit, the whole granule), which cumulative sums would not give
            sw = np.zeros(nw)
            sd = np.zeros(nw)
            for d in range(-reach, reach + 1):
                if d == 0 or abs(d) >= nw:
                    continue
                dst = slice(max(-d, 0), nw - max(d, 0))
                src = slice(max(d, 0), nw - max(-d, 0))
                sw[dst] += wgt[src]
                sd[dst] += wdiff[src]
            ok = has[q] & (sw > 0)
            offset = np.where(ok, sd / np.where(ok, sw, 1.0), 0.0)
            var = np.where(ok, var_w[q] + np.maximum(1.0 / np.where(ok, sw, 1.0), floor_var),
                           np.inf)
            num[p] += np.where(ok, (ssh_w[q] + offset) / var, 0.0)
            den[p] += np.where(ok, 1.0 / var, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ssh_c = np.where(den > 0, num / den, np.nan)
        unc_c = np.where(den > 0, np.sqrt(1.0 / den), np.nan)
    return ssh_c, unc_c


def ssh_arrays(
    x: np.ndarray,
    h: np.ndarray,
    h_std: np.ndarray,
    n_photons: np.ndarray,
    surface: np.ndarray,
    config: SSHConfig | None = None,
    *,
    engine: Literal["numba", "numpy"] = "numba",
    pair: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SSH, its uncertainty, flag and segment height error from plain arrays.

    Parameters
    ----------
    x : array (n,)
        Segment centres (m along track), non-decreasing.
    h, h_std : arrays (n,)
        Segment corrected height and photon height std (m).
    n_photons : array (n,)
        Signal photons per segment.
    surface : int array (n,)
        ``SurfaceType`` codes.
    config : SSHConfig, optional
    engine : {"numba", "numpy"}
        Kernels to use (the numpy twins exist for tests and benchmarks).
    pair : tuple of arrays, optional
        ``(x, h, h_std, n_photons, surface)`` of the other beam of the pair, on the same
        ``x_atc`` axis. Its leads (selected with the same rules, on its own segments) are
        pooled with this beam's in every window; flags 4 and 5 of
        :data:`SSH_PAIR_FLAG_MEANINGS` appear. ``config.pair_leads`` is not consulted here.

    Returns
    -------
    ssh, ssh_uncertainty : float64 arrays (m)
    ssh_flag : int8 array
    err : float64 array
        Segment height error ``h_std / sqrt(n)`` (m).

    Examples
    --------
    >>> x = np.arange(5) * 2.0 + 1.0
    >>> ssh, unc, flag, err = ssh_arrays(x, np.zeros(5), np.full(5, 0.1), np.full(5, 4),
    ...                                  np.full(5, 2))
    >>> float(ssh[0]), int(flag[0])
    (0.0, 0)
    >>> ice = np.zeros(5, dtype=np.int8)
    >>> ssh, unc, flag, err = ssh_arrays(x, np.full(5, 0.3), np.full(5, 0.1), np.full(5, 4), ice,
    ...                                  pair=(x, np.zeros(5), np.full(5, 0.1), np.full(5, 4),
    ...                                        np.full(5, 2)))
    >>> float(ssh[0]), int(flag[0])
    (0.0, 5)
    """
    config = config or SSHConfig()
    k = _kernels(engine)
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.size
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), np.empty(0, dtype=np.int8), empty.copy()
    if pair is not None:
        own, err = _lead_set(x, h, h_std, n_photons, surface, config, k)
        partner, _ = _lead_set(*pair, config, k)
        ssh, unc, flag = _pooled_ssh(x, own, partner, config, k)
        return ssh, unc, flag, err
    is_lead, err = _select_leads(x, h, h_std, n_photons, surface, config, k)
    k0, nw = window_range(float(x[0]), float(x[-1]), config)
    ssh_w, unc_w, _ = k.window_ssh(
        x,
        np.ascontiguousarray(h, dtype=np.float64),
        err,
        is_lead,
        k0,
        nw,
        float(config.window),
        float(config.stride),
        float(config.sigma),
        float(config.gap_error_rate),
    )
    ssh_f, unc_f, flag_w = k.fill_windows(
        ssh_w, unc_w, config.max_gap_windows, float(config.stride), float(config.gap_error_rate)
    )
    ssh, unc, flag = k.interp_to_segments(
        x, k0, ssh_f, unc_f, flag_w, float(config.window), float(config.stride)
    )
    return ssh, unc, flag, err


def _reject_high_leads(
    x: np.ndarray, h: np.ndarray, is_lead: np.ndarray, config: SSHConfig,
    n_photons: np.ndarray, k: Any = None,
) -> np.ndarray:
    """Drop leads more than ``lead_max_above_floor`` above the local height floor.

    Label-free: the floor is the ``floor_percentile`` of the finite heights of every segment
    with at least ``min_photons`` photons within ``floor_radius`` of the lead, whatever its
    class; a lead is dropped when at least that share of them (and at least one) lie more than
    ``lead_max_above_floor`` below it (:func:`icefb.kernels.ssh.high_lead_mask`).
    Sparser segments are left out of the floor: their heights scatter by ~10 cm (one or two
    photons), which pulled the floor below the sea surface and rejected the leads with positive
    photon noise (a -0.9 cm SSH bias on the synthetic granule of docs/seasurface.md).
    """
    if not np.isfinite(config.lead_max_above_floor) or not is_lead.any():
        return is_lead
    k = _k if k is None else k
    in_floor = np.isfinite(h) & (n_photons >= config.min_photons)
    high = k.high_lead_mask(x, h, is_lead, in_floor, float(config.floor_radius),
                            float(config.lead_max_above_floor), float(config.floor_percentile))
    return is_lead & ~high


class _NumpyKernels:
    lead_mask_and_error = staticmethod(_k.lead_mask_and_error_numpy)
    high_lead_mask = staticmethod(_k.high_lead_mask_numpy)
    window_ssh = staticmethod(_k.window_ssh_numpy)
    fill_windows = staticmethod(_k.fill_windows_numpy)
    interp_to_segments = staticmethod(_k.interp_to_segments_numpy)
    freeboard_kernel = staticmethod(_k.freeboard_kernel_numpy)


def _ssh_attrs(config: SSHConfig, surface_var: str, height_var: str) -> dict[str, Any]:
    params = {f"ssh_{k}": (",".join(v) if isinstance(v, tuple) else v)
              for k, v in asdict(config).items()}
    params["ssh_surface_variable_used"] = surface_var
    return params


def _add_ssh_vars(
    ds: xr.Dataset,
    ssh: np.ndarray,
    unc: np.ndarray,
    flag: np.ndarray,
    config: SSHConfig,
    surface_var: str,
    height_var: str,
    pair_beam: str | None = None,
) -> xr.Dataset:
    common = {"height_variable": height_var, "surface_variable": surface_var}
    out = ds.assign(
        ssh=("segment", ssh.astype(np.float32)),
        ssh_uncertainty=("segment", unc.astype(np.float32)),
        ssh_flag=("segment", flag.astype(np.int8)),
    )
    out["ssh"].attrs = {
        "units": "m",
        "long_name": "local sea surface height from lead segments",
        "comment": "in the corrected-height frame of h_cor_* (h_ph - geoid - tides - dac); "
        "lead-weighted mean over along-track windows, interpolated to every segment",
        "ancillary_variables": "ssh_uncertainty ssh_flag",
        **common,
        "window_m": float(config.window),
        "stride_m": float(config.stride),
        "sigma_m": float(config.sigma),
        "min_photons": int(config.min_photons),
        "lead_edge_buffer_m": float(config.lead_edge_buffer),
        "lead_max_above_floor_m": float(config.lead_max_above_floor),
        "floor_radius_m": float(config.floor_radius),
        "max_gap_m": float(config.max_gap),
    }
    out["ssh_uncertainty"].attrs = {
        "units": "m",
        "long_name": "one-sigma uncertainty of the local sea surface height",
        "comment": _UNC_COMMENT.format(leads="the leads"),
        "gap_error_rate": float(config.gap_error_rate),
    }
    out["ssh_flag"].attrs = {
        "long_name": "source of the local sea surface height",
        "flag_values": SSH_FLAG_VALUES,
        "flag_meanings": SSH_FLAG_MEANINGS,
    }
    if pair_beam is not None:
        out["ssh"].attrs["comment"] = (
            "in the corrected-height frame of h_cor_* (h_ph - geoid - tides - dac); "
            f"lead-weighted mean over along-track windows of the leads of this beam and of "
            f"its pair beam {pair_beam} (same x_atc), interpolated to every segment"
        )
        out["ssh"].attrs["pair_beam"] = pair_beam
        out["ssh"].attrs["pair_max_separation_m"] = float(config.pair_max_separation)
        out["ssh_uncertainty"].attrs["comment"] = (
            _UNC_COMMENT.format(leads="the pooled leads of both beams of the pair")
            + "; no term for a height offset between the two beams"
        )
        out["ssh_flag"].attrs["flag_values"] = SSH_PAIR_FLAG_VALUES
        out["ssh_flag"].attrs["flag_meanings"] = SSH_PAIR_FLAG_MEANINGS
        out["ssh_flag"].attrs["comment"] = (
            f"0: leads of this beam only; 4: leads of this beam and of {pair_beam} pooled; "
            f"5: leads of {pair_beam} only (in the bracketing windows)"
        )
    return out


@dataclass(frozen=True)
class _Pair:
    """The other beam of a pair, as far as a beam's sea surface needs it."""

    beam: str
    leads: _LeadSet


def _sea_surface_ds(
    ds: xr.Dataset,
    config: SSHConfig,
    beam: str | None = None,
    *,
    pair: _Pair | None = None,
    leads: _LeadSet | None = None,
) -> xr.Dataset:
    """``ds`` with the SSH variables; pooled with ``pair``'s leads if given (``leads``: this
    beam's own, when already selected)."""
    arrs = _segment_arrays(ds, config, beam)
    if pair is None:
        ssh, unc, flag, _ = ssh_arrays(
            arrs["x"], arrs["h"], arrs["h_std"], arrs["n"], arrs["surface"], config
        )
        return _add_ssh_vars(ds, ssh, unc, flag, config, arrs["surface_var"],
                             arrs["height_var"])
    if arrs["x"].size:
        own = leads if leads is not None else _lead_set(
            arrs["x"], arrs["h"], arrs["h_std"], arrs["n"], arrs["surface"], config, _k)[0]
        ssh, unc, flag = _pooled_ssh(arrs["x"], own, pair.leads, config, _k,
                                     own_first=beam is None or beam <= pair.beam)
    else:
        ssh, unc = np.empty(0), np.empty(0)
        flag = np.empty(0, dtype=np.int8)
    return _add_ssh_vars(ds, ssh, unc, flag, config, arrs["surface_var"], arrs["height_var"],
                         pair_beam=pair.beam)


def _beam_lead_set(ds: xr.Dataset, config: SSHConfig, beam: str | None) -> _LeadSet:
    arrs = _segment_arrays(ds, config, beam)
    leads, _ = _lead_set(arrs["x"], arrs["h"], arrs["h_std"], arrs["n"], arrs["surface"],
                         config, _k)
    return leads


_PAIR_NAME = re.compile(r"(gt[1-3])([lr])")


def pair_beam_name(beam: str) -> str | None:
    """Name of the other beam of an ICESat-2 beam pair, or None for a name that is no beam.

    Examples
    --------
    >>> pair_beam_name("gt2l"), pair_beam_name("gt3r"), pair_beam_name("ancillary_data")
    ('gt2r', 'gt3l', None)
    """
    m = _PAIR_NAME.fullmatch(beam)
    if m is None:
        return None
    return m.group(1) + ("r" if m.group(2) == "l" else "l")


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _check_pair_alignment(
    ds: xr.Dataset, partner: xr.Dataset, beam: str | None, partner_beam: str,
    config: SSHConfig,
) -> None:
    """Refuse to pool two beams that are not side by side at equal ``x_atc``.

    Uses ``lat``/``lon`` where both beams have them (skipped otherwise): the median distance
    between the beams at the ``x_atc`` of up to 200 of this beam's segments in the overlap of
    the two beams must not exceed ``config.pair_max_separation``.
    """
    if not np.isfinite(config.pair_max_separation):
        return
    if not all(v in d.variables for v in ("lat", "lon") for d in (ds, partner)):
        return
    x = np.asarray(ds["x_atc"].values, dtype=np.float64)
    px = np.asarray(partner["x_atc"].values, dtype=np.float64)
    lat, lon = (np.asarray(ds[v].values, dtype=np.float64) for v in ("lat", "lon"))
    plat, plon = (np.asarray(partner[v].values, dtype=np.float64) for v in ("lat", "lon"))
    ok_p = np.isfinite(plat) & np.isfinite(plon) & np.isfinite(px)
    if ok_p.sum() < 2:
        return
    px, plat, plon = px[ok_p], plat[ok_p], plon[ok_p]
    ok = np.isfinite(lat) & np.isfinite(lon) & (x >= px[0]) & (x <= px[-1])
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return
    idx = idx[np.unique(np.linspace(0, idx.size - 1, min(idx.size, 200)).astype(np.int64))]
    own = _unit_vectors(lat[idx], lon[idx])
    pv = _unit_vectors(plat, plon)
    other = np.stack([np.interp(x[idx], px, pv[i]) for i in range(3)])
    other /= np.linalg.norm(other, axis=0)
    chord = np.linalg.norm(own - other, axis=0)
    dist = 2.0 * _EARTH_RADIUS_M * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
    med = float(np.median(dist))
    if med > config.pair_max_separation:
        raise InvalidGranuleError(
            f"beams {beam} and {partner_beam} are not side by side at equal x_atc "
            "(median distance); their leads cannot be pooled",
            beam=beam,
            got=f"{med:.0f} m",
            expected=f"<= SSHConfig.pair_max_separation ({config.pair_max_separation:g} m): "
            "the two beams of one pair of one granule, x_atc along the reference ground "
            "track (or pair_leads=False)",
        )


def _segment_nodes(tree: xr.DataTree) -> tuple[dict[str, tuple[str, xr.Dataset]], dict[str, str]]:
    """Every node of ``tree`` by path, and the path of each segment node's pair partner."""
    nodes: dict[str, tuple[str, xr.Dataset]] = {}
    for node in tree.subtree:
        nodes[node.path] = (node.name or "", node.to_dataset(inherit=False))
    partners: dict[str, str] = {}
    for path, (name, ds) in nodes.items():
        other = pair_beam_name(name) if _is_segment_ds(ds) else None
        if other is None:
            continue
        parent = path.rsplit("/", 1)[0]
        q = f"{parent}/{other}"
        if q in nodes and _is_segment_ds(nodes[q][1]):
            partners[path] = q
    return nodes, partners


def _sea_surface_tree_paired(
    tree: xr.DataTree, config: SSHConfig, *, only_missing: bool = False
) -> xr.DataTree:
    """:func:`sea_surface` on a tree with the leads of each beam pair pooled.

    ``only_missing``: leave segment nodes that already have ``ssh`` as they are (their
    partner's leads are still taken from its segments).
    """
    nodes, partners = _segment_nodes(tree)
    if not config.pair_leads:
        partners = {}
    leads: dict[str, _LeadSet] = {}

    def lead_set(path: str) -> _LeadSet:
        if path not in leads:
            name, ds = nodes[path]
            leads[path] = _beam_lead_set(ds, config, name)
        return leads[path]

    todo = [path for path, (_, ds) in nodes.items()
            if _is_segment_ds(ds) and not (only_missing and "ssh" in ds.variables)]
    crossed = _cross_pair_ssh(nodes, partners, todo, config) if config.cross_pairs else {}
    out: dict[str, xr.Dataset] = {}
    for path, (name, ds) in nodes.items():
        if path in crossed:
            ds = crossed[path]
        elif path in todo:
            pair, own = None, None
            if path in partners:
                q = partners[path]
                p_name, p_ds = nodes[q]
                own = lead_set(path)  # validates both beams before they are compared
                pair = _Pair(p_name, lead_set(q))
                _check_pair_alignment(ds, p_ds, name, p_name, config)
            ds = _sea_surface_ds(ds, config, name, pair=pair, leads=own)
        out[path] = ds
    return xr.DataTree.from_dict(out, name=tree.name)


@dataclass(frozen=True)
class PairWindows:
    """Window sea surface of one beam pair (or lone beam) of a granule.

    What each pair computes on its own for ``SSHConfig.cross_pairs``, before the pairs of the
    granule are combined (:func:`combine_pair_windows`) and the result is interpolated to the
    segments (:func:`apply_pair_windows`). Small: a few numbers per 5 km window, so a
    pipeline ships it between its workers and the driver instead of the segments.

    Parameters
    ----------
    beams : tuple of str
        The pair's beam names, sorted.
    k0 : int
        Absolute index of the first window (window ``k`` starts at ``k * stride``).
    ssh, unc : float64 arrays (n_windows,)
        Window SSH and uncertainty (m), NaN without leads.
    n_leads : int64 array (n_windows,)
        Leads of the pair per window.
    n_own : tuple of int64 arrays
        Leads of each beam per window, in the order of ``beams``.
    """

    beams: tuple[str, ...]
    k0: int
    ssh: np.ndarray
    unc: np.ndarray
    n_leads: np.ndarray
    n_own: tuple[np.ndarray, ...]

    @property
    def n_windows(self) -> int:
        return int(self.ssh.shape[0])

    def aligned(self, k0: int, n_windows: int) -> PairWindows:
        """The same windows on ``k0 .. k0 + n_windows - 1`` (NaN and no leads where added)."""
        ssh = np.full(n_windows, np.nan)
        unc = np.full(n_windows, np.nan)
        n_leads = np.zeros(n_windows, dtype=np.int64)
        n_own = [np.zeros(n_windows, dtype=np.int64) for _ in self.beams]
        a, b = max(self.k0, k0), min(self.k0 + self.n_windows, k0 + n_windows)
        if a < b:
            dst, src = slice(a - k0, b - k0), slice(a - self.k0, b - self.k0)
            ssh[dst], unc[dst], n_leads[dst] = self.ssh[src], self.unc[src], self.n_leads[src]
            for o, own in zip(n_own, self.n_own, strict=True):
                o[dst] = own[src]
        return PairWindows(self.beams, k0, ssh, unc, n_leads, tuple(n_own))


def pair_windows(beams: dict[str, xr.Dataset], config: SSHConfig | None = None) -> PairWindows:
    """Window SSH of one beam pair (its leads pooled), or of a lone beam.

    Parameters
    ----------
    beams : dict of str to xarray.Dataset
        The segments of one beam or of the two beams of a pair, by beam name.
    config : SSHConfig, optional

    Returns
    -------
    PairWindows
        Over the windows bracketing the beams' ``x_atc`` (none when every beam is empty).

    Raises
    ------
    icefb.errors.InvalidGranuleError
        As :func:`sea_surface` (bad ``x_atc``, beams of a pair too far apart).
    """
    config = config or SSHConfig()
    if not 1 <= len(beams) <= 2:
        raise ConfigError("pair_windows takes one beam or the two beams of a pair",
                          got=sorted(beams), expected="1 or 2 beams")
    names = tuple(sorted(beams))
    sets = [_beam_lead_set(beams[b], config, b) for b in names]  # validates each beam
    if len(names) == 2:
        _check_pair_alignment(beams[names[0]], beams[names[1]], names[0], names[1], config)
    firsts = [ls.x_first for ls in sets if not math.isnan(ls.x_first)]
    lasts = [ls.x_last for ls in sets if not math.isnan(ls.x_last)]
    if not firsts:
        z = np.zeros(0, dtype=np.int64)
        return PairWindows(names, 0, np.zeros(0), np.zeros(0), z, tuple(z.copy() for _ in names))
    k0, nw = window_range(min(firsts), max(lasts), config)
    none = _LeadSet(*(np.empty(0, dtype=np.float64),) * 3, math.nan, math.nan)
    ssh_w, unc_w, n_all, n_first = _pooled_windows(
        sets[0], sets[1] if len(sets) == 2 else none, k0, nw, config, _k, own_first=True)
    n_own = [n_first]
    if len(sets) == 2:
        n_own.append(n_all - n_first)
    return PairWindows(names, k0, ssh_w, unc_w, n_all, tuple(n_own))


def combine_pair_windows(
    pairs: list[PairWindows], config: SSHConfig | None = None
) -> list[PairWindows]:
    """Combine the window SSH of the beam pairs of one granule (``SSHConfig.cross_pairs``).

    Parameters
    ----------
    pairs : list of PairWindows
        Every pair (and lone beam) of the granule, from :func:`pair_windows`.
    config : SSHConfig, optional

    Returns
    -------
    list of PairWindows
        In the order of ``pairs``, all on the windows spanning every pair, with ``ssh`` and
        ``unc`` replaced by :func:`cross_pair_windows`'s combination (``n_leads`` and
        ``n_own`` stay the pair's own). The pairs are summed in the order of their beam
        names, so the result does not depend on the order of ``pairs``.
    """
    config = config or SSHConfig()
    live = [p for p in pairs if p.n_windows]
    if not live:
        return list(pairs)
    k0 = min(p.k0 for p in live)
    nw = max(p.k0 + p.n_windows for p in live) - k0
    order = sorted(range(len(pairs)), key=lambda i: pairs[i].beams)
    al = [pairs[i].aligned(k0, nw) for i in order]
    ssh_c, unc_c = cross_pair_windows(np.stack([p.ssh for p in al]),
                                      np.stack([p.unc for p in al]),
                                      np.stack([p.n_leads for p in al]), config)
    out: list[PairWindows] = list(pairs)
    for j, i in enumerate(order):
        out[i] = PairWindows(al[j].beams, k0, ssh_c[j], unc_c[j], al[j].n_leads, al[j].n_own)
    return out


def apply_pair_windows(
    ds: xr.Dataset, beam: str, windows: PairWindows, config: SSHConfig | None = None,
    *, cross_pairs: str = "",
) -> xr.Dataset:
    """``ds`` (one beam of ``windows.beams``) with ``ssh``, ``ssh_uncertainty``, ``ssh_flag``
    from combined window SSH (:func:`combine_pair_windows`).

    ``cross_pairs`` names the granule's pairs for the ``ssh`` attributes.
    """
    config = config or SSHConfig()
    arrs = _segment_arrays(ds, config, beam)
    n_own = windows.n_own[windows.beams.index(beam)]
    ssh, unc, flag = _windows_to_segments(arrs["x"], windows.k0, windows.ssh, windows.unc,
                                          windows.n_leads, n_own, config, _k,
                                          n_group=windows.n_leads)
    partner = next((b for b in windows.beams if b != beam), None)
    res = _add_ssh_vars(ds, ssh, unc, flag, config, arrs["surface_var"], arrs["height_var"],
                        pair_beam=partner)
    res["ssh"].attrs.update(
        cross_pairs=cross_pairs,
        cross_pair_radius_m=float(config.cross_pair_radius),
        cross_pair_error_m=float(config.cross_pair_error),
        comment=res["ssh"].attrs["comment"] + "; combined window by window with "
        "the other beam pairs' sea surface plus their offset to this pair "
        "(inverse-variance weights; icefb.seasurface.cross_pair_windows)",
    )
    res["ssh_uncertainty"].attrs["comment"] += (
        "; combined across beam pairs: the other pairs' uncertainties plus their "
        "offsets' (at least cross_pair_error_m)")
    res["ssh_flag"].attrs.update(
        flag_values=SSH_CROSS_FLAG_VALUES, flag_meanings=SSH_CROSS_FLAG_MEANINGS,
        comment=res["ssh_flag"].attrs.get("comment", "0: leads of this beam")
        + "; 6: no lead of this beam's pair in a bracketing window, SSH from the "
        "other pairs")
    return res


def cross_pairs_name(groups: list[tuple[str, ...]]) -> str:
    """The ``cross_pairs`` attribute: the pairs of a granule, e.g. ``"gt1l+gt1r gt2l+gt2r"``."""
    return " ".join("+".join(g) for g in sorted(groups))


def _pair_groups(
    nodes: dict[str, tuple[str, xr.Dataset]], partners: dict[str, str]
) -> dict[str, list[list[str]]]:
    """Segment node paths by parent node: each pair (its paths sorted by beam name), or lone
    beam, as one group."""
    by_parent: dict[str, list[list[str]]] = {}
    grouped: dict[str, list[str]] = {}
    for path, (_, ds) in nodes.items():
        if not _is_segment_ds(ds) or path in grouped:
            continue
        group = [path] + ([partners[path]] if path in partners else [])
        group.sort(key=lambda q: nodes[q][0])
        for q in group:
            grouped[q] = group
        by_parent.setdefault(path.rsplit("/", 1)[0], []).append(group)
    return by_parent


def _cross_pair_ssh(
    nodes: dict[str, tuple[str, xr.Dataset]], partners: dict[str, str], todo: list[str],
    config: SSHConfig,
) -> dict[str, xr.Dataset]:
    """SSH of the beams in ``todo`` whose granule node holds more than one pair (or lone
    beam), combined across the pairs (``config.cross_pairs``); other beams are left out."""
    out: dict[str, xr.Dataset] = {}
    for groups in _pair_groups(nodes, partners).values():
        if len(groups) < 2 or not any(q in todo for g in groups for q in g):
            continue
        wins = combine_pair_windows(
            [pair_windows({nodes[q][0]: nodes[q][1] for q in g}, config) for g in groups],
            config)
        names = cross_pairs_name([tuple(nodes[q][0] for q in g) for g in groups])
        for g, w in zip(groups, wins, strict=True):
            for q in g:
                if q in todo:
                    name, ds = nodes[q]
                    out[q] = apply_pair_windows(ds, name, w, config, cross_pairs=names)
    return out


def _is_segment_ds(ds: xr.Dataset) -> bool:
    return "x_atc" in ds.variables and "segment" in ds.dims


def map_beams(
    func: Callable[..., xr.Dataset], obj: xr.Dataset | xr.DataTree, *args: Any
) -> xr.Dataset | xr.DataTree:
    """Apply ``func(ds, *args, beam=name)`` to a Dataset or to every segment node of a tree.

    Nodes without a ``segment`` dimension and ``x_atc`` (the root, metadata groups) pass
    through unchanged.
    """
    if isinstance(obj, xr.DataTree):
        out: dict[str, xr.Dataset] = {}
        for node in obj.subtree:
            ds = node.to_dataset(inherit=False)
            if _is_segment_ds(ds):
                ds = func(ds, *args, beam=node.name)
            out[node.path] = ds
        return xr.DataTree.from_dict(out, name=obj.name)
    if isinstance(obj, xr.Dataset):
        return func(obj, *args, beam=None)
    raise ConfigError(
        "expected an xarray.Dataset or xarray.DataTree of segments", got=type(obj).__name__
    )


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def sea_surface(
    segments: xr.Dataset | xr.DataTree, config: SSHConfig | None = None
) -> xr.Dataset | xr.DataTree:
    """Add the local sea surface height to 2 m segments.

    Parameters
    ----------
    segments : xarray.Dataset or xarray.DataTree
        One beam (dim ``segment`` with ``x_atc``, ``h_cor_mean``/``h_cor_median``, ``h_std``,
        ``n_photons`` and a surface-type variable, see ``config.surface_var``) or a tree of
        beams.
    config : SSHConfig, optional
        Defaults to ``SSHConfig()`` (10 km windows, 5 km stride).

    Returns
    -------
    xarray.Dataset or xarray.DataTree
        The input with ``ssh`` (m, corrected-height frame), ``ssh_uncertainty`` (m) and
        ``ssh_flag`` (int8: 0 leads in window, 1 interpolated, 2 extrapolated, 3 none) added.
        On a tree with ``config.pair_leads``, beams whose pair partner is a sibling node pool
        its leads (``ssh`` attribute ``pair_beam``; ``ssh_flag`` also 4, leads of both beams,
        and 5, leads of the partner only: :data:`SSH_PAIR_FLAG_MEANINGS`).

    Raises
    ------
    icefb.errors.MissingVariableError
        If a needed variable is absent (of either beam of a pair).
    icefb.errors.InvalidGranuleError
        If ``x_atc`` is not finite and non-decreasing, or the two beams of a pair are farther
        apart than ``config.pair_max_separation`` at equal ``x_atc``.

    Examples
    --------
    >>> n = 10
    >>> ds = xr.Dataset({"x_atc": ("segment", np.arange(n) * 2.0 + 1.0),
    ...                  "h_cor_mean": ("segment", np.r_[np.zeros(5), np.full(5, 0.3)]),
    ...                  "h_std": ("segment", np.full(n, 0.1)),
    ...                  "n_photons": ("segment", np.full(n, 4)),
    ...                  "surface_type": ("segment", np.r_[np.full(5, 2), np.zeros(5)])})
    >>> out = sea_surface(ds)
    >>> float(out.ssh[-1]), int(out.ssh_flag[-1])
    (0.0, 0)
    """
    config = config or SSHConfig()
    if isinstance(segments, xr.DataTree) and (config.pair_leads or config.cross_pairs):
        return _sea_surface_tree_paired(segments, config)
    return map_beams(_sea_surface_ds, segments, config)


def halo_length(config: SSHConfig | None = None) -> float:
    """Along-track data (m) a block needs on each side so that blocked == unblocked exactly.

    A segment's SSH depends on its two bracketing windows (centres within one stride) and, when
    they lack leads, on windows up to ``max_gap_windows`` strides further; the farthest of those
    ends ``window / 2 + (max_gap_windows + 1) * stride`` from the segment, and a lead there
    depends on segments ``lead_edge_buffer`` and ``floor_radius`` further; the freeboard of a
    segment depends on segments ``freeboard_smoothing`` away. One extra stride of margin is
    added. Pooling a pair's leads needs no more: the partner's segments over the same extent
    give its leads in every window that matters, selected exactly as on the whole beam. With
    ``cross_pairs`` a window's SSH also depends on the other pairs' windows within
    ``cross_pair_radius`` (the offsets), so the halo grows by that radius.

    Examples
    --------
    >>> halo_length(SSHConfig(window=10_000, stride=5_000, max_gap=50_000, cross_pairs=False))
    70006.0
    >>> halo_length(SSHConfig(window=10_000, stride=5_000, max_gap=50_000))  # + cross_pair_radius
    90006.0
    """
    config = config or SSHConfig()
    cross = float(config.cross_pair_radius) if config.cross_pairs else 0.0
    return float(0.5 * config.window + (config.max_gap_windows + 2) * config.stride
                 + config.lead_edge_buffer + config.floor_radius + config.freeboard_smoothing
                 + cross)


def plan_blocks(
    x_range: tuple[float, float] | xr.Dataset,
    block_length_m: float,
    config: SSHConfig | None = None,
    *,
    beam: str | None = None,
) -> list[SSHBlock]:
    """Cut a beam into along-track blocks with halos.

    Parameters
    ----------
    x_range : tuple of float or xarray.Dataset
        ``(x_first, x_last)`` segment centres (m), or the segments themselves.
    block_length_m : float
        Core length of each block (m); blocks start at multiples of it (anchored at 0).
    config : SSHConfig, optional

    Returns
    -------
    list of SSHBlock
        Cores tile ``[x_first, x_last]`` without overlap; extents add :func:`halo_length`.

    Raises
    ------
    icefb.errors.ConfigError
        If ``block_length_m`` is not positive.
    icefb.errors.InvalidGranuleError
        If the first or last ``x_atc`` is not finite (or they are out of order); ``beam``
        names the beam in the message.

    Examples
    --------
    >>> [b.core for b in plan_blocks((1.0, 25_000.0), 10_000.0)]
    [(0.0, 10000.0), (10000.0, 20000.0), (20000.0, 30000.0)]
    """
    config = config or SSHConfig()
    if not (np.isfinite(block_length_m) and block_length_m > 0):
        raise ConfigError("block_length_m must be > 0", got=block_length_m)
    if isinstance(x_range, xr.Dataset):
        x = x_range["x_atc"].values
        if x.size == 0:
            return []
        x_range = (float(x[0]), float(x[-1]))
    x0, x1 = x_range
    if not (math.isfinite(x0) and math.isfinite(x1) and x0 <= x1):
        raise InvalidGranuleError(
            "segment x_atc must be finite and increasing to cut blocks", beam=beam,
            got=(x0, x1), expected="x_atc of the regular 2 m grid (icefb.resample)",
        )
    halo = halo_length(config)
    first = int(math.floor(x0 / block_length_m))
    last = int(math.floor(x1 / block_length_m))
    blocks = []
    for b in range(first, last + 1):
        c0, c1 = b * float(block_length_m), (b + 1) * float(block_length_m)
        blocks.append(SSHBlock(core=(c0, c1), extent=(c0 - halo, c1 + halo)))
    return blocks


def select_x(segments: xr.Dataset, x_start: float, x_end: float) -> xr.Dataset:
    """Segments with centre ``x_start <= x_atc < x_end`` (m), a contiguous slice."""
    x = segments["x_atc"].values
    i0 = int(np.searchsorted(x, x_start, side="left"))
    i1 = int(np.searchsorted(x, x_end, side="left"))
    return segments.isel(segment=slice(i0, i1))


def sea_surface_block(
    segments: xr.Dataset,
    core: tuple[float, float],
    config: SSHConfig | None = None,
    *,
    with_freeboard: bool = True,
    beam: str | None = None,
    partner: xr.Dataset | None = None,
    partner_beam: str | None = None,
) -> xr.Dataset:
    """SSH (and freeboard) of one along-track block: the pure per-block function.

    Parameters
    ----------
    segments : xarray.Dataset
        The beam's segments with centres in ``[core[0] - halo, core[1] + halo)`` at least,
        ``halo = halo_length(config)`` (clipped at the ends of the beam is fine).
    core : tuple of float
        ``(x_start, x_end)`` (m): the segments returned.
    config : SSHConfig, optional
    with_freeboard : bool
        Also add ``freeboard`` and ``freeboard_uncertainty`` (see :func:`icefb.freeboard`).
    beam : str, optional
        Beam name for error messages.
    partner : xarray.Dataset, optional
        With ``config.pair_leads``: the segments of the other beam of the pair over the same
        extent (centres in ``[core[0] - halo, core[1] + halo)``, clipped at its ends; empty
        where it has none). Its leads are pooled with this beam's, as :func:`sea_surface` does
        on a tree. Ignored when ``config.pair_leads`` is False.
    partner_beam : str, optional
        Name of the partner beam (for attributes and errors); default
        ``pair_beam_name(beam)``.

    Returns
    -------
    xarray.Dataset
        The core segments, with the same values as :func:`sea_surface` (and
        :func:`icefb.freeboard`) on the whole beam, or on the tree holding the beam and its
        ``partner``, bit for bit.

    Raises
    ------
    icefb.errors.ConfigError
        If ``partner`` is not a segment Dataset or has no name.

    Notes
    -----
    A block holds one beam and its partner, so ``config.cross_pairs`` has nothing to combine
    here, exactly as :func:`sea_surface` on a tree of one pair; the sea surface across the
    pairs of a granule, blocked, is :func:`sea_surface_blocked` on the granule's tree.

    Examples
    --------
    >>> ds = xr.Dataset({"x_atc": ("segment", np.arange(6) * 2.0 + 1.0),
    ...                  "h_cor_mean": ("segment", np.zeros(6)),
    ...                  "h_std": ("segment", np.full(6, 0.1)),
    ...                  "n_photons": ("segment", np.full(6, 4)),
    ...                  "surface_type": ("segment", np.full(6, 2))})
    >>> sea_surface_block(ds, (4.0, 8.0)).sizes["segment"]
    2
    """
    # one pair at most: cross_pairs has nothing to combine (as sea_surface on its tree)
    config = replace(config or SSHConfig(), cross_pairs=False)
    pair = None
    if partner is not None and config.pair_leads:
        if not isinstance(partner, xr.Dataset) or not _is_segment_ds(partner):
            raise ConfigError("partner must be the segment Dataset of the other beam of the pair",
                              beam=beam, got=type(partner).__name__,
                              expected="xarray.Dataset with dim segment and x_atc")
        partner_beam = partner_beam or (pair_beam_name(beam) if beam else None) \
            or partner.attrs.get("beam")
        if not partner_beam:
            raise ConfigError("the partner beam needs a name", beam=beam,
                              expected="partner_beam=... (e.g. 'gt1r')")
        pair = _Pair(partner_beam, _beam_lead_set(partner, config, partner_beam))
        _segment_arrays(segments, config, beam)  # validate before comparing the beams
        _check_pair_alignment(segments, partner, beam, partner_beam, config)
    out = _sea_surface_ds(segments, config, beam, pair=pair)
    if with_freeboard:
        from icefb.freeboard import _freeboard_ds

        # before cutting the core: the freeboard height averages neighbouring segments
        out = _freeboard_ds(out, config, beam=beam)
    return select_x(out, core[0], core[1])


def _blocked_cross_pairs(
    tree: xr.DataTree, block_length_m: float, config: SSHConfig, with_freeboard: bool
) -> xr.DataTree:
    """:func:`sea_surface_blocked` with ``cross_pairs``: every block holds all the beams of its
    granule node (each cut to the block's extent), processed as a tree."""
    from icefb.freeboard import _freeboard_ds

    nodes, partners = _segment_nodes(tree)
    if not config.pair_leads:
        partners = {}
    results: dict[str, list[xr.Dataset]] = {}
    for groups in _pair_groups(nodes, partners).values():
        paths = [q for g in groups for q in g]
        for q in paths:
            _require(nodes[q][1], ("x_atc",), nodes[q][0])
        xs = [nodes[q][1]["x_atc"].values for q in paths]
        xs = [x for x in xs if x.size]
        blocks = ([SSHBlock(core=(-math.inf, math.inf), extent=(-math.inf, math.inf))]
                  if not xs else
                  plan_blocks((min(float(x[0]) for x in xs), max(float(x[-1]) for x in xs)),
                              block_length_m, config, beam=nodes[paths[0]][0]))
        for blk in blocks:
            sub = xr.DataTree.from_dict(
                {nodes[q][0]: select_x(nodes[q][1], *blk.extent) for q in paths})
            done = _sea_surface_tree_paired(sub, config)
            if with_freeboard:
                done = map_beams(_freeboard_ds, done, config)
            for q in paths:
                results.setdefault(q, []).append(
                    select_x(done[nodes[q][0]].to_dataset(inherit=False), *blk.core))
    out: dict[str, xr.Dataset] = {}
    for path, (_, ds) in nodes.items():
        if path in results:
            parts = [p for p in results[path] if p.sizes["segment"] > 0] or results[path][:1]
            ds = xr.concat(parts, dim="segment", data_vars="all", coords="different",
                           compat="equals", join="exact", combine_attrs="override")
        out[path] = ds
    return xr.DataTree.from_dict(out, name=tree.name)


def sea_surface_blocked(
    segments: xr.Dataset | xr.DataTree,
    block_length_m: float,
    config: SSHConfig | None = None,
    *,
    with_freeboard: bool = False,
) -> xr.Dataset | xr.DataTree:
    """Run :func:`sea_surface_block` block by block in this process and concatenate.

    The reference for the dask/Spark backends: the result equals :func:`sea_surface` exactly
    (and :func:`icefb.freeboard` of it with ``with_freeboard``), on a tree with the leads of
    beam pairs pooled too (``config.pair_leads``: each block of a beam gets the partner's
    segments over the same extent), and with ``config.cross_pairs`` combined across the pairs
    of each granule node (each block then holds every beam of the granule over its extent,
    processed as a tree; :func:`halo_length` adds ``cross_pair_radius``). On a single Dataset
    ``cross_pairs`` has nothing to combine, as in :func:`sea_surface`.

    Parameters
    ----------
    segments : xarray.Dataset or xarray.DataTree
    block_length_m : float
        Core length of each block (m); any positive length, shorter than a window too.
    config : SSHConfig, optional
    with_freeboard : bool
        Also add the freeboard.

    Returns
    -------
    xarray.Dataset or xarray.DataTree

    Examples
    --------
    >>> ds = xr.Dataset({"x_atc": ("segment", np.arange(6) * 2.0 + 1.0),
    ...                  "h_cor_mean": ("segment", np.zeros(6)),
    ...                  "h_std": ("segment", np.full(6, 0.1)),
    ...                  "n_photons": ("segment", np.full(6, 4)),
    ...                  "surface_type": ("segment", np.full(6, 2))})
    >>> sea_surface_blocked(ds, 4.0).identical(sea_surface(ds))
    True
    """
    config = config or SSHConfig()
    if isinstance(segments, xr.DataTree) and config.cross_pairs:
        return _blocked_cross_pairs(segments, block_length_m, config, with_freeboard)
    # a single beam: cross_pairs has nothing to combine, as in sea_surface
    config = replace(config, cross_pairs=False)

    def one_beam(
        ds: xr.Dataset, beam: str | None = None, partner: xr.Dataset | None = None,
        partner_beam: str | None = None,
    ) -> xr.Dataset:
        _require(ds, ("x_atc",), beam)
        if ds.sizes["segment"] == 0:
            return sea_surface_block(ds, (-math.inf, math.inf), config,
                                     with_freeboard=with_freeboard, beam=beam,
                                     partner=partner, partner_beam=partner_beam)
        parts = []
        for blk in plan_blocks(ds, block_length_m, config, beam=beam):
            ext = select_x(ds, *blk.extent)
            p_ext = None if partner is None else select_x(partner, *blk.extent)
            parts.append(
                sea_surface_block(
                    ext, blk.core, config, with_freeboard=with_freeboard, beam=beam,
                    partner=p_ext, partner_beam=partner_beam,
                )
            )
        parts = [p for p in parts if p.sizes["segment"] > 0]
        out = xr.concat(parts, dim="segment", data_vars="all", coords="different",
                        compat="equals", join="exact", combine_attrs="override")
        return out

    if isinstance(segments, xr.DataTree) and config.pair_leads:
        nodes, partners = _segment_nodes(segments)
        out: dict[str, xr.Dataset] = {}
        for path, (name, ds) in nodes.items():
            if _is_segment_ds(ds):
                q = partners.get(path)
                p_name, p_ds = nodes[q] if q is not None else (None, None)
                ds = one_beam(ds, name, p_ds, p_name)
            out[path] = ds
        return xr.DataTree.from_dict(out, name=segments.name)
    return map_beams(one_beam, segments)
