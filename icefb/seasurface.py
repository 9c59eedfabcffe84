"""Local sea surface height (SSH) from leads, per beam, on the 2 m segment grid.

Leads are open-water segments (``SurfaceType.OPEN_WATER``) with at least ``min_photons`` signal
photons. Along-track windows (default 10 km long, 5 km stride, anchored at ``x_atc = 0``) give
one SSH each, the lead-weighted mean

    w = exp(-((h - h_min) / sigma) ** 2),   SSH = sum(w h) / sum(w),

with ``h_min`` the window's lowest lead, so that thin ice mistaken for water (which sits
higher) is weighted down. Windows without leads are filled from the nearest windows with leads
(``ssh_flag`` 1 interpolated, 2 extrapolated, 3 none) and never from ice segments. The window
values are interpolated linearly between window centres to every segment.

Scale-out: :func:`plan_blocks` cuts a beam into along-track blocks, :func:`halo_length` says how
much data each block needs on either side, and :func:`sea_surface_block` is the pure per-block
function (Dataset in, Dataset out, picklable) that dask or Spark run; concatenating the blocks
gives exactly the unblocked result (:func:`sea_surface_blocked`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import xarray as xr

from icefb.constants import SurfaceType
from icefb.errors import ConfigError, InvalidGranuleError, MissingVariableError
from icefb.kernels import ssh as _k

__all__ = [
    "SSH_FLAG_MEANINGS",
    "SSH_FLAG_VALUES",
    "SSHBlock",
    "SSHConfig",
    "halo_length",
    "plan_blocks",
    "sea_surface",
    "sea_surface_block",
    "sea_surface_blocked",
]

SSH_FLAG_VALUES = np.array([0, 1, 2, 3], dtype=np.int8)
SSH_FLAG_MEANINGS = "leads_in_window interpolated extrapolated no_ssh"

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
        ``h_std`` is unusable (one photon, NaN or 0).
    max_gap : float
        Farthest distance (m, between window centres) from which a window without leads may
        take its value; beyond it the SSH is NaN with flag 3.
    gap_error_rate : float
        Uncertainty added in quadrature per metre of distance to the nearest window with
        leads (m/m), for filled windows. Default 1 cm per 10 km.
    lead_max_above_floor : float
        Label-free sanity check on leads (m): an open-water segment higher than this above the
        local height floor (the ``floor_percentile`` of the heights of all segments with
        ``>= min_photons`` photons within ``floor_radius``) is not used as a lead. It keeps
        ice a classifier mistook for water from lifting the sea surface. ``inf`` disables.
        Default 0.15 m.
    floor_radius : float
        Half-width (m) of the along-track neighbourhood of the height floor. Default 1 km.
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
    surface_var : str or tuple of str
        Surface-type variable, or names tried in order; the first present is used.

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
    gap_error_rate: float = 1e-6
    lead_max_above_floor: float = 0.15
    floor_radius: float = 1_000.0
    floor_percentile: float = 5.0
    height_var: HeightVar = "h_cor_mean"
    freeboard_smoothing: float = 0.0
    surface_var: str | tuple[str, ...] = field(default=("surface_type", "s2_label"))

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
        if not (self.gap_error_rate >= 0):
            raise ConfigError("SSHConfig.gap_error_rate must be >= 0", got=self.gap_error_rate)
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
    return {
        "x": x,
        "h": np.ascontiguousarray(ds[hv].values, dtype=np.float64),
        "h_std": np.ascontiguousarray(ds["h_std"].values, dtype=np.float64),
        "n": np.ascontiguousarray(ds["n_photons"].values, dtype=np.float64),
        "surface": np.ascontiguousarray(surface, dtype=np.int64),
        "surface_var": sv,  # type: ignore[dict-item]
        "height_var": hv,  # type: ignore[dict-item]
    }


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


def ssh_arrays(
    x: np.ndarray,
    h: np.ndarray,
    h_std: np.ndarray,
    n_photons: np.ndarray,
    surface: np.ndarray,
    config: SSHConfig | None = None,
    *,
    engine: Literal["numba", "numpy"] = "numba",
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
    """
    config = config or SSHConfig()
    k = _k if engine == "numba" else _NumpyKernels
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.size
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), np.empty(0, dtype=np.int8), empty.copy()
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
    is_lead = _reject_high_leads(x, np.asarray(h, dtype=np.float64), is_lead, config,
                                 np.asarray(n_photons, dtype=np.float64))
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
    n_photons: np.ndarray,
) -> np.ndarray:
    """Drop leads more than ``lead_max_above_floor`` above the local height floor.

    Label-free: the floor is a low percentile of the finite heights of every segment with at
    least ``min_photons`` photons within ``floor_radius`` of the lead, whatever its class.
    Sparser segments are left out of the floor: their heights scatter by ~10 cm (one or two
    photons), which pulled the floor below the sea surface and rejected the leads with positive
    photon noise (a -0.9 cm SSH bias on the synthetic granule of docs/seasurface.md).
    """
    if not np.isfinite(config.lead_max_above_floor) or not is_lead.any():
        return is_lead
    idx = np.flatnonzero(is_lead)
    ok = np.isfinite(h) & (n_photons >= config.min_photons)
    xf, hf = x[ok], h[ok]
    lo = np.searchsorted(xf, x[idx] - config.floor_radius, side="left")
    hi = np.searchsorted(xf, x[idx] + config.floor_radius, side="right")
    keep = is_lead.copy()
    for i, a, b in zip(idx, lo, hi, strict=True):
        floor = np.percentile(hf[a:b], config.floor_percentile) if b > a else h[i]
        if h[i] - floor > config.lead_max_above_floor:
            keep[i] = False
    return keep


