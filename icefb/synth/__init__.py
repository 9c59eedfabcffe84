"""A synthetic sea-ice world with known truth: ATL03 granules, Sentinel-2 scenes, ATL07/ATL10.

Examples
--------
>>> from icefb.synth import make_granule, read_truth
>>> callable(make_granule) and callable(read_truth)
True
"""

from __future__ import annotations

from icefb.synth.granule import GranuleConfig, beam_layout, make_granule, truth_path
from icefb.synth.products import atl07_segments, make_atl07, make_atl10
from icefb.synth.scene import SceneInfo, make_scene, world_of
from icefb.synth.truth import read_truth, read_truth_attrs
from icefb.synth.world import SeaIceWorld, TrackFrame, WorldConfig

__all__ = [
    "GranuleConfig",
    "SceneInfo",
    "SeaIceWorld",
    "TrackFrame",
    "WorldConfig",
    "atl07_segments",
    "beam_layout",
    "make_atl07",
    "make_atl10",
    "make_granule",
    "make_scene",
    "read_truth",
    "read_truth_attrs",
    "truth_path",
    "world_of",
]
