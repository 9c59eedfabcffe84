"""Generation speed of the synthetic world (granules, scenes, ATL07)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from icefb.synth import make_atl07, make_granule, make_scene, world_of


class TimeGranule:
    """ATL03 granule generation for a few along-track lengths (all six beams)."""

    params = [1.0, 5.0, 20.0]
    param_names = ["length_km"]

    def setup(self, length_km):
        self.dir = Path(tempfile.mkdtemp())
        make_granule(self.dir / "warm.h5", seed=0, length_km=0.2)

    def time_make_granule(self, length_km):
        make_granule(self.dir / "g.h5", seed=1, length_km=length_km)

    def peakmem_make_granule(self, length_km):
        make_granule(self.dir / "g.h5", seed=1, length_km=length_km)


class TimeSceneAndProducts:
    """Sentinel-2-like scene (2 km of track) and ATL07 from a 5 km granule."""

    def setup(self):
        self.dir = Path(tempfile.mkdtemp())
        self.granule = make_granule(self.dir / "g.h5", seed=2, length_km=5.0)
        self.x0 = world_of(self.granule)[0].frame.x_atc0

    def time_make_scene(self):
        make_scene(self.dir / "s.tif", self.granule, x_atc_range=(self.x0, self.x0 + 2000.0),
                   margin_m=300.0, supersample=1)

    def time_make_atl07(self):
        make_atl07(self.dir / "atl07.h5", self.granule)
