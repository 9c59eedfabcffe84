"""SSH and thick-ice freeboard against the synthetic truth, per beam, with and without pooling
the leads of beam pairs (the "Beam pairs" table of docs/seasurface.md).

Usage (from the repository root)::

    .venv/bin/python benchmarks/seasurface_pairs.py [--seeds 3 7] [--km 30] [--per-beam]
        [--uncertainty] [--cross] [--pipeline [--models A B]]

Granules: ``icefb.synth.make_granule(seed, length_km)``, six beams, resampled to 2 m, surface
type from the truth sidecar; ``freeboard(sea_surface(tree, cfg), cfg)`` on the tree of the six
beams with ``pair_leads`` False ("alone") and True ("paired"). Prints a Markdown table (cm).
``--per-beam`` prints instead the "Every beam" table: each beam on its own, thick-ice freeboard
(n >= 5) with the default config, ``freeboard_smoothing=4`` and ``height_var="h_cor_median"``.
``--uncertainty`` prints instead the "Uncertainty calibration" table: ``z = (ssh - true ssh) /
ssh_uncertainty`` on segments whose windows hold leads and on filled ones, and the same for the
freeboard of thick- and thin-ice segments, alone and paired.
``--cross`` prints instead the "Across beam pairs" table: the tree with pooled pairs against
the same tree with ``cross_pairs=True``. ``--pipeline`` prints instead its end-to-end table:
``icefb.run`` (classified surface, no scene) with ``cross_pairs`` off and on, scored against the
truth with ``icefb.pipeline.demo.truth_scores``; ``--pipeline --models A B`` runs it with the
default configuration once per model (names or paths) and prints ``A -> B`` per cell, with the
beam's accuracy.
Not an asv benchmark (no ``time_*`` names): a script the docs cite.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

BEAMS = ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r")


def world(seed: int, km: float, folder: Path) -> dict[str, tuple[xr.Dataset, xr.Dataset]]:
    """Per beam: (segments with the true surface_type, truth) on their common segments."""
    from icefb.synth import make_granule
    from icefb.testing import segments_with_truth

    path = make_granule(folder / f"g{seed}.h5", seed=seed, length_km=km)
    return segments_with_truth(path, BEAMS)


def _cm_rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a**2)) * 100)


def per_beam(seeds: list[int], km: float) -> None:
    """The "Every beam" table: single-beam runs, three height choices."""
    from icefb.freeboard import freeboard
    from icefb.seasurface import SSHConfig, sea_surface

    configs = (SSHConfig(), SSHConfig(freeboard_smoothing=4.0),
               SSHConfig(height_var="h_cor_median"))
    print("| seed | beam | SSH RMSE | default (`h_cor_mean`) | `freeboard_smoothing=4` "
          "| `height_var=\"h_cor_median\"` |")
    print("|---|---|---|---|---|---|")
    acc: dict[tuple[str, int], list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for b, (seg, truth) in world(seed, km, Path(tmp)).items():
                kind = "strong" if b.endswith("l") else "weak"
                thick = (truth.surface_type.values == 0) & (seg.n_photons.values >= 5)
                cells, ssh_rmse = [], ""
                for i, cfg in enumerate(configs):
                    out = freeboard(sea_surface(seg, cfg), cfg)
                    if i == 0:
                        ssh_rmse = f"{_cm_rms(out.ssh.values - truth.ssh.values):.2f}"
                    fe = out.freeboard.values[thick].astype(float) - truth.freeboard.values[thick]
                    acc.setdefault((kind, i), []).append(fe)
                    cells.append(f"{100 * fe.mean():+.2f} / {_cm_rms(fe):.2f}")
                print(f"| {seed} | {b} {kind} | {ssh_rmse} | " + " | ".join(cells) + " |")
    for kind in ("strong", "weak"):
        cells = [f"{100 * e.mean():+.2f} / {_cm_rms(e):.2f}"
                 for e in (np.concatenate(acc[(kind, i)]) for i in range(len(configs)))]
        print(f"| pooled | {kind} | | " + " | ".join(cells) + " |")


def uncertainty(seeds: list[int], km: float) -> None:
    """The "Uncertainty calibration" table: z-scores of SSH and freeboard against the truth."""
    from icefb.freeboard import freeboard
    from icefb.seasurface import SSHConfig, sea_surface

    classes = (("leads in window (0/4/5)", (0, 4, 5)), ("filled (1/2)", (1, 2)))
    print("| seed | beams | segments | n | RMSE (cm) | median uncertainty (cm) "
          "| RMS z | within 1 sigma | within 2 sigma |")
    print("|---|---|---|---|---|---|---|---|---|")
    acc: dict[tuple[bool, str], list[tuple[np.ndarray, np.ndarray]]] = {}

    def row(seed: str, p: bool, name: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        e = np.concatenate([a for a, _ in pairs])
        u = np.concatenate([b for _, b in pairs])
        if e.size == 0:
            return
        z = e / u
        print(f"| {seed} | {'paired' if p else 'alone'} | {name} | {e.size} | {_cm_rms(e):.2f} "
              f"| {100 * np.median(u):.2f} | {np.sqrt(np.mean(z**2)):.2f} "
              f"| {100 * np.mean(np.abs(z) < 1):.0f} % | {100 * np.mean(np.abs(z) < 2):.0f} % |")

    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            d = world(seed, km, Path(tmp))
            tree = xr.DataTree.from_dict({b: seg for b, (seg, _) in d.items()})
            for p in (False, True):
                out = sea_surface(tree, SSHConfig(pair_leads=p, cross_pairs=False))
                for name, flags in classes:
                    got = []
                    for b, (_, truth) in d.items():
                        o = out[b].to_dataset()
                        m = np.isin(o.ssh_flag.values, flags)
                        got.append((o.ssh.values[m].astype(float) - truth.ssh.values[m],
                                    o.ssh_uncertainty.values[m].astype(float)))
                    acc.setdefault((p, name), []).extend(got)
                    row(str(seed), p, name, got)
                fb = freeboard(out, SSHConfig(pair_leads=p, cross_pairs=False))
                got = []
                for b, (_, truth) in d.items():
                    o = fb[b].to_dataset()
                    m = (np.isin(truth.surface_type.values, (0, 1))
                         & np.isfinite(o.freeboard.values))
                    got.append((o.freeboard.values[m].astype(float) - truth.freeboard.values[m],
                                o.freeboard_uncertainty.values[m].astype(float)))
                acc.setdefault((p, "ice freeboard"), []).extend(got)
                row(str(seed), p, "ice freeboard", got)
    for p in (False, True):
        for name in [c for c, _ in classes] + ["ice freeboard"]:
            row("all", p, name, acc[(p, name)])


def cross(seeds: list[int], km: float) -> None:
    """The "Across beam pairs" table: pairs pooled, then also combined across the pairs."""
    from icefb.freeboard import freeboard
    from icefb.seasurface import SSHConfig, sea_surface

    print("| seed | beam | SSH RMSE paired | SSH RMSE across pairs | segments flagged 6 "
          "| thick-ice freeboard RMSE (n >= 5), paired / across |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            d = world(seed, km, Path(tmp))
            tree = xr.DataTree.from_dict({b: seg for b, (seg, _) in d.items()})
            cfgs = (SSHConfig(cross_pairs=False), SSHConfig(cross_pairs=True))
            outs = [freeboard(sea_surface(tree, c), c) for c in cfgs]
            z = []
            for b, (seg, truth) in d.items():
                thick = (truth.surface_type.values == 0) & (seg.n_photons.values >= 5)
                e = [o[b].ssh.values.astype(float) - truth.ssh.values for o in outs]
                fb = [o[b].freeboard.values[thick].astype(float) - truth.freeboard.values[thick]
                      for o in outs]
                z.append(e[1] / outs[1][b].ssh_uncertainty.values)
                f6 = float(np.mean(outs[1][b].ssh_flag.values == 6))
                print(f"| {seed} | {b} | {_cm_rms(e[0]):.2f} | {_cm_rms(e[1]):.2f} | "
                      f"{100 * f6:.0f} % | {_cm_rms(fb[0]):.2f} / {_cm_rms(fb[1]):.2f} |")
            zz = np.concatenate(z)
            print(f"| {seed} | RMS of (ssh - truth) / ssh_uncertainty, across pairs: "
                  f"{np.sqrt(np.mean(zz**2)):.2f} | | | | |")


def pipeline(seeds: list[int], km: float, models: list[str] | None = None) -> None:
    """The end-to-end table of "Across beam pairs": ``icefb.run`` pairs only vs across pairs.

    With ``models`` (two or more): the same runs with the default configuration (across
    pairs), one per model, cells ``first -> second [-> ...]``, and the beam's accuracy.
    """
    from icefb.pipeline import RunConfig, run
    from icefb.pipeline.demo import truth_scores
    from icefb.pipeline.product import open_product, product_beams
    from icefb.seasurface import SSHConfig
    from icefb.synth import make_granule, read_truth

    if models:
        configs = tuple((m, RunConfig(model=m)) for m in models)
        cols = (("accuracy", ".3f", 1), ("ssh_rmse_m", ".2f", 100), ("fb_bias_m", "+.2f", 100),
                ("fb_rmse_m", ".2f", 100))
        print("| seed | beam | accuracy | SSH RMSE | thick-ice freeboard bias "
              "| thick-ice freeboard RMSE |")
        print("|---|---|---|---|---|---|")
    else:
        configs = (("pairs", RunConfig(ssh=SSHConfig(cross_pairs=False))), ("cross", RunConfig()))
        cols = (("ssh_rmse_m", ".2f", 100), ("fb_bias_m", "+.2f", 100), ("fb_rmse_m", ".2f", 100))
        print("| seed | beam | SSH RMSE | thick-ice freeboard bias | thick-ice freeboard RMSE |")
        print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            g = make_granule(Path(tmp) / f"ATL03_{seed}.h5", seed=seed, length_km=km)
            rows: dict[str, dict[str, dict[str, float]]] = {}
            for i, (name, cfg) in enumerate(configs):
                out = Path(tmp) / f"{seed}-{i}.zarr"
                run(g, out, config=cfg, backend="serial", progress=False)
                for grp, ds in product_beams(open_product(out)):
                    rows.setdefault(grp, {})[name] = truth_scores(ds.load(), read_truth(g, grp)[1])
            for b, r in rows.items():
                cells = [" -> ".join(f"{r[name][k] * scale:{f}}" for name, _ in configs)
                         for k, f, scale in cols]
                print(f"| {seed} | {b} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    from icefb.freeboard import freeboard
    from icefb.seasurface import SSHConfig, _beam_lead_set, sea_surface

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 7])
    ap.add_argument("--km", type=float, default=30.0)
    ap.add_argument("--per-beam", action="store_true",
                    help='print the "Every beam" table (single-beam runs) instead')
    ap.add_argument("--uncertainty", action="store_true",
                    help='print the "Uncertainty calibration" table instead')
    ap.add_argument("--cross", action="store_true",
                    help='print the "Across beam pairs" table instead')
    ap.add_argument("--pipeline", action="store_true",
                    help="print the end-to-end table of \"Across beam pairs\" (icefb.run, "
                         "classified surface) instead")
    ap.add_argument("--models", nargs="+", metavar="MODEL",
                    help="with --pipeline: compare these models (names or paths) end to end, "
                         "across pairs, instead of pairs only vs across pairs")
    args = ap.parse_args()
    if args.pipeline:
        pipeline(args.seeds, args.km, args.models)
        return
    for flag, table in (("cross", cross), ("uncertainty", uncertainty),
                        ("per_beam", per_beam)):
        if getattr(args, flag):
            table(args.seeds, args.km)
            return
    acc: dict[tuple[str, bool], tuple[list, list]] = {}
    print("| seed | beam | leads | SSH RMSE alone | SSH RMSE paired | SSH bias alone / paired "
          "| flags paired (0/4/5/1-2) | freeboard alone | freeboard paired |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            d = world(seed, args.km, Path(tmp))
            tree = xr.DataTree.from_dict({b: seg for b, (seg, _) in d.items()})
            res = {p: freeboard(sea_surface(tree, SSHConfig(pair_leads=p, cross_pairs=False)),
                                SSHConfig(pair_leads=p, cross_pairs=False)) for p in (False, True)}
            for b, (seg, truth) in d.items():
                kind = "strong" if b.endswith("l") else "weak"
                n_leads = _beam_lead_set(seg, SSHConfig(), b).x.size
                thick = (truth.surface_type.values == 0) & (seg.n_photons.values >= 5)
                vals = {}
                for p in (False, True):
                    out = res[p][b].to_dataset()
                    e = out.ssh.values.astype(float) - truth.ssh.values
                    fe = out.freeboard.values[thick].astype(float) - truth.freeboard.values[thick]
                    vals[p] = (e, fe, out.ssh_flag.values)
                    acc.setdefault((kind, p), ([], []))
                    acc[(kind, p)][0].append(e)
                    acc[(kind, p)][1].append(fe)
                f = vals[True][2]
                flags = "/".join(f"{100 * m:.0f}" for m in ((f == 0).mean(), (f == 4).mean(),
                                                           (f == 5).mean(),
                                                           np.isin(f, (1, 2)).mean()))
                (e0, f0, _), (e1, f1, _) = vals[False], vals[True]
                print(f"| {seed} | {b} {kind} | {n_leads} | {_cm_rms(e0):.2f} | {_cm_rms(e1):.2f} "
                      f"| {100 * np.nanmean(e0):+.2f} / {100 * np.nanmean(e1):+.2f} | {flags} "
                      f"| {100 * f0.mean():+.2f} / {_cm_rms(f0):.2f} "
                      f"| {100 * f1.mean():+.2f} / {_cm_rms(f1):.2f} |")
    for kind in ("strong", "weak"):
        (e0, f0), (e1, f1) = ([np.concatenate(v) for v in acc[(kind, p)]] for p in (False, True))
        print(f"| pooled | {kind} | | {_cm_rms(e0):.2f} | {_cm_rms(e1):.2f} "
              f"| {100 * e0.mean():+.2f} / {100 * e1.mean():+.2f} | "
              f"| {100 * f0.mean():+.2f} / {_cm_rms(f0):.2f} "
              f"| {100 * f1.mean():+.2f} / {_cm_rms(f1):.2f} |")


if __name__ == "__main__":
    main()
