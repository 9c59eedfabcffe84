"""Label-free per-segment features, sequences of neighbours and their normalisation.

Nothing here reads ``s2_label`` (or any label): the features are functions of the photon
statistics of a beam only, so a classifier trained on them cannot learn the labels back from a
leaked feature. ``tests/ml/test_features.py`` guards this by shuffling the labels.

Examples
--------
>>> import numpy as np, xarray as xr
>>> n = 50
>>> seg = xr.Dataset(
...     {v: ("segment", np.ones(n, "float32")) for v in REQUIRED_VARIABLES},
...     coords={"segment": np.arange(n)}, attrs={"window": 2.0})
>>> feats = compute_features(seg)
>>> feats["features"].shape == (n, len(FeatureConfig().feature_names))
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import xarray as xr

from icefb.errors import ConfigError, MissingVariableError, ModelMismatchError
from icefb.kernels.features import (
    FEATURE_COLUMNS,
    feature_matrix,
    rolling_mean,
    rolling_percentiles_strided,
    rolling_std,
    rolling_valid_fraction,
)

__all__ = [
    "FEATURE_VERSION",
    "REQUIRED_VARIABLES",
    "FeatureConfig",
    "Normalizer",
    "compute_features",
    "make_sequences",
]

#: Bumped whenever the meaning of a feature changes; stored in every model file.
#: 2: references evaluated every 1/8 half-window and interpolated; 10 km references
#: (``h_rel_long``, ``pcnt_rel_long``), ``h_rel_mid`` (2 km), local photon rate.
#: 3: the floes' level (``h_ice_mid``, ``h_ice_long``: rolling medians over 2 and 10 km) and the
#: deepest level (``h_floor_long``: 1st percentile over 10 km).
FEATURE_VERSION = 3

#: Rolling-percentile references are evaluated every ``half_window // REF_STRIDE_DIVISOR``
#: bins (anchored on the global segment index) and interpolated in between.
REF_STRIDE_DIVISOR = 8

#: Segment variables (docs/architecture.md) the features are computed from.
REQUIRED_VARIABLES: tuple[str, ...] = (
    "h_cor_mean",
    "h_cor_median",
    "h_std",
    "h_min",
    "h_max",
    "n_photons",
    "n_high",
    "pcnt",
    "pcnth",
    "bcnt",
    "brate",
)


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the label-free feature set.

    Parameters
    ----------
    ref_window : float
        Length (m) of the along-track window of the local height reference.
    mid_ref_window : float
        Length (m) of a second, longer reference window (a lead further away than
        ``ref_window / 2`` still sets the level) and of the local brightness reference.
    long_ref_window : float
        Length (m) of the longest reference window (height level and snow brightness of
        the beam seen past leads kilometres wide); no window may be longer (it sets the halo
        of blockwise classification).
    ref_percentile : float
        Percentile (0-100) of ``h_cor_mean`` in the window used as the reference: a low
        percentile tracks the lowest surfaces (water, thin ice) without needing a label.
    floor_percentile : float
        Percentile (0-100) over ``long_ref_window`` of the deepest level (feature
        ``h_floor_long``): a lead that covers more than 1 % of 10 km of track sets it, where
        the 5th percentile still sits on the lowest floes up to 5 %.
    ice_percentile : float
        Percentile (0-100) of ``h_cor_mean`` over ``mid_ref_window`` and ``long_ref_window``
        taken as the level of the surrounding ice (features ``h_ice_mid``, ``h_ice_long``):
        thick ice covers most of a sea-ice track, so the median follows the floes, also inside
        leads too wide for the low percentile to find ice on both sides.
    rough_window : float
        Length (m) of the window of the local height roughness and coverage features.
    min_count : int
        Fewer non-empty bins in a window gives NaN for that window's feature.
    half_width : int
        Neighbours on each side of a segment in a sequence (sequence length ``2*h+1``).

    Examples
    --------
    >>> FeatureConfig().sequence_length
    5
    >>> FeatureConfig().feature_names[:3]
    ('h_rel', 'h_rel_mid', 'h_rel_long')
    """

    ref_window: float = 400.0
    mid_ref_window: float = 2000.0
    long_ref_window: float = 10000.0
    ref_percentile: float = 5.0
    floor_percentile: float = 1.0
    ice_percentile: float = 50.0
    rough_window: float = 40.0
    min_count: int = 5
    half_width: int = 2

    def __post_init__(self) -> None:
        for name in ("ref_window", "mid_ref_window", "long_ref_window", "rough_window"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ConfigError(
                    "window must be a positive length", variable=name,
                    got=getattr(self, name), expected="> 0 m",
                )
            if getattr(self, name) > self.long_ref_window:
                raise ConfigError(
                    "no window may be longer than long_ref_window", variable=name,
                    got=getattr(self, name), expected=f"<= {self.long_ref_window} m",
                )
        for name in ("ref_percentile", "floor_percentile", "ice_percentile"):
            if not 0.0 <= getattr(self, name) <= 100.0:
                raise ConfigError("percentile out of range", variable=name,
                                  got=getattr(self, name), expected="0..100")
        if self.half_width < 0 or self.min_count < 1:
            raise ConfigError("half_width must be >= 0 and min_count >= 1",
                              got=(self.half_width, self.min_count))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the feature columns, in order."""
        return (
            "h_rel",
            "h_rel_mid",
            "h_rel_long",
            "h_floor_long",
            "h_ice_mid",
            "h_ice_long",
            "h_med_rel",
            "h_std",
            "h_range",
            "h_rough",
            "pcnt",
            "pcnth",
            "pcnt_rel",
            "pcnt_rel_long",
            "pcnt_local_rel",
            "high_frac",
            "log_bcnt",
            "log_brate",
            "coverage",
        )

    @property
    def sequence_length(self) -> int:
        """Number of steps in a sequence, ``2 * half_width + 1``."""
        return 2 * self.half_width + 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        """Build from :meth:`to_dict` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _check_segments(segments: xr.Dataset) -> None:
    if not isinstance(segments, xr.Dataset):
        raise ConfigError("segments must be an xarray.Dataset", got=type(segments).__name__)
    beam = segments.attrs.get("beam")
    path = segments.attrs.get("source_path")
    for v in REQUIRED_VARIABLES:
        if v not in segments:
            raise MissingVariableError(
                "segment Dataset lacks a variable the features need", path=path, beam=beam,
                variable=v, expected=f"all of {list(REQUIRED_VARIABLES)}",
            )
        if segments[v].dims != ("segment",):
            raise MissingVariableError(
                "feature input must be 1-D on dim 'segment'", path=path, beam=beam,
                variable=v, got=segments[v].dims, expected=("segment",),
            )


def _window_bins(length_m: float, window_m: float) -> int:
    return max(1, int(round(length_m / window_m / 2.0)))


def compute_features(segments: xr.Dataset, config: FeatureConfig | None = None) -> xr.Dataset:
    """Compute the label-free feature matrix of one beam's segments.

    Parameters
    ----------
    segments : xarray.Dataset
        One beam on the regular segment grid (docs/architecture.md), with at least
        :data:`REQUIRED_VARIABLES`; empty bins carry NaN heights and zero counts. Attribute
        ``window`` (m, default 2) sets the grid spacing. Labels, if present, are ignored.
    config : FeatureConfig, optional
        Feature parameters; defaults to ``FeatureConfig()``.

    Returns
    -------
    xarray.Dataset
        ``features`` (segment, feature) float32, NaN where undefined (empty bins); ``valid``
        (segment) bool, True where the bin holds signal photons. Coordinates ``segment`` and
        ``feature`` (names).

    Raises
    ------
    MissingVariableError
        A required variable is missing or not 1-D on ``segment``.
    """
    cfg = config or FeatureConfig()
    _check_segments(segments)
    window = float(segments.attrs.get("window", 2.0))
    if not np.isfinite(window) or window <= 0:
        raise ConfigError("segment window must be positive", beam=segments.attrs.get("beam"),
                          got=window, expected="> 0 m")

    def arr(name: str) -> np.ndarray:
        return np.asarray(segments[name].values, dtype=np.float64)

    n_ph = np.nan_to_num(arr("n_photons"), nan=0.0)
    valid = (n_ph > 0) & np.isfinite(arr("h_cor_mean"))
    h = np.where(valid, arr("h_cor_mean"), np.nan)
    hmed = np.where(valid, arr("h_cor_median"), np.nan)
    if "segment" in segments.coords and np.issubdtype(segments["segment"].dtype, np.integer):
        key = np.asarray(segments["segment"].values, dtype=np.int64)
    else:
        key = np.arange(h.size, dtype=np.int64)

    def ref(x: np.ndarray, length: float, *qs: float) -> np.ndarray:
        # one row per percentile, all from one pass over the windows
        hw = _window_bins(length, window)
        return rolling_percentiles_strided(x, key, hw, qs, cfg.min_count,
                                           max(1, hw // REF_STRIDE_DIVISOR))

    (ref_s,) = ref(h, cfg.ref_window, cfg.ref_percentile)
    ref_m, ice_m = ref(h, cfg.mid_ref_window, cfg.ref_percentile, cfg.ice_percentile)
    ref_l, floor_l, ice_l = ref(h, cfg.long_ref_window, cfg.ref_percentile,
                                cfg.floor_percentile, cfg.ice_percentile)
    rough_h = _window_bins(cfg.rough_window, window)
    pcnt = np.nan_to_num(arr("pcnt"), nan=0.0)
    pcnth = np.nan_to_num(arr("pcnth"), nan=0.0)
    # brightness relative to the beam's own bright-surface level (strong/weak, atmosphere):
    # locally (90th percentile over mid_ref_window) and over the long window (75th
    # percentile of the non-empty bins: thick snow-covered ice, even beside wide leads)
    (pcnt_ref,) = ref(pcnt, cfg.mid_ref_window, 90.0)
    (pcnt_ref_l,) = ref(np.where(valid, pcnt, np.nan), cfg.long_ref_window, 75.0)
    pcnt_local = rolling_mean(pcnt, rough_h, 1)  # empty bins count as 0 photons
    if cfg.feature_names != FEATURE_COLUMNS:  # pragma: no cover - a programming error
        raise ConfigError("feature names differ from the kernel's columns",
                          got=cfg.feature_names, expected=FEATURE_COLUMNS)

    def raw(name: str) -> np.ndarray:  # the segment variable as stored (the kernel casts)
        v = np.asarray(segments[name].values)
        if v.dtype.kind not in "biuf" or v.dtype.itemsize < 4 or not v.dtype.isnative:
            v = v.astype(np.float64)  # float16, small ints, big-endian: numba takes none
        return np.ascontiguousarray(v)

    data = np.empty((h.size, len(FEATURE_COLUMNS)), np.float32)
    feature_matrix(
        h, hmed, valid, raw("h_std"), raw("h_max"), raw("h_min"), n_ph, raw("n_high"), pcnt,
        pcnth, raw("bcnt"), raw("brate"), ref_s, ref_m, ice_m, ref_l, floor_l, ice_l,
        rolling_std(h, rough_h, cfg.min_count), pcnt_ref, pcnt_ref_l, pcnt_local,
        rolling_valid_fraction(h, rough_h), data,
    )  # fmt: skip
    seg_coord = segments["segment"].values if "segment" in segments.coords else np.arange(h.size)
    return xr.Dataset(
        {
            "features": (("segment", "feature"), data,
                         {"long_name": "label-free classification features"}),
            "valid": ("segment", valid, {"long_name": "bin holds signal photons"}),
        },
        coords={"segment": seg_coord, "feature": list(cfg.feature_names)},
        attrs={"feature_config": str(cfg.to_dict()), "feature_version": FEATURE_VERSION},
    )


@dataclass(frozen=True)
class Normalizer:
    """Per-feature standardisation fitted on the training split and saved with the model.

    Parameters
    ----------
    mean, std : tuple of float
        Per-feature mean and standard deviation over valid training segments.
    feature_names : tuple of str
        Names of the columns, in order.

    Examples
    --------
    >>> x = np.array([[0.0, 1.0], [2.0, 3.0]], dtype="float32")
    >>> norm = Normalizer.fit(x, np.array([True, True]), ("a", "b"))
    >>> norm.apply(x, np.array([True, False]))[:, :2].tolist()
    [[-1.0, -1.0], [0.0, 0.0]]
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    feature_names: tuple[str, ...]

    @classmethod
    def fit(cls, features: np.ndarray, valid: np.ndarray, feature_names) -> Normalizer:
        """Fit mean/std on the rows of ``features`` where ``valid`` (NaNs ignored)."""
        x = np.asarray(features, dtype=np.float64)[np.asarray(valid, bool)]
        if x.shape[0] == 0:
            raise ConfigError("cannot fit normalisation on zero valid segments",
                              expected="at least one non-empty training segment")
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
            std = np.nanstd(np.where(np.isfinite(x), x, np.nan), axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std),
                   tuple(feature_names))

    def apply(self, features: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Standardise, set undefined values and empty bins to 0, append a ``valid`` column.

        Returns
        -------
        numpy.ndarray
            float32 (n, n_features + 1); the last column is 1.0 for non-empty bins.
        """
        x = np.asarray(features)
        out = np.empty((x.shape[0] if x.ndim == 2 else 0, len(self.mean) + 1), np.float32)
        return self.apply_into(x, valid, out)

    def apply_into(self, features: np.ndarray, valid: np.ndarray, out: np.ndarray) -> np.ndarray:
        """:meth:`apply` written into ``out`` (float32, (n, n_features + 1), C-contiguous),
        e.g. the rows of a padded sequence buffer; one pass in a numba kernel.

        Returns
        -------
        numpy.ndarray
            ``out``.
        """
        from icefb.kernels.features import standardize_into

        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise ModelMismatchError("feature matrix has the wrong number of columns",
                                     got=x.shape, expected=f"(n, {len(self.mean)})")
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        v = np.ascontiguousarray(valid, dtype=bool)
        if v.shape != (x.shape[0],):
            raise ModelMismatchError("valid flags do not match the feature rows",
                                     got=v.shape, expected=f"({x.shape[0]},)")
        if out.shape != (x.shape[0], x.shape[1] + 1) or out.dtype != np.float32 \
                or not out.flags.c_contiguous:
            raise ConfigError("output buffer does not fit the features", got=out.shape,
                              expected=f"C-contiguous float32 ({x.shape[0]}, {x.shape[1] + 1})")
        standardize_into(np.ascontiguousarray(x), v,
                         np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32),
                         out)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        return {"mean": list(self.mean), "std": list(self.std),
                "feature_names": list(self.feature_names)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(d["mean"]), tuple(d["std"]), tuple(d["feature_names"]))


def make_sequences(
    x: np.ndarray, half_width: int = 2, index: np.ndarray | None = None
) -> np.ndarray:
    """Stack each segment with its ``half_width`` neighbours on each side.

    Parameters
    ----------
    x : numpy.ndarray
        (n, c) normalised features of one beam (output of :meth:`Normalizer.apply`, whose
        last column is the valid mask).
    half_width : int
        Neighbours on each side; the sequence length is ``2 * half_width + 1``.
    index : numpy.ndarray, optional
        Centre segments (positions) to build; all by default.

    Returns
    -------
    numpy.ndarray
        float32 (len(index), 2*half_width+1, c). Neighbours beyond the ends of the beam are
        all-zero rows (valid mask 0), the same as empty bins.

    Examples
    --------
    >>> x = np.arange(6, dtype="float32").reshape(3, 2)
    >>> make_sequences(x, 1)[0].tolist()
    [[0.0, 0.0], [0.0, 1.0], [2.0, 3.0]]
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ConfigError("features must be 2-D (segment, feature)", got=x.shape)
    if half_width < 0:
        raise ConfigError("half_width must be >= 0", got=half_width)
    n, c = x.shape
    pad = np.zeros((n + 2 * half_width, c), np.float32)
    pad[half_width : half_width + n] = x
    windows = np.lib.stride_tricks.sliding_window_view(pad, 2 * half_width + 1, axis=0)
    idx = np.arange(n) if index is None else np.asarray(index, dtype=np.int64)
    return np.ascontiguousarray(windows[idx].transpose(0, 2, 1))
