"""ATL07 / ATL10-layout products aggregated from a synthetic ATL03 granule.

Like NASA's sea-ice products, ATL07 segments each hold 150 consecutive signal photons (sea-ice
confidence >= 3, nominal quality) of one beam, so their length changes with the photon rate
(tens of metres on bright snow, hundreds over dark leads and under cloud). Heights are
corrected for geoid, tides and DAC (the synthetic "mean sea surface" is the geoid). Leads are
classified from the photon rate and height spread, not from the truth. ATL10 takes a 10 km
along-track sea surface from the lead segments and reports freeboard per segment.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from icefb.constants import ATL03_FILL_VALUE, BEAMS
from icefb.errors import ConfigError, MissingVariableError
from icefb.synth import _h5

__all__ = ["make_atl07", "make_atl10", "atl07_segments"]

PHOTONS_PER_SEGMENT = 150
F4 = np.float32


def _corrected_photons(f: h5py.File, beam: str):
    g = f[beam]
    try:
        h = g["heights/h_ph"][:].astype(np.float64)
        dt = g["heights/delta_time"][:]
        lat, lon = g["heights/lat_ph"][:], g["heights/lon_ph"][:]
        conf = g["heights/signal_conf_ph"][:, 2]
        q = g["heights/quality_ph"][:]
        dist = g["heights/dist_ph_along"][:].astype(np.float64)
        cnt = g["geolocation/segment_ph_cnt"][:]
        sx = g["geolocation/segment_dist_x"][:]
        sid = g["geolocation/segment_id"][:]
        corr = {k: g[f"geophys_corr/{k}"][:].astype(np.float64)
                for k in ("geoid", "tide_ocean", "tide_equilibrium", "dac")}
        bdt = g["bckgrd_atlas/delta_time"][:]
        brate = g["bckgrd_atlas/bckgrd_rate"][:].astype(np.float64)
        pulse = g["heights/ph_id_pulse"][:].astype(np.int64)
        mframe = g["heights/pce_mframe_cnt"][:].astype(np.int64)
    except KeyError as exc:
        raise MissingVariableError("ATL03 variable missing", path=f.filename, beam=beam,
                                   variable=str(exc)) from exc
    seg = np.repeat(np.arange(cnt.size), cnt)
    x = sx[seg] + dist
    xc = sx + 10.0
    tot = np.zeros(h.size)
    parts = {}
    for k, c in corr.items():
        ok = c < ATL03_FILL_VALUE
        v = np.interp(x, xc[ok], c[ok]) if ok.any() else np.zeros(h.size)
        parts[k] = v
        tot += v
    keep = (conf >= 3) & (q == 0)
    shot = mframe * 200 + pulse - 1
    return {
        "h": h[keep] - tot[keep], "x": x[keep], "dt": dt[keep], "lat": lat[keep],
        "lon": lon[keep], "shot": shot[keep], "geoseg": sid[seg][keep],
        "corr": {k: v[keep] for k, v in parts.items()}, "bdt": bdt, "brate": brate,
    }


def atl07_segments(granule: str | os.PathLike[str], beam: str) -> dict[str, np.ndarray]:
    """Aggregate one beam of a synthetic granule into 150-photon ATL07 segments.

    Returns
    -------
    dict of numpy.ndarray
        Per segment: ``seg_dist_x`` (centre, m), ``length`` (m), ``height`` (corrected mean
        height, m), ``rms``, ``n_photons``, ``n_pulses``, ``photon_rate`` (photons/shot),
        ``type`` (ATL07 ``height_segment_type``), ``ssh_flag``, ``delta_time``, ``latitude``,
        ``longitude``, ``geoseg_beg``, ``geoseg_end``, geophysical corrections, background.
    """
    with h5py.File(granule, "r") as f:
        if beam not in f:
            raise ConfigError("beam not in granule", path=granule, beam=beam)
        strong = f[beam].attrs["atlas_beam_type"]
        strong = (strong.decode() if isinstance(strong, bytes) else str(np.ravel(strong)[0]))
        p = _corrected_photons(f, beam)
    n = p["h"].size // PHOTONS_PER_SEGMENT
    m = n * PHOTONS_PER_SEGMENT

    def blocks(a):
        return a[:m].reshape(n, PHOTONS_PER_SEGMENT)

    h = blocks(p["h"])
    # trimmed mean (NASA fits a Gaussian mixture after trimming outliers)
    med = np.median(h, axis=1, keepdims=True)
    good = np.abs(h - med) < 2.0
    height = np.where(good, h, 0).sum(1) / np.maximum(good.sum(1), 1)
    rms = np.sqrt(np.where(good, (h - height[:, None]) ** 2, 0).sum(1) /
                  np.maximum(good.sum(1) - 1, 1))
    x = blocks(p["x"])
    shots = blocks(p["shot"])
    n_pulses = shots[:, -1] - shots[:, 0] + 1
    rate = PHOTONS_PER_SEGMENT / np.maximum(n_pulses, 1)
    expected = 3.0 if strong == "strong" else 0.75
    seg_type = np.ones(n, dtype=np.int8)
    smooth = rms < 0.12
    seg_type[smooth & (rate > 1.5 * expected)] = 5  # specular lead
    seg_type[smooth & (rate < 0.35 * expected)] = 7  # dark lead, smooth
    # a lead must also be among the lowest surfaces nearby (cloud also lowers the photon rate)
    xm = x.mean(1) if n else np.zeros(0)
    win = np.floor((xm - (xm.min() if n else 0.0)) / 10000.0).astype(np.int64)
    for k in np.unique(win):
        inwin = win == k
        low = np.percentile(height[inwin], 5)
        seg_type[inwin & (seg_type > 1) & (height > low + 0.15)] = 1
    ssh_flag = (seg_type >= 2).astype(np.int8)
    dt = blocks(p["dt"])
    bi = np.clip(np.searchsorted(p["bdt"], dt.mean(1)) - 1, 0, max(p["bdt"].size - 1, 0))
    out = {
        "seg_dist_x": x.mean(1),
        "length": x[:, -1] - x[:, 0] + 0.7,
        "height": height,
        "rms": rms,
        "n_photons": np.full(n, PHOTONS_PER_SEGMENT),
        "n_used": good.sum(1),
        "n_pulses": n_pulses,
        "photon_rate": rate,
        "type": seg_type,
        "ssh_flag": ssh_flag,
        "delta_time": dt.mean(1),
        "latitude": blocks(p["lat"]).mean(1),
        "longitude": blocks(p["lon"]).mean(1),
        "geoseg_beg": blocks(p["geoseg"])[:, 0],
        "geoseg_end": blocks(p["geoseg"])[:, -1],
        "background": p["brate"][bi] if p["bdt"].size else np.zeros(n),
    }
    for k, v in p["corr"].items():
        out[k] = blocks(v).mean(1)
    out["beam_type"] = np.array(strong)
    return out


def _attrs(units, long_name, **kw):
    return {"units": units, "long_name": long_name, "contentType": "modelResult",
            "coordinates": "../delta_time ../latitude ../longitude", **kw}


def _copy_common(w: _h5.Writer, src: h5py.File, short_name: str) -> None:
    root = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in src.attrs.items()}
    root = {k: (v if isinstance(v, str) else str(np.ravel(v)[0])) for k, v in root.items()
            if isinstance(v, (str, np.ndarray, bytes))}
    root.update(short_name=short_name, identifier_product_type=short_name,
                granule_type=short_name)
    w.attrs(w.f, root)
    for grp in ("ancillary_data", "orbit_info"):
        if grp not in src:
            continue
        w.group(grp, {k: v for k, v in src[grp].attrs.items()})
        for name, ds in src[grp].items():
            if isinstance(ds, h5py.Dataset):
                w.dataset(f"{grp}/{name}", ds[()], chunk=None,
                          attrs={k: v for k, v in ds.attrs.items()})


def _write_beam_group(w, src, beam):
    a = dict(src[beam].attrs)
    w.group(beam, {k: (v.decode() if isinstance(v, bytes) else v) for k, v in a.items()})


def make_atl07(path: str | os.PathLike[str], granule: str | os.PathLike[str]) -> Path:
    """Write an ATL07-layout file (``gtx/sea_ice_segments/...``) from a synthetic granule.

    Parameters
    ----------
    path : path-like
        Output HDF5 file.
    granule : path-like
        Synthetic ATL03 granule.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os, h5py
    >>> from icefb.synth import make_granule
    >>> d = tempfile.mkdtemp()
    >>> g = make_granule(os.path.join(d, "g.h5"), seed=1, length_km=0.5, beams=("gt1l",))
    >>> p = make_atl07(os.path.join(d, "atl07.h5"), g)
    >>> int(h5py.File(p)["gt1l/sea_ice_segments/stats/n_photons_actual"][0])
    150
    """
    path = Path(path)
    with h5py.File(granule, "r") as src, _h5.Writer(path, "bytes") as w:
        _copy_common(w, src, "ATL07")
        for beam in BEAMS:
            if beam not in src:
                continue
            s = atl07_segments(granule, beam)
            _write_beam_group(w, src, beam)
            S = f"{beam}/sea_ice_segments/"
            n = s["height"].size
            f4 = _h5.FILL_F4
            w.dataset(S + "delta_time", s["delta_time"],
                      attrs=_attrs("seconds since 2018-01-01", "Elapsed GPS seconds"))
            w.dataset(S + "latitude", s["latitude"], attrs=_attrs("degrees_north", "Latitude"))
            w.dataset(S + "longitude", s["longitude"], attrs=_attrs("degrees_east",
                                                                     "Longitude"))
            w.dataset(S + "seg_dist_x", s["seg_dist_x"],
                      attrs=_attrs("meters", "Along track distance"))
            w.dataset(S + "height_segment_id", np.arange(1, n + 1, dtype=np.int32),
                      attrs=_attrs("1", "Identifier of each height segment"))
            w.dataset(S + "geoseg_beg", s["geoseg_beg"].astype(np.int32),
                      attrs=_attrs("1", "Beginning GEOSEG"))
            w.dataset(S + "geoseg_end", s["geoseg_end"].astype(np.int32),
                      attrs=_attrs("1", "Ending GEOSEG"))
            H = S + "heights/"
            w.dataset(H + "height_segment_height", s["height"].astype(F4), fill=f4,
                      attrs=_attrs("meters", "height of segment surface"))
            w.dataset(H + "height_segment_length_seg", s["length"].astype(F4),
                      attrs=_attrs("meters", "length of segment"))
            w.dataset(H + "height_segment_rms", s["rms"].astype(F4), fill=f4,
                      attrs=_attrs("meters", "height rms"))
            w.dataset(H + "height_segment_w_gaussian", s["rms"].astype(F4), fill=f4,
                      attrs=_attrs("meters", "width of Gaussian fit"))
            w.dataset(H + "height_segment_n_pulse_seg", s["n_pulses"].astype(np.int32),
                      attrs=_attrs("1", "number of laser pulses"))
            w.dataset(H + "height_segment_type", s["type"], attrs=_attrs(
                "1", "Segment surface type", flag_values=np.arange(10, dtype=np.int8),
                flag_meanings="cloud_covered other specular_lead_low_w_bkg specular_lead_low "
                              "specular_lead_high_w_bkg specular_lead_high "
                              "dark_lead_smooth_w_bkg dark_lead_smooth dark_lead_rough_w_bkg "
                              "dark_lead_rough"))
            w.dataset(H + "height_segment_ssh_flag", s["ssh_flag"], attrs=_attrs(
                "1", "Sea Surface Flag", flag_values=np.array([0, 1], np.int8),
                flag_meanings="sea_ice sea_surface"))
            w.dataset(H + "height_segment_quality", np.ones(n, np.int8),
                      attrs=_attrs("1", "Height Segment Quality Flag"))
            w.dataset(H + "height_segment_fit_quality_flag", np.ones(n, np.int8),
                      fill=np.int8(-1), attrs=_attrs("1", "height fit quality"))
            w.dataset(H + "height_segment_confidence", np.full(n, 0.9, F4), fill=f4,
                      attrs=_attrs("1", "Height Segment Confidence"))
            w.dataset(H + "height_segment_surface_error_est", (s["rms"] / np.sqrt(150))
                      .astype(F4), fill=f4, attrs=_attrs("meters", "h surface error est"))
            w.dataset(H + "height_segment_htcorr_skew", np.zeros(n, F4), fill=f4,
                      attrs=_attrs("meters", "height skew correction"))
            w.dataset(H + "height_segment_asr_calc", np.full(n, 0.5, F4), fill=f4,
                      attrs=_attrs("1", "Calculated apparent surface reflectance"))
            w.dataset(H + "across_track_distance", np.zeros(n, F4),
                      attrs=_attrs("meters", "Across track distance"))
            G = S + "geophysical/"
            names = {"height_segment_geoid": "geoid", "height_segment_mss": "geoid",
                     "height_segment_ocean": "tide_ocean", "height_segment_lpe":
                     "tide_equilibrium", "height_segment_dac": "dac"}
            for out_name, k in names.items():
                w.dataset(G + out_name, s[k].astype(F4), fill=f4,
                          attrs=_attrs("meters", out_name.replace("_", " ")))
            for out_name in ("height_segment_earth", "height_segment_load",
                             "height_segment_pole", "height_segment_ib"):
                w.dataset(G + out_name, np.zeros(n, F4), fill=f4,
                          attrs=_attrs("meters", out_name.replace("_", " ")))
            T = S + "stats/"
            for out_name in ("n_photons_actual", "n_photons_used"):
                v = s["n_photons"] if out_name == "n_photons_actual" else s["n_used"]
                w.dataset(T + out_name, v.astype(np.int16), fill=np.int16(-1),
                          attrs=_attrs("1", "Number of photons"))
            w.dataset(T + "photon_rate", s["photon_rate"].astype(F4), fill=f4,
                      attrs=_attrs("photons/shot", "photon rate"))
            w.dataset(T + "backgr_calc", s["background"].astype(F4), fill=f4,
                      attrs=_attrs("hz", "background rate"))
            w.dataset(T + "backgr_r_200", s["background"].astype(F4),
                      attrs=_attrs("hz", "background rate 200 shots"))
            w.dataset(T + "cloud_flag_asr", np.zeros(n, np.int16),
                      attrs=_attrs("1", "Cloud flag (ASR)"))
    return path


def make_atl10(path: str | os.PathLike[str], granule: str | os.PathLike[str], *,
               window_m: float = 10000.0) -> Path:
    """Write an ATL10-layout file (``gtx/freeboard_beam_segment/...``) from a synthetic granule.

    The sea surface is the mean height of the lead segments (``ssh_flag == 1``) in each
    ``window_m`` along-track section, linearly interpolated between sections with leads;
    freeboard = segment height - sea surface (fill where no lead was found in the granule).

    Parameters
    ----------
    path : path-like
        Output HDF5 file.
    granule : path-like
        Synthetic ATL03 granule.
    window_m : float
        Along-track length of the sea-surface sections (m).

    Returns
    -------
    pathlib.Path
    """
    if window_m <= 0:
        raise ConfigError("window_m must be positive", got=window_m)
    path = Path(path)
    with h5py.File(granule, "r") as src, _h5.Writer(path, "bytes") as w:
        _copy_common(w, src, "ATL10")
        for beam in BEAMS:
            if beam not in src:
                continue
            s = atl07_segments(granule, beam)
            _write_beam_group(w, src, beam)
            x = s["seg_dist_x"]
            lead = s["ssh_flag"] == 1
            sec = np.floor((x - (x.min() if x.size else 0.0)) / window_m).astype(np.int64)
            ref = np.full(x.size, np.nan)
            if lead.any():
                nsec = sec.max() + 1
                sums = np.bincount(sec[lead], weights=s["height"][lead], minlength=nsec)
                cnts = np.bincount(sec[lead], minlength=nsec)
                have = cnts > 0
                centres = np.array([x[sec == k].mean() if (sec == k).any() else np.nan
                                    for k in range(nsec)])
                ok = have & np.isfinite(centres)
                ref = np.interp(x, centres[ok], (sums[ok] / cnts[ok]))
            fb = s["height"] - ref
            fbf = np.where(np.isfinite(fb), fb, ATL03_FILL_VALUE).astype(F4)
            reff = np.where(np.isfinite(ref), ref, ATL03_FILL_VALUE).astype(F4)
            B = f"{beam}/freeboard_beam_segment/"
            f4 = _h5.FILL_F4
            w.dataset(B + "delta_time", s["delta_time"],
                      attrs=_attrs("seconds since 2018-01-01", "Elapsed GPS seconds"))
            w.dataset(B + "latitude", s["latitude"], attrs=_attrs("degrees_north", "Latitude"))
            w.dataset(B + "longitude", s["longitude"], attrs=_attrs("degrees_east",
                                                                     "Longitude"))
            w.dataset(B + "seg_dist_x", x, attrs=_attrs("meters", "Along track distance"))
            w.dataset(B + "height_segment_id", np.arange(1, x.size + 1, dtype=np.int32),
                      attrs=_attrs("1", "Identifier of each height segment"))
            w.dataset(B + "geoseg_beg", s["geoseg_beg"].astype(np.int32),
                      attrs=_attrs("1", "Beginning GEOSEG"))
            w.dataset(B + "geoseg_end", s["geoseg_end"].astype(np.int32),
                      attrs=_attrs("1", "Ending GEOSEG"))
            w.dataset(B + "beam_fb_height", fbf, fill=f4,
                      attrs=_attrs("meters", "beam freeboard"))
            w.dataset(B + "beam_fb_sigma", np.full(x.size, 0.05, F4), fill=f4,
                      attrs=_attrs("meters", "beam freeboard uncertainty"))
            w.dataset(B + "beam_fb_confidence", np.full(x.size, 0.9, F4), fill=f4,
                      attrs=_attrs("1", "beam freeboard confidence"))
            w.dataset(B + "beam_fb_quality_flag", np.where(np.isfinite(fb), 0, 1)
                      .astype(np.int8), attrs=_attrs("1", "beam freeboard quality flag"))
            w.dataset(B + "beam_refsurf_height", reff, fill=f4,
                      attrs=_attrs("meters", "reference sea surface height"))
            w.dataset(B + "height_segment_length_seg", s["length"].astype(F4),
                      attrs=_attrs("meters", "length of segment"))
            HS = B + "height_segments/"
            w.dataset(HS + "height_segment_height", s["height"].astype(F4), fill=f4,
                      attrs=_attrs("meters", "height of segment surface"))
            w.dataset(HS + "height_segment_type", s["type"],
                      attrs=_attrs("1", "Segment surface type"))
            w.dataset(HS + "height_segment_ssh_flag", s["ssh_flag"],
                      attrs=_attrs("1", "Sea Surface Flag"))
            w.dataset(HS + "height_segment_length_seg", s["length"].astype(F4),
                      attrs=_attrs("meters", "length of segment"))
            L = f"{beam}/leads/"
            w.group(L[:-1], {"Description": "Lead segments used for the sea surface."})
            w.dataset(L + "delta_time", s["delta_time"][lead],
                      attrs=_attrs("seconds since 2018-01-01", "Elapsed GPS seconds"))
            w.dataset(L + "latitude", s["latitude"][lead],
                      attrs=_attrs("degrees_north", "Latitude"))
            w.dataset(L + "longitude", s["longitude"][lead],
                      attrs=_attrs("degrees_east", "Longitude"))
            w.dataset(L + "lead_height", s["height"][lead].astype(F4), fill=f4,
                      attrs=_attrs("meters", "lead height"))
            w.dataset(L + "lead_length", s["length"][lead].astype(F4),
                      attrs=_attrs("meters", "lead length"))
    return path

