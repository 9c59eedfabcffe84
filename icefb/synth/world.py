"""A procedural 2-D sea-ice world with known truth.

The world lives in a *track frame*: ``u`` (m) along the reference ground track, ``v`` (m) across
it (positive to the left of the direction of travel), tied to a polar stereographic CRS
(EPSG:3413 north, EPSG:3031 south) by an affine map ``(x, y) = origin + u * d + v * n``.

Every property is a pure function of position, so the same functions sample the ICESat-2
ground tracks (:mod:`icefb.synth.granule`) and rasterise the Sentinel-2-like scene
(:mod:`icefb.synth.scene`): scene and granule agree exactly.

Composition, in order of precedence:

* **open-water leads** - straight strips across the track, Pareto-distributed widths (a few
  metres to kilometres), lengths 5-40 widths; a fraction are *refrozen* and carry thin ice /
  nilas (freeboard 0-0.1 m) instead of water. Open water wins where leads overlap.
* **pressure ridges** - short strips on thick ice with a triangular sail (0.3 to 3 m).
* **thick snow-covered floes** everywhere else - a smooth floe freeboard field (0.2-0.6 m) plus
  small-scale roughness whose amplitude varies from floe to floe.

Line features are generated per along-track tile from ``SeedSequence([seed, stream, tile])``
so the world does not depend on which region is asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from icefb.constants import SurfaceType
from icefb.errors import ConfigError

__all__ = ["SurfaceSample", "TrackFrame", "WorldConfig", "SeaIceWorld"]

_THICK = np.int8(SurfaceType.THICK_ICE)
_THIN = np.int8(SurfaceType.THIN_ICE)
_WATER = np.int8(SurfaceType.OPEN_WATER)

# random streams (second entry of the SeedSequence entropy)
_S_LEADS, _S_RIDGES, _S_FIELDS, _S_GEOM, _S_PHOTONS, _S_SCENE, _S_CLOUD = range(7)
_TILE_OFFSET = 2**31


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of the synthetic sea-ice world.

    Parameters
    ----------
    lead_crossings_per_km : float
        Expected number of leads (open or refrozen) a straight track crosses per km.
    lead_width_min_m, lead_width_max_m : float
        Range of the truncated Pareto lead width distribution (m).
    lead_width_alpha : float
        Pareto shape; smaller is heavier-tailed.
    lead_aspect : tuple of float
        Range of the minimum lead length / width (lengths are otherwise log-uniform from
        ``lead_length_min_m`` to 8 km, so that crossed leads keep the Pareto width law).
    lead_length_min_m, lead_length_max_m : float
        Bounds on lead length (m).
    refrozen_fraction : float
        Fraction of leads covered by thin ice / nilas.
    specular_fraction : float
        Fraction of open leads that are specular (bright, many photons per shot).
    ridge_crossings_per_km : float
        Expected ridges crossed per km of track.
    ridge_height_m : tuple of float
        (minimum, mean excess, maximum) sail height (m).
    thick_freeboard_m, thin_freeboard_m : tuple of float
        Freeboard ranges (m) of thick floes and of thin ice.
    thick_roughness_m : tuple of float
        Range of the small-scale height standard deviation on thick floes (m).
    thin_roughness_m, water_roughness_m : float
        Height standard deviation (m) of thin ice and of lead water.
    dynamic_topography_m : float
        Amplitude of the dynamic ocean topography (m), the true ``ssh`` in the corrected frame.
    band_halfwidth_m : float
        Half-width of the band around the track where features exist (m).

    Examples
    --------
    >>> WorldConfig(lead_crossings_per_km=5.0).refrozen_fraction
    0.4
    """

    lead_crossings_per_km: float = 4.0
    lead_width_min_m: float = 2.0
    lead_width_max_m: float = 3000.0
    lead_width_alpha: float = 1.0
    lead_aspect: tuple[float, float] = (3.0, 10.0)
    lead_length_min_m: float = 300.0
    lead_length_max_m: float = 30000.0
    refrozen_fraction: float = 0.4
    specular_fraction: float = 0.15
    ridge_crossings_per_km: float = 5.0
    ridge_height_m: tuple[float, float, float] = (0.3, 0.5, 2.5)
    thick_freeboard_m: tuple[float, float] = (0.2, 0.6)
    thin_freeboard_m: tuple[float, float] = (0.0, 0.1)
    thick_roughness_m: tuple[float, float] = (0.03, 0.12)
    thin_roughness_m: float = 0.008
    water_roughness_m: float = 0.01
    dynamic_topography_m: float = 0.05
    band_halfwidth_m: float = 25000.0

    def __post_init__(self) -> None:
        checks = {
            "lead_crossings_per_km": self.lead_crossings_per_km >= 0,
            "ridge_crossings_per_km": self.ridge_crossings_per_km >= 0,
            "lead_width_min_m": 0 < self.lead_width_min_m < self.lead_width_max_m,
            "lead_width_alpha": self.lead_width_alpha > 0,
            "refrozen_fraction": 0 <= self.refrozen_fraction <= 1,
            "specular_fraction": 0 <= self.specular_fraction <= 1,
            "thick_freeboard_m": self.thick_freeboard_m[0] <= self.thick_freeboard_m[1],
            "thin_freeboard_m": self.thin_freeboard_m[0] <= self.thin_freeboard_m[1],
            "band_halfwidth_m": self.band_halfwidth_m > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(
                    "invalid WorldConfig value", variable=name, got=getattr(self, name)
                )


@dataclass(frozen=True)
class TrackFrame:
    """Affine map between the track frame ``(u, v)`` and a polar stereographic CRS.

    Parameters
    ----------
    crs : str
        ``"EPSG:3413"`` (north) or ``"EPSG:3031"`` (south).
    origin_x, origin_y : float
        Projected coordinates (m) of ``u = v = 0``.
    heading_rad : float
        Direction of travel, counter-clockwise from the projected x axis (radians).
    x_atc0 : float
        Along-track distance (m, ATL03 ``x_atc``) at ``u = 0``.

    Examples
    --------
    >>> f = TrackFrame("EPSG:3413", 0.0, 0.0, 0.0, 100.0)
    >>> [float(a) for a in f.to_xy(1.0, 2.0)]
    [1.0, 2.0]
    """

    crs: str
    origin_x: float
    origin_y: float
    heading_rad: float
    x_atc0: float

    @property
    def direction(self) -> tuple[float, float]:
        """Unit vector of travel in the projected CRS."""
        return math.cos(self.heading_rad), math.sin(self.heading_rad)

    def to_xy(self, u, v):
        """Track frame (m) -> projected x, y (m)."""
        dx, dy = self.direction
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        return self.origin_x + u * dx - v * dy, self.origin_y + u * dy + v * dx

    def to_uv(self, x, y):
        """Projected x, y (m) -> track frame u, v (m)."""
        dx, dy = self.direction
        rx = np.asarray(x, dtype=np.float64) - self.origin_x
        ry = np.asarray(y, dtype=np.float64) - self.origin_y
        return rx * dx + ry * dy, -rx * dy + ry * dx


@dataclass(frozen=True)
class SurfaceSample:
    """World properties at a set of points (all arrays have the points' shape).

    ``elevation`` is the surface height above the local sea surface including small-scale
    roughness, ridges and waves (m); ``freeboard`` equals ``elevation`` on ice and 0 on water;
    ``brightness`` scales the photon return rate (1 = snow); ``ssh`` is the dynamic topography,
    i.e. the sea surface in the corrected-height frame (m).
    """

    surface_type: np.ndarray
    elevation: np.ndarray
    freeboard: np.ndarray
    brightness: np.ndarray
    ssh: np.ndarray


class _WaveField:
    """Sum of random plane waves with unit variance (vectorised, any point set)."""

    def __init__(self, rng: np.random.Generator, n: int, lam_min: float, lam_max: float):
        lam = np.exp(rng.uniform(np.log(lam_min), np.log(lam_max), n))
        theta = rng.uniform(0.0, 2 * np.pi, n)
        k = 2 * np.pi / lam
        self.kx = k * np.cos(theta)
        self.ky = k * np.sin(theta)
        self.phase = rng.uniform(0.0, 2 * np.pi, n)
        self.amp = np.full(n, math.sqrt(2.0 / n))

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        out = np.zeros(np.broadcast_shapes(u.shape, v.shape))
        for kx, ky, ph, a in zip(self.kx, self.ky, self.phase, self.amp, strict=True):
            out += a * np.cos(kx * u + ky * v + ph)
        return out


@dataclass
class _Strips:
    """Rotated rectangles (leads or ridges) with per-feature attributes."""

    uc: np.ndarray
    vc: np.ndarray
    cos: np.ndarray  # cos(phi); phi is the angle between the strip axis and the v axis
    sin: np.ndarray
    wh: np.ndarray  # half width (m)
    lh: np.ndarray  # half length (m)
    attrs: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.uc.size)

    @staticmethod
    def concat(parts: list[_Strips]) -> _Strips:
        keys = parts[0].attrs.keys() if parts else []
        cat = (lambda f: np.concatenate([getattr(p, f) for p in parts])) if parts else None
        if not parts:
            e = np.zeros(0)
            return _Strips(e, e, e, e, e, e, {})
        return _Strips(
            cat("uc"), cat("vc"), cat("cos"), cat("sin"), cat("wh"), cat("lh"),
            {k: np.concatenate([p.attrs[k] for p in parts]) for k in keys},
        )

    def pairs(self, u_sorted: np.ndarray, v_sorted: np.ndarray, v_lo: float, v_hi: float):
        """Return ``(point_index, feature_index, c)`` for every point inside a strip.

        Points must be sorted by ``u`` and have ``v`` within ``[v_lo, v_hi]``; ``c`` is the
        signed distance (m) from the strip axis.
        """
        if len(self) == 0 or u_sorted.size == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, z, np.zeros(0)
        vext = self.lh * self.cos + self.wh * np.abs(self.sin)
        sel = np.flatnonzero((self.vc - vext <= v_hi) & (self.vc + vext >= v_lo))
        if sel.size == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, z, np.zeros(0)
        pt, f, c = self.subset(sel)._pairs(u_sorted, v_sorted, v_lo, v_hi)
        return pt, sel[f], c

    def subset(self, sel: np.ndarray) -> _Strips:
        """The strips at indices (or mask) ``sel``."""
        return _Strips(self.uc[sel], self.vc[sel], self.cos[sel], self.sin[sel], self.wh[sel],
                       self.lh[sel], {k: a[sel] for k, a in self.attrs.items()})

    def _pairs(self, u_sorted, v_sorted, v_lo, v_hi):
        cos, sin = self.cos, self.sin
        vext = self.lh * cos + self.wh * np.abs(sin)
        dv_lo = np.maximum(v_lo - self.vc, -vext)
        dv_hi = np.minimum(v_hi - self.vc, vext)
        ok = dv_lo <= dv_hi
        a, b = dv_lo * sin, dv_hi * sin
        du_lo = (-self.wh + np.minimum(a, b)) / cos
        du_hi = (self.wh + np.maximum(a, b)) / cos
        uext = self.lh * np.abs(sin) + self.wh * cos
        du_lo = np.maximum(du_lo, -uext)
        du_hi = np.minimum(du_hi, uext)
        lo = np.searchsorted(u_sorted, self.uc + du_lo, side="left")
        hi = np.searchsorted(u_sorted, self.uc + du_hi, side="right")
        counts = np.where(ok, np.maximum(hi - lo, 0), 0)
        total = int(counts.sum())
        if total == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, z, np.zeros(0)
        feat = np.repeat(np.arange(len(self)), counts)
        starts = np.cumsum(counts) - counts
        pt = np.arange(total) - np.repeat(starts, counts) + np.repeat(lo, counts)
        du = u_sorted[pt] - self.uc[feat]
        dv = v_sorted[pt] - self.vc[feat]
        c = du * cos[feat] - dv * sin[feat]
        s = du * sin[feat] + dv * cos[feat]
        keep = (np.abs(c) < self.wh[feat]) & (np.abs(s) < self.lh[feat])
        return pt[keep], feat[keep], c[keep]


