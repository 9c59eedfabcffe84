"""Synthetic ATL03 granules sampled from :class:`icefb.synth.world.SeaIceWorld`.

The photon model, per beam and per 10 kHz shot:

* signal photons: Poisson with mean ``rate * brightness * cloud transmission`` (thinning of a
  Poisson process at the surface brightness of each photon's hit point); each photon hits the
  surface at a point drawn from the ~11 m footprint (Gaussian, sigma 2.75 m along track) but is
  reported at the footprint centre, as ATL03 does; height = true surface + instrument noise;
* background photons: Poisson, uniform over the telemetry window, at a rate set by the solar
  elevation and the surface albedo;
* afterpulses: a few per mille of the signal (more on specular water) 0.3-4.5 m below the
  surface, flagged ``quality_ph = 1``;
* ``signal_conf_ph`` column 2 (sea ice) from the local photon density against the known
  background in 10 m x 0.6 m cells, so dense noise next to the surface is confident and sparse
  signal (dark leads, cloud) is not.

Heights are above WGS84 and include geoid, ocean and equilibrium tides, DAC and the dynamic
topography; the first four are written to ``geophys_corr`` (20 m rate, with some fill values).
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from icefb.constants import (
    ATL03_FILL_VALUE,
    ATLAS_SDP_EPOCH,
    ATLAS_SDP_GPS_EPOCH_SECONDS,
    BEAMS,
    SHOT_RATE_HZ,
    SurfaceType,
)
from icefb.errors import ConfigError
from icefb.io.atl03 import TRUTH_SIDECAR_SUFFIX
from icefb.synth import _h5
from icefb.synth.world import SeaIceWorld, TrackFrame, WorldConfig, hemisphere_crs

__all__ = ["GranuleConfig", "make_granule", "beam_layout", "truth_path"]

C_LIGHT = 299792458.0
SEGMENT_LENGTH_M = 20.0
BCKGRD_SHOTS = 50
_BLOCK_M = 20000.0  # along-track generation block (multiple of 20 m segments and 10 m cells)
_CELL_M = 10.0
_CELL_H = 0.6


@dataclass(frozen=True)
class GranuleConfig:
    """Instrument and acquisition parameters of a synthetic granule.

    Parameters
    ----------
    shot_spacing_m : float
        Along-track distance between laser shots (m); ground speed is this times 10 kHz.
    strong_rate : float
        Mean signal photons per shot of a strong beam on bright snow in clear sky.
    weak_ratio : float
        Weak-beam signal (and background) relative to a strong beam.
    footprint_sigma_m : float
        Gaussian sigma of the photon hit point around the footprint centre (m).
    height_noise_m : float
        Instrument (pulse width) height noise (m).
    telemetry_height_m : float
        Height of the telemetry window (m).
    background_day_hz, background_night_hz : float
        Strong-beam background rates (counts/s) with the sun at zenith over snow and at night.
    solar_elevation_deg : tuple of float
        Solar elevation at the start and end of the granule (degrees).
    afterpulse_prob, afterpulse_prob_specular : float
        Afterpulses per signal photon on ordinary and on specular surfaces.
    gaps_per_km : float
        Telemetry gaps per km of track (photon-free stretches, giving empty 20 m segments).
    gap_length_m : tuple of float
        Range of gap lengths (m).
    geophys_fill_fraction : float
        Fraction of 20 m segments whose geophysical corrections are the fill value.
    cloud_fraction : float
        Fraction of the track under (atmospheric) cloud at the granule time.

    Examples
    --------
    >>> GranuleConfig().ground_speed
    7000.0
    """

    shot_spacing_m: float = 0.7
    strong_rate: float = 3.0
    weak_ratio: float = 0.25
    footprint_sigma_m: float = 2.75
    height_noise_m: float = 0.09
    telemetry_height_m: float = 30.0
    background_day_hz: float = 1.0e7
    background_night_hz: float = 5.0e4
    solar_elevation_deg: tuple[float, float] = (-2.0, 12.0)
    afterpulse_prob: float = 0.002
    afterpulse_prob_specular: float = 0.03
    gaps_per_km: float = 0.1
    gap_length_m: tuple[float, float] = (40.0, 400.0)
    geophys_fill_fraction: float = 0.01
    cloud_fraction: float = 0.05

    @property
    def ground_speed(self) -> float:
        """Ground-track speed (m/s)."""
        return round(self.shot_spacing_m * SHOT_RATE_HZ, 9)

    def __post_init__(self) -> None:
        positive = ("shot_spacing_m", "strong_rate", "footprint_sigma_m", "telemetry_height_m")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError("must be positive", variable=name, got=getattr(self, name))
        for name in ("weak_ratio", "geophys_fill_fraction", "cloud_fraction",
                     "afterpulse_prob", "afterpulse_prob_specular"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError("must be in [0, 1]", variable=name, got=getattr(self, name))


def beam_layout(sc_orient: int) -> dict[str, dict[str, object]]:
    """Across-track offset, strength and spot number of each beam.

    Beams are numbered left to right in the direction of travel; pairs are 3.3 km apart and
    the two beams of a pair 90 m apart. Backward orientation (0): strong beams are ``gt*l``;
    forward (1): ``gt*r``.

    Examples
    --------
    >>> beam_layout(0)["gt1l"]["atlas_beam_type"]
    'strong'
    >>> beam_layout(1)["gt1r"]["atlas_spot_number"]
    '5'
    """
    if sc_orient not in (0, 1):
        raise ConfigError("sc_orient must be 0 (backward) or 1 (forward)", got=sc_orient)
    out = {}
    for i, beam in enumerate(BEAMS):
        pair = i // 2
        left = beam.endswith("l")
        v = (1 - pair) * 3300.0 + (45.0 if left else -45.0)
        strong = left if sc_orient == 0 else not left
        spot = i + 1 if sc_orient == 0 else 6 - i
        out[beam] = {
            "v": v,
            "atlas_beam_type": "strong" if strong else "weak",
            "atlas_spot_number": str(spot),
            "sc_orientation": "Backward" if sc_orient == 0 else "Forward",
        }
    return out


def truth_path(granule_path: str | os.PathLike[str]) -> Path:
    """Path of the truth sidecar written beside a synthetic granule.

    Examples
    --------
    >>> truth_path("/data/ATL03_x.h5").name
    'ATL03_x.h5.truth.h5'
    """
    p = Path(granule_path)
    return p.with_name(p.name + TRUTH_SIDECAR_SUFFIX)


def _delta_time(start_time: str) -> float:
    t = np.datetime64(start_time, "ns")
    return float((t - ATLAS_SDP_EPOCH) / np.timedelta64(1, "ns")) * 1e-9


def _utc(delta_time: float) -> str:
    t = ATLAS_SDP_EPOCH + np.timedelta64(int(round(delta_time * 1e6)), "us")
    return str(t.astype("datetime64[us]")) + "Z"


def _frame_for(seed: int, hemisphere: str) -> TrackFrame:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    crs = hemisphere_crs(hemisphere)  # type: ignore[arg-type]
    if hemisphere == "north":
        r = rng.uniform(600e3, 1000e3)
        x_atc0 = 9.0e6 + rng.uniform(0, 5e5)
    else:
        r = rng.uniform(1400e3, 2000e3)
        x_atc0 = 3.0e7 + rng.uniform(0, 5e5)
    az = rng.uniform(0, 2 * np.pi)
    heading = rng.uniform(0, 2 * np.pi)
    return TrackFrame(crs, r * math.cos(az), r * math.sin(az), heading, round(x_atc0, 3))


def _signal_conf(shot_u, h, bg_per_shot_m, cell_shots):
    """Sea-ice confidence (0-4) from photon density in 10 m x 0.6 m cells (two staggers)."""
    cu = np.floor(shot_u / _CELL_M).astype(np.int64)
    best = np.full(h.size, -np.inf)
    lam = np.maximum(bg_per_shot_m * _CELL_H * cell_shots, 1e-3)
    for off in (0.0, 0.5):
        ch = np.floor(h / _CELL_H + off).astype(np.int64)
        key = cu * 1_000_003 + ch
        _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        n = cnt[inv]
        z = (n - lam) / np.sqrt(lam + 0.5)
        best = np.maximum(best, z)
    conf = np.zeros(h.size, dtype=np.int8)
    for thr, level in ((1.5, 1), (2.5, 2), (4.0, 3), (6.0, 4)):
        conf[best >= thr] = level
    return conf


class _BeamBlock:
    """Photons of one beam over one along-track block (all arrays per photon)."""

    def __init__(self, **arrays):
        self.__dict__.update(arrays)


def _gaps(world: SeaIceWorld, beam_index: int, length_m: float, cfg: GranuleConfig):
    rng = world.rng("geometry", 1000 + beam_index)
    n = rng.poisson(cfg.gaps_per_km * length_m / 1000.0)
    starts = rng.uniform(0, length_m, n)
    lens = rng.uniform(*cfg.gap_length_m, n)
    return np.sort(starts), lens[np.argsort(starts)]


def _in_gaps(u, gstart, glen):
    if gstart.size == 0:
        return np.zeros(u.shape, dtype=bool)
    k = np.searchsorted(gstart, u, side="right") - 1
    ok = k >= 0
    out = np.zeros(u.shape, dtype=bool)
    out[ok] = u[ok] < gstart[k[ok]] + glen[k[ok]]
    return out


def _solar_elevation(u, length_m, cfg):
    e0, e1 = cfg.solar_elevation_deg
    return e0 + (e1 - e0) * np.asarray(u) / max(length_m, 1.0)


def _simulate_block(world, beam_index, v, strong, u0, u1, length_m, cfg, gaps):
    """Generate photons for shots with ``u0 <= u < u1`` (vectorised)."""
    sp = cfg.shot_spacing_m
    i0 = math.ceil(u0 / sp - 1e-9)
    i1 = min(math.ceil(u1 / sp - 1e-9), math.ceil(length_m / sp - 1e-9))
    shots = np.arange(i0, max(i1, i0), dtype=np.int64)
    rng = world.rng("photons", beam_index * 100_000 + int(round(u0 / _BLOCK_M)))
    su = shots * sp
    ratio = 1.0 if strong else cfg.weak_ratio
    trans = world.cloud_transmission(su, np.full(su.size, v), cfg.cloud_fraction)
    # signal: thinning of a Poisson process at rate strong_rate * ratio * transmission
    lam = cfg.strong_rate * ratio * trans
    ncand = rng.poisson(lam)
    c_shot = np.repeat(np.arange(su.size), ncand)
    u_hit = su[c_shot] + rng.normal(0.0, cfg.footprint_sigma_m, c_shot.size)
    s = world.sample(u_hit, np.full(u_hit.size, v))
    b = s.brightness
    accept = rng.uniform(size=b.size) < np.minimum(b, 1.0)
    extra = np.where(accept & (b > 1.0), rng.poisson(np.maximum(b - 1.0, 0.0)), 0)
    rep = accept.astype(np.int64) + extra
    sig_idx = np.repeat(np.arange(b.size), rep)
    sig_shot = c_shot[sig_idx]
    u_sig = u_hit[sig_idx]
    # sea surface above the ellipsoid on a 5 m grid, interpolated (fields vary over >= 15 km)
    gu = np.arange(math.floor(u0 / 5.0) * 5.0 - 20.0, u1 + 25.0, 5.0)
    ssh_g = world.ssh_ellipsoid(gu, np.full(gu.size, v))
    true_h = np.interp(u_sig, gu, ssh_g) + s.elevation[sig_idx]
    h_sig = true_h + rng.normal(0.0, cfg.height_noise_m, sig_idx.size)
    type_sig = s.surface_type[sig_idx]
    # afterpulses below bright returns
    p_ap = np.where(b[sig_idx] > 1.0, cfg.afterpulse_prob_specular, cfg.afterpulse_prob)
    ap = rng.uniform(size=sig_idx.size) < p_ap
    ap_shot = sig_shot[ap]
    h_ap = h_sig[ap] - rng.uniform(0.3, 4.5, ap_shot.size)
    # background over the telemetry window; rate from sun and local albedo (50-shot blocks)
    blk = shots // BCKGRD_SHOTS
    ublk, blk_inv = np.unique(blk, return_inverse=True)
    alb_sum = np.bincount(blk_inv[c_shot], weights=np.minimum(b, 1.0), minlength=ublk.size)
    alb_n = np.bincount(blk_inv[c_shot], minlength=ublk.size)
    albedo = np.where(alb_n > 0, alb_sum / np.maximum(alb_n, 1), 0.8)
    albedo = np.clip(albedo, 0.1, 1.0)
    ublk_u = ublk * BCKGRD_SHOTS * sp
    sun = np.sin(np.radians(np.clip(_solar_elevation(ublk_u, length_m, cfg), 0.0, 90.0)))
    rate_blk = ratio * (cfg.background_night_hz + cfg.background_day_hz * sun * albedo)
    H = cfg.telemetry_height_m
    top_blk = np.interp(ublk_u, gu, ssh_g) + 0.5 * H + 5.0
    top_blk = np.round(top_blk, 1)
    lam_bg = rate_blk[blk_inv] * 2.0 * H / C_LIGHT
    nbg = rng.poisson(lam_bg)
    bg_shot = np.repeat(np.arange(su.size), nbg)
    h_bg = top_blk[blk_inv[bg_shot]] - rng.uniform(0.0, H, bg_shot.size)
    # assemble
    shot_idx = np.concatenate([sig_shot, bg_shot, ap_shot])
    h = np.concatenate([h_sig, h_bg, h_ap])
    kind = np.concatenate([np.zeros(sig_shot.size, np.int8), np.ones(bg_shot.size, np.int8),
                           np.full(ap_shot.size, 2, np.int8)])
    stype = np.concatenate([type_sig, np.full(bg_shot.size + ap_shot.size, -1, np.int8)])
    th = np.concatenate([true_h, np.full(bg_shot.size + ap_shot.size, np.nan)])
    keep = ~_in_gaps(su[shot_idx], *gaps)
    shot_idx, h, kind, stype, th = shot_idx[keep], h[keep], kind[keep], stype[keep], th[keep]
    order = np.lexsort((-h, shot_idx))
    shot_idx, h, kind, stype, th = (a[order] for a in (shot_idx, h, kind, stype, th))
    bg_m = rate_blk[blk_inv[shot_idx]] * 2.0 / C_LIGHT  # background photons per shot per m
    conf = _signal_conf(su[shot_idx], h, bg_m, _CELL_M / sp)
    weight = np.clip(conf.astype(np.int16) * 60 + rng.integers(0, 15, conf.size), 0, 255)
    bck = {
        "shot0": ublk * BCKGRD_SHOTS,
        "rate": rate_blk,
        "top": top_blk,
        "albedo": albedo,
    }
    return _BeamBlock(
        shot=shots[shot_idx], h=h.astype(np.float32), kind=kind, surface_type=stype,
        true_height=th, conf=conf, weight=weight.astype(np.uint8), bck=bck,
        n_shots=su.size, gu=gu, ssh_g=ssh_g,
    )


def make_granule(
    path: str | os.PathLike[str],
    *,
    seed: int,
    length_km: float = 10.0,
    hemisphere: Literal["north", "south"] = "north",
    sc_orient: int = 0,
    start_time: str = "2019-02-22T00:45:00",
    beams: tuple[str, ...] = BEAMS,
    config: GranuleConfig | None = None,
    world_config: WorldConfig | None = None,
    attr_encoding: Literal["bytes", "str", "object"] = "bytes",
    compression_level: int = 1,
    truth_subsamples: int = 4,
) -> Path:
    """Write a synthetic ATL03 granule (HDF5) and its truth sidecar.

    Parameters
    ----------
    path : path-like
        Output HDF5 file (overwritten). The truth goes to :func:`truth_path` of it.
    seed : int
        Seed of the world and of the photon draws; the same seed gives the same bytes.
    length_km : float
        Along-track length (km); 3200 km is a full 461 s granule.
    hemisphere : {"north", "south"}
        Arctic (EPSG:3413) or Antarctic (EPSG:3031) world.
    sc_orient : {0, 1}
        Spacecraft orientation: 0 backward (strong beams ``gt*l``), 1 forward (``gt*r``).
    start_time : str
        UTC time of the first shot (ISO 8601).
    beams : tuple of str
        Beams to write (default all six).
    config : GranuleConfig, optional
        Instrument and acquisition parameters.
    world_config : WorldConfig, optional
        Parameters of the sea-ice world.
    attr_encoding : {"bytes", "str", "object"}
        How string attributes are stored: NASA fixed-length bytes, variable-length str, or
        1-element object arrays (as in files rewritten by other tools).
    compression_level : int
        gzip level of the datasets (1 is fast; NASA uses higher).
    truth_subsamples : int
        Points per 2 m bin used for the true mean freeboard.

    Returns
    -------
    pathlib.Path
        The granule path.

    Raises
    ------
    ConfigError
        If a parameter is out of range.

    Examples
    --------
    >>> import tempfile, os, h5py
    >>> d = tempfile.mkdtemp()
    >>> p = make_granule(os.path.join(d, "g.h5"), seed=1, length_km=0.5)
    >>> with h5py.File(p) as f:
    ...     f["gt1l"].attrs["atlas_beam_type"]
    np.bytes_(b'strong')
    """
    cfg = config or GranuleConfig()
    if not (isinstance(length_km, (int, float)) and 0 < length_km <= 5000):
        raise ConfigError("length_km must be in (0, 5000]", got=length_km)
    bad = [b for b in beams if b not in BEAMS]
    if bad or not beams:
        raise ConfigError("unknown beam", got=bad or beams, expected=list(BEAMS))
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("seed must be a non-negative integer", got=seed)
    if truth_subsamples < 1:
        raise ConfigError("truth_subsamples must be >= 1", got=truth_subsamples)
    layout = beam_layout(sc_orient)
    frame = _frame_for(int(seed), hemisphere)
    world = SeaIceWorld(int(seed), frame, world_config)
    length_m = float(length_km) * 1000.0
    t0 = _delta_time(start_time)
    speed = cfg.ground_speed
    path = Path(path)
    from pyproj import Transformer

    to_ll = Transformer.from_crs(frame.crs, "EPSG:4326", always_xy=True)
    tpath = truth_path(path)
    n_seg = math.ceil(length_m / SEGMENT_LENGTH_M - 1e-9)
    seg_u = np.arange(n_seg) * SEGMENT_LENGTH_M
    seg_x = frame.x_atc0 + seg_u
    seg_id = (np.round(seg_x / SEGMENT_LENGTH_M)).astype(np.int32) + 1
    t_end = t0 + length_m / speed
    enc = attr_encoding
    meta = _granule_meta(seed, path.name, frame, t0, t_end, sc_orient, world, length_m)
    with _h5.Writer(path, enc, compression_level) as w, \
            _h5.Writer(tpath, "str", compression_level) as wt:
        w.attrs(w.f, meta["root"])
        wt.attrs(wt.f, {
            "seed": int(seed), "crs": frame.crs, "origin_x": frame.origin_x,
            "origin_y": frame.origin_y, "heading_rad": frame.heading_rad,
            "x_atc0": frame.x_atc0, "length_m": length_m, "t0": t0, "ground_speed": speed,
            "hemisphere": hemisphere, "sc_orient": int(sc_orient),
            "world_config": repr(asdict(world.config)), "granule": path.name,
        })
        _write_ancillary(w, meta)
        for bi, beam in enumerate(BEAMS):
            if beam not in beams:
                continue
            lay = layout[beam]
            _write_beam(w, wt, world, beam, bi, lay, cfg, length_m, t0, speed, seg_u, seg_x,
                        seg_id, to_ll, truth_subsamples)
    return path


def _granule_meta(seed, name, frame, t0, t_end, sc_orient, world, length_m):
    uid = str(uuid.UUID(hashlib.md5(f"icefb-synth-{seed}-{name}".encode()).hexdigest()))
    start, end = _utc(t0), _utc(t_end)
    rgt = int(seed % 1387) + 1
    root = {
        "Conventions": "CF-1.6",
        "short_name": "ATL03",
        "granule_type": "ATL03",
        "identifier_product_type": "ATL03",
        "identifier_product_format_version": "6.0",
        "identifier_file_uuid": uid,
        "level": "L2",
        "title": "SET_BY_META",
        "featureType": "trajectory",
        "date_created": start,
        "time_coverage_start": start,
        "time_coverage_end": end,
        "time_type": "CCSDS UTC-A",
        "description": "Synthetic ATL03-layout granule written by icefb.synth "
                       f"(seed {seed}); truth in {name}.truth.h5",
        "history": f"{start};{uid};Created by icefb.synth",
        "source": "icefb.synth (synthetic, not NASA data)",
        "summary": "Synthetic geolocated photons over a procedural sea-ice world.",
        "processing_level": "2A",
    }
    return {"root": root, "start": start, "end": end, "t0": t0, "t_end": t_end, "rgt": rgt,
            "cycle": 2, "sc_orient": sc_orient, "uid": uid}


def _write_ancillary(w, meta):
    A = "ancillary_data/"
    aux = {"contentType": "auxiliaryInformation"}
    w.group("ancillary_data", {"Description": "Contains information ancillary to the data "
                               "product."})
    w.dataset(A + "atlas_sdp_gps_epoch", np.array([ATLAS_SDP_GPS_EPOCH_SECONDS]), chunk=None,
              attrs={**aux, "units": "seconds since 1980-01-06T00:00:00.000000Z",
                     "long_name": "ATLAS Epoch Offset",
                     "description": "Number of GPS seconds between the GPS epoch and the ATLAS "
                                    "SDP epoch (2018-01-01T00:00:00 UTC)."})
    for k, v in (("data_start_utc", meta["start"]), ("data_end_utc", meta["end"]),
                 ("granule_start_utc", meta["start"]), ("granule_end_utc", meta["end"])):
        w.dataset(A + k, np.array([v[:27].encode()], dtype="S27"), chunk=None,
                  attrs={**aux, "units": "1"})
    w.dataset(A + "start_delta_time", np.array([meta["t0"]]), chunk=None,
              attrs={**aux, "units": "seconds since 2018-01-01"})
    w.dataset(A + "end_delta_time", np.array([meta["t_end"]]), chunk=None,
              attrs={**aux, "units": "seconds since 2018-01-01"})
    for k, v in (("start_rgt", meta["rgt"]), ("end_rgt", meta["rgt"]),
                 ("start_cycle", meta["cycle"]), ("end_cycle", meta["cycle"])):
        w.dataset(A + k, np.array([v], dtype=np.int32), chunk=None, attrs={**aux, "units": "1"})
    w.dataset(A + "release", np.array([b"006"], dtype="S80"), chunk=None, attrs=aux)
    w.dataset(A + "version", np.array([b"006"], dtype="S80"), chunk=None, attrs=aux)
    orb = "orbit_info/"
    w.group("orbit_info", {"Description": "Contains data that are common among all beams for "
                           "the granule.",
                           "data_rate": "These parameters are constant for a given granule."})
    ref = {"contentType": "referenceInformation"}
    w.dataset(orb + "sc_orient", np.array([meta["sc_orient"]], dtype=np.int8), chunk=16,
              attrs={**ref, "units": "1", "flag_values": np.array([0, 1, 2], dtype=np.int8),
                     "flag_meanings": "backward forward transition",
                     "long_name": "Spacecraft Orientation"})
    w.dataset(orb + "sc_orient_time", np.array([meta["t0"] - 86400.0]), chunk=16,
              attrs={**ref, "units": "seconds since 2018-01-01"})
    w.dataset(orb + "rgt", np.array([meta["rgt"]], dtype=np.int16), chunk=16,
              attrs={**ref, "units": "1"})
    w.dataset(orb + "cycle_number", np.array([meta["cycle"]], dtype=np.int8), chunk=16,
              attrs={**ref, "units": "1"})
    w.dataset(orb + "orbit_number", np.array([meta["rgt"] + 1387 * meta["cycle"]],
                                           dtype=np.uint16), chunk=16,
              attrs={**ref, "units": "1"})
    w.dataset(orb + "crossing_time", np.array([meta["t0"] - 1200.0]), chunk=16,
              attrs={**ref, "units": "seconds since 2018-01-01"})
    w.dataset(orb + "lan", np.array([float(meta["rgt"] * 0.2596 % 360.0)]), chunk=16,
              attrs={**ref, "units": "degrees_east"})


def _var(units, long_name, description="", **extra):
    a = {"units": units, "long_name": long_name}
    if description:
        a["description"] = description
    a.update(extra)
    return a


def _write_beam(w, wt, world, beam, bi, lay, cfg, length_m, t0, speed, seg_u, seg_x, seg_id,
                to_ll, truth_subsamples):
    v = float(lay["v"])
    strong = lay["atlas_beam_type"] == "strong"
    frame = world.frame
    w.group(beam, {
        "Description": "Each group contains the segments for one Ground Track.",
        "atlas_beam_type": lay["atlas_beam_type"],
        "atlas_pce": f"pce{bi // 2 + 1}",
        "atlas_spot_number": lay["atlas_spot_number"],
        "atmosphere_profile": f"profile_{bi // 2 + 1}",
        "groundtrack_id": beam,
        "sc_orientation": lay["sc_orientation"],
    })
    H = f"{beam}/heights/"
    w.group(H[:-1], {"Description": "Contains arrays of the parameters for each received "
                     "photon.", "data_rate": "Data are stored at the photon detection rate."})
    gaps = _gaps(world, bi, length_m, cfg)
    coords = "delta_time lat_ph lon_ph"
    dsets = None
    tsets = None
    seg_cnt = np.zeros(seg_u.size, dtype=np.int64)
    bck_parts = []
    n_blocks = math.ceil(length_m / _BLOCK_M - 1e-9)
    for k in range(n_blocks):
        u0, u1 = k * _BLOCK_M, min((k + 1) * _BLOCK_M, length_m)
        blk = _simulate_block(world, bi, v, strong, u0, u1, length_m, cfg, gaps)
        sp = cfg.shot_spacing_m
        # exact integer micrometres so no photon lands on the wrong side of a segment edge
        sp_um = int(round(sp * 1e6))
        seg_um = int(round(SEGMENT_LENGTH_M * 1e6))
        shot_um = blk.shot * sp_um
        seg = np.minimum(shot_um // seg_um, seg_u.size - 1)
        seg_cnt += np.bincount(seg, minlength=seg_u.size)
        dist = ((shot_um - seg * seg_um) / 1e6).astype(np.float32)
        x_atc = seg_x[seg] + dist.astype(np.float64)
        # location reported at the footprint centre; lat/lon per photon via its shot
        ush, inv = np.unique(blk.shot, return_inverse=True)
        xs, ys = frame.to_xy(ush * sp, np.full(ush.size, v))
        lon_s, lat_s = to_ll.transform(xs, ys)
        lat, lon = np.asarray(lat_s)[inv], np.asarray(lon_s)[inv]
        dt = t0 + blk.shot / SHOT_RATE_HZ
        n = blk.h.size
        chan0 = 1 if strong else 17
        rngc = world.rng("photons", 7_000_000 + bi * 1000 + k)
        ph = {
            "delta_time": (dt, _var("seconds since 2018-01-01", "Elapsed GPS seconds",
                                    standard_name="time")),
            "dist_ph_across": (np.zeros(n, np.float32), _var("meters", "Distance off RGT")),
            "dist_ph_along": (dist, _var("meters", "Distance from seg begin")),
            "h_ph": (blk.h, _var("meters", "Photon WGS84 Height", coordinates=coords)),
            "lat_ph": (lat, _var("degrees_north", "Latitude", standard_name="latitude")),
            "lon_ph": (lon, _var("degrees_east", "Longitude", standard_name="longitude")),
            "pce_mframe_cnt": ((blk.shot // 200).astype(np.uint32), _var("counts",
                                                                        "PCE Major frame counter")),
            "ph_id_channel": (rngc.integers(chan0, chan0 + (16 if strong else 4), n)
                              .astype(np.uint8), _var("counts", "Receive channel id")),
            "ph_id_count": (_rank_in_shot(blk.shot), _var("counts", "photon event counter")),
            "ph_id_pulse": ((blk.shot % 200 + 1).astype(np.uint8), _var("counts",
                                                                       "laser pulse counter")),
            "quality_ph": ((blk.kind == 2).astype(np.int8), _var(
                "counts", "Photon Quality",
                flag_values=np.array([0, 1, 2, 3], dtype=np.int8),
                flag_meanings="nominal possible_afterpulse possible_impulse_response_effect "
                              "possible_tep")),
            "signal_conf_ph": (_conf5(blk.conf), _var(
                "counts", "Photon Signal Confidence",
                flag_values=np.array([-2, -1, 0, 1, 2, 3, 4], dtype=np.int8),
                flag_meanings="possible_tep not_considered noise buffer low medium high",
                description="Columns: land, ocean, sea ice, land ice, inland water.")),
            "weight_ph": (blk.weight, _var("counts", "Photon Weight")),
        }
        tr = {
            "surface_type": blk.surface_type,
            "is_signal": blk.kind == 0,
            "true_height": blk.true_height,
            "x_atc": x_atc,
        }
        if dsets is None:
            dsets = {name: w.dataset(H + name, arr, attrs=attrs, resizable=True)
                     for name, (arr, attrs) in ph.items()}
            tsets = {name: wt.dataset(f"{beam}/photon/{name}", arr, resizable=True)
                     for name, arr in tr.items()}
        else:
            for name, (arr, _) in ph.items():
                _h5.Writer.append(dsets[name], arr)
            for name, arr in tr.items():
                _h5.Writer.append(tsets[name], arr)
        bck_parts.append(blk.bck)
    _write_geolocation(w, world, beam, bi, v, cfg, t0, speed, seg_u, seg_x, seg_id, seg_cnt,
                       to_ll)
    _write_bckgrd(w, beam, bck_parts, t0, cfg)
    _write_segment_truth(wt, world, beam, v, length_m, truth_subsamples)


def _rank_in_shot(shot):
    n = shot.size
    if n == 0:
        return np.zeros(0, np.uint8)
    start = np.r_[0, np.flatnonzero(np.diff(shot)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, n]))
    return np.minimum(np.arange(n) - first + 1, 255).astype(np.uint8)


def _conf5(conf):
    out = np.full((conf.size, 5), -1, dtype=np.int8)
    out[:, 1] = conf
    out[:, 2] = conf
    return out


def _write_geolocation(w, world, beam, bi, v, cfg, t0, speed, seg_u, seg_x, seg_id, seg_cnt,
                       to_ll):
    G = f"{beam}/geolocation/"
    F = f"{beam}/geophys_corr/"
    w.group(G[:-1], {"Description": "Contains parameters related to geolocation.",
                     "data_rate": "Data within this group are stored at the ICESat-2 20m "
                                  "segment rate."})
    w.group(F[:-1], {"Description": "Contains parameters used to correct photon heights for "
                     "selected geophysical effects.",
                     "data_rate": "These parameters are stored at the ICESat-2 Geolocation "
                                  "Along Track Segment rate (nominally every 20 m "
                                  "along-track)."})
    n = seg_u.size
    beg = np.where(seg_cnt > 0, np.cumsum(seg_cnt) - seg_cnt + 1, 0).astype(np.int64)
    uc = seg_u + SEGMENT_LENGTH_M / 2
    dt = t0 + uc / speed
    xs, ys = world.frame.to_xy(uc, np.full(n, v))
    lon, lat = (np.asarray(a) for a in to_ll.transform(xs, ys))
    sun = _solar_elevation(uc, seg_u[-1] + SEGMENT_LENGTH_M, cfg).astype(np.float32)
    tm = "seconds since 2018-01-01"
    surf = np.zeros((n, 5), np.int8)
    surf[:, 1] = 1
    surf[:, 2] = 1
    vel = np.zeros((n, 3), np.float32)
    dx, dy = world.frame.direction
    vel[:, 0], vel[:, 1] = speed * dx * 1.08, speed * dy * 1.08
    geo = {
        "delta_time": (dt, _var(tm, "Elapsed GPS seconds")),
        "ph_index_beg": (beg, _var("1", "Photon Index Begin", description="Index (1-based) "
                                   "of the first photon of the segment; 0 if none.")),
        "segment_dist_x": (seg_x, _var("meters", "Along track distance")),
        "segment_id": (seg_id, _var("1", "Along-track segment ID number")),
        "segment_length": (np.full(n, SEGMENT_LENGTH_M), _var("meters", "along-track "
                                                              "segment length")),
        "segment_ph_cnt": (seg_cnt.astype(np.int32), _var("counts", "Number of photons")),
        "reference_photon_lat": (lat, _var("degrees_north", "Latitude")),
        "reference_photon_lon": (lon, _var("degrees_east", "Longitude")),
        "reference_photon_index": (np.where(seg_cnt > 0, 1, 0).astype(np.int32),
                                   _var("1", "Reference photon index")),
        "solar_elevation": (sun, _var("degrees", "solar elevation")),
        "solar_azimuth": (np.full(n, 120.0, np.float32), _var("degrees_east",
                                                              "solar azimuth")),
        "surf_type": (surf, _var("1", "Surface Type")),
        "velocity_sc": (vel, _var("meters/second", "spacecraft velocity")),
        "altitude_sc": (np.full(n, 496000.0), _var("meters", "altitude of spacecraft")),
        "sigma_h": (np.full(n, 0.05, np.float32), _var("meters", "height accuracy")),
        "podppd_flag": (np.zeros(n, np.int8), _var("1", "POD_PPD Flag")),
    }
    for name, (arr, attrs) in geo.items():
        fill = None
        if arr.dtype == np.float32:
            fill = _h5.FILL_F4
        w.dataset(G + name, arr, attrs=attrs, fill=fill)
    g = world.geophysical(uc, np.full(n, v))
    rng = world.rng("geometry", 5000 + bi)
    corr = {
        "geoid": "Geoid height above WGS84 (not applied to h_ph)",
        "tide_ocean": "Ocean tide (not applied to h_ph)",
        "tide_equilibrium": "Long-period equilibrium tide (not applied to h_ph)",
        "dac": "Dynamic atmosphere correction (not applied to h_ph)",
    }
    w.dataset(F + "delta_time", dt, attrs=_var(tm, "Elapsed GPS seconds"))
    for name, desc in corr.items():
        arr = g[name].astype(np.float32)
        nfill = rng.poisson(cfg.geophys_fill_fraction * n / 3.0)
        for s0 in rng.integers(0, max(n, 1), nfill):
            arr[s0:s0 + rng.integers(1, 6)] = ATL03_FILL_VALUE
        w.dataset(F + name, arr, attrs=_var("meters", desc), fill=_h5.FILL_F4)
    zeros = np.zeros(n, np.float32)
    for name in ("tide_earth", "tide_load", "tide_pole", "tide_oc_pole", "geoid_free2mean",
                 "tide_earth_free2mean"):
        w.dataset(F + name, zeros, attrs=_var("meters", name + " (applied; 0 here)"),
                  fill=_h5.FILL_F4)
    w.dataset(F + "dem_h", g["geoid"].astype(np.float32), attrs=_var("meters", "DEM height"),
              fill=_h5.FILL_F4)
    w.dataset(F + "dem_flag", np.full(n, 4, np.int8), attrs=_var("1", "DEM source flag"),
              fill=np.int8(127))


def _write_bckgrd(w, beam, parts, t0, cfg):
    B = f"{beam}/bckgrd_atlas/"
    w.group(B[:-1], {"Description": "Contains data related to the 50-shot background count, "
                     "including telemetry and range windows."})
    shot0 = np.concatenate([p["shot0"] for p in parts])
    rate = np.concatenate([p["rate"] for p in parts])
    top = np.concatenate([p["top"] for p in parts])
    # the 50-shot blocks at block edges may repeat; keep the first of each
    shot0, first = np.unique(shot0, return_index=True)
    rate, top = rate[first], top[first]
    n = shot0.size
    int_h = 2.0 * cfg.telemetry_height_m
    expected = rate * BCKGRD_SHOTS * 2.0 * int_h / C_LIGHT
    rng = np.random.default_rng(np.random.SeedSequence([int(shot0.sum() % 2**32), n]))
    counts = rng.poisson(expected).astype(np.int32)
    est = (counts / (BCKGRD_SHOTS * 2.0 * int_h / C_LIGHT)).astype(np.float32)
    f4 = np.float32
    bk = {
        "delta_time": (t0 + shot0 / SHOT_RATE_HZ, _var("seconds since 2018-01-01",
                                                       "Time at the start of the 50 shots")),
        "bckgrd_counts": (counts, _var("counts", "Background counts")),
        "bckgrd_counts_reduced": (counts, _var("counts", "Background counts reduced")),
        "bckgrd_int_height": (np.full(n, int_h, f4), _var("meters", "Background "
                                                          "integration height")),
        "bckgrd_int_height_reduced": (np.full(n, int_h, f4), _var("meters", "reduced height")),
        "bckgrd_rate": (est, _var("counts / second", "Background count rate")),
        "bckgrd_hist_top": (top.astype(f4), _var("meters", "Top of the histogram")),
        "pce_mframe_cnt": ((shot0 // 200).astype(np.int64), _var("counts", "Major frame")),
        "tlm_height_band1": (np.full(n, cfg.telemetry_height_m, f4), _var("meters",
                                                                          "Telemetry band 1 "
                                                                          "height")),
        "tlm_height_band2": (np.zeros(n, f4), _var("meters", "Telemetry band 2 height")),
        "tlm_top_band1": (top.astype(f4), _var("meters", "Telemetry band 1 top")),
        "tlm_top_band2": (np.zeros(n, f4), _var("meters", "Telemetry band 2 top")),
    }
    for name, (arr, attrs) in bk.items():
        w.dataset(B + name, arr, attrs=attrs)


def _write_segment_truth(wt, world, beam, v, length_m, nsub):
    x0 = world.frame.x_atc0
    j0 = math.floor(x0 / 2.0)
    j1 = math.floor((x0 + length_m - 1e-6) / 2.0)
    seg = np.arange(j0, j1 + 1, dtype=np.int64)
    xc = (seg + 0.5) * 2.0
    uc = xc - x0
    vv = np.full(uc.size, v)
    centre = world.sample(uc, vv)
    off = ((np.arange(nsub) + 0.5) / nsub - 0.5) * 2.0
    sub = world.sample((uc[:, None] + off[None, :]).ravel(), np.repeat(vv, nsub))
    fb = sub.freeboard.reshape(-1, nsub).mean(axis=1)
    el = sub.elevation.reshape(-1, nsub).mean(axis=1)
    frac_water = (sub.surface_type.reshape(-1, nsub) == SurfaceType.OPEN_WATER).mean(axis=1)
    ssh = centre.ssh
    ssh_e = world.ssh_ellipsoid(uc, vv)
    S = f"{beam}/segment/"
    wt.dataset(S + "segment", seg)
    wt.dataset(S + "x_atc", xc)
    wt.dataset(S + "surface_type", centre.surface_type)
    wt.dataset(S + "ssh", ssh.astype(np.float32))
    wt.dataset(S + "ssh_ellipsoid", ssh_e)
    wt.dataset(S + "freeboard", fb.astype(np.float32))
    wt.dataset(S + "surface_height", (ssh + el).astype(np.float32))
    wt.dataset(S + "open_water_fraction", frac_water.astype(np.float32))
