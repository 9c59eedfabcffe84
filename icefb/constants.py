"""Constants pinned once for the whole package: class codes, beams, ATL03 conventions.

Every product icefb writes carries :data:`SURFACE_TYPE_FLAG_VALUES` and
:data:`SURFACE_TYPE_FLAG_MEANINGS` so a reader never has to guess the codes.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = [
    "ATLAS_SDP_EPOCH",
    "ATL03_FILL_VALUE",
    "BEAMS",
    "SEA_ICE_CONF_COLUMN",
    "SHOT_RATE_HZ",
    "SURFACE_TYPE_FLAG_MEANINGS",
    "SURFACE_TYPE_FLAG_VALUES",
    "SurfaceType",
    "delta_time_to_datetime64",
]


class SurfaceType(IntEnum):
    """Surface-type class codes used in every icefb product.

    Examples
    --------
    >>> int(SurfaceType.OPEN_WATER)
    2
    >>> SurfaceType(0).name.lower()
    'thick_ice'
    """

    UNLABELED = -1
    THICK_ICE = 0
    THIN_ICE = 1
    OPEN_WATER = 2


#: Classes a classifier predicts (excludes ``UNLABELED``), in code order.
CLASSES: tuple[SurfaceType, ...] = (
    SurfaceType.THICK_ICE,
    SurfaceType.THIN_ICE,
    SurfaceType.OPEN_WATER,
)
N_CLASSES = len(CLASSES)

SURFACE_TYPE_FLAG_VALUES = np.array([-1, 0, 1, 2], dtype=np.int8)
SURFACE_TYPE_FLAG_MEANINGS = "unlabeled thick_ice thin_ice open_water"

#: The six ATLAS ground-track beams, in the order of the ATL03 file.
BEAMS: tuple[str, ...] = ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r")

#: ``_FillValue`` of float32 ATL03 variables (geophys_corr and friends).
ATL03_FILL_VALUE = np.float32(3.4028235e38)

#: Column of ``signal_conf_ph`` holding the sea-ice confidence
#: (columns: land, ocean, sea ice, land ice, inland water).
SEA_ICE_CONF_COLUMN = 2

#: ATLAS laser pulse repetition frequency (Hz).
SHOT_RATE_HZ = 10_000.0

#: ``delta_time`` origin: 2018-01-01T00:00:00 (GPS seconds 1198800018 past the GPS epoch).
ATLAS_SDP_EPOCH = np.datetime64("2018-01-01T00:00:00", "ns")
ATLAS_SDP_GPS_EPOCH_SECONDS = 1198800018.0


def delta_time_to_datetime64(delta_time: np.ndarray | float) -> np.ndarray:
    """Convert ATLAS ``delta_time`` (s since the SDP epoch) to ``datetime64[ns]``.

    ATL03 ``delta_time`` counts seconds from 2018-01-01T00:00:00 UTC; leap seconds have not
    changed since 2017, so the offset is constant for the mission so far.

    Parameters
    ----------
    delta_time : array_like
        Seconds since 2018-01-01T00:00:00. NaN maps to ``NaT``.

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]`` array of the same shape.

    Examples
    --------
    >>> str(delta_time_to_datetime64(86400.5))
    '2018-01-02T00:00:00.500000000'
    """
    dt = np.asarray(delta_time, dtype=np.float64)
    ns = np.where(np.isfinite(dt), np.round(dt * 1e9), 0).astype("int64")
    out = ATLAS_SDP_EPOCH + ns.astype("timedelta64[ns]")
    return np.where(np.isfinite(dt), out, np.datetime64("NaT", "ns"))
