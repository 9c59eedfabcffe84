"""The end-to-end pipeline: work units over dask or Spark, a crash-safe Zarr product.

Examples
--------
>>> from icefb.pipeline import RunConfig
>>> RunConfig().model
'lstm-synthetic'
"""

from __future__ import annotations

from icefb.pipeline.config import RunConfig
from icefb.pipeline.product import open_product
from icefb.pipeline.run import RunResult, format_summary, run

__all__ = ["RunConfig", "RunResult", "format_summary", "open_product", "run"]
