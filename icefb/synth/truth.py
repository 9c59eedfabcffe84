"""Reading the truth sidecar of a synthetic granule."""

from __future__ import annotations

import os

import h5py
import numpy as np
import xarray as xr

from icefb.constants import BEAMS, SURFACE_TYPE_FLAG_MEANINGS, SURFACE_TYPE_FLAG_VALUES
from icefb.errors import MissingBeamError, ProductError
from icefb.synth.granule import truth_path

__all__ = ["read_truth", "read_truth_attrs"]

_PHOTON_ATTRS = {
    "surface_type": {"long_name": "true surface type of the photon's hit point (-1: noise)",
                     "flag_values": SURFACE_TYPE_FLAG_VALUES,
                     "flag_meanings": SURFACE_TYPE_FLAG_MEANINGS, "units": "1"},
    "is_signal": {"long_name": "photon reflected by the surface", "units": "1"},
    "true_height": {"long_name": "true surface height at the hit point (NaN for noise)",
                    "units": "m above WGS84"},
    "x_atc": {"long_name": "along-track distance of the photon", "units": "m"},
}
_SEGMENT_ATTRS = {
    "surface_type": {"long_name": "true surface type under the bin centre",
                     "flag_values": SURFACE_TYPE_FLAG_VALUES,
                     "flag_meanings": SURFACE_TYPE_FLAG_MEANINGS, "units": "1"},
    "ssh": {"long_name": "true sea surface height in the corrected frame", "units": "m"},
    "ssh_ellipsoid": {"long_name": "true sea surface height", "units": "m above WGS84"},
    "freeboard": {"long_name": "true mean freeboard of the bin (0 on open water)", "units": "m"},
    "surface_height": {"long_name": "true mean corrected surface height", "units": "m"},
    "open_water_fraction": {"long_name": "fraction of the bin that is open water", "units": "1"},
    "x_atc": {"long_name": "bin centre along-track distance", "units": "m"},
}


def _open(path: str | os.PathLike[str]) -> h5py.File:
    tp = truth_path(path)
    if not tp.exists():
        raise ProductError("no truth sidecar beside the granule (not written by icefb.synth?)",
                           path=path, expected=str(tp))
    return h5py.File(tp, "r")


def read_truth_attrs(path: str | os.PathLike[str]) -> dict[str, object]:
    """Global attributes of a granule's truth sidecar (seed, frame, length, ...).

    Parameters
    ----------
    path : path-like
        The synthetic granule (not the sidecar).

    Returns
    -------
    dict
    """
    with _open(path) as f:
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}


def read_truth(path: str | os.PathLike[str], beam: str) -> tuple[xr.Dataset, xr.Dataset]:
    """Read the truth of one beam of a synthetic granule.

    Parameters
    ----------
    path : path-like
        The synthetic granule written by :func:`icefb.synth.make_granule`.
    beam : str
        One of ``gt1l`` ... ``gt3r``.

    Returns
    -------
    photon_truth : xarray.Dataset
        Dimension ``photon`` aligned with the granule's ``heights/*``: ``surface_type`` (int8,
        -1 for noise and afterpulses), ``is_signal`` (bool), ``true_height`` (m above WGS84),
        ``x_atc`` (m).
    segment_truth : xarray.Dataset
        Dimension ``segment`` (coordinate ``floor(x_atc / 2)``): ``surface_type``, ``ssh``,
        ``ssh_ellipsoid``, ``freeboard``, ``surface_height``, ``open_water_fraction``,
        ``x_atc`` (bin centre).

    Raises
    ------
    ProductError
        If the sidecar is missing.
    MissingBeamError
        If the beam is not in the granule.

    Examples
    --------
    >>> import tempfile, os
    >>> from icefb.synth import make_granule
    >>> p = make_granule(os.path.join(tempfile.mkdtemp(), "g.h5"), seed=2, length_km=0.2)
    >>> ph, seg = read_truth(p, "gt2l")
    >>> bool(seg.segment[0] == seg.x_atc[0] // 2) and ph.sizes["photon"] > 0
    True
    """
    with _open(path) as f:
        if beam not in f:
            raise MissingBeamError("beam not in the synthetic granule", path=path, beam=beam,
                                   expected=[b for b in BEAMS if b in f])
        g = f[beam]
        ph = xr.Dataset(
            {k: ("photon", g["photon"][k][:], _PHOTON_ATTRS[k]) for k in _PHOTON_ATTRS},
            attrs={"beam": beam, "source_path": os.fspath(path)},
        )
        s = g["segment"]
        seg = xr.Dataset(
            {k: ("segment", s[k][:], _SEGMENT_ATTRS[k]) for k in _SEGMENT_ATTRS},
            coords={"segment": ("segment", s["segment"][:].astype(np.int64))},
            attrs={"beam": beam, "window": 2.0, "source_path": os.fspath(path)},
        )
    return ph, seg
