"""Freeboard of 2 m ice segments above the local sea surface.

``freeboard = h - ssh`` on thick- and thin-ice segments, with ``h`` the same corrected segment
height the sea surface was computed from (``h_cor_mean`` by default: with 2-10 photons per 2 m
bin the mean has the lower error against the true bin height, see docs/seasurface.md;
``h_cor_median`` through ``SSHConfig.height_var``), averaged with the neighbouring segments of
the same surface type by a photon-weighted triangular kernel of half-width
``SSHConfig.freeboard_smoothing`` when it is set (4 m: weights ``[1, 2, 1] * n_photons``;
default 0, the segment's own height). The
~11 m footprint means neighbouring 2 m segments sample almost the same surface, so the
average removes photon noise at little cost in resolution. NaN on open water, unlabeled and
empty segments and where there is no SSH. Negative freeboards are kept (not clipped), so that
averages stay unbiased.

``freeboard_uncertainty = sqrt(e**2 + (f s)**2 + ssh_uncertainty**2)``: ``s`` is the segment's
photon height spread, ``h_std`` floored at ``SSHConfig.photon_precision`` (which replaces it
for one-photon bins), ``e`` the error of the (averaged) segment height from the segment errors
``s / sqrt(n_photons)`` taken as independent, and ``f = SSHConfig.footprint_error`` the part of
the spread that does not average out over a bin's photons: they come from the ~11 m footprint
around the bin, not from its 2 m, so the bin's mean height differs from the surface under the
bin by an error that more photons do not shrink (docs/seasurface.md, "Uncertainty
calibration").
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from icefb.errors import MissingVariableError
from icefb.kernels import ssh as _k
from icefb.seasurface import (
    SSHConfig,
    _sea_surface_ds,
    _sea_surface_tree_paired,
    _segment_arrays,
    map_beams,
)

__all__ = ["freeboard"]


def _freeboard_ds(ds: xr.Dataset, config: SSHConfig, beam: str | None = None) -> xr.Dataset:
    if "ssh" not in ds.variables:
        ds = _sea_surface_ds(ds, config, beam)
    if "ssh_uncertainty" not in ds.variables:
        raise MissingVariableError(
            "ssh present without ssh_uncertainty", beam=beam or ds.attrs.get("beam"),
            variable="ssh_uncertainty", expected="output of icefb.sea_surface",
        )
    height_var = ds["ssh"].attrs.get("height_variable", config.height_var)
    arrs = _segment_arrays(ds, config, beam, height_var=height_var)
    _, err = _k.lead_mask_and_error(
        arrs["x"], arrs["h"], arrs["h_std"], arrs["n"], arrs["surface"],
        float(config.min_photons), float(config.photon_precision), 0.0,
    )
    # photon spread s per segment (h_std, or photon_precision where unusable), floored at the
    # single-photon precision: 2-4 photons often scatter less than that by chance
    spread, photon_err = _k.photon_spread(err, arrs["n"], float(config.photon_precision))
    h, err = _k.smooth_ice_height(
        arrs["x"], arrs["h"], photon_err, arrs["n"], arrs["surface"],
        float(config.freeboard_smoothing),
    )
    err = _k.add_in_quadrature(err, spread, float(config.footprint_error))
    fb, fu = _k.freeboard_kernel(
        h, err, arrs["surface"],
        np.ascontiguousarray(ds["ssh"].values, dtype=np.float64),
        np.ascontiguousarray(ds["ssh_uncertainty"].values, dtype=np.float64),
    )
    out = ds.assign(
        freeboard=("segment", fb.astype(np.float32)),
        freeboard_uncertainty=("segment", fu.astype(np.float32)),
    )
    out["freeboard"].attrs = {
        "units": "m",
        "long_name": "sea ice freeboard above the local sea surface",
        "standard_name": "sea_ice_freeboard",
        "comment": f"{height_var} - ssh on thick/thin ice segments, the height averaged "
        "with same-type neighbours (photon-weighted triangular kernel of half-width "
        "height_smoothing_m; 0: the segment's own height); NaN on open water, unlabeled and "
        "empty segments",
        "height_variable": height_var,
        "height_smoothing_m": float(config.freeboard_smoothing),
        "surface_variable": arrs["surface_var"],
        "ancillary_variables": "freeboard_uncertainty ssh_flag",
    }
    out["freeboard_uncertainty"].attrs = {
        "units": "m",
        "long_name": "one-sigma uncertainty of the freeboard",
        "comment": "sqrt(e^2 + (footprint_error s)^2 + ssh_uncertainty^2), s = max(h_std, "
        "photon_precision) the photon spread, e the error of the (smoothed) segment height "
        "from e_j = s_j/sqrt(n_photons_j), independent segments",
        "footprint_error": float(config.footprint_error),
        "photon_precision_m": float(config.photon_precision),
    }
    return out


def freeboard(
    segments: xr.Dataset | xr.DataTree, config: SSHConfig | None = None
) -> xr.Dataset | xr.DataTree:
    """Add ``freeboard`` and ``freeboard_uncertainty`` to 2 m segments.

    Parameters
    ----------
    segments : xarray.Dataset or xarray.DataTree
        One beam or a tree of beams. If ``ssh`` is absent, :func:`icefb.sea_surface` is run
        first with ``config`` (on a tree, with the leads of beam pairs pooled when
        ``config.pair_leads``, as :func:`icefb.sea_surface` on the tree does).
    config : SSHConfig, optional
        Supplies the surface-type variable, the photon precision, ``footprint_error``,
        ``freeboard_smoothing`` and (when ``ssh`` has no ``height_variable`` attribute) the
        height variable.

    Returns
    -------
    xarray.Dataset or xarray.DataTree
        The input with ``freeboard`` (m, float32; NaN off ice) and ``freeboard_uncertainty``.

    Raises
    ------
    icefb.errors.MissingVariableError
        If a needed variable is absent.

    Examples
    --------
    >>> ds = xr.Dataset({"x_atc": ("segment", np.arange(4) * 2.0 + 1.0),
    ...                  "h_cor_mean": ("segment", [0.0, 0.0, 0.3, np.nan]),
    ...                  "h_std": ("segment", np.full(4, 0.1)),
    ...                  "n_photons": ("segment", [4, 4, 4, 0]),
    ...                  "surface_type": ("segment", [2, 2, 0, 0])})
    >>> fb = freeboard(ds, SSHConfig(lead_edge_buffer=0.0)).freeboard.values
    >>> [round(float(v), 3) for v in fb]
    [nan, nan, 0.3, nan]
    """
    config = config or SSHConfig()
    if isinstance(segments, xr.DataTree) and (config.pair_leads or config.cross_pairs):
        # the sea surface of a beam without one needs its pair partner's leads too
        segments = _sea_surface_tree_paired(segments, config, only_missing=True)
    return map_beams(_freeboard_ds, segments, config)
