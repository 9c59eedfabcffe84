"""The bad-input corpus: every damaged input, and exactly what icefb does with it.

Each row of :data:`CASES` damages a copy of the session's synthetic granule, scene, model or
output path, runs the public pipeline (:func:`icefb.pipeline.run`, serial backend) and expects
one of two outcomes:

* ``raises=<icefb.errors class>``: the run stops with that class, and the message names the
  file (and the beam or variable where it matters) and the problem (``match`` fragments);
  never a bare h5py / numba / torch / rasterio exception;
* ``raises=None``: a valid, complete product whose affected segments are flagged or left
  empty, checked against what the damage implies (``check``), never a silently wrong number.

The table is the user-facing specification; ``docs/reliability.md`` prints it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
from relhelpers import BEAMS, Inputs, product_beam, run_config

from icefb import errors
from icefb.io import GranuleNotFoundError
from icefb.testing import real_file

FILL32 = np.float32(3.4028235e38)


# ----------------------------------------------------------------------------- damage helpers
def _edit(path: Path, fn: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "r+") as f:
        fn(f)


def _replace(f: h5py.File, name: str, data, **attrs) -> None:
    old_attrs = dict(f[name].attrs)
    del f[name]
    f.create_dataset(name, data=data)
    for k, v in {**old_attrs, **attrs}.items():
        f[name].attrs[k] = v


def _truncate(g: Path) -> None:
    size = g.stat().st_size
    with open(g, "r+b") as fh:
        fh.truncate(size // 2)


def _flip_chunk(g: Path, var: str = "gt1l/heights/h_ph") -> None:
    with h5py.File(g, "r") as f:
        info = f[var].id.get_chunk_info(0)
    off, size = info.byte_offset, info.size
    with open(g, "r+b") as fh:
        fh.seek(off + size // 3)
        chunk = bytearray(fh.read(16))
        fh.seek(off + size // 3)
        fh.write(bytes(b ^ 0xFF for b in chunk))


def _fill_heights(f: h5py.File) -> None:
    h = f["gt1l/heights/h_ph"][()]
    h[::7] = FILL32
    _replace(f, "gt1l/heights/h_ph", h, _FillValue=FILL32)


def _fill_corrections(f: h5py.File) -> None:
    for name in ("tide_ocean", "geoid"):
        v = f[f"gt1l/geophys_corr/{name}"][()]
        v[10:20] = FILL32
        _replace(f, f"gt1l/geophys_corr/{name}", v, _FillValue=FILL32)


def _all_fill_corrections(f: h5py.File) -> None:
    v = f["gt1l/geophys_corr/geoid"][()]
    v[:] = FILL32
    _replace(f, "gt1l/geophys_corr/geoid", v, _FillValue=FILL32)


def _nan_heights(f: h5py.File) -> None:
    h = f["gt1l/heights/h_ph"][()]
    h[::5] = np.nan
    _replace(f, "gt1l/heights/h_ph", h)


def _non_monotonic(f: h5py.File) -> None:
    x = f["gt1l/geolocation/segment_dist_x"][()]
    x[5], x[6] = x[6] + 500.0, x[5]
    _replace(f, "gt1l/geolocation/segment_dist_x", x)


def _beg_out_of_range(f: h5py.File) -> None:
    b = f["gt1l/geolocation/ph_index_beg"][()]
    b[3] = 10**9
    _replace(f, "gt1l/geolocation/ph_index_beg", b)


def _beg_negative(f: h5py.File) -> None:
    b = f["gt1l/geolocation/ph_index_beg"][()]
    b[4] = -5
    _replace(f, "gt1l/geolocation/ph_index_beg", b)


def _count_mismatch(f: h5py.File) -> None:
    c = f["gt1l/geolocation/segment_ph_cnt"][()]
    c[-1] += 10_000
    _replace(f, "gt1l/geolocation/segment_ph_cnt", c)


def _zero_photons(f: h5py.File) -> None:
    for name in list(f["gt1l/heights"]):
        d = f[f"gt1l/heights/{name}"]
        _replace(f, f"gt1l/heights/{name}", np.zeros((0,) + d.shape[1:], d.dtype))
    _replace(f, "gt1l/geolocation/segment_ph_cnt",
             np.zeros_like(f["gt1l/geolocation/segment_ph_cnt"][()]))
    _replace(f, "gt1l/geolocation/ph_index_beg",
             np.zeros_like(f["gt1l/geolocation/ph_index_beg"][()]))


def _all_noise(f: h5py.File) -> None:
    c = f["gt1l/heights/signal_conf_ph"][()]
    c[:] = 0
    _replace(f, "gt1l/heights/signal_conf_ph", c)


def _wrong_dtype_h(f: h5py.File) -> None:
    n = f["gt1l/heights/h_ph"].shape[0]
    _replace(f, "gt1l/heights/h_ph", np.array([b"x"] * n, dtype="S1"))


def _wrong_dtype_lat(f: h5py.File) -> None:
    n = f["gt1l/heights/lat_ph"].shape[0]
    _replace(f, "gt1l/heights/lat_ph", np.array([b"north"] * n, dtype="S5"))


def _wrong_shape_conf(f: h5py.File) -> None:
    c = f["gt1l/heights/signal_conf_ph"][()]
    _replace(f, "gt1l/heights/signal_conf_ph", c[:, 0])


def _short_variable(f: h5py.File) -> None:
    h = f["gt1l/heights/h_ph"][()]
    _replace(f, "gt1l/heights/h_ph", h[: h.size // 2])


def _not_atl03(f: h5py.File) -> None:
    f.attrs["short_name"] = np.bytes_(b"ATL07")


# ----------------------------------------------------------------------------- outcome checks
def _clean(inputs: Inputs, beam: str):
    return product_beam(inputs.product, beam)


def check_fill_heights(ds, inputs: Inputs) -> None:
    """Filled photons are dropped: no height near 3.4e38, fewer photons than the clean run."""
    for v in ("h_mean", "h_max", "h_cor_mean", "freeboard", "ssh"):
        x = ds[v].values
        assert np.all(np.isnan(x) | (np.abs(x) < 1e3)), v
    assert ds["n_photons"].sum() < _clean(inputs, "gt1l")["n_photons"].sum()


def check_nan_heights(ds, inputs: Inputs) -> None:
    """NaN heights are dropped like fill values: no NaN photon is counted as signal."""
    check_fill_heights(ds, inputs)


def check_fill_corrections(ds, inputs: Inputs) -> None:
    """Filled corrections are never used as numbers: they are interpolated along track from
    the neighbouring segments, so corrected heights stay within 5 cm of the clean run."""
    clean = _clean(inputs, "gt1l")
    x = ds["h_cor_mean"].values
    assert np.all(np.isnan(x) | (np.abs(x) < 50.0))
    d = x - clean["h_cor_mean"].values
    assert np.nanmax(np.abs(d)) < 0.05
    np.testing.assert_array_equal(ds["h_mean"].values, clean["h_mean"].values)


def check_all_fill_corrections(ds, inputs: Inputs) -> None:
    """No geoid at all: every corrected height, SSH and freeboard is missing, not made up."""
    assert np.isnan(ds["h_cor_mean"].values).all()
    assert np.isnan(ds["freeboard"].values).all()
    np.testing.assert_array_equal(ds["h_mean"].values, _clean(inputs, "gt1l")["h_mean"].values)


def check_empty_beam(ds, inputs: Inputs) -> None:
    """A beam without signal photons: no occupied segment, no freeboard."""
    assert int((ds["n_photons"].values > 0).sum()) == 0
    assert np.isnan(ds["freeboard"].values).all()


def check_all_cloud(ds, inputs: Inputs) -> None:
    """Every segment flagged cloud (2) or outside the scene (1; no drift can be estimated
    through cloud), none labeled (-1); the classifier's numbers unchanged."""
    clean = _clean(inputs, "gt1l")
    flag = ds["label_flag"].values
    assert set(np.unique(flag)) <= {1, 2} and (flag == 2).mean() > 0.5  # cloud or outside
    assert (ds["s2_label"].values == -1).all()
    np.testing.assert_array_equal(ds["surface_type"].values, clean["surface_type"].values)
    np.testing.assert_array_equal(ds["freeboard"].values, clean["freeboard"].values)


