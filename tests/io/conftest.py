"""Tiny ATL03/ATL07/ATL10-layout HDF5 writers with known truth, for the reader tests.

The writers build granules whose answers are known by construction: the photons of geolocation
segment k carry ``dist_ph_along`` in [0, 20) m, so ``x_atc = segment_dist_x[k] +
dist_ph_along``; corrections are linear in ``segment_dist_x``, so interpolating across filled
segments must give back the same line exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from icefb.testing import real_file

FILL = np.float32(3.4028235e38)
REAL = Path(real_file("ATL03_land_clip_gt1r.h5")).parent
REAL_ATL03 = REAL / "ATL03_land_clip_gt1r.h5"
REAL_ATL07 = REAL / "processed_ATL07-01_20190222003738_08490201_003_02.h5"

CORR_LINES = {  # name -> (offset m, slope m/m) along segment_dist_x - x0
    "geoid": (15.0, 2e-5),
    "tide_ocean": (0.3, -1e-6),
    "tide_equilibrium": (-0.02, 3e-7),
    "dac": (0.05, 5e-7),
}
X0 = 1.0e7  # m, segment_dist_x of the first segment


def _attr(value: str, style: str) -> Any:
    if style == "object":
        return np.array([value], dtype=h5py.string_dtype())
    if style == "bytes":
        return np.bytes_(value.encode())
    return value


def write_atl03(
    path: Path,
    *,
    counts: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    fill: dict[str, list[int]] | None = None,
    attr_style: str = "object",
    orbit_info: bool = True,
    ancillary: bool = True,
    sc_orient: int = 0,
    short_name: str = "ATL03",
    beg_style: str = "1based",
    compression: str | None = "gzip",
    h5chunk: int = 64,
) -> dict[str, dict[str, np.ndarray]]:
    """Write an ATL03-layout granule; return per-beam truth (x_atc, corrections, n)."""
    rng = np.random.default_rng(seed)
    if counts is None:
        counts = {"gt1l": np.array([5, 0, 7, 3, 0, 0, 4, 6]), "gt2r": np.array([2, 2, 0, 9])}
    fill = fill or {}
    truth: dict[str, dict[str, np.ndarray]] = {}
    kw: dict[str, Any] = {"compression": compression} if compression else {}
    with h5py.File(path, "w") as f:
        f.attrs["short_name"] = _attr(short_name, attr_style)
        if orbit_info:
            f["orbit_info/rgt"] = np.array([1234], dtype=np.int16)
            f["orbit_info/cycle_number"] = np.array([7], dtype=np.int8)
            f["orbit_info/sc_orient"] = np.array([sc_orient], dtype=np.int8)
        if ancillary:
            f["ancillary_data/atlas_sdp_gps_epoch"] = np.array([1198800018.0])
        for bi, (beam, cnt) in enumerate(counts.items()):
            cnt = np.asarray(cnt, dtype=np.int32)
            nseg = cnt.size
            n = int(cnt.sum())
            g = f.create_group(beam)
            g.attrs["atlas_beam_type"] = _attr(
                "strong" if beam.endswith("l") == (sc_orient == 0) else "weak", attr_style
            )
            g.attrs["atlas_spot_number"] = _attr(str(bi + 1), attr_style)
            g.attrs["sc_orientation"] = _attr(["Backward", "Forward"][sc_orient], attr_style)
            seg_x = X0 + 20.0 * np.arange(nseg) + 1000.0 * bi
            excl = np.cumsum(cnt) - cnt
            if beg_style == "1based":
                beg = np.where(cnt > 0, excl + 1, 0)
            else:  # the third-party clip convention seen in the real file
                beg = np.where(cnt > 0, excl, 0)
                beg[np.flatnonzero(cnt > 0)[:1]] = 1
            seg_of_ph = np.repeat(np.arange(nseg), cnt)
            # sort within each segment so photons are ordered along track
            along = (
                np.concatenate([np.sort(rng.uniform(0, 20, c)).astype(np.float32) for c in cnt])
                if n
                else np.zeros(0, np.float32)
            )
            x_atc = seg_x[seg_of_ph] + along.astype(np.float64)
            dt = 1.0e8 + (x_atc - X0) / 7000.0
            gg = g.create_group("geolocation")
            gg.create_dataset("ph_index_beg", data=beg.astype(np.int64), **kw)
            gg.create_dataset("segment_ph_cnt", data=cnt, **kw)
            gg.create_dataset("segment_dist_x", data=seg_x, **kw)
            gg.create_dataset("delta_time", data=1.0e8 + (seg_x - X0) / 7000.0, **kw)
            gc = g.create_group("geophys_corr")
            corr_truth = {}
            for name, (a, b) in CORR_LINES.items():
                line = (a + b * (seg_x - X0)).astype(np.float32)
                stored = line.copy()
                stored[fill.get(name, [])] = FILL
                ds = gc.create_dataset(name, data=stored, **kw)
                ds.attrs["_FillValue"] = FILL
                corr_truth[name] = line[seg_of_ph]
            h = g.create_group("heights")
            ck = {"chunks": (min(h5chunk, n),)} if n and kw else {}
            h.create_dataset("h_ph", data=rng.normal(0, 1, n).astype(np.float32), **kw, **ck)
            h.create_dataset("lat_ph", data=np.linspace(80, 80.1, n), **kw, **ck)
            h.create_dataset("lon_ph", data=np.linspace(-150, -150.1, n), **kw, **ck)
            h.create_dataset("delta_time", data=dt, **kw, **ck)
            h.create_dataset("dist_ph_along", data=along, **kw, **ck)
            conf = rng.integers(-1, 5, (n, 5)).astype(np.int8)
            h.create_dataset(
                "signal_conf_ph",
                data=conf,
                **kw,
                **({"chunks": (min(h5chunk, n), 5)} if n and kw else {}),
            )
            h.create_dataset("quality_ph", data=np.zeros(n, np.int8), **kw, **ck)
            h.create_dataset("ph_id_pulse", data=(np.arange(n) % 200).astype(np.uint8), **kw, **ck)
            b = g.create_group("bckgrd_atlas")
            nb = max(1, nseg // 2)
            b.create_dataset("delta_time", data=1.0e8 + np.arange(nb) * 0.005)
            b.create_dataset("bckgrd_counts", data=np.arange(nb, dtype=np.int32))
            b.create_dataset("bckgrd_rate", data=np.full(nb, 1e6, np.float32))
            truth[beam] = {
                "x_atc": x_atc,
                "n": np.int64(n),
                "delta_time": dt,
                **corr_truth,
                "h_ph": h["h_ph"][()],
                "signal_conf_ph": conf,
            }
    return truth


def write_atl07(path: Path, *, n: dict[str, int] | None = None, seed: int = 0) -> None:
    """An ATL07-layout file (sea_ice_segments), bytes attributes, float fills in heights."""
    rng = np.random.default_rng(seed)
    n = n or {"gt1l": 12, "gt1r": 5}
    with h5py.File(path, "w") as f:
        f.attrs["short_name"] = np.bytes_(b"ATL07")
        f["orbit_info/rgt"] = np.array([849], dtype=np.int16)
        f["orbit_info/cycle_number"] = np.array([2], dtype=np.int8)
        f["orbit_info/sc_orient"] = np.array([1], dtype=np.int8)
        for beam, k in n.items():
            g = f.create_group(f"{beam}/sea_ice_segments")
            f[beam].attrs["atlas_beam_type"] = np.bytes_(
                b"weak" if beam.endswith("l") else b"strong"
            )
            g["delta_time"] = 3.0e7 + np.arange(k, dtype=np.float64)
            g["latitude"] = np.linspace(70, 71, k)
            g["longitude"] = np.linspace(-50, -49, k)
            g["seg_dist_x"] = 1.0e6 + 15.0 * np.arange(k)
            g["height_segment_id"] = np.arange(1, k + 1, dtype=np.int32)
            hh = rng.normal(0.3, 0.1, k).astype(np.float32)
            hh[0] = FILL
            d = g.create_dataset("heights/height_segment_height", data=hh)
            d.attrs["_FillValue"] = FILL
            g["heights/height_segment_type"] = (np.arange(k) % 10).astype(np.int8)
            g["heights/height_segment_ssh_flag"] = (np.arange(k) % 2).astype(np.int8)
            g["heights/height_segment_length_seg"] = np.full(k, 15.0, np.float32)
            g["stats/n_photons_actual"] = np.full(k, 150, np.int16)
            g["geophysical/height_segment_mss"] = np.full(k, 20.0, np.float32)


def write_atl10(path: Path, *, layout: str = "v6", n: int = 9) -> dict[str, np.ndarray]:
    """An ATL10-layout file, either r006+ (``freeboard_segment`` + ``reference_surface_section``)
    or r003-r005 (``freeboard_beam_segment/beam_freeboard``)."""
    h = np.linspace(0.1, 0.9, n).astype(np.float32)
    ref_sections = np.array([0.05, 0.10, 0.20], dtype=np.float32)
    ndx = np.repeat([1, 2, 3], int(np.ceil(n / 3)))[:n].astype(np.int32)  # 1-based
    ssh = ref_sections[ndx - 1]
    fb = (h - ssh).astype(np.float32)
    fb[2] = FILL
    with h5py.File(path, "w") as f:
        f.attrs["short_name"] = np.bytes_(b"ATL10")
        f["orbit_info/rgt"] = np.array([849], dtype=np.int16)
        f["orbit_info/cycle_number"] = np.array([2], dtype=np.int8)
        if layout == "v6":
            g = f.create_group("gt2l/freeboard_segment")
            fbg = g
            f["gt2l/reference_surface_section/beam_refsurf_height"] = ref_sections
            hg = "heights"
        else:
            g = f.create_group("gt2l/freeboard_beam_segment")
            fbg = g.create_group("beam_freeboard")
            g["beam_refsurf_height"] = ref_sections
            hg = "height_segments"
        for k, v in {
            "delta_time": 3.0e7 + np.arange(n, dtype=np.float64),
            "latitude": np.linspace(80, 81, n),
            "longitude": np.linspace(10, 11, n),
            "seg_dist_x": 2.0e6 + 20.0 * np.arange(n),
            "height_segment_id": np.arange(n, dtype=np.int32),
            "beam_refsurf_ndx": ndx,
        }.items():
            fbg[k] = v
        d = fbg.create_dataset("beam_fb_height", data=fb)
        d.attrs["_FillValue"] = FILL
        g[f"{hg}/height_segment_height"] = h
        g[f"{hg}/height_segment_type"] = np.ones(n, np.int8)
        g[f"{hg}/height_segment_ssh_flag"] = np.zeros(n, np.int8)
    return {"height": h, "ssh": ssh, "freeboard": np.where(np.arange(n) == 2, np.nan, h - ssh)}


@pytest.fixture
def atl03_file(tmp_path: Path) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    """A two-beam tiny ATL03 granule with interior filled corrections, and its truth."""
    p = tmp_path / "ATL03_20200101000000_12340701_006_01.h5"
    truth = write_atl03(p, fill={"dac": [1, 2], "geoid": [2]})
    return p, truth


@pytest.fixture
def make_atl03(tmp_path: Path):
    """Factory: ``make_atl03(name, **kwargs) -> (path, truth)``."""

    def make(name: str = "ATL03_x.h5", **kwargs: Any):
        p = tmp_path / name
        return p, write_atl03(p, **kwargs)

    return make


@pytest.fixture
def atl03_writer():
    """The :func:`write_atl03` function itself (conftest modules are not importable)."""
    return write_atl03


@pytest.fixture
def atl07_file(tmp_path: Path) -> Path:
    p = tmp_path / "ATL07-01_20190222003738_08490201_003_02.h5"
    write_atl07(p)
    return p


@pytest.fixture
def real_atl03() -> Path:
    return REAL_ATL03


@pytest.fixture
def real_atl07() -> Path:
    return REAL_ATL07


@pytest.fixture
def atl10_writer(tmp_path: Path):
    def make(layout: str = "v6"):
        p = tmp_path / f"ATL10-01_{layout}.h5"
        return p, write_atl10(p, layout=layout)

    return make
