"""Compare the 2 m product with NASA's ATL07 (sea-ice height) and ATL10 (freeboard) segments.

The 2 m segments of a beam are aggregated onto each reference segment ``[seg_dist_x - L/2,
seg_dist_x + L/2)`` (``L`` its length; matched by ``delta_time`` instead when asked), and the
aggregated height, sea surface height and freeboard are compared with the reference values:
bias (icefb - reference), RMSE, Pearson correlation and count.

Aggregation rules (:func:`aggregate_to_segments`): height and freeboard are photon-weighted
means (what a photon-aggregating product such as ATL07 measures); the SSH is the plain mean of
the 2 m SSH over the segment.

Height frames differ: ATL07/ATL10 heights are relative to the mean sea surface (MSS), icefb's
``h_cor_*`` and ``ssh`` to the geoid. Pass ``reference_offset`` (a number or a variable of the
reference, e.g. ``"mss_minus_geoid"``) to bring reference heights into icefb's frame; freeboards
need no offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import xarray as xr

from icefb.constants import SurfaceType
from icefb.errors import ConfigError, MissingVariableError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "QUANTITIES",
    "aggregate_to_segments",
    "compare_atl07",
    "compare_atl10",
    "compare_segments",
    "comparison_stats",
    "plot_comparison",
]

QUANTITIES: tuple[str, ...] = ("height", "ssh", "freeboard")

# candidate variable names in the reference Datasets, first present wins
_X_NAMES = ("x_atc", "seg_dist_x")
_LENGTH_NAMES = ("segment_length", "height_segment_length_seg", "beam_fb_length")
_TIME_NAMES = ("delta_time",)
_ATL07_NAMES: dict[str, tuple[str, ...]] = {
    "height": ("height", "height_segment_height"),
    "ssh": (),
    "freeboard": (),
}
_ATL10_NAMES: dict[str, tuple[str, ...]] = {
    "height": ("height", "height_segment_height"),
    "ssh": ("ssh", "beam_refsurf_height"),
    "freeboard": ("freeboard", "beam_fb_height"),
}


def _first(ds: xr.Dataset, names: Sequence[str]) -> str | None:
    for n in names:
        if n in ds.variables:
            return n
    return None


def _cum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(values.size + 1, dtype=np.float64)
    np.cumsum(values, out=out[1:])
    return out


def aggregate_to_segments(
    product: xr.Dataset,
    seg_x_start: np.ndarray,
    seg_x_end: np.ndarray,
) -> xr.Dataset:
    """Aggregate 2 m segments onto along-track intervals ``[seg_x_start, seg_x_end)``.

    Parameters
    ----------
    product : xarray.Dataset
        One beam of 2 m segments with ``x_atc`` (m, non-decreasing), ``h_cor_mean`` and
        ``n_photons``; ``ssh``, ``freeboard`` and ``surface_type``/``s2_label`` when present.
    seg_x_start, seg_x_end : array_like (m,)
        Interval ends (m along track); 2 m segments whose centre falls inside are aggregated.

    Returns
    -------
    xarray.Dataset
        Dim ``ref_segment``: ``n_segments``, ``n_photons`` (sums), ``height`` (photon-weighted
        mean of ``h_cor_mean``), ``ssh`` (mean), ``freeboard`` (photon-weighted mean over ice
        segments), ``water_fraction`` (open-water share of non-empty segments); NaN where
        nothing was aggregated.

    Raises
    ------
    icefb.errors.MissingVariableError
        If ``x_atc``, ``h_cor_mean`` or ``n_photons`` is missing.

    Examples
    --------
    >>> ds = xr.Dataset({"x_atc": ("segment", [1.0, 3.0, 5.0]),
    ...                  "h_cor_mean": ("segment", [0.0, 1.0, 2.0]),
    ...                  "n_photons": ("segment", [1, 3, 0])})
    >>> float(aggregate_to_segments(ds, [0.0], [6.0]).height[0])
    0.75
    """
    for name in ("x_atc", "h_cor_mean", "n_photons"):
        if name not in product.variables:
            raise MissingVariableError(
                "product variable missing", beam=product.attrs.get("beam"), variable=name,
                expected="2 m segments from icefb.resample",
            )
    x = np.asarray(product["x_atc"].values, dtype=np.float64)
    start = np.atleast_1d(np.asarray(seg_x_start, dtype=np.float64))
    end = np.atleast_1d(np.asarray(seg_x_end, dtype=np.float64))
    if start.shape != end.shape:
        raise ConfigError("seg_x_start and seg_x_end differ in shape",
                          got=(start.shape, end.shape))
    bad = ~(np.isfinite(start) & np.isfinite(end))
    i0 = np.searchsorted(x, np.where(bad, 0.0, start), side="left")
    i1 = np.searchsorted(x, np.where(bad, 0.0, end), side="left")
    i1 = np.maximum(i1, i0)
    i0[bad] = i1[bad] = 0

    n = np.asarray(product["n_photons"].values, dtype=np.float64)
    h = np.asarray(product["h_cor_mean"].values, dtype=np.float64)
    has = (n > 0) & np.isfinite(h)

    def wmean(values: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ok = np.isfinite(values) & (weight > 0)
        cw = _cum(np.where(ok, weight, 0.0))
        cv = _cum(np.where(ok, values * weight, 0.0))
        sw = cw[i1] - cw[i0]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sw > 0, (cv[i1] - cv[i0]) / np.where(sw > 0, sw, 1.0), np.nan), sw

    height, nph = wmean(np.where(has, h, np.nan), n)
    out = {
        "n_segments": ("ref_segment", (i1 - i0).astype(np.int64)),
        "n_photons": ("ref_segment", nph),
        "height": ("ref_segment", height),
    }
    if "ssh" in product.variables:
        out["ssh"] = ("ref_segment", wmean(product["ssh"].values.astype(np.float64),
                                           np.ones(x.size))[0])
    if "freeboard" in product.variables:
        out["freeboard"] = ("ref_segment",
                            wmean(product["freeboard"].values.astype(np.float64), n)[0])
    sv = _first(product, ("surface_type", "s2_label"))
    if sv is not None:
        water = (np.asarray(product[sv].values) == SurfaceType.OPEN_WATER) & has
        cw, ch = _cum(water.astype(np.float64)), _cum(has.astype(np.float64))
        nh = ch[i1] - ch[i0]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["water_fraction"] = (
                "ref_segment", np.where(nh > 0, (cw[i1] - cw[i0]) / np.where(nh > 0, nh, 1), np.nan)
            )
    res = xr.Dataset(out)
    res["height"].attrs = {"units": "m", "long_name": "photon-weighted mean h_cor_mean"}
    if "ssh" in res:
        res["ssh"].attrs = {"units": "m", "long_name": "mean 2 m sea surface height"}
    if "freeboard" in res:
        res["freeboard"].attrs = {"units": "m", "long_name": "photon-weighted mean freeboard"}
    return res


def comparison_stats(icefb_values: np.ndarray, ref_values: np.ndarray) -> dict[str, float]:
    """Bias (icefb - reference), RMSE, Pearson correlation and count over finite pairs.

    Examples
    --------
    >>> comparison_stats(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]))["bias"]
    1.0
    """
    a = np.asarray(icefb_values, dtype=np.float64)
    b = np.asarray(ref_values, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = int(ok.sum())
    if n == 0:
        return {"bias": np.nan, "rmse": np.nan, "correlation": np.nan, "n": 0}
    d = a - b
    corr = np.nan
    if n > 1 and a.std() > 0 and b.std() > 0:
        corr = float(np.corrcoef(a, b)[0, 1])
    return {"bias": float(d.mean()), "rmse": float(np.sqrt(np.mean(d**2))),
            "correlation": corr, "n": n}


def _ref_intervals(
    product: xr.Dataset, reference: xr.Dataset, by: str, default_length: float, beam: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    length_var = _first(reference, _LENGTH_NAMES)
    if by == "distance":
        xv = _first(reference, _X_NAMES)
        if xv is None:
            raise MissingVariableError("reference has no along-track distance", beam=beam,
                                       expected=" or ".join(_X_NAMES))
        xc = np.asarray(reference[xv].values, dtype=np.float64)
    elif by == "time":
        tv = _first(reference, _TIME_NAMES)
        if tv is None or "delta_time" not in product.variables:
            raise MissingVariableError("delta_time needed in product and reference", beam=beam,
                                       variable="delta_time")
        pt = np.asarray(product["delta_time"].values, dtype=np.float64)
        px = np.asarray(product["x_atc"].values, dtype=np.float64)
        ok = np.isfinite(pt)
        pt, px = pt[ok], px[ok]
        order = np.argsort(pt, kind="stable")
        rt = np.asarray(reference[tv].values, dtype=np.float64)
        xc = np.interp(rt, pt[order], px[order], left=np.nan, right=np.nan) if pt.size else (
            np.full(rt.shape, np.nan))
    else:
        raise ConfigError("unknown match mode", got=by, expected='"distance" or "time"')
    if length_var is not None:
        length = np.asarray(reference[length_var].values, dtype=np.float64)
        length = np.where(np.isfinite(length) & (length > 0) & (length < 1e4), length,
                          default_length)
    else:
        length = np.full(xc.shape, default_length)
    return xc, xc - 0.5 * length, xc + 0.5 * length


def _offset(reference: xr.Dataset, reference_offset: float | str | None, beam) -> np.ndarray:
    if reference_offset is None:
        return np.zeros(1)
    if reference_offset == "mss_minus_geoid":
        for name in ("mss", "geoid"):
            if name not in reference.variables:
                raise MissingVariableError("reference offset needs mss and geoid", beam=beam,
                                           variable=name)
        return np.asarray(reference["mss"].values, dtype=np.float64) - np.asarray(
            reference["geoid"].values, dtype=np.float64)
    if isinstance(reference_offset, str):
        if reference_offset not in reference.variables:
            raise MissingVariableError("reference offset variable missing", beam=beam,
                                       variable=reference_offset)
        return np.asarray(reference[reference_offset].values, dtype=np.float64)
    return np.asarray([float(reference_offset)])


def compare_segments(
    product: xr.Dataset,
    reference: xr.Dataset,
    names: dict[str, Sequence[str]],
    *,
    by: Literal["distance", "time"] = "distance",
    reference_offset: float | str | None = None,
    ssh_mask_var: Sequence[str] = (),
    default_length: float = 100.0,
    product_name: str = "reference",
    beam: str | None = None,
) -> xr.Dataset:
    """Compare one beam of the 2 m product with one beam of a segment product.

    Parameters
    ----------
    product : xarray.Dataset
        2 m segments (see :func:`aggregate_to_segments`).
    reference : xarray.Dataset
        Reference segments with ``seg_dist_x`` (m, centre), a length variable
        (``height_segment_length_seg``...; else ``default_length``) and the variables named in
        ``names``.
    names : dict
        Quantity (``"height"``, ``"ssh"``, ``"freeboard"``) -> candidate reference variables.
    by : {"distance", "time"}
        Match by along-track distance, or by ``delta_time`` mapped onto the product's track.
    reference_offset : float or str, optional
        Added to reference heights and SSH (m, a reference variable, or
        ``"mss_minus_geoid"``: the reference's ``mss - geoid``) to bring them into icefb's
        corrected-height frame.
    ssh_mask_var : sequence of str
        For ATL07: the reference SSH is its height where this flag (first name present) is 1
        (lead segments).
    default_length : float
        Segment length (m) where the reference has none.
    product_name : str
        Written into the result's attributes.
    beam : str, optional
        For error messages and the result's ``beam`` coordinate.

    Returns
    -------
    xarray.Dataset
        Dim ``quantity`` (``height``, ``ssh``, ``freeboard``): ``bias``, ``rmse``,
        ``correlation`` (float64) and ``n`` (int64); dim ``ref_segment``: the matched values
        ``icefb_<q>`` and ``ref_<q>``, ``x`` (m) and ``beam``.
    """
    beam = beam or product.attrs.get("beam") or reference.attrs.get("beam")
    xc, x0, x1 = _ref_intervals(product, reference, by, default_length, beam)
    agg = aggregate_to_segments(product, x0, x1)
    off = _offset(reference, reference_offset, beam)
    matched: dict[str, tuple[str, np.ndarray]] = {"x": ("ref_segment", xc)}
    stats = {k: [] for k in ("bias", "rmse", "correlation", "n")}
    for q in QUANTITIES:
        ref = np.full(xc.shape, np.nan)
        var = _first(reference, names.get(q, ()))
        mask_var = _first(reference, ssh_mask_var)
        if q == "ssh" and var is None and mask_var is not None:
            hv = _first(reference, names.get("height", ()))
            if hv is not None:
                lead = np.asarray(reference[mask_var].values) == 1
                ref = np.where(lead, np.asarray(reference[hv].values, dtype=np.float64), np.nan)
        elif var is not None:
            ref = np.asarray(reference[var].values, dtype=np.float64)
        if q in ("height", "ssh"):
            ref = ref + off
        ice = agg[q].values if q in agg else np.full(xc.shape, np.nan)
        matched[f"icefb_{q}"] = ("ref_segment", ice)
        matched[f"ref_{q}"] = ("ref_segment", ref)
        s = comparison_stats(ice, ref)
        for k in stats:
            stats[k].append(s[k])
    res = xr.Dataset(
        {
            "bias": ("quantity", np.array(stats["bias"], dtype=np.float64)),
            "rmse": ("quantity", np.array(stats["rmse"], dtype=np.float64)),
            "correlation": ("quantity", np.array(stats["correlation"], dtype=np.float64)),
            "n": ("quantity", np.array(stats["n"], dtype=np.int64)),
            **matched,
            "n_photons": ("ref_segment", agg["n_photons"].values),
        },
        coords={"quantity": list(QUANTITIES),
                "beam": ("ref_segment", np.full(xc.size, beam or "", dtype=object))},
        attrs={"reference": product_name, "matched_by": by},
    )
    res["bias"].attrs = {"units": "m", "long_name": f"mean of icefb - {product_name}"}
    res["rmse"].attrs = {"units": "m", "long_name": f"RMS of icefb - {product_name}"}
    res["correlation"].attrs = {"units": "1", "long_name": "Pearson correlation"}
    res["n"].attrs = {"long_name": "reference segments with both values"}
    return res


def _compare_any(product, reference, names, product_name, **kw) -> xr.Dataset:
    if isinstance(product, xr.DataTree) != isinstance(reference, xr.DataTree):
        raise ConfigError("product and reference must both be Datasets or both DataTrees",
                          got=(type(product).__name__, type(reference).__name__))
    if isinstance(product, xr.Dataset):
        return compare_segments(product, reference, names, product_name=product_name, **kw)
    parts = []
    for name, node in product.children.items():
        if name in reference.children and "x_atc" in node.variables:
            ref = reference[name].to_dataset()
            parts.append(compare_segments(node.to_dataset(), ref, names,
                                          product_name=product_name, beam=name, **kw))
    if not parts:
        from icefb.errors import MissingBeamError

        raise MissingBeamError("no beam in common between product and reference",
                               got=sorted(product.children), expected=sorted(reference.children))
    matched = xr.concat([p.drop_dims("quantity") for p in parts], dim="ref_segment")
    stats = {k: [] for k in ("bias", "rmse", "correlation", "n")}
    for q in QUANTITIES:
        s = comparison_stats(matched[f"icefb_{q}"].values, matched[f"ref_{q}"].values)
        for k in stats:
            stats[k].append(s[k])
    out = matched.assign(
        bias=("quantity", np.array(stats["bias"])),
        rmse=("quantity", np.array(stats["rmse"])),
        correlation=("quantity", np.array(stats["correlation"])),
        n=("quantity", np.array(stats["n"], dtype=np.int64)),
    ).assign_coords(quantity=list(QUANTITIES))
    for k in ("bias", "rmse", "correlation", "n"):
        out[k].attrs = parts[0][k].attrs
    out.attrs = parts[0].attrs
    return out


def compare_atl07(
    product: xr.Dataset | xr.DataTree,
    atl07: xr.Dataset | xr.DataTree,
    *,
    by: Literal["distance", "time"] = "distance",
    reference_offset: float | str | None = None,
) -> xr.Dataset:
    """Compare the 2 m product with ATL07 sea-ice height segments.

    Height is ``height`` (``height_segment_height``); the ATL07 SSH is the height of its lead
    segments (``sea_surface_flag == 1``); ATL07 has no freeboard (``n = 0``). Variable names
    of :func:`icefb.open_atl07` and the raw HDF5 names are both accepted.

    Parameters
    ----------
    product : xarray.Dataset or xarray.DataTree
        2 m product (one beam or a tree of beams) with ``ssh``/``freeboard``.
    atl07 : xarray.Dataset or xarray.DataTree
        ATL07 beam(s) (from :func:`icefb.open_atl07`) with ``x_atc``, ``segment_length``,
        ``height`` and ``sea_surface_flag`` (or ``seg_dist_x``, ``height_segment_length_seg``,
        ``height_segment_height``, ``height_segment_ssh_flag``).
    by : {"distance", "time"}
        Match by ``seg_dist_x`` or by ``delta_time``.
    reference_offset : float or str, optional
        Added to ATL07 heights (m, a variable name, or ``"mss_minus_geoid"``) to put them in
        icefb's geoid-referenced frame.

    Returns
    -------
    xarray.Dataset
        See :func:`compare_segments`; trees are pooled over beams with common names.

    Examples
    --------
    >>> prod = xr.Dataset({"x_atc": ("segment", np.arange(100) * 2.0 + 1.0),
    ...                    "h_cor_mean": ("segment", np.full(100, 0.3)),
    ...                    "n_photons": ("segment", np.full(100, 3))})
    >>> ref = xr.Dataset({"seg_dist_x": ("s", [50.0, 150.0]),
    ...                   "height_segment_length_seg": ("s", [100.0, 100.0]),
    ...                   "height_segment_height": ("s", [0.25, 0.35])})
    >>> res = compare_atl07(prod, ref)
    >>> round(float(res.rmse.sel(quantity="height")), 3), int(res.n.sel(quantity="height"))
    (0.05, 2)
    """
    return _compare_any(product, atl07, _ATL07_NAMES, "ATL07", by=by,
                        reference_offset=reference_offset,
                        ssh_mask_var=("sea_surface_flag", "height_segment_ssh_flag"))


def compare_atl10(
    product: xr.Dataset | xr.DataTree,
    atl10: xr.Dataset | xr.DataTree,
    *,
    by: Literal["distance", "time"] = "distance",
    reference_offset: float | str | None = None,
) -> xr.Dataset:
    """Compare the 2 m product with ATL10 freeboard segments.

    Freeboard is ``freeboard`` (``beam_fb_height``), SSH the reference surface ``ssh``
    (``beam_refsurf_height``), height ``height`` (``height_segment_height``) when present.

    Parameters
    ----------
    product : xarray.Dataset or xarray.DataTree
        2 m product with ``ssh`` and ``freeboard``.
    atl10 : xarray.Dataset or xarray.DataTree
        ATL10 beam(s) (from :func:`icefb.open_atl10`) with ``x_atc`` (or ``seg_dist_x``) and
        the above.
    by : {"distance", "time"}
    reference_offset : float or str, optional
        Added to ATL10 heights and reference surface to put them in icefb's frame.

    Returns
    -------
    xarray.Dataset
        See :func:`compare_segments`.

    Examples
    --------
    >>> prod = xr.Dataset({"x_atc": ("segment", np.arange(100) * 2.0 + 1.0),
    ...                    "h_cor_mean": ("segment", np.full(100, 0.3)),
    ...                    "n_photons": ("segment", np.full(100, 3)),
    ...                    "freeboard": ("segment", np.full(100, 0.3))})
    >>> ref = xr.Dataset({"seg_dist_x": ("s", [50.0, 150.0]),
    ...                   "beam_fb_height": ("s", [0.2, 0.2])})
    >>> round(float(compare_atl10(prod, ref).bias.sel(quantity="freeboard")), 3)
    0.1
    """
    return _compare_any(product, atl10, _ATL10_NAMES, "ATL10", by=by,
                        reference_offset=reference_offset)


def plot_comparison(result: xr.Dataset, *, title: str | None = None) -> Figure:
    """Draw a comparison: along-track profiles and scatter per quantity.

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`compare_atl07` / :func:`compare_atl10`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two rows (profile, scatter) by three quantities; headless-safe (no pyplot state).

    Examples
    --------
    >>> ref = xr.Dataset({"seg_dist_x": ("s", [50.0]), "beam_fb_height": ("s", [0.2])})
    >>> prod = xr.Dataset({"x_atc": ("segment", [49.0]), "h_cor_mean": ("segment", [0.3]),
    ...                    "n_photons": ("segment", [3]), "freeboard": ("segment", [0.3])})
    >>> fig = plot_comparison(compare_atl10(prod, ref))
    >>> len(fig.axes)
    6
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, len(QUANTITIES))
    ref_name = result.attrs.get("reference", "reference")
    x = result["x"].values / 1e3
    for j, q in enumerate(QUANTITIES):
        a, b = result[f"icefb_{q}"].values, result[f"ref_{q}"].values
        ax = axes[0, j]
        ax.plot(x, b, ".", ms=3, label=ref_name, color="tab:orange")
        ax.plot(x, a, ".", ms=3, label="icefb (2 m, aggregated)", color="tab:blue")
        ax.set_xlabel("along-track distance (km)")
        ax.set_ylabel(f"{q} (m)")
        ax.set_title(q)
        ax.legend(fontsize=7)
        ax = axes[1, j]
        ok = np.isfinite(a) & np.isfinite(b)
        ax.plot(b[ok], a[ok], ".", ms=3, color="tab:blue")
        if ok.any():
            lo, hi = float(min(a[ok].min(), b[ok].min())), float(max(a[ok].max(), b[ok].max()))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        s = result.sel(quantity=q)
        ax.set_title(f"bias {float(s.bias):+.3f} m, RMSE {float(s.rmse):.3f} m, "
                     f"r {float(s.correlation):.2f}, n {int(s.n)}", fontsize=8)
        ax.set_xlabel(f"{ref_name} {q} (m)")
        ax.set_ylabel(f"icefb {q} (m)")
    if title:
        fig.suptitle(title)
    return fig
