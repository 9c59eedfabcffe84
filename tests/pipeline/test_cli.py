"""The command line: run, info, plot, synth, and clear errors."""

from __future__ import annotations

from icefb.cli import main


def test_cli_synth_run_info_plot(tmp_path, capsys):
    g = tmp_path / "g.h5"
    assert main(["synth", str(g), "--length-km", "3", "--seed", "2",
                 "--scene", str(tmp_path / "s.tif")]) == 0
    out = tmp_path / "p.zarr"
    assert main(["run", str(g), "--scenes", str(tmp_path / "s.tif"), "-o", str(out),
                 "--backend", "serial", "--beams", "gt1l", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "gt1l" in text and "wrote" in text
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "freeboard" in text and "status: complete" in text
    assert main(["plot", str(out), "-o", str(tmp_path / "figs"), "--scene",
                 str(tmp_path / "s.tif")]) == 0
    pngs = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    assert {"profile_gt1l.png", "freeboard_histogram.png", "track_map.png",
            "confusion_matrix.png"} <= set(pngs)
    for p in (tmp_path / "figs").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "not_a_granule.h5"
    bad.write_bytes(b"this is not HDF5")
    assert main(["run", str(bad), "-o", str(tmp_path / "p.zarr"), "--backend", "serial"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("icefb run: error:") and "not_a_granule.h5" in err
    assert len(err.splitlines()) == 1
    assert main(["info", str(tmp_path)]) == 2
    assert "not an icefb product" in capsys.readouterr().err
