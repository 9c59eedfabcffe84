"""A tiny segment-level synthetic world for ML tests and benchmarks.

Builds segment Datasets (docs/architecture.md contract) directly from per-class distributions,
with the true surface type known, so the ML code can be tested without generating photons.
Thick-ice floes, thin ice and leads alternate in runs; the sea surface drifts slowly; leads and
thin ice are low and smooth, thick ice high and rough; leads are sometimes dark (empty bins).

Examples
--------
>>> seg = toy_segments(0, 500)
>>> seg.sizes["segment"], str(seg["s2_label"].dtype)
(500, 'int8')
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from icefb.constants import SURFACE_TYPE_FLAG_MEANINGS, SURFACE_TYPE_FLAG_VALUES

__all__ = ["toy_segments"]

# mean run length (bins) of each class: thick, thin, water
_RUN = (120.0, 35.0, 20.0)
_P_NEXT = np.array([[0.0, 0.6, 0.4], [0.6, 0.0, 0.4], [0.6, 0.4, 0.0]])


def toy_segments(
    seed: int, n_segments: int = 20_000, *, granule: str = "toy", beam: str = "gt1l",
    window: float = 2.0, weak: bool = False,
) -> xr.Dataset:
    """Make one beam of synthetic 2 m segments with truth and labels.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    n_segments : int
        Number of 2 m bins.
    granule, beam : str
        Stored as attributes (the data module splits by them).
    window : float
        Bin length (m).
    weak : bool
        Weak beam: about a quarter of the photons.

    Returns
    -------
    xarray.Dataset
        Segment variables plus ``s2_label`` (int8, the truth with -1 at 2 bins either side of
        a class change) and ``truth_surface_type`` (int8).
    """
    rng = np.random.default_rng(seed)
    st = np.empty(n_segments, np.int8)
    i = 0
    cls = int(rng.integers(0, 3))
    while i < n_segments:
        run = max(3, int(rng.exponential(_RUN[cls])))
        st[i : i + run] = cls
        i += run
        cls = int(rng.choice(3, p=_P_NEXT[cls]))
    seg = np.arange(n_segments, dtype=np.int64)
    x = (seg + 0.5) * window
    ssh = 0.3 * np.sin(2 * np.pi * x / 25_000.0 + rng.uniform(0, 6.28)) + rng.normal(0, 0.2)
    free = np.where(st == 0, rng.gamma(4.0, 0.09, n_segments) + 0.12,
                    np.where(st == 1, rng.uniform(0.02, 0.10, n_segments), 0.0))
    # smooth thick-ice topography along track
    k = np.ones(15) / 15.0
    free = np.where(st == 0, np.convolve(free, k, mode="same"), free)
    scale = 0.25 if weak else 1.0
    rate = np.where(st == 0, 2.6, np.where(st == 1, 1.3, 1.6)) * scale
    rate = rate * rng.lognormal(0.0, 0.35, n_segments)
    n_shots = rng.poisson(14.0, n_segments).astype(np.float32) + 1
    n_ph = rng.poisson(rate * n_shots).astype(np.int32)
    dark = (st == 2) & (rng.random(n_segments) < 0.25)
    n_ph[dark] = 0
    n_high = rng.binomial(n_ph, np.where(st == 0, 0.8, np.where(st == 1, 0.6, 0.7)))
    noise = np.where(st == 0, 0.10, np.where(st == 1, 0.04, 0.03))
    nz = np.maximum(n_ph, 1)
    h_true = ssh + free
    h_mean = h_true + rng.normal(0, 1, n_segments) * noise / np.sqrt(nz)
    h_std = np.abs(noise * rng.normal(1.0, 0.25, n_segments))
    h_med = h_mean + rng.normal(0, 1, n_segments) * noise * 0.3 / np.sqrt(nz)
    spread = h_std * np.sqrt(2 * np.log(nz + 1))
    empty = n_ph == 0
    geoid = 20.0

    def f32(a):
        return np.where(empty, np.nan, a).astype(np.float32)

    bcnt = rng.poisson(np.where(st == 0, 8.0, 5.0), n_segments).astype(np.float32)
    lab = st.copy()
    change = np.flatnonzero(np.diff(st) != 0)
    for d in range(-1, 3):
        lab[np.clip(change + d, 0, n_segments - 1)] = -1
    flag_attrs = {"flag_values": SURFACE_TYPE_FLAG_VALUES,
                  "flag_meanings": SURFACE_TYPE_FLAG_MEANINGS}
    return xr.Dataset(
        {
            "x_atc": ("segment", x),
            "n_photons": ("segment", n_ph),
            "n_high": ("segment", n_high.astype(np.int32)),
            "n_shots": ("segment", n_shots),
            "pcnt": ("segment", (n_ph / n_shots).astype(np.float32)),
            "pcnth": ("segment", (n_high / n_shots).astype(np.float32)),
            "h_mean": ("segment", f32(h_mean + geoid)),
            "h_median": ("segment", f32(h_med + geoid)),
            "h_std": ("segment", f32(np.where(n_ph > 1, h_std, 0.0))),
            "h_min": ("segment", f32(h_mean + geoid - spread)),
            "h_max": ("segment", f32(h_mean + geoid + spread)),
            "h_cor_mean": ("segment", f32(h_mean)),
            "h_cor_median": ("segment", f32(h_med)),
            "bcnt": ("segment", bcnt),
            "brate": ("segment", (bcnt * 1e4 / 50.0).astype(np.float32)),
            "s2_label": ("segment", lab, flag_attrs),
            "truth_surface_type": ("segment", st, flag_attrs),
        },
        coords={"segment": seg},
        attrs={"window": window, "beam": beam, "granule_id": granule,
               "atlas_beam_type": "weak" if weak else "strong"},
    )
