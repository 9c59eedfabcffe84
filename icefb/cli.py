"""The ``icefb`` command line: ``run``, ``info``, ``plot``, ``synth`` and ``demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from icefb.errors import IcefbError

log = logging.getLogger("icefb")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="icefb",
        description="2 m ICESat-2 sea-ice surface type, sea surface height and freeboard.",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="granules (and scenes) in, a Zarr product out")
    r.add_argument("granules", nargs="+", help="ATL03 files or glob patterns")
    r.add_argument("-o", "--output", required=True, help="product store (PRODUCT.zarr)")
    r.add_argument("--scenes", help="a Sentinel-2 scene or a folder of scenes to pair")
    r.add_argument("--model", default="lstm-synthetic",
                   help="lstm-synthetic (shipped) or the path of a saved model")
    r.add_argument("--workers", type=int, help="local dask workers / Spark cores (default 2)")
    r.add_argument("--scheduler", help="address of an existing dask-distributed scheduler")
    r.add_argument("--backend", choices=["dask", "spark", "serial"], default="dask")
    r.add_argument("--beams", nargs="+", help="beams to process (default: all)")
    r.add_argument("--surface-source", choices=["model", "s2_label"], default="model",
                   help="surface type used for the sea surface")
    r.add_argument("--window", type=float, default=2.0, help="along-track bin (m)")
    r.add_argument("--min-conf", type=int, default=3, help="minimum sea-ice confidence")
    r.add_argument("--gpu", action="store_true",
                   help="run inference on CUDA (needs the gpu extra and a GPU)")
    r.add_argument("--figures", help="also write PNG figures into this folder")
    r.add_argument("--cross-pairs", action=argparse.BooleanOptionalAction, default=True,
                   help="combine the sea surface of the granule's three beam pairs "
                        "(SSHConfig.cross_pairs; default on)")
    r.add_argument("--no-progress", action="store_true")

    t = sub.add_parser("train", help="train a classifier on labeled products "
                       "(icefb train --help for its options)", add_help=False)
    t.add_argument("args", nargs=argparse.REMAINDER)

    i = sub.add_parser("info", help="print what a product holds")
    i.add_argument("product")

    pl = sub.add_parser("plot", help="draw a product's figures (PNG)")
    pl.add_argument("product")
    pl.add_argument("-o", "--output", default=None, help="folder (default: PRODUCT_figures)")
    pl.add_argument("--scene", help="Sentinel-2 scene to draw under the tracks")

    s = sub.add_parser("synth", help="write a synthetic granule (+ scene, ATL07/ATL10)")
    s.add_argument("output", help="granule path (.h5)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--length-km", type=float, default=10.0)
    s.add_argument("--hemisphere", choices=["north", "south"], default="north")
    s.add_argument("--scene", help="also write a Sentinel-2-like scene here")
    s.add_argument("--atl07", help="also write an ATL07-layout file here")

    d = sub.add_parser("demo", help="the whole pipeline on a synthetic granule")
    d.add_argument("--out", default="demo-output")
    d.add_argument("--length-km", type=float, default=20.0)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--backend", choices=["dask", "spark", "serial"], default="dask")
    return p


def _cmd_run(a: argparse.Namespace) -> int:
    from icefb.pipeline import RunConfig, run
    from icefb.seasurface import SSHConfig
    from icefb.segments import BinningConfig

    device = None
    backend: object = a.backend
    if a.gpu:
        import torch

        if not torch.cuda.is_available():
            raise IcefbError("--gpu given but torch sees no CUDA device", expected="a GPU")
        device = "cuda"
        if a.backend == "dask" and a.scheduler is None:
            from icefb.backends.dask import DaskBackend

            backend = DaskBackend(a.workers, gpu=True, progress=not a.no_progress)
    config = RunConfig(
        binning=BinningConfig(window=a.window, min_conf=a.min_conf),
        model=a.model,
        surface_source=a.surface_source,
        beams=tuple(a.beams) if a.beams else None,
        device=device,
        ssh=SSHConfig(cross_pairs=a.cross_pairs),
    )
    try:
        result = run(a.granules, a.output, scenes=a.scenes, config=config, backend=backend,
                     workers=a.workers, scheduler=a.scheduler, progress=not a.no_progress)
    finally:
        if not isinstance(backend, str):
            backend.close()
    print(result.table())
    print(f"\nwrote {result.product} in {result.seconds:.1f} s")
    if a.figures:
        from icefb.pipeline.figures import product_figures

        scene = a.scenes if a.scenes and Path(a.scenes).is_file() else None
        for p in product_figures(result.product, a.figures, scene=scene):
            print(f"figure: {p}")
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    from icefb.pipeline.product import open_product, product_beams

    tree = open_product(a.product)
    attrs = tree.attrs
    print(f"{a.product}: {attrs.get('title', '')}")
    for key in ("status", "icefb_version", "date_created", "input_granules", "input_scenes",
                "model", "model_checksum_sha256", "config_digest"):
        if key in attrs:
            print(f"  {key}: {attrs[key]}")
    for group, ds in product_beams(tree):
        n = ds.sizes["segment"]
        print(f"\n[{group}] {n} segments of {ds.attrs.get('window', '?')} m, "
              f"{ds.attrs.get('atlas_beam_type', '')} beam")
        for name, var in ds.variables.items():
            if name == "segment":
                continue
            units = var.attrs.get("units", "")
            print(f"  {name:<24} {str(var.dtype):<9} {units:<14} {var.attrs.get('long_name', '')}")
    return 0


def _cmd_plot(a: argparse.Namespace) -> int:
    from icefb.pipeline.figures import product_figures

    out = a.output or str(Path(a.product).with_suffix("")) + "_figures"
    for p in product_figures(a.product, out, scene=a.scene):
        print(f"figure: {p}")
    return 0


def _cmd_synth(a: argparse.Namespace) -> int:
    from icefb.synth import make_atl07, make_granule, make_scene

    g = make_granule(a.output, seed=a.seed, length_km=a.length_km, hemisphere=a.hemisphere)
    print(f"granule: {g}")
    if a.scene:
        info = make_scene(a.scene, g)
        print(f"scene: {info.path} (drift {info.drift_m[0]:.1f}, {info.drift_m[1]:.1f} m)")
    if a.atl07:
        print(f"atl07: {make_atl07(a.atl07, g)}")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from icefb.ml.train import main as train_main

    return int(train_main(a.args) or 0)


def _cmd_demo(a: argparse.Namespace) -> int:
    from icefb.pipeline.demo import demo

    demo(a.out, length_km=a.length_km, seed=a.seed, workers=a.workers, backend=a.backend)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``icefb`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # its options belong to icefb.ml.train (incl. --help)
        argv = ["train", "--", *argv[1:]] if len(argv) > 1 else argv
    a = _parser().parse_args(argv)
    if a.command == "train" and a.args[:1] == ["--"]:
        a.args = a.args[1:]
    logging.basicConfig(level=logging.WARNING - 10 * a.verbose,
                        format="%(levelname)s %(name)s: %(message)s")
    handler = {"run": _cmd_run, "info": _cmd_info, "plot": _cmd_plot, "synth": _cmd_synth,
               "demo": _cmd_demo, "train": _cmd_train}[a.command]
    try:
        return handler(a)
    except IcefbError as err:  # a clear one-line message, not a traceback
        print(f"icefb {a.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # unreachable scheduler, unwritable output...: one line too
        if a.verbose:  # -v: the traceback, for a bug report
            raise
        print(f"icefb {a.command}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
