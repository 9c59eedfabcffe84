"""xarray backend entrypoint ``icefb_atl03``: ATL03 granules through xarray's own openers.

Registered in ``pyproject.toml`` under ``[project.entry-points."xarray.backends"]``::

    xr.open_datatree("ATL03_....h5", engine="icefb_atl03")              # every beam
    xr.open_dataset("ATL03_....h5", engine="icefb_atl03", group="gt1l")  # one beam

The variables are lazily indexed (each read opens the file); pass ``chunks={}`` (HDF5 chunk
sizes) or ``chunks="auto"`` to get dask arrays, as with any xarray backend.
:func:`icefb.io.atl03.open_atl03` is the same reader with dask chunks by default.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import xarray as xr
from xarray.backends import BackendEntrypoint

from icefb.errors import MissingBeamError
from icefb.io.atl03 import _open_tree_lazy

__all__ = ["ATL03BackendEntrypoint"]


def _drop(ds: xr.Dataset, drop_variables: str | Iterable[str] | None) -> xr.Dataset:
    if drop_variables is None:
        return ds
    names = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables)
    return ds.drop_vars([n for n in names if n in ds.variables])


class ATL03BackendEntrypoint(BackendEntrypoint):
    """Open ICESat-2 ATL03 photon data with ``engine="icefb_atl03"``.

    Examples
    --------
    >>> import xarray as xr
    >>> from icefb.testing import real_file
    >>> ds = xr.open_dataset(
    ...     real_file("ATL03_land_clip_gt1r.h5"), engine="icefb_atl03", group="gt1r"
    ... )
    >>> ds.sizes["photon"], ds.attrs["beam"]
    (6809, 'gt1r')
    """

    description: ClassVar[str] = "ICESat-2 ATL03 photons, one group per beam (icefb)"
    url: ClassVar[str] = "https://github.com/icefb/icefb/blob/main/docs/reading.md"
    open_dataset_parameters: ClassVar[tuple[str, ...]] = (
        "filename_or_obj",
        "drop_variables",
        "group",
        "beams",
    )
    supports_groups: ClassVar[bool] = True

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """True for ``*.h5``/``*.hdf5`` paths whose name contains ``ATL03``."""
        if not isinstance(filename_or_obj, str | os.PathLike):
            return False
        name = os.path.basename(os.fspath(filename_or_obj))
        return "ATL03" in name.upper() and name.lower().endswith((".h5", ".hdf5", ".he5"))

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        drop_variables: str | Iterable[str] | None = None,
        group: str | None = None,
        beams: str | Sequence[str] | None = None,
    ) -> xr.Dataset:
        """One beam's photon Dataset (``group="gt1l"``); the only beam if ``group`` is None."""
        path = os.fspath(filename_or_obj)
        beam = group.strip("/") if group else None
        groups = _open_tree_lazy(path, [beam] if beam else beams)
        children = [k for k in groups if k != "/"]
        if beam is None:
            if len(children) != 1:
                raise MissingBeamError(
                    "granule has several beams; pass group=",
                    path=path,
                    got=[c.strip("/") for c in children],
                    expected="group='gt1l' (or another beam)",
                )
            beam = children[0].strip("/")
        return _drop(groups[f"/{beam}"], drop_variables)

    def open_groups_as_dict(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        drop_variables: str | Iterable[str] | None = None,
        group: str | None = None,
        beams: str | Sequence[str] | None = None,
    ) -> dict[str, xr.Dataset]:
        """``{"/": granule attributes, "/gt1l": photons, ...}``."""
        if group and group.strip("/"):
            beams = [group.strip("/")]
        groups = _open_tree_lazy(os.fspath(filename_or_obj), beams)
        return {k: _drop(v, drop_variables) for k, v in groups.items()}

    def open_datatree(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        drop_variables: str | Iterable[str] | None = None,
        group: str | None = None,
        beams: str | Sequence[str] | None = None,
    ) -> xr.DataTree:
        """The granule as a DataTree, one child per beam."""
        return xr.DataTree.from_dict(
            self.open_groups_as_dict(
                filename_or_obj, drop_variables=drop_variables, group=group, beams=beams
            )
        )
