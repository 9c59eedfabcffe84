"""The one ``icefb`` accessor namespace on ``xarray.Dataset`` and ``xarray.DataTree``."""

from __future__ import annotations

from typing import Any

import xarray as xr


class _IcefbAccessor:
    """``obj.icefb.<stage>(...)`` calls the public function of that stage on ``obj``.

    Examples
    --------
    >>> import xarray as xr, icefb
    >>> hasattr(xr.Dataset().icefb, "resample")
    True
    """

    def __init__(self, obj: xr.Dataset | xr.DataTree) -> None:
        self._obj = obj

    def resample(self, config: Any = None, *, lazy: bool = False) -> Any:
        """Resample photons to the 2 m grid; see :func:`icefb.resample`."""
        from icefb.segments import resample

        return resample(self._obj, config, lazy=lazy)

    def autolabel(self, scene: Any, config: Any = None) -> Any:
        """Label segments from a Sentinel-2 scene; see :func:`icefb.autolabel`."""
        from icefb.labeling import autolabel

        return autolabel(self._obj, scene, config)

    def classify(self, model: Any = "lstm-synthetic") -> Any:
        """Add ``surface_type``/``surface_prob`` with a classifier; see :func:`icefb.predict`."""
        from icefb.ml.inference import predict

        if isinstance(self._obj, xr.DataTree):
            return self._obj.map_over_datasets(
                lambda ds: predict(ds, model) if "segment" in ds.dims else ds
            )
        return predict(self._obj, model)

    def sea_surface(self, config: Any = None) -> Any:
        """Add local sea surface height; see :func:`icefb.sea_surface`."""
        from icefb.seasurface import sea_surface

        return sea_surface(self._obj, config)

    def freeboard(self) -> Any:
        """Add freeboard; see :func:`icefb.freeboard`."""
        from icefb.freeboard import freeboard

        return freeboard(self._obj)


xr.register_dataset_accessor("icefb")(_IcefbAccessor)
xr.register_datatree_accessor("icefb")(_IcefbAccessor)