def _truncated_pareto(rng, n, xmin, xmax, alpha):
    q = rng.uniform(0.0, 1.0, n)
    return xmin * (1.0 - q * (1.0 - (xmin / xmax) ** alpha)) ** (-1.0 / alpha)


class SeaIceWorld:
    """The procedural sea-ice world of one seed.

    Parameters
    ----------
    seed : int
        Seed of every random choice (``np.random.SeedSequence([seed, stream, tile])``).
    frame : TrackFrame
        Placement of the track frame in the polar stereographic CRS.
    config : WorldConfig, optional
        World parameters.

    Examples
    --------
    >>> w = SeaIceWorld(1, TrackFrame("EPSG:3413", 0.0, 0.0, 0.0, 0.0))
    >>> s = w.sample(np.arange(0.0, 1000.0, 10.0), np.zeros(100))
    >>> sorted(set(s.surface_type.tolist())) <= [0, 1, 2]
    True
    """

    tile_m = 2000.0

    def __init__(self, seed: int, frame: TrackFrame, config: WorldConfig | None = None):
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError("seed must be a non-negative integer", got=seed)
        self.seed = int(seed)
        self.frame = frame
        self.config = config or WorldConfig()
        rng = self._rng(_S_FIELDS, 0)
        cfg = self.config
        self._floe = _WaveField(rng, 8, 400.0, 6000.0)
        self._floe_rough = _WaveField(rng, 5, 500.0, 5000.0)
        self._rough = _WaveField(rng, 12, 1.5, 40.0)
        self._dot = _WaveField(rng, 6, 15000.0, 150000.0)
        self._dot_offset = rng.uniform(-0.5, 0.5) * cfg.dynamic_topography_m
        # geophysical fields: (offset, linear trend per m, wave amplitude, field)
        self._geoid = (rng.uniform(-5.0, 30.0), rng.uniform(-1e-5, 1e-5), 0.6,
                       _WaveField(rng, 6, 20000.0, 300000.0))
        self._tide_ocean = (rng.uniform(-0.4, 0.4), rng.uniform(-3e-7, 3e-7), 0.1,
                            _WaveField(rng, 4, 300000.0, 3000000.0))
        self._tide_eq = (rng.uniform(-0.015, 0.015), 0.0, 0.005,
                         _WaveField(rng, 3, 1000000.0, 5000000.0))
        self._dac = (rng.uniform(-0.15, 0.15), rng.uniform(-1e-7, 1e-7), 0.04,
                     _WaveField(rng, 5, 100000.0, 1000000.0))
        self._cloud = _WaveField(self._rng(_S_CLOUD, 0), 10, 3000.0, 30000.0)
        self._lead_density = self._density(lead=True)
        self._ridge_density = self._density(lead=False)
        self._tiles: dict[int, tuple[_Strips, _Strips]] = {}

    # ------------------------------------------------------------------ randomness
    def _rng(self, stream: int, tile: int) -> np.random.Generator:
        seq = np.random.SeedSequence([self.seed, stream, tile + _TILE_OFFSET])
        return np.random.default_rng(seq)

    def rng(self, stream: str, index: int = 0) -> np.random.Generator:
        """Independent generator for a named consumer (``"photons"``, ``"scene"``, ...)."""
        ids = {"photons": _S_PHOTONS, "scene": _S_SCENE, "geometry": _S_GEOM, "cloud": _S_CLOUD}
        return self._rng(ids[stream], index)

    # ------------------------------------------------------------------ line features
    def _draw_leads(self, rng, n):
        cfg = self.config
        w = _truncated_pareto(rng, n, cfg.lead_width_min_m, cfg.lead_width_max_m,
                              cfg.lead_width_alpha)
        # lengths mostly independent of width so crossed leads keep the Pareto width law
        base = np.exp(rng.uniform(np.log(cfg.lead_length_min_m), np.log(8000.0), n))
        length = np.clip(np.maximum(w * rng.uniform(*cfg.lead_aspect, n), base),
                         cfg.lead_length_min_m, cfg.lead_length_max_m)
        phi = rng.uniform(-np.pi / 3, np.pi / 3, n)
        return w, length, phi

    def _draw_ridges(self, rng, n):
        hmin, hmean, hmax = self.config.ridge_height_m
        h = np.minimum(hmin + rng.exponential(hmean, n), hmax)
        w = 2 * 2.5 * h  # sail slopes of about 22 degrees
        length = rng.uniform(30.0, 400.0, n)
        phi = rng.uniform(-np.pi * 7 / 18, np.pi * 7 / 18, n)
        return w, length, phi, h

    def _density(self, lead: bool) -> float:
        """Features per m^2 so that a straight track crosses the configured number per km."""
        rng = np.random.default_rng(987654321)
        if lead:
            _, length, phi = self._draw_leads(rng, 200000)
            per_km = self.config.lead_crossings_per_km
        else:
            _, length, phi, _ = self._draw_ridges(rng, 200000)
            per_km = self.config.ridge_crossings_per_km
        return per_km / 1000.0 / float(np.mean(length * np.cos(phi)))

    def _tile(self, k: int) -> tuple[_Strips, _Strips]:
        got = self._tiles.get(k)
        if got is not None:
            return got
        cfg = self.config
        T, V = self.tile_m, cfg.band_halfwidth_m
        rng = self._rng(_S_LEADS, k)
        n = rng.poisson(self._lead_density * T * 2 * V)
        w, length, phi = self._draw_leads(rng, n)
        uc = k * T + rng.uniform(0, T, n)
        vc = rng.uniform(-V, V, n)
        refrozen = rng.uniform(size=n) < cfg.refrozen_fraction
        specular = (~refrozen) & (rng.uniform(size=n) < cfg.specular_fraction)
        thin_fb = rng.uniform(*cfg.thin_freeboard_m, n)
        thin_bright = rng.uniform(0.0, 1.0, n)
        leads = _Strips(uc, vc, np.cos(phi), np.sin(phi), w / 2, length / 2, {
            "state": np.where(refrozen, 1, 2).astype(np.int8),
            "thin_fb": thin_fb,
            "specular": specular,
            "thin_bright": thin_bright,
        })
        rng = self._rng(_S_RIDGES, k)
        n = rng.poisson(self._ridge_density * T * 2 * V)
        w, length, phi, h = self._draw_ridges(rng, n)
        uc = k * T + rng.uniform(0, T, n)
        vc = rng.uniform(-V, V, n)
        ridges = _Strips(uc, vc, np.cos(phi), np.sin(phi), w / 2, length / 2, {"height": h})
        if len(self._tiles) > 4096:
            self._tiles.clear()
        self._tiles[k] = (leads, ridges)
        return leads, ridges

    def features(self, u_min: float, u_max: float) -> tuple[_Strips, _Strips]:
        """Leads and ridges that can touch ``u_min <= u <= u_max``."""
        reach = self.config.lead_length_max_m / 2 + self.config.lead_width_max_m
        k0 = math.floor((u_min - reach) / self.tile_m)
        k1 = math.floor((u_max + reach) / self.tile_m)
        parts = [self._tile(k) for k in range(k0, k1 + 1)]
        leads = _Strips.concat([p[0] for p in parts])
        ridges = _Strips.concat([p[1] for p in parts])
        if len(ridges):
            ridges = ridges.subset((ridges.uc > u_min - 400.0) & (ridges.uc < u_max + 400.0))
        return leads, ridges

    # ------------------------------------------------------------------ sampling
    def sample(self, u, v, *, heights: bool = True, chunk: int = 400_000,
               band_m: float = 50.0) -> SurfaceSample:
        """World properties at track-frame points ``(u, v)`` (m).

        Parameters
        ----------
        u, v : array_like
            Along- and across-track coordinates (m), same shape.
        heights : bool
            If false, skip the height fields (faster; ``surface_type``, ``brightness`` and
            the thin-ice freeboard are exact, ``elevation`` of thick ice is ridges only and
            ``ssh`` is NaN).
        chunk : int
            Points handled at once (bounds memory).
        band_m : float
            Points are processed in bands of this many metres across track.

        Returns
        -------
        SurfaceSample
        """
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        shape = np.broadcast_shapes(u.shape, v.shape)
        u = np.broadcast_to(u, shape).ravel()
        v = np.broadcast_to(v, shape).ravel()
        n = u.size
        cfg = self.config
        stype = np.full(n, _THICK, dtype=np.int8)
        lead_state = np.zeros(n, dtype=np.int8)
        thin_fb = np.zeros(n)
        thin_bright = np.zeros(n)
        specular = np.zeros(n, dtype=bool)
        ridge = np.zeros(n)
        if n:
            order_v = np.argsort(v, kind="stable")
            vs_all = v[order_v]
            leads, ridges = self.features(float(u.min()), float(u.max()))
            vlo_all, vhi_all = float(vs_all[0]), float(vs_all[-1])
            for name, strips in (("leads", leads), ("ridges", ridges)):
                if len(strips):
                    vext = strips.lh * strips.cos + strips.wh * np.abs(strips.sin)
                    keep = (strips.vc - vext <= vhi_all) & (strips.vc + vext >= vlo_all)
                    if name == "leads":
                        leads = strips.subset(keep)
                    else:
                        ridges = strips.subset(keep)
            # narrow bands of v keep the candidate pairs of slanted strips few
            edges = np.arange(math.floor(vs_all[0] / band_m) * band_m, vs_all[-1] + band_m,
                              band_m)
            cuts = np.searchsorted(vs_all, edges[1:-1], side="left")
            bounds = np.unique(np.concatenate([[0], cuts, np.arange(0, n, chunk), [n]]))
            for s, e in zip(bounds[:-1], bounds[1:], strict=True):
                idx = order_v[s:e]
                ord_u = np.argsort(u[idx], kind="stable")
                idx = idx[ord_u]
                us, vs = u[idx], v[idx]
                vlo, vhi = float(vs.min()), float(vs.max())
                pt, f, _ = leads.pairs(us, vs, vlo, vhi)
                if pt.size:
                    gi = idx[pt]
                    st = leads.attrs["state"][f]
                    np.maximum.at(lead_state, gi, st)
                    thin = st == 1
                    thin_fb[gi[thin]] = leads.attrs["thin_fb"][f[thin]]
                    thin_bright[gi[thin]] = leads.attrs["thin_bright"][f[thin]]
                    wat = ~thin
                    specular[gi[wat]] |= leads.attrs["specular"][f[wat]]
                pt, f, c = ridges.pairs(us, vs, vlo, vhi)
                if pt.size:
                    prof = ridges.attrs["height"][f] * (1.0 - np.abs(c) / ridges.wh[f])
                    np.maximum.at(ridge, idx[pt], prof)
        stype[lead_state == 1] = _THIN
        stype[lead_state == 2] = _WATER
        is_thin = stype == _THIN
        is_water = stype == _WATER
        bright = np.where(
            is_water, np.where(specular, 2.0, 0.12),
            np.where(is_thin, 0.25 + 0.35 * thin_bright + 3.0 * thin_fb, 1.0),
        )
        if not heights:
            elev = np.where(is_water, 0.0, np.where(is_thin, thin_fb, ridge))
            return SurfaceSample(
                surface_type=stype.reshape(shape), elevation=elev.reshape(shape),
                freeboard=elev.reshape(shape), brightness=bright.reshape(shape),
                ssh=np.full(shape, np.nan),
            )
        r = self._rough(u, v)
        lo, hi = cfg.thick_freeboard_m
        floe = lo + (hi - lo) * np.clip(0.5 + 0.3 * self._floe(u, v), 0.0, 1.0)
        rlo, rhi = cfg.thick_roughness_m
        rough_amp = rlo + (rhi - rlo) * np.clip(0.5 + 0.35 * self._floe_rough(u, v), 0.0, 1.0)
        thick_el = np.maximum(floe + ridge + rough_amp * r, 0.02)
        thin_el = np.maximum(thin_fb + cfg.thin_roughness_m * r, 0.0)
        water_el = cfg.water_roughness_m * r
        elev = np.where(is_water, water_el, np.where(is_thin, thin_el, thick_el))
        fb = np.where(is_water, 0.0, elev)
        return SurfaceSample(
            surface_type=stype.reshape(shape),
            elevation=elev.reshape(shape),
            freeboard=fb.reshape(shape),
            brightness=bright.reshape(shape),
            ssh=self.dynamic_topography(u, v).reshape(shape),
        )

    # ------------------------------------------------------------------ sea surface
    def dynamic_topography(self, u, v) -> np.ndarray:
        """True sea surface in the corrected frame (m): dynamic ocean topography."""
        return self._dot_offset + self.config.dynamic_topography_m * 0.5 * self._dot(u, v)

    def _smooth(self, spec, u, v):
        off, slope, amp, field = spec
        u = np.asarray(u, dtype=np.float64)
        return off + slope * u + amp * field(u, v)

    def geophysical(self, u, v) -> dict[str, np.ndarray]:
        """Geoid, ocean tide, equilibrium tide and DAC (m) at track-frame points.

        The true sea surface above WGS84 is ``geoid + tide_ocean + tide_equilibrium + dac +
        dynamic_topography``.
        """
        return {
            "geoid": self._smooth(self._geoid, u, v),
            "tide_ocean": self._smooth(self._tide_ocean, u, v),
            "tide_equilibrium": self._smooth(self._tide_eq, u, v),
            "dac": self._smooth(self._dac, u, v),
        }

    def ssh_ellipsoid(self, u, v) -> np.ndarray:
        """True sea surface height above WGS84 (m)."""
        g = self.geophysical(u, v)
        return (g["geoid"] + g["tide_ocean"] + g["tide_equilibrium"] + g["dac"]
                + self.dynamic_topography(u, v))

    def cloud_transmission(self, u, v, cloud_fraction: float) -> np.ndarray:
        """Two-way transmission (0-1) of atmospheric cloud at the granule time.

        About ``cloud_fraction`` of the area is under cloud; inside, transmission falls from 0.6
        at the cloud edge to 0.01 in the core.
        """
        if not 0.0 <= cloud_fraction <= 1.0:
            raise ConfigError("cloud_fraction must be in [0, 1]", got=cloud_fraction)
        c = self._cloud(u, v)
        if cloud_fraction <= 0.0:
            return np.ones_like(c)
        if cloud_fraction >= 1.0:
            q = -np.inf
        else:
            q = NormalDist().inv_cdf(1.0 - cloud_fraction)
        depth = np.clip(c - q, 0.0, None)
        return np.where(c > q, 0.6 * np.exp(-6.0 * depth), 1.0)


def hemisphere_crs(hemisphere: Literal["north", "south"]) -> str:
    """Polar stereographic CRS of a hemisphere.

    Examples
    --------
    >>> hemisphere_crs("south")
    'EPSG:3031'
    """
    if hemisphere == "north":
        return "EPSG:3413"
    if hemisphere == "south":
        return "EPSG:3031"
    raise ConfigError("hemisphere must be 'north' or 'south'", got=hemisphere)
