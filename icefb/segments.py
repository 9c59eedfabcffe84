"""2 m along-track resampling: one beam's photons -> a regular grid of segment statistics.

:func:`resample` bins the signal photons of a beam (``quality_ph == 0`` and confidence
``>= min_conf`` in column ``conf_column`` of ``signal_conf_ph``) on ``segment =
floor(x_atc / window)`` and returns the segment Dataset of ``docs/architecture.md``. The
arithmetic is in :mod:`icefb.kernels.binning`; this module wires it over dask blocks.

Chunked execution is exact: every photon block is binned independently (in parallel by whatever
dask scheduler is active); the bins cut by a block edge are then recomputed from the photons of
both sides, carried back with the block result, in photon order. Every bin is thus computed by
the same kernel from the same photons in the same order as in an unchunked run, so chunked and
unchunked results are bit-for-bit identical. See ``docs/resampling.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from icefb.constants import ATL03_FILL_VALUE, SEA_ICE_CONF_COLUMN, SHOT_RATE_HZ
from icefb.errors import ConfigError, InvalidGranuleError, MissingVariableError
from icefb.kernels import binning as _k

__all__ = ["BinningConfig", "resample"]

#: Nominal ICESat-2 ground-track speed (m/s): shots every ~0.7 m at 10 kHz. Used when the beam is
#: too short to estimate the speed from ``x_atc`` against ``delta_time``.
NOMINAL_GROUND_SPEED = 7000.0
_PLAUSIBLE_SPEED = (6000.0, 8000.0)  # m/s; estimates outside fall back to the nominal speed
_MIN_SPEED_SPAN_S = 0.01  # s (100 shots) of photons needed to estimate the speed

#: Largest along-track distance (m) a photon may have: a whole orbit is ~4e7 m. Larger values,
#: infinities and fill values are not positions; such photons are dropped like NaN ``x_atc``.
_MAX_X_ATC = 1e12
_PHOTON_VARS = _k._KERNEL_INPUTS
_BCKGRD_VARS = ("bckgrd_delta_time", "bckgrd_counts", "bckgrd_rate")


@dataclasses.dataclass(frozen=True)
class BinningConfig:
    """Parameters of the along-track resampling.

    Parameters
    ----------
    window : float
        Bin length along track (m), > 0.
    min_conf : int
        Photons with ``signal_conf_ph[:, conf_column] >= min_conf`` (and ``quality_ph == 0``)
        are signal; -2..4.
    high_conf : int
        Confidence counted in ``n_high``/``pcnth``; ``min_conf``..4.
    conf_column : int
        ``signal_conf_ph`` column: 0 land, 1 ocean, 2 sea ice (default), 3 land ice,
        4 inland water.

    Examples
    --------
    >>> BinningConfig().window
    2.0
    >>> BinningConfig(window=-1)
    Traceback (most recent call last):
    ...
    icefb.errors.ConfigError: BinningConfig.window must be a finite number > 0 (got -1; ...
    """

    window: float = 2.0
    min_conf: int = 3
    high_conf: int = 4
    conf_column: int = SEA_ICE_CONF_COLUMN

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`icefb.errors.ConfigError` if a parameter is out of range."""
        w = self.window
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise ConfigError(
                "BinningConfig.window must be a finite number > 0",
                got=w,
                expected="window > 0 in metres, e.g. 2.0",
            )
        for name, lo, hi in (("min_conf", -2, 4), ("high_conf", -2, 4), ("conf_column", 0, 4)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise ConfigError(
                    f"BinningConfig.{name} out of range", got=v, expected=f"an int in {lo}..{hi}"
                )
        if self.high_conf < self.min_conf:
            raise ConfigError(
                "BinningConfig.high_conf below min_conf",
                got=self.high_conf,
                expected=f">= min_conf ({self.min_conf})",
            )


# ---------------------------------------------------------------------------------------------
# output schema (units, long names)

_SCHEMA: dict[str, tuple[str, str, str]] = {
    # name: (dtype, units, long_name)
    "x_atc": ("float64", "m", "along-track distance of the segment centre"),
    "lat": ("float64", "degrees_north", "mean latitude of the signal photons"),
    "lon": ("float64", "degrees_east", "mean longitude of the signal photons"),
    "delta_time": ("float64", "s", "mean time of the signal photons, seconds since 2018-01-01"),
    "n_photons": ("int32", "1", "number of signal photons"),
    "n_high": ("int32", "1", "number of high-confidence signal photons"),
    "n_shots": ("float32", "1", "number of laser shots in the segment"),
    "pcnt": ("float32", "1", "signal photons per shot"),
    "pcnth": ("float32", "1", "high-confidence signal photons per shot"),
    "h_mean": ("float32", "m", "mean signal photon height above the WGS84 ellipsoid"),
    "h_median": ("float32", "m", "median signal photon height above the WGS84 ellipsoid"),
    "h_std": ("float32", "m", "standard deviation (ddof=0) of signal photon heights"),
    "h_min": ("float32", "m", "minimum signal photon height above the WGS84 ellipsoid"),
    "h_max": ("float32", "m", "maximum signal photon height above the WGS84 ellipsoid"),
    "h_cor_mean": ("float32", "m", "mean corrected height (geoid, tides and DAC removed)"),
    "h_cor_median": ("float32", "m", "median corrected height (geoid, tides and DAC removed)"),
    "bcnt": ("float32", "1", "background photon counts of the matched 50-shot bckgrd_atlas record"),
    "brate": ("float32", "s-1", "background photon rate of the matched bckgrd_atlas record"),
}
_STANDARD_NAMES = {"lat": "latitude", "lon": "longitude"}


# ---------------------------------------------------------------------------------------------
# per-block work (runs on dask workers)


def _run_block(
    arrays: Mapping[str, np.ndarray], window: float, min_conf: int, high_conf: int, col: int,
    with_edges: bool,
) -> dict[str, Any]:  # fmt: skip
    """Bin one photon block; carry the photons of its first and last bin for edge repair."""
    arrays = {k: np.ascontiguousarray(v, dtype=_k._DTYPES[k]) for k, v in arrays.items()}
    # photons whose height is missing (NaN) or an HDF5 fill value (3.4e38) are never signal
    h = arrays["h_ph"]
    bad_h = ~np.isfinite(h) | (np.abs(h) >= 0.5 * float(ATL03_FILL_VALUE))
    if bad_h.any():
        q = arrays["quality_ph"].copy()
        q[bad_h & (q == 0)] = np.iinfo(q.dtype).max
        arrays = {**arrays, "quality_ph": q}
    # photons that cannot be placed along track (inf, fill values, beyond any orbit) are dropped
    # as NaN x_atc photons are
    x = arrays["x_atc"]
    bad_x = ~(np.abs(x) < _MAX_X_ATC) & ~np.isnan(x)
    if bad_x.any():
        x = np.where(bad_x, np.nan, x)
        arrays = {**arrays, "x_atc": x}
    b0, stats, order = _k.bin_block(
        arrays, window=window, min_conf=min_conf, high_conf=high_conf, conf_column=col
    )
    # in the product's dtypes already: less to ship to the client, same values as a cast there
    stats = tuple(
        v.astype(_SCHEMA[f][0], copy=False) for f, v in zip(_k.BIN_FIELDS, stats, strict=True)
    )
    res: dict[str, Any] = {
        "b0": b0,
        "stats": stats,
        "ends": _k.ground_track_ends(x, arrays["delta_time"]),
        "edges": [],
    }
    if with_edges and stats[0].size:
        xs = x if order is None else x[order]
        end_first, start_last = _k.edge_runs(xs, window)
        cuts = [(0, int(end_first))]
        if start_last > 0:
            cuts.append((int(start_last), x.size))
        b_last = b0 + stats[0].size - 1
        for (lo, hi), b in zip(cuts, (b0, b_last), strict=False):
            idx = np.arange(lo, hi) if order is None else order[lo:hi]
            res["edges"].append((b, {k: v[idx] for k, v in arrays.items()}))
    return res


# ---------------------------------------------------------------------------------------------
# helpers


def _check_photons(ds: xr.Dataset, cfg: BinningConfig) -> None:
    beam = ds.attrs.get("beam")
    path = ds.attrs.get("source_path")
    for v in (*_PHOTON_VARS, *_BCKGRD_VARS):
        if v not in ds.variables:
            raise MissingVariableError(
                "photon Dataset lacks a variable resample needs",
                path=path,
                beam=beam,
                variable=v,
                expected="the photon schema of docs/architecture.md (icefb.open_atl03)",
            )
    conf = ds["signal_conf_ph"]
    if conf.ndim != 2 or conf.shape[1] <= cfg.conf_column:
        raise InvalidGranuleError(
            "signal_conf_ph has the wrong shape",
            path=path,
            beam=beam,
            variable="signal_conf_ph",
            got=tuple(conf.shape),
            expected=f"(n_photons, 5) with column {cfg.conf_column}",
        )
    for v in _PHOTON_VARS:
        if ds[v].dims[0] != ds["x_atc"].dims[0]:
            raise InvalidGranuleError(
                "photon variables do not share the photon dimension",
                path=path,
                beam=beam,
                variable=v,
                got=ds[v].dims,
                expected=ds["x_atc"].dims,
            )


def _is_dask(a: Any) -> bool:
    return type(a).__module__.startswith("dask")


def _ground_speed(ends: list[tuple[float, float, float, float]]) -> tuple[float, str]:
    """Combine per-block ``ground_track_ends`` in order; speed (m/s) and its source."""
    xmin, tmin, xmax, tmax = np.inf, np.nan, -np.inf, np.nan
    for a, ta, b, tb in ends:
        if a == a and a < xmin:
            xmin, tmin = a, ta
        if b == b and b > xmax:
            xmax, tmax = b, tb
    dt = tmax - tmin
    if np.isfinite(dt) and abs(dt) >= _MIN_SPEED_SPAN_S:
        v = abs((xmax - xmin) / dt)
        if _PLAUSIBLE_SPEED[0] <= v <= _PLAUSIBLE_SPEED[1]:
            return float(v), "estimated from x_atc and delta_time of the extreme photons"
    return NOMINAL_GROUND_SPEED, "nominal (beam too short or estimate implausible)"


_FILLED = {"lat": None, "lon": 360.0, "delta_time": None}  # filled where empty; period


def _unwrap_steps(p: np.ndarray, period: float | None) -> np.ndarray:
    """Whole periods to add between consecutive values ``p`` so that no step exceeds half a
    period (zeros without a period). Integers, so the sum over any stretch is exact and a
    chunk of a beam unwraps its values exactly as the whole beam does."""
    if period is None or p.size < 2:
        return np.zeros(max(p.size - 1, 0), np.int64)
    # bounded, so that no sum over a beam can overflow whatever the values (garbage in, say
    # longitudes of 1e30, gives garbage out, the same on every path, rather than an error)
    return -np.clip(np.rint(np.diff(p) / period), -(2**31), 2**31).astype(np.int64)


def _interp_empty(xc: np.ndarray, v: np.ndarray, *, period: float | None = None) -> np.ndarray:
    """Fill NaNs of ``v`` by linear interpolation in ``xc`` (linear extrapolation at the ends).

    Fills ``v`` in place (and returns it): only the empty entries are computed, so a beam of
    millions of bins allocates no full-length temporaries here.
    """
    ok = np.isfinite(v)
    if ok.all() or not ok.any():
        return v
    xv, vv = xc[ok], v[ok]
    if period is not None:
        vv = vv + period * np.concatenate([[0], np.cumsum(_unwrap_steps(vv, period))])
    ends = (xv[0], vv[0], xv[-1], vv[-1]) if xv.size >= 2 else None
    _fill_between(xc, v, ~ok, xv, vv, ends, period)
    return v


def _fill_between(
    xc: np.ndarray, v: np.ndarray, empty: np.ndarray, xv: np.ndarray, vv: np.ndarray,
    ends: tuple[float, float, float, float] | None, period: float | None,
) -> None:  # fmt: skip
    """Fill ``v[empty]`` in place from the (unwrapped) points ``xv, vv`` around them.

    Between two points the value is interpolated from those two only, and outside the beam's
    first and last points (``ends``, None if it has fewer than two) it is extrapolated along
    the line through them, so a chunk given its neighbouring points fills exactly as the
    whole beam.
    """
    idx = np.flatnonzero(empty)
    if idx.size == 0 or xv.size == 0:
        return
    xe = xc[idx]
    fill = np.interp(xe, xv, vv)
    if ends is not None:
        x0, v0, x1, v1 = ends
        slope = (v1 - v0) / (x1 - x0)
        lo, hi = xe < x0, xe > x1
        fill[lo] = v0 + slope * (xe[lo] - x0)
        fill[hi] = v1 + slope * (xe[hi] - x1)
    if period is not None:
        fill = fill - period * np.floor((fill + period / 2) / period)
    v[idx] = fill


def _background(ds: xr.Dataset, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and rate of the previous ``bckgrd_atlas`` record for each time (NaN if none)."""
    bt = np.asarray(ds["bckgrd_delta_time"].values, np.float64)
    bc = np.asarray(ds["bckgrd_counts"].values, np.float32)
    br = np.asarray(ds["bckgrd_rate"].values, np.float32)
    bcnt = np.full(t.shape, np.nan, np.float32)
    brate = np.full(t.shape, np.nan, np.float32)
    keep = np.isfinite(bt)
    bt, bc, br = bt[keep], bc[keep], br[keep]
    if bt.size == 0:
        return bcnt, brate
    if np.any(np.diff(bt) < 0):
        o = np.argsort(bt, kind="stable")
        bt, bc, br = bt[o], bc[o], br[o]
    period = float(np.median(np.diff(bt))) if bt.size > 1 else 50.0 / SHOT_RATE_HZ
    idx = np.searchsorted(bt, t, side="right") - 1
    good = np.isfinite(t) & (idx >= 0)
    idx = np.clip(idx, 0, bt.size - 1)
    good &= (t - bt[idx]) <= 1.5 * period
    bcnt[good] = bc[idx[good]]
    brate[good] = br[idx[good]]
    return bcnt, brate


def _empty_stats(n: int) -> list[np.ndarray]:
    return [
        np.zeros(n, _SCHEMA[f][0]) if f.startswith("n_") else np.full(n, np.nan, _SCHEMA[f][0])
        for f in _k.BIN_FIELDS
    ]


def _place(live: list[dict[str, Any]], first: int, nb: int) -> list[np.ndarray]:
    """Block statistics on the beam grid ``first .. first + nb - 1`` in one copy per field.

    Blocks come ordered with at most one shared (cut) bin between neighbours, which the caller
    repairs; bins between blocks that no photon reaches are empty (0 / NaN).
    """
    parts: list[list[np.ndarray]] = [[] for _ in _k.BIN_FIELDS]
    pos = first
    for r in live:
        b0, st = r["b0"], r["stats"]
        skip = max(pos - b0, 0)
        if b0 > pos:
            for part, gap in zip(parts, _empty_stats(b0 - pos), strict=True):
                part.append(gap)
        for part, v in zip(parts, st, strict=True):
            part.append(v[skip:])
        pos = max(pos, b0 + st[0].size)
    out = [np.concatenate(p) if p else e for p, e in zip(parts, _empty_stats(0), strict=True)]
    assert out[0].size == nb
    return out


def _ordered(spans: list[tuple[int, int]]) -> bool:
    """Whether blocks' (first, last) bins follow each other along track (one shared bin at
    most between neighbours)."""
    return all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))


def _repairs(edges: list[list[tuple[int, dict]]], cfg: BinningConfig) -> dict[int, tuple]:
    """Statistics of the bins cut by block edges, recomputed from all their photons in photon
    order: ``{bin: (value of each BIN_FIELDS field)}``, from the blocks' ``edges`` in order."""
    pieces: dict[int, list[dict[str, np.ndarray]]] = {}
    for block_edges in edges:
        for b, piece in block_edges:
            pieces.setdefault(b, []).append(piece)
    out = {}
    for b, ps in pieces.items():
        if len(ps) < 2:
            continue
        merged = {k: np.concatenate([p[k] for p in ps]) for k in ps[0]}
        b0, s, _ = _k.bin_block(
            merged,
            window=cfg.window,
            min_conf=cfg.min_conf,
            high_conf=cfg.high_conf,
            conf_column=cfg.conf_column,
        )
        out[b] = tuple(v[b - b0] for v in s)
    return out


def _derived(
    out: dict[str, np.ndarray], xc: np.ndarray, bckgrd: xr.Dataset, cfg: BinningConfig,
    speed: float,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The product's variables, in their dtypes, from the placed, repaired and filled bins."""
    n_shots = np.full(xc.size, cfg.window * SHOT_RATE_HZ / speed, np.float32)
    bcnt, brate = _background(bckgrd, out["delta_time"])
    values = {
        "x_atc": xc,
        **out,
        "n_shots": n_shots,
        "pcnt": out["n_photons"] / n_shots,
        "pcnth": out["n_high"] / n_shots,
        "bcnt": bcnt,
        "brate": brate,
    }
    return {n: np.asarray(values[n]).astype(t, copy=False) for n, (t, _, _) in _SCHEMA.items()}


def _dataset(
    values: Mapping[str, Any], segment: np.ndarray, attrs: Mapping[str, Any], cfg: BinningConfig,
    speed: tuple[float, str],
) -> xr.Dataset:  # fmt: skip
    """The segment Dataset (numpy- or dask-backed ``values``) with its attributes."""
    data_vars = {}
    for name, (_, units, long_name) in _SCHEMA.items():
        var_attrs = {"units": units, "long_name": long_name}
        if name in _STANDARD_NAMES:
            var_attrs["standard_name"] = _STANDARD_NAMES[name]
        data_vars[name] = ("segment", values[name], var_attrs)
    attrs = dict(attrs)
    attrs.update(
        window=float(cfg.window),
        min_conf=int(cfg.min_conf),
        high_conf=int(cfg.high_conf),
        conf_column=int(cfg.conf_column),
        ground_speed=float(speed[0]),
        ground_speed_source=speed[1],
    )
    seg_attrs = {
        "long_name": "segment index floor(x_atc / window)",
        "units": "1",
    }
    return xr.Dataset(
        data_vars, coords={"segment": ("segment", segment, seg_attrs)}, attrs=attrs
    )


def _assemble(
    ds: xr.Dataset, results: list[dict[str, Any]], cfg: BinningConfig, *, whole: bool = False
) -> xr.Dataset | None:
    """Put block results on the beam grid, repair cut bins, derive shots, background, centres.

    ``ds`` is the beam, or only its ``bckgrd_*`` variables and attributes (when assembling on a
    worker); then None is returned if the blocks overlap and the beam must be binned whole.
    ``whole=True`` ignores ``results`` and bins the beam's photons in one block.
    """
    args = (cfg.window, cfg.min_conf, cfg.high_conf, cfg.conf_column)
    live = [r for r in results if r["stats"][0].size]
    if whole or not _ordered([(r["b0"], r["b0"] + r["stats"][0].size - 1) for r in live]):
        # blocks overlap in x_atc (input far from ordered): bin the whole beam in one block
        if any(v not in ds for v in _PHOTON_VARS):
            return None  # assembling on a worker, without the photons: the caller does it
        arrays = {v: np.asarray(ds[v].values) for v in _PHOTON_VARS}
        results = [_run_block(arrays, *args, with_edges=False)]
        live = [r for r in results if r["stats"][0].size]
    if live:
        first, last = live[0]["b0"], live[-1]["b0"] + live[-1]["stats"][0].size - 1
    else:
        first, last = 0, -1
    nb = last - first + 1
    stats = _place(live, first, nb)
    for b, vals in _repairs([r["edges"] for r in live], cfg).items():
        for a, v in zip(stats, vals, strict=True):
            a[b - first] = v
    out = dict(zip(_k.BIN_FIELDS, stats, strict=True))

    speed = _ground_speed([r["ends"] for r in results])
    segment = np.arange(first, last + 1, dtype=np.int64)
    xc = (segment + 0.5) * cfg.window
    for name, period in _FILLED.items():
        out[name] = _interp_empty(xc, out[name], period=period)
    return _dataset(_derived(out, xc, ds, cfg, speed[0]), segment, ds.attrs, cfg, speed)


# ---------------------------------------------------------------------------------------------
# lazy output: the segments stay where the blocks were binned, one chunk per photon block

#: A run of finite points of a filled variable along track: first (x, value), last (x, value),
#: how many points, and the whole periods between its first and its last (see _unwrap_steps).
_Run = tuple[float, float, float, float, int, int]


def _join(a: _Run | None, b: _Run | None, period: float | None) -> _Run | None:
    """Two runs one after the other along track, as one."""
    if a is None or b is None:
        return a if b is None else b
    step = int(_unwrap_steps(np.array([a[3], b[1]]), period)[0])
    return (a[0], a[1], b[2], b[3], a[4] + b[4], a[5] + step + b[5])


def _block_meta(blocks: np.ndarray, window: float) -> dict[str, Any]:
    """What the client needs to lay out a block's segments: its bins, ground-track ends, the
    photons of its rim bins, and per filled variable its rim values and the run of finite
    points strictly inside it."""
    r = blocks[0]
    n = r["stats"][0].size
    meta: dict[str, Any] = {"b0": r["b0"], "n": n, "ends": r["ends"], "edges": r["edges"]}
    for name, period in _FILLED.items():
        v = r["stats"][_k.BIN_FIELDS.index(name)]
        inner = np.flatnonzero(np.isfinite(v[1:-1])) + 1
        run = None
        if inner.size:
            pv = v[inner]
            run = ((r["b0"] + inner[0] + 0.5) * window, pv[0], (r["b0"] + inner[-1] + 0.5) * window,
                   pv[-1], int(inner.size), int(_unwrap_steps(pv, period).sum()))  # fmt: skip
        meta[name] = {"rim": (v[0], v[-1]) if n else None, "inner": run}
    return meta


def _own_run(
    meta: dict[str, Any], name: str, skip: int, repaired: dict[int, tuple], window: float
) -> _Run | None:
    """The run of finite points of ``name`` on the bins a block owns, after cut-bin repairs."""
    b0, n, m, period = meta["b0"], meta["n"], meta[name], _FILLED[name]
    col = _k.BIN_FIELDS.index(name)

    def rim(i: int) -> _Run | None:
        v = repaired[b0 + i][col] if b0 + i in repaired else m["rim"][min(i, 1)]
        x = (b0 + i + 0.5) * window
        return (x, v, x, v, 1, 0) if np.isfinite(v) else None

    run = None if skip else rim(0)
    run = _join(run, m["inner"], period)
    if n >= 2:
        run = _join(run, rim(n - 1), period)
    return run


def _lazy_layout(metas: list[dict[str, Any]], cfg: BinningConfig) -> dict[str, Any] | None:
    """Chunks, cut-bin repairs, interpolation anchors and ground speed of a beam's segments
    from its blocks' metadata; None if the blocks overlap (input far from ordered)."""
    live = [(i, m) for i, m in enumerate(metas) if m["n"]]
    spans = [(m["b0"], m["b0"] + m["n"] - 1) for _, m in live]
    if not _ordered(spans):
        return None
    repaired = _repairs([m["edges"] for _, m in live], cfg)
    chunks: list[dict[str, Any]] = []
    pos = spans[0][0] if live else 0
    for (i, _), (b0, b1) in zip(live, spans, strict=True):
        if b1 < pos:
            continue  # all its photons fall in the bin it shares with the block before
        skip = max(pos - b0, 0)
        chunks.append({
            "block": i, "c0": pos, "size": b1 - pos + 1, "b0": b0, "skip": skip,
            # a repaired (cut) bin is a block's first or last bin; blocks do not overlap
            "repaired": {b: repaired[b] for b in {b0 + skip, b1} if b in repaired},
        })  # fmt: skip
        pos = b1 + 1
    for name, period in _FILLED.items():
        runs = [_own_run(metas[c["block"]], name, c["skip"], repaired, cfg.window) for c in chunks]
        acc: _Run | None = None
        for c, run in zip(chunks, runs, strict=True):
            c[name] = {"left": None if acc is None else (acc[2], acc[3], acc[5])}
            acc = _join(acc, run, period)
        nxt: _Run | None = None
        for c, run in zip(chunks[::-1], runs[::-1], strict=True):
            c[name]["right"] = None if nxt is None else (nxt[0], nxt[1])
            nxt = run if run is not None else nxt
        ends = None
        if acc is not None and acc[4] >= 2:
            v1 = acc[3] if period is None else acc[3] + period * np.int64(acc[5])
            v0 = acc[1] if period is None else acc[1] + period * np.int64(0)
            ends = (acc[0], v0, acc[2], v1)
        for c in chunks:
            c[name]["ends"] = ends
    return {
        "chunks": chunks,
        "first": spans[0][0] if live else 0,
        "last": spans[-1][1] if live else -1,
        "speed": _ground_speed([m["ends"] for m in metas]),
    }


def _finish_chunk(
    blocks: np.ndarray, bckgrd: xr.Dataset, spec: dict[str, Any], cfg: BinningConfig,
    speed: float,
) -> dict[str, np.ndarray]:  # fmt: skip
    """A chunk of the product's variables from one block's result and its layout."""
    r = blocks[0]
    c0, size, b0, skip = spec["c0"], spec["size"], spec["b0"], spec["skip"]
    gap = _empty_stats(b0 + skip - c0)
    stats = [np.concatenate([g, v[skip:]]) for g, v in zip(gap, r["stats"], strict=True)]
    for b, vals in spec["repaired"].items():
        for a, v in zip(stats, vals, strict=True):
            a[b - c0] = v
    out = dict(zip(_k.BIN_FIELDS, stats, strict=True))
    assert out["n_photons"].size == size
    xc = (np.arange(c0, c0 + size, dtype=np.int64) + 0.5) * cfg.window
    for name, period in _FILLED.items():
        v, at = out[name], spec[name]
        ok = np.isfinite(v)
        if ok.all():
            continue
        xs, raw, k0 = [xc[ok]], [v[ok]], 0
        if at["left"] is not None:
            xs.insert(0, [at["left"][0]])
            raw.insert(0, [at["left"][1]])
            k0 = at["left"][2]
        if at["right"] is not None:
            xs.append([at["right"][0]])
            raw.append([at["right"][1]])
        xv, vv = np.concatenate(xs), np.concatenate(raw)
        if period is not None:
            k = k0 + np.concatenate([[0], np.cumsum(_unwrap_steps(vv, period))])
            vv = vv + period * k
        _fill_between(xc, v, ~ok, xv, vv, at["ends"], period)
    return _derived(out, xc, bckgrd, cfg, speed)


def _lazy_segments(
    ds: xr.Dataset, blocks: Any, metas: list[dict[str, Any]], cfg: BinningConfig
) -> xr.Dataset:
    """The dask-backed segment Dataset of a beam whose blocks are binned (persisted)."""
    import operator

    import dask
    import dask.array as da

    layout = _lazy_layout(metas, cfg)
    if layout is None:  # blocks overlap: bin the whole beam in one block, here
        return _assemble(ds, [], cfg, whole=True).chunk()
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    # not optimized: the graph keeps the persisted blocks (futures) alive with the segments
    parts = blocks.to_delayed(optimize_graph=False).ravel()
    bckgrd = dask.delayed(ds[list(_BCKGRD_VARS)], pure=True)
    speed = layout["speed"]
    specs = layout["chunks"]
    # one task finishes a chunk of every variable; each variable's chunk is an item of it
    done = [
        dask.delayed(_finish_chunk, pure=True)(parts[spec["block"]], bckgrd, spec, cfg, speed[0])
        for spec in specs
    ]
    chunks = (tuple(spec["size"] for spec in specs),)
    token = tokenize([d.key for d in done], chunks)
    values = {}
    for name, (dtype, _, _) in _SCHEMA.items():
        if not specs:  # no photon anywhere along track
            values[name] = da.empty((0,), dtype=dtype)
            continue
        key = f"segments-{name}-{token}"
        layer = {(key, j): (operator.getitem, d.key, name) for j, d in enumerate(done)}
        graph = HighLevelGraph.from_collections(key, layer, dependencies=done)
        values[name] = da.Array(graph, key, chunks, dtype=np.dtype(dtype))
    segment = np.arange(layout["first"], layout["last"] + 1, dtype=np.int64)
    return _dataset(values, segment, ds.attrs, cfg, speed)


# ---------------------------------------------------------------------------------------------
# public


def resample(
    photons: xr.Dataset | xr.DataTree, config: BinningConfig | None = None, *, lazy: bool = False
) -> xr.Dataset | xr.DataTree:
    """Resample one beam's photons (or every beam of a granule) to the along-track grid.

    Parameters
    ----------
    photons : xarray.Dataset or xarray.DataTree
        One beam's photon Dataset (schema of ``docs/architecture.md``, numpy- or dask-backed;
        see :func:`icefb.open_atl03`), or a DataTree whose nodes holding ``h_ph`` are beams.
    config : BinningConfig, optional
        Window (m) and signal selection; default ``BinningConfig()`` (2 m, sea-ice
        confidence >= 3, quality 0).
    lazy : bool
        Return dask-backed segments (default False: numpy-backed). The photon blocks are binned
        now, on the active dask scheduler, and their results stay where they were computed (in
        the workers' memory on a distributed cluster); only their layout (bins, the photons of
        the bins cut by block edges, the rims of latitude, longitude and time) comes to the
        caller. The segments are then finished chunk by chunk (one chunk per photon block) when
        computed, persisted or written, on the workers: nothing beam-long passes through the
        caller. Computed, they equal the numpy-backed result bit for bit. The chunks follow the
        photon blocks, so their lengths differ; Zarr needs regular ones
        (``seg.chunk(segment=100_000).to_zarr(...)``). Made on a distributed cluster, they
        compute on that cluster only (their blocks live there). A numpy-backed beam gives its numpy
        result in one chunk; a beam whose blocks overlap along track (input far from ordered) is
        binned whole in this process and returned in one chunk.

    Returns
    -------
    xarray.Dataset or xarray.DataTree
        Segment Dataset on dimension ``segment`` (``floor(x_atc / window)``, contiguous, empty
        bins kept) with ``x_atc``, ``lat``, ``lon``, ``delta_time``, ``n_photons``, ``n_high``,
        ``n_shots``, ``pcnt``, ``pcnth``, ``h_mean``, ``h_median``, ``h_std``, ``h_min``,
        ``h_max``, ``h_cor_mean``, ``h_cor_median``, ``bcnt``, ``brate`` (numpy-backed unless
        ``lazy``); a DataTree of them, node by node, for a DataTree input. Dask-backed input is
        processed block by block with the active dask scheduler; the result is exact regardless
        of the chunking.

    Raises
    ------
    icefb.errors.ConfigError
        ``config`` is not a :class:`BinningConfig`.
    icefb.errors.MissingVariableError
        A photon variable of the schema is missing.
    icefb.errors.InvalidGranuleError
        ``photons`` is neither a Dataset nor a DataTree, or ``signal_conf_ph`` is malformed.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> n = 4; z = ("photon", np.zeros(n, np.float32))
    >>> ph = xr.Dataset(dict(
    ...     x_atc=("photon", [0.1, 0.5, 1.9, 4.2]), h_ph=("photon", np.float32([1, 2, 3, 9])),
    ...     signal_conf_ph=(("photon", "ds_surf_type"), np.full((n, 5), 4, np.int8)),
    ...     quality_ph=("photon", np.zeros(n, np.int8)), geoid=z, tide_ocean=z,
    ...     tide_equilibrium=z, dac=z, lat_ph=("photon", np.zeros(n)),
    ...     lon_ph=("photon", np.zeros(n)), delta_time=("photon", np.arange(n) * 1e-4),
    ...     bckgrd_delta_time=("bckgrd", [0.0]), bckgrd_counts=("bckgrd", np.int32([7])),
    ...     bckgrd_rate=("bckgrd", np.float32([1e6]))), attrs={"beam": "gt1l"})
    >>> seg = resample(ph)
    >>> seg.n_photons.values.tolist(), seg.h_median.values.tolist()
    ([3, 0, 1], [2.0, nan, 9.0])
    """
    cfg = BinningConfig() if config is None else config
    if not isinstance(cfg, BinningConfig):
        raise ConfigError(
            "resample config must be a BinningConfig", got=type(cfg).__name__,
            expected="icefb.BinningConfig(...) or None",
        )  # fmt: skip
    if isinstance(photons, xr.DataTree):
        return _resample_tree(photons, cfg, lazy=lazy)
    if not isinstance(photons, xr.Dataset):
        raise InvalidGranuleError(
            "resample takes a photon Dataset or a DataTree of beams",
            got=type(photons).__name__,
            expected="xarray.Dataset or xarray.DataTree",
        )
    [seg] = _resample_many([photons], cfg, lazy=lazy)
    return seg


def _resample_many(
    beams: list[xr.Dataset], cfg: BinningConfig, *, lazy: bool = False
) -> list[xr.Dataset]:
    """Bin several beams; all their dask blocks go to the scheduler in one compute."""
    for ds in beams:
        _check_photons(ds, cfg)
    args = (cfg.window, cfg.min_conf, cfg.high_conf, cfg.conf_column)
    on_dask = [any(_is_dask(ds[v].data) for v in _PHOTON_VARS) for ds in beams]
    if lazy:
        return _resample_lazy(beams, on_dask, cfg)
    if any(on_dask):
        import dask

        # one blockwise task per photon chunk (its variables aligned) and one assembly task per
        # beam, on the workers too: the client receives only the finished segments
        tasks = [
            dask.delayed(_assemble_blocks, pure=True)(
                ds[list(_BCKGRD_VARS)], _blockwise(ds, args), cfg
            )
            for ds in beams
        ]
        from icefb.backends.dask import compute_kwargs

        # on a distributed client the segments come straight from the worker (not relayed
        # through the scheduler, which pickles their arrays into the message: 10x slower)
        out = list(dask.compute(*tasks, **compute_kwargs()))
        for i, ds in enumerate(beams):
            if out[i] is None:  # blocks overlap: bin the whole beam here
                out[i] = _assemble(ds, [], cfg, whole=True)
        return out
    else:
        results = [
            [_run_block({v: ds[v].data for v in _PHOTON_VARS}, *args, with_edges=False)]
            for ds in beams
        ]
    return [_assemble(ds, res, cfg) for ds, res in zip(beams, results, strict=True)]


def _resample_lazy(beams: list[xr.Dataset], on_dask: list[bool], cfg: BinningConfig) -> list:
    """:func:`resample` with ``lazy=True``: bin every dask-backed beam's blocks in one persist,
    fetch their layouts in one compute, and return the beams' segments dask-backed."""
    import dask

    from icefb.backends.dask import compute_kwargs

    args = (cfg.window, cfg.min_conf, cfg.high_conf, cfg.conf_column)
    lazy_idx = [i for i, d in enumerate(on_dask) if d]
    blocks = dask.persist(*[_blockwise(beams[i], args) for i in lazy_idx])
    metas = dask.compute(
        *[[dask.delayed(_block_meta, pure=True)(p, cfg.window) for p in b.to_delayed().ravel()]
          for b in blocks],
        **compute_kwargs(),
    )  # fmt: skip
    out: list[Any] = [None] * len(beams)
    for i, b, m in zip(lazy_idx, blocks, metas, strict=True):
        out[i] = _lazy_segments(beams[i], b, list(m), cfg)
    for i, ds in enumerate(beams):
        if out[i] is None:  # numpy-backed: its in-memory result, in one chunk
            [seg] = _resample_many([ds], cfg)
            out[i] = seg.chunk()
    return out


def _blockwise(ds: xr.Dataset, args: tuple) -> Any:
    """A dask array of block results (dicts, one per photon chunk) of a dask-backed beam."""
    import dask.array as da

    data = [da.asarray(ds[v].data) for v in _PHOTON_VARS]
    chunks = data[0].chunks[0]
    pairs: list[Any] = []
    for a in data:
        a = a.rechunk({0: chunks, 1: -1} if a.ndim == 2 else {0: chunks})
        pairs += [a, "ij" if a.ndim == 2 else "i"]
    return da.blockwise(
        _run_block_arrays, "i", *pairs, params=args, with_edges=len(chunks) > 1,
        concatenate=True, adjust_chunks={"i": 1}, dtype=object, meta=np.empty((0,), object),
    )  # fmt: skip


def _assemble_blocks(
    bckgrd: xr.Dataset, blocks: np.ndarray, cfg: BinningConfig
) -> xr.Dataset | None:
    """:func:`_assemble` of a beam's block results (an object array), given its background."""
    return _assemble(bckgrd, list(blocks), cfg)


def _run_block_arrays(*arrays: np.ndarray, params: tuple, with_edges: bool) -> np.ndarray:
    """:func:`_run_block` on positional photon arrays; the result in a 1-element object array."""
    out = np.empty(1, object)
    block = dict(zip(_PHOTON_VARS, arrays, strict=True))
    out[0] = _run_block(block, *params, with_edges=with_edges)
    return out


def _resample_tree(tree: xr.DataTree, cfg: BinningConfig, *, lazy: bool = False) -> xr.DataTree:
    paths, beams = [], []
    for node in tree.subtree:
        if "h_ph" in node.data_vars:
            paths.append(node.path)
            beams.append(node.to_dataset(inherit=False))
    if not beams:
        raise InvalidGranuleError(
            "DataTree has no beam node with photons",
            path=tree.attrs.get("source_path"),
            expected="nodes holding h_ph (e.g. /gt1l)",
        )
    segs = _resample_many(beams, cfg, lazy=lazy)
    mapping: dict[str, Any] = {"/": xr.Dataset(attrs=dict(tree.attrs))}
    mapping.update(zip(paths, segs, strict=True))
    return xr.DataTree.from_dict(mapping)
