"""Parameters of Sentinel-2 auto-labeling and the label-flag codes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from icefb.errors import ConfigError

__all__ = [
    "CLASS_RASTER_FLAG_MEANINGS",
    "CLASS_RASTER_FLAG_VALUES",
    "LABEL_FLAG_MEANINGS",
    "LABEL_FLAG_VALUES",
    "LabelConfig",
    "LabelFlag",
    "RASTER_CLOUD",
    "RASTER_NODATA",
]


class LabelFlag:
    """``label_flag`` codes (int8). ``s2_label`` is -1 wherever the flag is not ``LABELED``."""

    LABELED = 0
    OUTSIDE_SCENE = 1
    CLOUD = 2
    TRANSITION = 3
    TIME_GAP = 4


LABEL_FLAG_VALUES = np.array([0, 1, 2, 3, 4], dtype=np.int8)
LABEL_FLAG_MEANINGS = "labeled outside_scene cloud class_transition time_gap"

#: Class-raster code for no data (outside the swath, DN 0, SCL 0).
RASTER_NODATA = -1
#: Class-raster code for cloud (SCL in ``LabelConfig.cloud_classes``).
RASTER_CLOUD = 3
CLASS_RASTER_FLAG_VALUES = np.array([-1, 0, 1, 2, 3], dtype=np.int8)
CLASS_RASTER_FLAG_MEANINGS = "no_data thick_ice thin_ice open_water cloud"


@dataclass(frozen=True)
class LabelConfig:
    """Parameters of :func:`icefb.autolabel`.

    Parameters
    ----------
    thick_min : int
        8-bit brightness ``V = max(R, G, B)`` at or above which a pixel is thick ice (paper: 205).
    water_max : int
        ``V`` at or below which a pixel is open water (paper: 30); thin ice in between.
    reflectance_max : float
        Reflectance mapped to ``V = 255``: ``V = min(round(255 * refl / reflectance_max), 255)``.
        Default 0.2, the ESA true-colour-image (TCI) convention (reflectance 0..0.2, i.e.
        DN 0..2000, stretched over the 8-bit range), so reflectance scenes and TCI files give
        the same classes.
    transition_radius_m : float
        A segment whose sampled pixel has a pixel of another class (or cloud) with its centre
        within this distance (m) is flagged ``class_transition`` (or ``cloud``) instead of
        labeled. 0 disables the check.
    max_time_gap_s : float
        Segments whose ``delta_time`` is more than this (s) from the scene acquisition are
        flagged ``time_gap``. ``inf`` disables the check.
    cloud : {"flag", "ignore"}
        ``"flag"``: SCL classes in ``cloud_classes`` are cloud and flag segments; ``"ignore"``:
        classify cloudy pixels by brightness like any other.
    cloud_classes : tuple of int
        SCL codes treated as cloud (8 medium, 9 high probability, 10 thin cirrus).
    drift : {"estimate", "fixed", "none"}
        Estimate the ice drift between the acquisitions, use ``drift_along_m`` /
        ``drift_across_m`` as given, or assume none.
    drift_along_m, drift_across_m : float
        Offset (m) used when ``drift="fixed"``: the position in the scene of the ice under a
        segment is the segment position plus this offset along / across (left of) the track.
    drift_window_m : float
        Half-width (m) of the square search window, along and across track.
    drift_coarse_step_m, drift_step_m : float
        First and final grid step (m) of the coarse-to-fine search.
    drift_reference_window_m : float
        Length (m) of the rolling window of the label-free low-height reference.
    drift_reference_percentile : float
        Percentile (0-100) of ``h_cor_mean`` in that window used as reference level.
    drift_height_scale_m : float
        Segment "lowness" is ``clip(1 - (h_cor_mean - reference) / scale, 0, 1)``.
    drift_thin_weight : float
        Weight of thin-ice pixels in the water field the lowness is correlated with (open water
        1, thick ice 0): refrozen leads are low too.
    drift_min_segments : int
        Fewest usable segments for a drift score.

    Examples
    --------
    >>> LabelConfig(transition_radius_m=30.0).thick_min
    205
    """

    thick_min: int = 205
    water_max: int = 30
    reflectance_max: float = 0.2
    transition_radius_m: float = 20.0
    max_time_gap_s: float = 3 * 3600.0
    cloud: Literal["flag", "ignore"] = "flag"
    cloud_classes: tuple[int, ...] = (8, 9, 10)
    drift: Literal["estimate", "fixed", "none"] = "estimate"
    drift_along_m: float = 0.0
    drift_across_m: float = 0.0
    drift_window_m: float = 600.0
    drift_coarse_step_m: float = 40.0
    drift_step_m: float = 2.0
    drift_reference_window_m: float = 2000.0
    drift_reference_percentile: float = 5.0
    drift_height_scale_m: float = 0.2
    drift_thin_weight: float = 0.5
    drift_min_segments: int = 100

    def __post_init__(self) -> None:
        if not 0 <= self.water_max < self.thick_min <= 255:
            raise ConfigError(
                "thresholds must satisfy 0 <= water_max < thick_min <= 255",
                got=(self.water_max, self.thick_min),
            )
        if not self.reflectance_max > 0:
            raise ConfigError("reflectance_max must be > 0", got=self.reflectance_max)
        if not (self.transition_radius_m >= 0 and math.isfinite(self.transition_radius_m)):
            raise ConfigError(
                "transition_radius_m must be finite and >= 0", got=self.transition_radius_m
            )
        if not self.max_time_gap_s > 0:
            raise ConfigError("max_time_gap_s must be > 0", got=self.max_time_gap_s)
        if self.cloud not in ("flag", "ignore"):
            raise ConfigError("bad cloud handling", got=self.cloud, expected='{"flag", "ignore"}')
        if self.drift not in ("estimate", "fixed", "none"):
            raise ConfigError(
                "bad drift mode", got=self.drift, expected='{"estimate", "fixed", "none"}'
            )
        if not (self.drift_window_m >= 0 and math.isfinite(self.drift_window_m)):
            raise ConfigError("drift_window_m must be finite and >= 0", got=self.drift_window_m)
        if not 0 < self.drift_step_m <= self.drift_coarse_step_m:
            raise ConfigError(
                "need 0 < drift_step_m <= drift_coarse_step_m",
                got=(self.drift_step_m, self.drift_coarse_step_m),
            )
        if not 0 <= self.drift_reference_percentile <= 100:
            raise ConfigError(
                "drift_reference_percentile must be in [0, 100]",
                got=self.drift_reference_percentile,
            )
        if not (self.drift_reference_window_m > 0 and self.drift_height_scale_m > 0):
            raise ConfigError(
                "drift_reference_window_m and drift_height_scale_m must be > 0",
                got=(self.drift_reference_window_m, self.drift_height_scale_m),
            )
        if not 0 <= self.drift_thin_weight < 1:
            raise ConfigError("drift_thin_weight must be in [0, 1)", got=self.drift_thin_weight)
        if self.drift_min_segments < 2:
            raise ConfigError("drift_min_segments must be >= 2", got=self.drift_min_segments)
        object.__setattr__(self, "cloud_classes", tuple(int(c) for c in self.cloud_classes))