def check_land(ds, inputs: Inputs) -> None:
    """Land: no photon has a sea-ice signal confidence, so no segment is occupied, and no sea
    surface or freeboard is invented (``ssh_flag`` 3 "none" everywhere)."""
    assert ds.sizes["segment"] > 0
    assert int((ds["n_photons"].values > 0).sum()) == 0
    assert np.isnan(ds["ssh"].values).all() and np.isnan(ds["freeboard"].values).all()
    assert (ds["ssh_flag"].values == 3).all()


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    """One damaged input and the exact expected behaviour."""

    id: str
    what: str
    damage: Callable[[Path, Path], dict] = field(repr=False)
    raises: type[Exception] | None = None
    match: tuple[str, ...] = ()
    check: Callable | None = field(default=None, repr=False)
    beam: str = "gt1l"


def g(fn):
    """Damage the granule copy with ``fn(h5py.File)``."""

    def damage(granule: Path, tmp: Path) -> dict:
        _edit(granule, fn)
        return {}

    return damage


def _missing(name: str):
    return g(lambda f: f.__delitem__(name))


def _model_variant(tmp: Path, edit_meta=None, edit_weights=None) -> str:
    from icefb.ml.io import _resolve

    w, m = _resolve("lstm-synthetic")
    dw, dm = tmp / "model.safetensors", tmp / "model.json"
    shutil.copy(w, dw)
    shutil.copy(m, dm)
    if edit_weights:
        edit_weights(dw, dm)
    if edit_meta:
        meta = json.loads(dm.read_text())
        edit_meta(meta)
        dm.write_text(json.dumps(meta))
    return str(tmp / "model")


