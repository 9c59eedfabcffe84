"""Figures a sea-ice scientist looks at: profile, freeboard histograms, track map, confusion.

All functions return a :class:`matplotlib.figure.Figure` (Agg backend, no screen needed);
:func:`product_figures` writes the PNGs for a whole product.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from icefb.constants import SurfaceType

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CLASS_COLORS = {
    SurfaceType.THICK_ICE: "#f0f0f0",
    SurfaceType.THIN_ICE: "#7fa7c9",
    SurfaceType.OPEN_WATER: "#08306b",
}
CLASS_EDGE = {SurfaceType.THICK_ICE: "#555555"}


def _figure(*args, **kwargs):
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def _km(ds: xr.Dataset) -> np.ndarray:
    x = ds["x_atc"].values
    return (x - x[0]) / 1000.0 if x.size else x


def profile_figure(
    ds: xr.Dataset,
    *,
    title: str = "",
    x_range_km: tuple[float, float] | None = None,
    scene_strip: np.ndarray | None = None,
) -> Figure:
    """Along-track profile: 2 m heights by surface type, SSH with its band, freeboard.

    Parameters
    ----------
    ds : xarray.Dataset
        One beam of a product (needs ``x_atc``, ``h_cor_mean``, ``surface_type``; uses
        ``ssh``, ``ssh_uncertainty``, ``freeboard`` when present).
    title : str
        Figure title.
    x_range_km : (float, float), optional
        Along-track window to show (km from the first segment); default: the first 3 km, where
        individual leads are still visible.
    scene_strip : numpy.ndarray, optional
        ``(n_segment,)`` Sentinel-2 class along the track, drawn as a strip under the profile.
    """
    km = _km(ds)
    if x_range_km is None:
        x_range_km = (0.0, min(3.0, float(km[-1]) if km.size else 3.0))
    sel = (km >= x_range_km[0]) & (km <= x_range_km[1])
    nrows = 3 if scene_strip is not None else 2
    ratios = [3, 2, 0.35][:nrows]
    fig = _figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(nrows, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    ax = axes[0]
    h = ds["h_cor_mean"].values
    st = ds["surface_type"].values if "surface_type" in ds else np.full(h.shape, -1)
    for s, color in CLASS_COLORS.items():
        m = sel & (st == s)
        ax.scatter(km[m], h[m], s=4, c=color, edgecolors=CLASS_EDGE.get(s, color),
                   linewidths=0.3, label=s.name.lower().replace("_", " "))
    if "ssh" in ds:
        ssh = ds["ssh"].values
        ax.plot(km[sel], ssh[sel], color="#d62728", lw=1.2, label="local sea surface")
        if "ssh_uncertainty" in ds:
            u = ds["ssh_uncertainty"].values
            ax.fill_between(km[sel], (ssh - u)[sel], (ssh + u)[sel], color="#d62728", alpha=0.25,
                            lw=0)
    ax.set_ylabel("corrected height (m)")
    ax.legend(loc="upper right", fontsize=8, ncols=4, markerscale=3)
    ax.set_title(title or "2 m along-track profile")
    ax = axes[1]
    if "freeboard" in ds:
        fb = ds["freeboard"].values
        ax.plot(km[sel], fb[sel], ".", ms=2, color="#2c7fb8")
        if "freeboard_uncertainty" in ds:
            u = ds["freeboard_uncertainty"].values
            ax.fill_between(km[sel], (fb - u)[sel], (fb + u)[sel], color="#2c7fb8", alpha=0.2,
                            lw=0)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("freeboard (m)")
    if scene_strip is not None:
        from matplotlib.colors import ListedColormap

        cmap = ListedColormap(["#bbbbbb"] + [CLASS_COLORS[s] for s in CLASS_COLORS])
        strip = np.asarray(scene_strip)[sel][None, :] + 1
        axes[2].imshow(strip, aspect="auto", cmap=cmap, vmin=0, vmax=3, interpolation="nearest",
                       extent=(km[sel][0], km[sel][-1], 0, 1))
        axes[2].set_yticks([])
        axes[2].set_ylabel("S2", rotation=0, labelpad=12)
    axes[-1].set_xlabel("along-track distance (km)")
    return fig


def freeboard_histogram(ds: xr.Dataset | list[xr.Dataset], *, title: str = "") -> Figure:
    """Histogram of freeboard per surface type (all beams pooled when given a list)."""
    parts = ds if isinstance(ds, list) else [ds]
    fb = np.concatenate([p["freeboard"].values for p in parts])
    st = np.concatenate([p["surface_type"].values for p in parts])
    fig = _figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    ok = np.isfinite(fb)
    bins = np.linspace(-0.3, 1.5, 91)
    for s in (SurfaceType.THIN_ICE, SurfaceType.THICK_ICE):
        m = ok & (st == s)
        if m.any():
            ax.hist(fb[m], bins=bins, histtype="stepfilled", alpha=0.6,
                    color=CLASS_COLORS[s] if s != SurfaceType.THICK_ICE else "#999999",
                    label=f"{s.name.lower().replace('_', ' ')} (n={m.sum()})")
    ax.set_xlabel("freeboard (m)")
    ax.set_ylabel("2 m segments")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no freeboard (no sea surface found)", transform=ax.transAxes,
                ha="center")
    ax.set_title(title or "freeboard by surface type")
    return fig


def track_map(
    beams: list[tuple[str, xr.Dataset]], scene: str | os.PathLike[str] | None = None
) -> Figure:
    """Map of the ground tracks (coloured by surface type) over the Sentinel-2 scene."""
    from pyproj import Transformer

    fig = _figure(figsize=(7, 7), layout="constrained")
    ax = fig.subplots()
    crs = "EPSG:3413"
    if beams and float(np.nanmean(beams[0][1]["lat"].values)) < 0:
        crs = "EPSG:3031"
    if scene is not None:
        import rioxarray  # noqa: F401

        da = xr.open_dataarray(scene, engine="rasterio") if Path(scene).is_file() else None
        if da is not None:
            crs = str(da.rio.crs)
            step = max(1, max(da.sizes["x"], da.sizes["y"]) // 1000)
            sub = da.isel(x=slice(None, None, step), y=slice(None, None, step))
            rgb = sub.isel(band=[2, 1, 0]).values.astype("float32") if sub.sizes["band"] >= 3 \
                else sub.isel(band=[0, 0, 0]).values.astype("float32")
            rgb = np.clip((rgb - np.nanpercentile(rgb, 1)) /
                          max(np.nanpercentile(rgb, 99) - np.nanpercentile(rgb, 1), 1e-6), 0, 1)
            x, y = sub["x"].values, sub["y"].values
            ax.imshow(np.moveaxis(rgb, 0, -1), extent=(x[0], x[-1], y[-1], y[0]), origin="upper")
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    for name, ds in beams:
        lon, lat = ds["lon"].values, ds["lat"].values
        st = ds["surface_type"].values
        px, py = tr.transform(lon, lat)
        for s, color in CLASS_COLORS.items():
            m = st == s
            ax.scatter(px[m], py[m], s=1, c=color, edgecolors="none")
        ax.annotate(name.split("/")[-1], (px[0], py[0]), fontsize=7, color="#d62728")
    ax.set_aspect("equal")
    ax.set_xlabel(f"x ({crs}, m)")
    ax.set_ylabel(f"y ({crs}, m)")
    ax.set_title("ground tracks over the Sentinel-2 scene" if scene else "ground tracks")
    return fig


def product_figures(
    store: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    scene: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Write every figure of a product as PNG into ``out_dir``; returns the paths."""
    from icefb.pipeline.product import open_product, product_beams

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tree = open_product(store)
    beams = [(g, ds.load()) for g, ds in product_beams(tree)]
    written: list[Path] = []

    def save(fig, name):
        p = out / name
        fig.savefig(p, dpi=110)
        written.append(p)

    for group, ds in beams:
        strip = ds["s2_label"].values if "s2_label" in ds else None
        save(profile_figure(ds, title=f"{group}: 2 m profile", scene_strip=strip),
             f"profile_{group.replace('/', '_')}.png")
    if beams:
        save(freeboard_histogram([ds for _, ds in beams]), "freeboard_histogram.png")
        save(track_map(beams, scene), "track_map.png")
        labeled = [ds for _, ds in beams if "s2_label" in ds]
        if labeled:
            from icefb.ml import confusion_matrix_figure
            from icefb.ml.metrics import confusion_matrix

            y = np.concatenate([d["s2_label"].values for d in labeled])
            p = np.concatenate([d["surface_type"].values for d in labeled])
            ok = (y >= 0) & (p >= 0)
            cm = confusion_matrix(y[ok], p[ok])
            save(confusion_matrix_figure(cm, title="classifier vs Sentinel-2 labels"),
                 "confusion_matrix.png")
    return written
