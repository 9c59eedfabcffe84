"""Readers and writers: ATL03/ATL07/ATL10 HDF5 granules, the ``icefb_atl03`` xarray backend,
and the ATL03 -> Zarr copy.

Examples
--------
>>> from icefb.io import open_atl03
>>> from icefb.testing import real_file
>>> sorted(open_atl03(real_file("ATL03_land_clip_gt1r.h5")).children)
['gt1r']
"""

from __future__ import annotations

from icefb.io._h5 import GranuleNotFoundError
from icefb.io.atl03 import PIPELINE_VARIABLES, open_atl03, open_atl03_beam, open_atl03_many
from icefb.io.atl07 import open_atl07, open_atl10
from icefb.io.zarr_store import atl03_to_zarr, open_atl03_zarr

__all__ = [
    "PIPELINE_VARIABLES",
    "GranuleNotFoundError",
    "atl03_to_zarr",
    "open_atl03",
    "open_atl03_beam",
    "open_atl03_many",
    "open_atl03_zarr",
    "open_atl07",
    "open_atl10",
]
