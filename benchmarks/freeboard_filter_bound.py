"""How close can any linear filter of the 2 m bin heights get to the 2 m true freeboard?

Fits, by least squares against the synthetic world's truth itself, the best linear combination
of a thick-ice segment's height and its +-k neighbours' (true sea surface removed, so only the
height estimate is measured), on training granules, and scores it on other granules. The fit
knows the truth, so its RMSE is an optimistic reference for any linear estimator of the 2 m
freeboard from these bins (docs/seasurface.md, "Why the 2 m thick-ice height ...")::

    .venv/bin/python benchmarks/freeboard_filter_bound.py            # strong beams
    .venv/bin/python benchmarks/freeboard_filter_bound.py --beams gt1r gt2r gt3r
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

K = 6  # widest neighbourhood fitted


def rows(seeds, beams, workdir, length_km):
    """Neighbour heights (+-K), true freeboard and own height of thick-ice segments, n >= 5."""
    from icefb.io.atl03 import open_atl03
    from icefb.segments import resample
    from icefb.synth import make_granule, read_truth

    x, y, own = [], [], []
    for seed in seeds:
        path = make_granule(os.path.join(workdir, f"g{seed}.h5"), seed=seed,
                            length_km=length_km, beams=tuple(beams))
        tree = open_atl03(path)
        for beam in beams:
            seg = resample(tree[beam].to_dataset()).load()
            _, truth = read_truth(path, beam)
            truth = truth.reindex(segment=seg.segment)
            h = seg["h_cor_mean"].values - truth["ssh"].values
            n = seg["n_photons"].values
            fb, st = truth["freeboard"].values, truth["surface_type"].values
            for i in np.where((st == 0) & (n >= 5) & np.isfinite(fb))[0]:
                if K <= i < h.size - K:
                    w = h[i - K:i + K + 1].copy()
                    ok = np.isfinite(w) & (n[i - K:i + K + 1] > 0)
                    w[~ok] = h[i]  # an empty neighbour: the segment's own height
                    x.append(w)
                    y.append(fb[i])
                    own.append(h[i])
        tree.close()
    return np.array(x), np.array(y), np.array(own)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beams", nargs="+", default=["gt1l", "gt2l", "gt3l"])
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[41, 42, 43, 44])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[45, 46])
    ap.add_argument("--length-km", type=float, default=10.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        xtr, ytr, _ = rows(a.train_seeds, a.beams, d, a.length_km)
        xte, yte, own = rows(a.test_seeds, a.beams, d, a.length_km)
    print(f"beams {a.beams}: {ytr.size} training, {yte.size} test thick-ice segments (n >= 5)")
    print(f"the segment's own height: bias {100 * np.mean(own - yte):+.2f} cm, "
          f"RMSE {100 * np.sqrt(np.mean((own - yte) ** 2)):.2f} cm")
    for k in (1, 2, 3, 4, 6):
        cols = slice(K - k, K + k + 1)
        a_tr = np.c_[xtr[:, cols], np.ones(ytr.size)]
        coef, *_ = np.linalg.lstsq(a_tr, ytr, rcond=None)
        pred = np.c_[xte[:, cols], np.ones(yte.size)] @ coef
        print(f"best linear filter of +-{k} bins, fitted on the truth: RMSE "
              f"{100 * np.sqrt(np.mean((pred - yte) ** 2)):.2f} cm, weights "
              f"{np.round(coef[:-1], 2).tolist()}")


if __name__ == "__main__":
    main()
