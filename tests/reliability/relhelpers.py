"""Helpers shared by the reliability tests (imported as ``relhelpers``; conftest puts this
folder on ``sys.path``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

LENGTH_KM = 2.0
SEED = 0
BEAMS = ("gt1l", "gt2l")  # two beams: enough for "first beam landed, second not yet"


@dataclass(frozen=True)
class Inputs:
    """The reference inputs of the session."""

    root: Path
    granule: Path
    scene: Path
    product: Path  # clean serial run over BEAMS, with the scene


def run_config(**kw):
    """The RunConfig every reliability case uses (two beams)."""
    from icefb.pipeline import RunConfig

    return RunConfig(beams=kw.pop("beams", BEAMS), **kw)


def product_beam(store: str | os.PathLike[str], beam: str) -> xr.Dataset:
    """One beam of a product, loaded, without the run's time stamp."""
    from icefb.pipeline import open_product

    tree = open_product(store)
    return tree[beam].to_dataset().load()


def assert_same_product(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
    """Bit-identical beams and root attributes except ``date_created``."""
    from icefb.pipeline import open_product

    ta, tb = open_product(a), open_product(b)
    ra = {k: v for k, v in ta.attrs.items() if k != "date_created"}
    rb = {k: v for k, v in tb.attrs.items() if k != "date_created"}
    assert ra == rb
    assert ta.attrs["status"] == "complete"
    ga = sorted(n.path for n in ta.subtree if "segment" in n.dims)
    gb = sorted(n.path for n in tb.subtree if "segment" in n.dims)
    assert ga == gb and ga
    for g in ga:
        xr.testing.assert_identical(ta[g].to_dataset().load(), tb[g].to_dataset().load())


