"""The package surface: public names, class codes, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import icefb
from icefb import constants, errors


def test_public_surface_resolves():
    for name in icefb.__all__:
        assert getattr(icefb, name) is not None, name


def test_surface_type_codes_pinned():
    assert [int(s) for s in constants.SurfaceType] == [-1, 0, 1, 2]
    meanings = constants.SURFACE_TYPE_FLAG_MEANINGS.split()
    assert len(meanings) == len(constants.SURFACE_TYPE_FLAG_VALUES)
    for value, meaning in zip(constants.SURFACE_TYPE_FLAG_VALUES, meanings, strict=True):
        assert constants.SurfaceType(int(value)).name.lower() == meaning


def test_delta_time_round_trip():
    dt = np.array([0.0, 1.5, np.nan, 86400.0 * 365])
    t = constants.delta_time_to_datetime64(dt)
    assert t[0] == np.datetime64("2018-01-01T00:00:00")
    assert np.isnat(t[2])
    back = (t[[0, 1, 3]] - constants.ATLAS_SDP_EPOCH) / np.timedelta64(1, "s")
    np.testing.assert_allclose(back, dt[[0, 1, 3]])


@pytest.mark.parametrize(
    "cls, base",
    [
        (errors.InvalidGranuleError, ValueError),
        (errors.MissingBeamError, ValueError),
        (errors.CorruptFileError, OSError),
        (errors.SceneCRSError, ValueError),
        (errors.ModelMismatchError, ValueError),
        (errors.ProductError, OSError),
    ],
)
def test_errors_name_file_beam_and_survive_pickle(cls, base):
    err = cls("bad thing", path="/data/g.h5", beam="gt2r", expected="x", got="y")
    assert isinstance(err, base) and isinstance(err, errors.IcefbError)
    for text in ("/data/g.h5", "gt2r", "bad thing", "expected x", "got y"):
        assert text in str(err)
    clone = pickle.loads(pickle.dumps(err))  # crosses dask/spark process boundaries intact
    assert type(clone) is cls and str(clone) == str(err) and clone.beam == "gt2r"
