"""Parameters of an end-to-end run, shared by :func:`icefb.run` and ``icefb run``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from icefb.errors import ConfigError
from icefb.labeling import LabelConfig
from icefb.seasurface import SSHConfig
from icefb.segments import BinningConfig

#: Version of a product beam's set of variables (2: ``surface_type_edge`` added, 2026-12-03).
#: Part of :meth:`RunConfig.digest`, so resuming into a product of another layout redoes its
#: beams.
PRODUCT_LAYOUT = 2

BackendName = Literal["dask", "spark", "serial"]
SurfaceSource = Literal["model", "s2_label"]


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides the numbers of a product.

    Parameters
    ----------
    binning : BinningConfig
        2 m resampling (window, confidence threshold).
    label : LabelConfig
        Sentinel-2 auto-labeling (thresholds, drift search, flags); used when scenes are given.
    ssh : SSHConfig
        Sea surface windows and lead weighting.
    model : str
        ``"lstm-synthetic"`` (the shipped model) or the path of a saved model.
    surface_source : {"model", "s2_label"}
        Which surface type feeds the sea surface: the classifier's prediction (default) or the
        Sentinel-2 labels (validation runs).
    beams : tuple of str, optional
        Beams to process (default: every beam in the granule).
    device : str, optional
        Torch device for inference (``"cuda"`` when a GPU is present and asked for).

    Examples
    --------
    >>> RunConfig().digest() == RunConfig().digest()
    True
    """

    binning: BinningConfig = field(default_factory=BinningConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    ssh: SSHConfig = field(default_factory=SSHConfig)
    model: str = "lstm-synthetic"
    surface_source: SurfaceSource = "model"
    beams: tuple[str, ...] | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        if self.surface_source not in ("model", "s2_label"):
            raise ConfigError(
                "bad surface_source", got=self.surface_source, expected='{"model", "s2_label"}'
            )

    def to_dict(self) -> dict[str, Any]:
        """All parameters as plain JSON-able values (for product provenance)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    def digest(self) -> str:
        """A short hash of every parameter that decides a beam's numbers.

        ``beams`` is left out: it picks which beams a run makes, not how (a beam's sea
        surface reads the other beams of its granule whichever were asked for), so beams
        added by a later run with ``beams=...`` join the earlier ones. The classifier's
        weights are in (their SHA-256 recorded beside them): a model retrained in place, or
        the shipped model of another icefb release, makes a resumed run redo the beams
        instead of keeping surface types from the old weights.

        Raises
        ------
        icefb.errors.CorruptFileError
            The model's metadata cannot be read.
        """
        from icefb.ml.io import recorded_checksum

        params = self.to_dict()
        params.pop("beams", None)
        params["model_weights_sha256"] = recorded_checksum(self.model)
        # which variables a beam holds: a beam written by an earlier layout is redone, not
        # mixed with beams of this one in the same product
        params["product_layout"] = PRODUCT_LAYOUT
        blob = json.dumps(params, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
