"""Auto-labeling of 2 m segments from Sentinel-2 scenes (with drift correction).

Public names: :func:`open_scene`, :func:`classify_scene`, :func:`write_class_raster`,
:func:`autolabel`, :func:`label_unit` (the picklable per-unit function for dask/Spark),
:func:`find_scenes`, :class:`LabelConfig`, :class:`LabelFlag`, :class:`DriftEstimate`.
"""

from __future__ import annotations

from icefb.io.sentinel2 import open_scene, parse_scene_time, scene_info
from icefb.labeling.classify import classify_scene, write_class_raster
from icefb.labeling.config import (
    CLASS_RASTER_FLAG_MEANINGS,
    CLASS_RASTER_FLAG_VALUES,
    LABEL_FLAG_MEANINGS,
    LABEL_FLAG_VALUES,
    LabelConfig,
    LabelFlag,
)
from icefb.labeling.core import DriftEstimate, autolabel, estimate_drift, label_unit
from icefb.labeling.pairing import SceneMatch, find_scenes

__all__ = [
    "CLASS_RASTER_FLAG_MEANINGS",
    "CLASS_RASTER_FLAG_VALUES",
    "LABEL_FLAG_MEANINGS",
    "LABEL_FLAG_VALUES",
    "DriftEstimate",
    "LabelConfig",
    "LabelFlag",
    "SceneMatch",
    "autolabel",
    "classify_scene",
    "estimate_drift",
    "find_scenes",
    "label_unit",
    "open_scene",
    "parse_scene_time",
    "scene_info",
    "write_class_raster",
]
