"""Security of inputs: models never unpickled, product attributes never executed or trusted as
paths, and the CLI never deletes anything outside its output path."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
from relhelpers import Inputs, assert_same_product, run_config

from icefb import errors

HOSTILE = "$(touch PWNED); `touch PWNED`; ../../../../tmp/PWNED; {__import__('os')}"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".pkl"])
def test_pickled_model_is_refused_not_executed(tmp_path: Path, suffix: str) -> None:
    """A pickle posing as a model (any suffix, checksum made to match) is refused with an icefb
    error and never unpickled: the marker its ``__reduce__`` would create never appears."""
    import hashlib

    from icefb.ml import load_model
    from icefb.ml.io import _resolve

    marker = tmp_path / "PWNED"
    w, m = _resolve("lstm-synthetic")
    evil = tmp_path / f"model{suffix}"
    evil.write_bytes(pickle.dumps(_Evil(marker)))
    meta = json.loads(m.read_text())
    meta["weights_sha256"] = hashlib.sha256(evil.read_bytes()).hexdigest()
    (tmp_path / "model.json").write_text(json.dumps(meta))
    if suffix != ".safetensors":
        shutil.copy(evil, tmp_path / "model.safetensors")
    for name in (tmp_path / "model", evil):
        with pytest.raises(errors.IcefbError) as info:
            load_model(name)
        assert "model" in str(info.value)
    assert not marker.exists()


def test_product_attributes_are_data_not_code(inputs: Inputs, tmp_path: Path, capsys,
                                              monkeypatch) -> None:
    """Hostile strings in product attributes are printed by ``icefb info``, never run, never
    opened as paths; resuming into such a product rewrites them from the real inputs."""
    import zarr

    from icefb.cli import main
    from icefb.pipeline import run

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "p.zarr"
    shutil.copytree(inputs.product, out)
    root = zarr.open_group(str(out), mode="r+")
    root.attrs.update({"input_scenes": [HOSTILE], "input_granules": [HOSTILE], "model": HOSTILE,
                       "title": HOSTILE})
    zarr.open_group(str(out / "gt1l"), mode="r+").attrs["s2_scene"] = HOSTILE
    zarr.consolidate_metadata(str(out))
    assert main(["info", str(out)]) == 0
    assert HOSTILE in capsys.readouterr().out
    assert main(["plot", str(out), "-o", str(tmp_path / "figs")]) == 0
    assert not list(tmp_path.rglob("PWNED")) and not Path("/tmp/PWNED").exists()
    run(inputs.granule, out, scenes=inputs.scene, config=run_config(), backend="serial",
        progress=False)
    tree_attrs = json.loads((out / "zarr.json").read_text())["attributes"]
    assert tree_attrs["input_granules"] == [inputs.granule.name]
    assert not list(tmp_path.rglob("PWNED"))


def test_cli_deletes_nothing_outside_its_output(inputs: Inputs, tmp_path: Path) -> None:
    """Output inside a folder of other files, a stale ``<out>.partial`` (left by a killed run)
    holding a symlink to a folder outside: the run removes the stale partial folder and the
    link, but never follows it; neighbours and look-alike names are untouched."""
    from icefb.cli import main

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    work = tmp_path / "work"
    work.mkdir()
    neighbours = {
        work / "notes.txt": "mine",
        work / "p.zarr.partial.bak" / "x.txt": "look-alike",
        work / "p.zarrx" / "y.txt": "look-alike",
        work / "q.zarr" / "zarr.json": "{}",
    }
    for p, text in neighbours.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    stale = work / "p.zarr.partial"
    stale.mkdir()
    (stale / "gt1l.deadbeef").mkdir()
    (stale / "gt1l.deadbeef" / "junk").write_text("half a beam")
    (stale / "link").symlink_to(outside, target_is_directory=True)
    # a killed run: product root exists, marked incomplete
    shutil.copytree(inputs.product, work / "p.zarr")
    meta = json.loads((work / "p.zarr" / "zarr.json").read_text())
    meta["attributes"]["status"] = "incomplete"
    (work / "p.zarr" / "zarr.json").write_text(json.dumps(meta))
    shutil.rmtree(work / "p.zarr" / "gt2l")

    argv = ["run", str(inputs.granule), "--scenes", str(inputs.scene), "-o",
            str(work / "p.zarr"), "--backend", "serial", "--no-progress", "--beams", "gt1l",
            "gt2l"]
    assert main(argv) == 0
    assert not stale.exists()
    assert (outside / "precious.txt").read_text() == "keep"
    for p, text in neighbours.items():
        assert p.read_text() == text
    assert sorted(x.name for x in work.iterdir()) == sorted(
        ["notes.txt", "p.zarr.partial.bak", "p.zarrx", "q.zarr", "p.zarr"])
    assert_same_product(work / "p.zarr", inputs.product)