class _NumpyKernels:
    lead_mask_and_error = staticmethod(_k.lead_mask_and_error_numpy)
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
        "comment": "propagated error of the weighted lead mean, sqrt(sum(w^2 e^2))/sum(w), "
        "e = h_std/sqrt(n_photons); gap_error_rate * distance added in quadrature where filled",
    }
    out["ssh_flag"].attrs = {
        "long_name": "source of the local sea surface height",
        "flag_values": SSH_FLAG_VALUES,
        "flag_meanings": SSH_FLAG_MEANINGS,
    }
    return out


def _sea_surface_ds(ds: xr.Dataset, config: SSHConfig, beam: str | None = None) -> xr.Dataset:
    arrs = _segment_arrays(ds, config, beam)
    ssh, unc, flag, _ = ssh_arrays(
        arrs["x"], arrs["h"], arrs["h_std"], arrs["n"], arrs["surface"], config
    )
    return _add_ssh_vars(ds, ssh, unc, flag, config, arrs["surface_var"], arrs["height_var"])


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

    Raises
    ------
    icefb.errors.MissingVariableError
        If a needed variable is absent.
    icefb.errors.InvalidGranuleError
        If ``x_atc`` is not finite and non-decreasing.

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
    return map_beams(_sea_surface_ds, segments, config)


def halo_length(config: SSHConfig | None = None) -> float:
    """Along-track data (m) a block needs on each side so that blocked == unblocked exactly.

    A segment's SSH depends on its two bracketing windows (centres within one stride) and, when
    they lack leads, on windows up to ``max_gap_windows`` strides further; the farthest of those
    ends ``window / 2 + (max_gap_windows + 1) * stride`` from the segment, and a lead there
    depends on segments ``lead_edge_buffer`` and ``floor_radius`` further; the freeboard of a
    segment depends on segments ``freeboard_smoothing`` away. One extra stride of margin is
    added.

    Examples
    --------
    >>> halo_length(SSHConfig(window=10_000, stride=5_000, max_gap=50_000))
    66006.0
    """
    config = config or SSHConfig()
    return float(0.5 * config.window + (config.max_gap_windows + 2) * config.stride
                 + config.lead_edge_buffer + config.floor_radius + config.freeboard_smoothing)


def plan_blocks(
    x_range: tuple[float, float] | xr.Dataset,
    block_length_m: float,
    config: SSHConfig | None = None,
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

    Returns
    -------
    xarray.Dataset
        The core segments, with the same values as :func:`sea_surface` (and
        :func:`icefb.freeboard`) on the whole beam, bit for bit.

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
    config = config or SSHConfig()
    out = _sea_surface_ds(segments, config, beam)
    if with_freeboard:
        from icefb.freeboard import _freeboard_ds

        # before cutting the core: the freeboard height averages neighbouring segments
        out = _freeboard_ds(out, config, beam=beam)
    return select_x(out, core[0], core[1])


def sea_surface_blocked(
    segments: xr.Dataset | xr.DataTree,
    block_length_m: float,
    config: SSHConfig | None = None,
    *,
    with_freeboard: bool = False,
) -> xr.Dataset | xr.DataTree:
    """Run :func:`sea_surface_block` block by block in this process and concatenate.

    The reference for the dask/Spark backends: the result equals :func:`sea_surface` exactly.

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

    def one_beam(ds: xr.Dataset, beam: str | None = None) -> xr.Dataset:
        _require(ds, ("x_atc",), beam)
        if ds.sizes["segment"] == 0:
            out = _sea_surface_ds(ds, config, beam)
            if with_freeboard:
                from icefb.freeboard import _freeboard_ds

                out = _freeboard_ds(out, config, beam=beam)
            return out
        parts = []
        for blk in plan_blocks(ds, block_length_m, config):
            ext = select_x(ds, *blk.extent)
            parts.append(
                sea_surface_block(
                    ext, blk.core, config, with_freeboard=with_freeboard, beam=beam
                )
            )
        parts = [p for p in parts if p.sizes["segment"] > 0]
        out = xr.concat(parts, dim="segment", data_vars="all", coords="different",
                        compat="equals", join="exact", combine_attrs="override")
        return out

    return map_beams(one_beam, segments)