def _other_features(meta: dict) -> None:
    meta["feature_names"] = list(meta["feature_names"])[:-1]


def _other_feature_version(meta: dict) -> None:
    meta["feature_version"] = 999


def _other_classes(meta: dict) -> None:
    meta["classes"] = {"0": "ice", "1": "water"}


def _flip_weights(w: Path, m: Path) -> None:
    b = bytearray(w.read_bytes())
    b[len(b) // 2] ^= 0xFF
    w.write_bytes(bytes(b))


def _pickle_weights(w: Path, m: Path) -> None:
    """A pickle that would create a marker file if it were ever unpickled; the metadata
    checksum is updated so only the loader's refusal to unpickle stands in the way."""
    import hashlib
    import pickle

    class Evil:
        def __reduce__(self):
            return (Path.touch, (w.parent / "PWNED",))

    w.write_bytes(pickle.dumps(Evil()))
    meta = json.loads(m.read_text())
    meta["weights_sha256"] = hashlib.sha256(w.read_bytes()).hexdigest()
    m.write_text(json.dumps(meta))


def _scene_variant(**kw):
    def damage(granule: Path, tmp: Path) -> dict:
        from icefb.synth import make_scene

        return {"scenes": make_scene(tmp / "scene_bad.tif", granule, **kw).path}

    return damage


def _scene_copy(edit):
    """Copy the session's scene and edit the copy with rasterio."""

    def damage(granule: Path, tmp: Path) -> dict:
        return {"scene_edit": edit}

    return damage


def _geographic(src: Path, dst: Path) -> None:
    import rasterio
    from rasterio.crs import CRS

    shutil.copy(src, dst)
    with rasterio.open(dst, "r+") as d:
        d.crs = CRS.from_epsg(4326)


def _all_cloud_scl(src: Path, dst: Path) -> None:
    """The scene plus an SCL band that says "high-probability cloud" (9) everywhere."""
    import rasterio

    with rasterio.open(src) as s:
        data, profile = s.read(), s.profile
        tags, descr = s.tags(), list(s.descriptions)
        scales, offsets = list(s.scales), list(s.offsets)
        btags = [s.tags(i + 1) for i in range(s.count)]
    profile.update(count=s.count + 1)
    with rasterio.open(dst, "w", **profile) as d:
        d.write(data, indexes=list(range(1, s.count + 1)))
        d.write(np.full(data.shape[1:], 9, data.dtype), s.count + 1)
        d.update_tags(**tags)
        for i, name in enumerate([*descr, "SCL"]):
            d.set_band_description(i + 1, name)
            if i < s.count:
                d.update_tags(i + 1, **btags[i])
        d.scales = (*scales, 1.0)
        d.offsets = (*offsets, 0.0)


CASES: list[Case] = [
    # --- files that are not (whole) granules
    Case("missing-file", "granule path does not exist",
         lambda gr, t: {"granules": t / "nope.h5"}, GranuleNotFoundError, ("nope.h5", "not found")),
    Case("empty-file", "0-byte granule",
         lambda gr, t: (gr.write_bytes(b""), {})[1], errors.CorruptFileError, ("ATL03_rel.h5",)),
    Case("not-hdf5", "a text file named .h5",
         lambda gr, t: (gr.write_text("hello\n" * 100), {})[1], errors.CorruptFileError,
         ("ATL03_rel.h5", "HDF5")),
    Case("truncated", "granule cut to half its size",
         lambda gr, t: (_truncate(gr), {})[1], errors.CorruptFileError, ("ATL03_rel.h5",)),
    Case("flipped-chunk", "16 bytes flipped inside a gzip chunk of gt1l/heights/h_ph",
         lambda gr, t: (_flip_chunk(gr), {})[1], errors.CorruptFileError,
         ("ATL03_rel.h5", "h_ph")),
    Case("not-atl03", "root short_name says ATL07", g(_not_atl03),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "ATL03")),
    # --- layout
    Case("missing-beam", "asked for a beam the granule lacks",
         lambda gr, t: (_edit(gr, lambda f: f.__delitem__("gt2l")), {})[1],
         errors.MissingBeamError, ("ATL03_rel.h5", "gt2l")),
    Case("missing-heights-group", "gt1l/heights removed", _missing("gt1l/heights"),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l")),
    Case("missing-geolocation-group", "gt1l/geolocation removed", _missing("gt1l/geolocation"),
         errors.MissingVariableError, ("ATL03_rel.h5", "gt1l", "geolocation")),
    Case("missing-geophys-group", "gt1l/geophys_corr removed", _missing("gt1l/geophys_corr"),
         errors.MissingVariableError, ("ATL03_rel.h5", "gt1l", "geophys_corr")),
    Case("missing-h_ph", "gt1l/heights/h_ph removed", _missing("gt1l/heights/h_ph"),
         errors.MissingVariableError, ("ATL03_rel.h5", "gt1l", "h_ph")),
    Case("missing-signal_conf", "gt1l/heights/signal_conf_ph removed",
         _missing("gt1l/heights/signal_conf_ph"),
         errors.MissingVariableError, ("ATL03_rel.h5", "gt1l", "signal_conf_ph")),
    Case("missing-ph_index_beg", "gt1l/geolocation/ph_index_beg removed",
         _missing("gt1l/geolocation/ph_index_beg"),
         errors.MissingVariableError, ("ATL03_rel.h5", "gt1l", "ph_index_beg")),
    Case("wrong-dtype-h_ph", "h_ph stored as 1-byte strings", g(_wrong_dtype_h),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l", "h_ph")),
    Case("wrong-dtype-lat", "lat_ph stored as strings", g(_wrong_dtype_lat),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l", "lat_ph")),
    Case("wrong-shape-conf", "signal_conf_ph 1-D instead of (n, 5)", g(_wrong_shape_conf),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l", "signal_conf_ph")),
    Case("short-variable", "h_ph has half as many photons as lat_ph", g(_short_variable),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l", "h_ph")),
    # --- values
    Case("non-monotonic-x_atc", "segment_dist_x goes backwards", g(_non_monotonic),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l", "segment_dist_x")),
    Case("ph_index_beg-too-large", "ph_index_beg points past the photon arrays",
         g(_beg_out_of_range), errors.InvalidGranuleError,
         ("ATL03_rel.h5", "gt1l", "ph_index_beg")),
    Case("ph_index_beg-negative", "ph_index_beg below 0 (1-based index)", g(_beg_negative),
         errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l", "ph_index_beg")),
    Case("segment_ph_cnt-too-large", "segment photon counts overrun the arrays",
         g(_count_mismatch), errors.InvalidGranuleError, ("ATL03_rel.h5", "gt1l")),
    Case("fill-heights", "every 7th h_ph is the 3.4e38 fill value", g(_fill_heights),
         check=check_fill_heights),
    Case("nan-heights", "every 5th h_ph is NaN", g(_nan_heights), check=check_nan_heights),
    Case("fill-corrections", "10 segments of tide_ocean and geoid are fill", g(_fill_corrections),
         check=check_fill_corrections),
    Case("all-fill-geoid", "the whole geoid of gt1l is fill", g(_all_fill_corrections),
         check=check_all_fill_corrections),
    Case("zero-photon-beam", "gt1l has segments but no photons", g(_zero_photons),
         check=check_empty_beam),
    Case("all-noise-beam", "every photon of gt1l has signal_conf 0 (noise)", g(_all_noise),
         check=check_empty_beam),
    # --- scenes
    Case("scene-missing", "scene path does not exist",
         lambda gr, t: {"scenes": t / "nope.tif"}, errors.SceneError, ("nope.tif",)),
    Case("scene-not-tiff", "scene is a text file",
         lambda gr, t: ((t / "s.tif").write_text("not a tiff"), {"scenes": t / "s.tif"})[1],
         errors.SceneError, ("s.tif",)),
    Case("scene-no-overlap", "scene 50 km beyond the end of the track",
         _scene_variant(x_atc_range=(80_000.0, 85_000.0)), errors.NoOverlapError,
         ("scene_bad.tif", "gt1l")),
    Case("scene-geographic-crs", "scene in EPSG:4326", _scene_copy(_geographic),
         errors.SceneCRSError, ("scene_bad.tif", "EPSG:4326")),
    Case("scene-all-cloud", "scene whose SCL band says cloud everywhere",
         _scene_copy(_all_cloud_scl),
         check=check_all_cloud),
    # --- models
    Case("model-missing", "model path does not exist",
         lambda gr, t: {"model": str(t / "nomodel")}, errors.CorruptFileError, ("nomodel",)),
    Case("model-other-features", "model metadata lists another feature set",
         lambda gr, t: {"model": _model_variant(t, edit_meta=_other_features)},
         errors.ModelMismatchError, ("model.json", "feature")),
    Case("model-other-feature-version", "model trained on feature version 999",
         lambda gr, t: {"model": _model_variant(t, edit_meta=_other_feature_version)},
         errors.ModelMismatchError, ("model.json", "version")),
    Case("model-other-classes", "model predicts two classes",
         lambda gr, t: {"model": _model_variant(t, edit_meta=_other_classes)},
         errors.ModelMismatchError, ("model.json", "class")),
    Case("model-corrupt-weights", "one byte of the safetensors flipped",
         lambda gr, t: {"model": _model_variant(t, edit_weights=_flip_weights)},
         errors.CorruptFileError, ("model.safetensors", "checksum")),
    Case("model-pickle", "weights replaced by a malicious pickle (checksum updated)",
         lambda gr, t: {"model": _model_variant(t, edit_weights=_pickle_weights)},
         errors.CorruptFileError, ("model.safetensors", "safetensors")),
    Case("model-bad-json", "model metadata is not JSON",
         lambda gr, t: {"model": _model_variant(
             t, edit_weights=lambda w, m: m.write_text("{not json"))},
         errors.CorruptFileError, ("model.json",)),
    # --- outputs
    Case("output-foreign-dir", "output is an existing folder of someone else's files",
         lambda gr, t: ((t / "out.zarr").mkdir(), (t / "out.zarr" / "keep.txt").write_text("x"),
                        {})[2], errors.ProductError, ("out.zarr", "not an icefb product")),
    Case("output-foreign-zarr", "output is another Zarr store",
         lambda gr, t: (__import__("zarr").open_group(str(t / "out.zarr"), mode="w"), {})[1],
         errors.ProductError, ("out.zarr", "not an icefb product")),
    Case("output-is-file", "output is an existing regular file",
         lambda gr, t: ((t / "out.zarr").write_text("precious"), {})[1], errors.ProductError,
         ("out.zarr", "not an icefb product")),
    # --- parameters
    Case("bad-window", "2 m window given as -2",
         lambda gr, t: {"window": -2.0}, errors.ConfigError, ("window",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, inputs: Inputs, work: Path, tmp_path: Path) -> None:
    from icefb.pipeline import run
    from icefb.segments import BinningConfig

    kw = case.damage(work, tmp_path)
    granules = kw.pop("granules", work)
    scenes = kw.pop("scenes", inputs.scene)
    if "scene_edit" in kw:
        scenes = tmp_path / "scene_bad.tif"
        kw.pop("scene_edit")(inputs.scene, scenes)
    out = tmp_path / "out.zarr"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*")
              if p.is_file() and "out.zarr" in str(p)}
    beams = BEAMS if case.id == "missing-beam" else (case.beam,)
    if "window" in kw:
        with pytest.raises(case.raises) as info:
            run_config(beams=beams, binning=BinningConfig(window=kw.pop("window")))
    elif case.raises is not None:
        with pytest.raises(case.raises) as info:
            run(granules, out, scenes=scenes, config=run_config(beams=beams, **kw),
                backend="serial", progress=False)
    else:
        res = run(granules, out, scenes=scenes, config=run_config(beams=beams, **kw),
                  backend="serial", progress=False)
        assert res.beams and res.beams[0]["group"] == case.beam
        case.check(product_beam(out, case.beam), inputs)
        return
    msg = str(info.value)
    for frag in case.match:
        assert frag.lower() in msg.lower(), f"{frag!r} not in {msg!r}"
    assert "\n" not in msg.strip(), "error messages are one line"
    # a failed run never damages what was at the output path, nor leaves a product where
    # there was none
    for p, content in before.items():
        assert p.read_bytes() == content
    if not before and not out.is_file():
        assert not out.exists(), "a failed run left a product at a new output path"
        assert not (tmp_path / "out.zarr.partial").exists()
    assert not (tmp_path / "PWNED").exists()


def test_corpus_size() -> None:
    assert len(CASES) >= 25


def test_land_granule_without_sea_ice(tmp_path: Path) -> None:
    """The real ATL03 land clip (no sea ice anywhere): a valid product, nothing invented."""
    from icefb.pipeline import run

    real = Path(real_file("ATL03_land_clip_gt1r.h5"))
    out = tmp_path / "land.zarr"
    run(real, out, backend="serial", progress=False)
    check_land(product_beam(out, "gt1r"), None)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "{work}", "-o", "{tmp}/o.zarr", "--backend", "serial", "--beams", "gt9x"],
         "gt9x"),
        (["run", "{tmp}/missing.h5", "-o", "{tmp}/o.zarr", "--backend", "serial"], "missing.h5"),
        (["run", "{work}", "-o", "{tmp}", "--backend", "serial"], "not an icefb product"),
        (["run", "{work}", "-o", "{tmp}/o.zarr", "--backend", "serial", "--model",
          "{tmp}/nomodel"], "nomodel"),
        (["info", "{tmp}"], "not an icefb product"),
        (["synth", "{tmp}/no/such/dir/z.h5", "--length-km", "1"], "no/such/dir/z.h5"),
    ],
    ids=["unknown-beam", "missing-granule", "output-not-product", "missing-model",
         "info-not-product", "synth-missing-folder"],
)
def test_cli_one_line_error(argv, fragment, work: Path, tmp_path: Path, capsys) -> None:
    """The CLI turns every icefb error (and an OS error such as a missing folder) into exit
    status 2 and one line on stderr."""
    from icefb.cli import main

    (tmp_path / "keep.txt").write_text("precious")
    args = [a.format(work=work, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"icefb {argv[0]}: error:")
    assert fragment in err
    assert "Traceback" not in err
    assert (tmp_path / "keep.txt").read_text() == "precious"
