"""Run every asv benchmark in ``benchmarks/*.py`` once, so none can rot (flox ``test_asv.py``).

For each class (and module-level function) with ``time_*``, ``peakmem_*``, ``track_*`` or
``mem_*`` methods: instantiate, ``setup`` with the first parameter combination, call each
benchmark once, ``teardown``. The scaling benchmarks use a short synthetic track here
(``ICEFB_BENCH_KM``).
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
PREFIXES = ("time_", "peakmem_", "track_", "mem_", "timeraw_")
#: scripts the docs cite, not asv benchmarks (their numbers come from running them by hand)
SCRIPTS = {"freeboard_filter_bound.py", "resample_workers.py", "scaling_model.py",
           "seasurface_pairs.py"}
MODULES = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_")
                 and p.name not in SCRIPTS)
#: modules whose single pass takes over a minute on the shared 2-core machine (model training)
SLOW = {"bench_ml"}


def _import(path: Path):
    # import under its own name (as asv does) so that dask workers can unpickle its functions
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _first_params(obj) -> tuple:
    params = getattr(obj, "params", None)
    if params is None or (isinstance(params, (list, tuple)) and len(params) == 0):
        return ()
    names = getattr(obj, "param_names", None)
    if isinstance(params, (list, tuple)) and params and isinstance(params[0], (list, tuple)) \
            and (names is None or len(names) == len(params) or len(params) > 1):
        return tuple(next(itertools.product(*params)))
    return (params[0],)


def _is_bench(name: str) -> bool:
    return name.startswith(PREFIXES)


def _run_class(cls) -> int:
    inst = cls()
    p = _first_params(cls)
    methods = [n for n in dir(cls) if _is_bench(n) and callable(getattr(cls, n))]
    if not methods:
        return 0
    setup = getattr(inst, "setup", None)
    if setup is not None:
        setup(*p)
    try:
        for n in methods:
            getattr(inst, n)(*p)
    finally:
        teardown = getattr(inst, "teardown", None)
        if teardown is not None:
            teardown(*p)
    return len(methods)


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else [])
    for p in MODULES
])
def test_benchmarks_run_once(path, monkeypatch, tmp_path):
    monkeypatch.setenv("ICEFB_BENCH_KM", "3")
    monkeypatch.setenv("ICEFB_BENCH_DIR", str(tmp_path))
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    mod = _import(path)
    ran = 0
    for name, obj in vars(mod).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue
        if inspect.isclass(obj):
            ran += _run_class(obj)
        elif inspect.isfunction(obj) and _is_bench(name):
            obj(*_first_params(obj))
            ran += 1
    assert ran > 0, f"{path.name} defines no benchmark"


def test_pandas_baseline_computes_the_kernels_features():
    """The numba/pandas ratio of issue #4 compares like with like: the pandas groupby of
    ``bench_resample`` gives the kernel's features, bin by bin."""
    import numpy as np

    from icefb.kernels.binning import BIN_FIELDS, bin_block

    bench = _import(BENCH_DIR / "bench_resample.py")
    a = bench.make_photons(30_000, seed=3)
    a["lon_ph"] = (a["lon_ph"] + 330.0 + 180.0) % 360.0 - 180.0  # the track crosses 180
    b0, stats, _ = bin_block(a, window=bench.WINDOW, min_conf=3)
    kernel = dict(zip(BIN_FIELDS, stats, strict=True))
    pandas = bench.pandas_same_features(a)
    bins = pandas.index.to_numpy() - b0
    assert set(pandas.columns) == set(BIN_FIELDS)
    assert kernel["n_photons"].sum() == pandas["n_photons"].sum()
    assert np.all(kernel["n_photons"][np.setdiff1d(np.arange(stats[0].size), bins)] == 0)
    for name in BIN_FIELDS:
        np.testing.assert_allclose(
            pandas[name].to_numpy(), kernel[name][bins], rtol=1e-12, atol=1e-9, err_msg=name
        )
