"""``make demo``: the whole pipeline on the built-in synthetic granule, checked against truth."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from icefb.constants import SurfaceType


def _cm(value: float, width: int) -> str:
    """A length in m printed in cm, or n/a."""
    return f"{value * 100:>{width - 2}.2f}cm" if np.isfinite(value) else f"{'n/a':>{width}}"


def truth_scores(product_beam: xr.Dataset, segment_truth: xr.Dataset) -> dict[str, Any]:
    """Score one product beam against the synthetic truth on the same 2 m grid.

    Returns accuracy and macro recall of ``surface_type``, SSH bias/RMSE, and thick-ice
    freeboard bias/RMSE over segments with at least 5 signal photons.
    """
    truth = segment_truth.reindex(segment=product_beam["segment"].values)
    occ = product_beam["n_photons"].values > 0
    pred = product_beam["surface_type"].values
    true = truth["surface_type"].values
    ok = occ & (true >= 0)
    out: dict[str, Any] = {"segments": int(ok.sum())}
    out["accuracy"] = float(np.mean(pred[ok] == true[ok])) if ok.any() else float("nan")
    for s in (SurfaceType.THICK_ICE, SurfaceType.THIN_ICE, SurfaceType.OPEN_WATER):
        m = ok & (true == s)
        out[f"recall_{s.name.lower()}"] = float(np.mean(pred[m] == s)) if m.any() else np.nan
    d_ssh = product_beam["ssh"].values - truth["ssh"].values
    d_ssh = d_ssh[np.isfinite(d_ssh)]
    out["ssh_bias_m"] = float(d_ssh.mean()) if d_ssh.size else np.nan
    out["ssh_rmse_m"] = float(np.sqrt(np.mean(d_ssh**2))) if d_ssh.size else np.nan
    thick = ok & (true == SurfaceType.THICK_ICE) & (product_beam["n_photons"].values >= 5)
    d_fb = product_beam["freeboard"].values[thick] - truth["freeboard"].values[thick]
    d_fb = d_fb[np.isfinite(d_fb)]
    out["fb_bias_m"] = float(d_fb.mean()) if d_fb.size else np.nan
    out["fb_rmse_m"] = float(np.sqrt(np.mean(d_fb**2))) if d_fb.size else np.nan
    return out


def demo(
    out: str | os.PathLike[str] = "demo-output",
    *,
    length_km: float = 20.0,
    seed: int = 7,
    workers: int = 2,
    backend: str = "dask",
) -> Path:
    """Make a synthetic granule and scene, run the pipeline, write figures, score vs truth.

    Returns the product path. Prints the run summary and the truth scores.
    """
    from icefb.compare import compare_atl07, plot_comparison
    from icefb.io import open_atl07
    from icefb.pipeline import run
    from icefb.pipeline.figures import product_figures
    from icefb.pipeline.product import open_product, product_beams
    from icefb.synth import make_atl07, make_granule, make_scene, read_truth

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"[1/5] synthetic world: {length_km:g} km granule (6 beams), Sentinel-2 scene, ATL07")
    granule = make_granule(out / "ATL03_synthetic.h5", seed=seed, length_km=length_km)
    scene = make_scene(out / "scenes", granule, s2_filename=True)  # S2-style file name
    atl07 = make_atl07(out / "ATL07_synthetic.h5", granule)
    print(f"      true ice drift between scene and track: {scene.drift_along_m:+.1f} m along, "
          f"{scene.drift_across_m:+.1f} m across")

    print(f"[2/5] pipeline on {backend} with {workers} workers")
    product = out / "product.zarr"
    result = run(granule, product, scenes=out / "scenes", backend=backend, workers=workers)
    print(result.table())
    print(f"      wrote {product} in {result.seconds:.1f} s")

    print("[3/5] figures")
    figs = product_figures(product, out / "figures", scene=scene.path)

    print("[4/5] ATL07 comparison (what 150-photon aggregation hides)")
    tree = open_product(product)
    beams = product_beams(tree)
    ref = open_atl07(atl07)
    cmp_lines = []
    for group, ds in beams[:2]:
        res = compare_atl07(ds.load(), ref[group.split("/")[-1]].to_dataset())
        fig = plot_comparison(res, title=f"{group}: icefb 2 m vs ATL07")
        p = out / "figures" / f"atl07_comparison_{group}.png"
        fig.savefig(p, dpi=110)
        figs.append(p)
        cmp_lines.append((group, res))
    for group, res in cmp_lines:
        parts = []
        for q in ("height", "ssh", "freeboard"):
            r = res.sel(quantity=q)
            if int(r["n"]) > 0:
                parts.append(f"{q} bias {float(r['bias']):+.3f} m rmse {float(r['rmse']):.3f} m")
        print(f"      {group}: " + "; ".join(parts))

    print("[5/5] scores against the synthetic truth")
    print(f"      {'beam':<6} {'acc':>6} {'thick':>6} {'thin':>6} {'water':>6} "
          f"{'ssh rmse':>9} {'fb bias':>8} {'fb rmse':>8}")
    for group, ds in beams:
        _, seg_truth = read_truth(granule, group.split("/")[-1])
        s = truth_scores(ds.load(), seg_truth)
        print(f"      {group:<6} {s['accuracy']:>6.1%} {s['recall_thick_ice']:>6.1%} "
              f"{s['recall_thin_ice']:>6.1%} {s['recall_open_water']:>6.1%} "
              f"{_cm(s['ssh_rmse_m'], 9)} {_cm(s['fb_bias_m'], 8)} {_cm(s['fb_rmse_m'], 8)}")
    print("      (n/a: no sea surface on that beam - no usable lead within reach, ssh_flag 3)")
    for p in figs:
        print(f"      figure: {p}")
    return product
