"""Faults during a run: killed workers, a killed ``icefb run``, Spark task failures, disk full.

Every case ends with a product bit-identical (except ``date_created``) to the clean serial run
of the session fixture ``inputs``, and checks that no beam ever looked complete while it was not.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import xarray as xr
from relhelpers import BEAMS, Inputs, assert_same_product, product_beam, run_config

from icefb import errors
from icefb.seasurface import pair_beam_name


def _beam_states(store: Path) -> dict[str, int | None]:
    """``icefb_complete`` of every beam directory present in the store (None: no metadata)."""
    out = {}
    for b in BEAMS:
        meta = store / b / "zarr.json"
        if (store / b).exists():
            out[b] = (json.loads(meta.read_text()).get("attributes", {}).get("icefb_complete")
                      if meta.is_file() else None)
    return out


def test_sigkill_mid_write_then_rerun(inputs: Inputs, tmp_path: Path) -> None:
    """``icefb run`` SIGKILLed right after its first beam lands; the re-run finishes the job."""
    out = tmp_path / "p.zarr"
    (tmp_path / "neighbour.txt").write_text("not mine")
    cmd = [sys.executable, "-m", "icefb.cli", "run", str(inputs.granule), "--scenes",
           str(inputs.scene), "-o", str(out), "--backend", "serial", "--no-progress",
           "--beams", *BEAMS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while not any((out / b / "zarr.json").exists() for b in BEAMS):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() - t0 < 240, "first beam never landed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    # what the killed run left: a product marked incomplete, only complete beams in the store
    root = json.loads((out / "zarr.json").read_text())["attributes"]
    assert root["status"] == "incomplete"
    states = _beam_states(out)
    assert states and all(v == 1 for v in states.values()), states
    assert len(states) < len(BEAMS)
    from icefb.pipeline import open_product

    assert open_product(out).attrs["status"] == "incomplete"

    from icefb.pipeline import run

    res = run(inputs.granule, out, scenes=inputs.scene, config=run_config(), backend="serial",
              progress=False)
    assert sorted(res.skipped) == sorted(states)  # complete beams are not redone
    assert not out.with_name(out.name + ".partial").exists()
    assert_same_product(out, inputs.product)
    assert (tmp_path / "neighbour.txt").read_text() == "not mine"


def test_dask_worker_killed_mid_run(inputs: Inputs, dask_backend, tmp_path: Path) -> None:
    """One of two dask workers SIGKILLed while units run: the nanny restarts it, the scheduler
    re-runs its unit, and the product equals the clean run."""
    from icefb.pipeline import run

    client = dask_backend.client
    out = tmp_path / "p.zarr"
    result: dict = {}

    def target():
        try:
            result["res"] = run(inputs.granule, out, scenes=inputs.scene, config=run_config(),
                                backend=dask_backend, progress=False)
        except BaseException as exc:  # pragma: no cover - reported below
            result["exc"] = exc

    th = threading.Thread(target=target)
    th.start()
    killed = None
    t0 = time.monotonic()
    while th.is_alive() and time.monotonic() - t0 < 120:
        busy = [w for w, tasks in client.processing().items() if tasks]
        if busy:
            pids = client.run(os.getpid, workers=busy[:1])
            killed = next(iter(pids.values()))
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.05)
    th.join(timeout=300)
    assert not th.is_alive()
    assert "exc" not in result, result.get("exc")
    assert killed is not None, "no unit was ever seen running"
    assert_same_product(out, inputs.product)
    # the cluster healed: two workers again for the rest of the session
    client.wait_for_workers(2, timeout=60)


def test_disk_full_during_a_write(inputs: Inputs, tmp_path: Path, monkeypatch) -> None:
    """ENOSPC while the second beam is written: a ProductError names the beam and the cause,
    the first beam stays complete and correct, nothing half-written is left; a re-run
    (disk freed) completes the product."""
    from icefb.pipeline import product, run
    from icefb.pipeline.product import beam_complete

    out = tmp_path / "p.zarr"
    orig = product._dump_store

    def full_disk(encoded, root):
        # the disk fills up half-way through the second beam's files
        if BEAMS[1] in Path(str(root)).name:
            orig(dict(list(encoded.items())[: len(encoded) // 2]), root)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return orig(encoded, root)

    monkeypatch.setattr(product, "_dump_store", full_disk)
    with pytest.raises(errors.ProductError) as info:
        run(inputs.granule, out, scenes=inputs.scene, config=run_config(), backend="serial",
            progress=False)
    msg = str(info.value)
    assert "No space left on device" in msg and BEAMS[1] in msg and "p.zarr" in msg
    digest = run_config().digest()
    assert beam_complete(out, BEAMS[0], digest)
    assert not (out / BEAMS[1]).exists()
    partial = out.with_name(out.name + ".partial")
    assert not partial.exists() or not any(partial.iterdir())
    xr.testing.assert_identical(product_beam(out, BEAMS[0]), product_beam(inputs.product,
                                                                         BEAMS[0]))
    monkeypatch.undo()
    res = run(inputs.granule, out, scenes=inputs.scene, config=run_config(), backend="serial",
              progress=False)
    assert res.skipped == [BEAMS[0]]
    assert_same_product(out, inputs.product)


_SPARK_SCRIPT = textwrap.dedent(
    """
    import sys, types
    from pathlib import Path
    import icefb.pipeline  # noqa: F401  (the package re-exports run(); take the module)
    R = sys.modules["icefb.pipeline.run"]
    from icefb.backends.spark import SparkBackend
    from icefb.pipeline import RunConfig

    granule, scene, out, marker_dir, master = sys.argv[1:6]
    # the default run (cross_pairs) has three phases; the first (held in a cached RDD) and
    # the last (sea surface, freeboard, write) of every unit die once like a lost executor
    src = '''
    def _first_attempt(name):
        from pathlib import Path
        marker = Path(MARKERS) / name
        if not marker.exists():
            marker.touch()
            raise RuntimeError("injected executor failure")

    def flaky_classify(item, config):
        _first_attempt("classify:" + item[1])
        from icefb.pipeline.units import classify_unit
        return classify_unit(item, config)

    def flaky_finish(cu, windows, config, store, digest):
        _first_attempt("finish:" + "+".join(cu.groups))
        from icefb.pipeline.units import finish_unit
        return finish_unit(cu, windows, config, store, digest)
    '''
    ns = {"__name__": "icefb_flaky_by_value", "MARKERS": marker_dir}
    exec(src, ns)
    R.classify_unit = ns["flaky_classify"]
    R.finish_unit = ns["flaky_finish"]
    be = SparkBackend(master=master, progress=False)
    try:
        R.run(granule, out, scenes=scene, config=RunConfig(beams=("gt1l", "gt2l")), backend=be,
              progress=False)
    finally:
        be.close()
    print("retried:", sorted(p.name for p in Path(marker_dir).iterdir()))
    """
)


@pytest.mark.slow
@pytest.mark.spark
def test_spark_task_failure_is_retried(inputs: Inputs, tmp_path: Path) -> None:
    """Every unit (a beam and its pair partner) fails on the first attempt of its first and
    last phase (a marker file decides); Spark retries it (``local[2,4]``: up to 4 attempts
    per task) and the product equals the clean run."""
    out = tmp_path / "p.zarr"
    markers = tmp_path / "markers"
    markers.mkdir()
    script = tmp_path / "spark_flaky.py"
    script.write_text(_SPARK_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(inputs.granule), str(inputs.scene), str(out),
         str(markers), "local[2,4]"],
        capture_output=True, text=True, timeout=480,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # one marker per phase and run unit: every pair of the granule (the pairs of the requested
    # beams, and the others, read for their leads across pairs, not written)
    pairs = [f"{b}+{pair_beam_name(b)}" for b in ("gt1l", "gt2l", "gt3l")]
    assert set(BEAMS) <= {b for p in pairs for b in p.split("+")}
    assert sorted(p.name for p in markers.iterdir()) == sorted(
        f"{phase}:{p}" for phase in ("classify", "finish") for p in pairs)
    assert_same_product(out, inputs.product)
