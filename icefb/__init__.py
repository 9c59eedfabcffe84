"""icefb: 2 m ICESat-2 ATL03 sea-ice surface type, sea surface height and freeboard.

The public API is the names in ``__all__``; heavy modules load on first use.

Examples
--------
>>> import icefb
>>> icefb.SurfaceType.THIN_ICE.value
1
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports below type the lazily loaded public names)
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from icefb import errors
from icefb.constants import SurfaceType

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily so `import icefb` stays fast)
_LAZY: dict[str, str] = {
    "open_atl03": "icefb.io.atl03",
    "open_atl03_many": "icefb.io.atl03",
    "open_atl07": "icefb.io.atl07",
    "open_atl10": "icefb.io.atl07",
    "resample": "icefb.segments",
    "BinningConfig": "icefb.segments",
    "autolabel": "icefb.labeling",
    "LabelConfig": "icefb.labeling",
    "open_scene": "icefb.labeling",
    "sea_surface": "icefb.seasurface",
    "SSHConfig": "icefb.seasurface",
    "freeboard": "icefb.freeboard",
    "compare_atl07": "icefb.compare",
    "compare_atl10": "icefb.compare",
    "run": "icefb.pipeline",
    "RunConfig": "icefb.pipeline",
    "open_product": "icefb.pipeline",
    "atl03_to_zarr": "icefb.io.zarr_store",
    "predict": "icefb.ml.inference",
    "classify": "icefb.ml.inference",
    "load_model": "icefb.ml.io",
    "train": "icefb.ml.train",
    "TrainConfig": "icefb.ml.train",
}

# subpackages reachable as attributes without an explicit import (``icefb.ml.predict``)
_SUBMODULES = ("backends", "io", "labeling", "ml", "pipeline", "synth", "testing")

__all__ = ["SurfaceType", "__version__", "errors", *sorted(_LAZY), *_SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover
    from icefb.compare import compare_atl07, compare_atl10
    from icefb.freeboard import freeboard
    from icefb.io.atl03 import open_atl03, open_atl03_many
    from icefb.io.atl07 import open_atl07, open_atl10
    from icefb.io.zarr_store import atl03_to_zarr
    from icefb.labeling import LabelConfig, autolabel, open_scene
    from icefb.ml.inference import classify, predict
    from icefb.ml.io import load_model
    from icefb.ml.train import TrainConfig, train
    from icefb.pipeline import RunConfig, open_product, run
    from icefb.seasurface import SSHConfig, sea_surface
    from icefb.segments import BinningConfig, resample


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"icefb.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'icefb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# register the `ds.icefb` accessor
from icefb import accessor as _accessor  # noqa: E402,F401
