"""Save and load classifiers: safetensors weights + JSON metadata.

A model is two files side by side: ``NAME.safetensors`` (the state dict) and ``NAME.json``
(architecture, feature names and parameters, sequence length, classes, normalisation,
feature-code version and the SHA-256 of the weights file). ``load_model`` checks the checksum
and, when given the caller's feature set, that it is the one the model was trained on.

Examples
--------
>>> m = load_model("lstm-synthetic")
>>> m.feature_config.sequence_length, m.kind
(9, 'lstm')
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from icefb.constants import CLASSES
from icefb.errors import ConfigError, CorruptFileError, ModelMismatchError
from icefb.ml.features import FEATURE_VERSION, FeatureConfig, Normalizer

__all__ = ["PRETRAINED", "load_model", "model_metadata", "recorded_checksum", "save_model"]

#: Models shipped inside the package (``icefb/data/NAME.safetensors`` + ``.json``).
PRETRAINED: tuple[str, ...] = ("lstm-synthetic",)
FORMAT = "icefb-classifier/1"


def weights_digest(model: Any) -> str:
    """SHA-256 of the model's weights as :func:`save_model` writes them (no file needed).

    Equal to the ``weights_sha256`` of the saved file, so an unsaved (just trained) model's
    predictions carry the same provenance as the saved model's.
    """
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return hashlib.sha256(save(state, metadata={"format": FORMAT})).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def model_metadata(model) -> dict[str, Any]:
    """The JSON metadata of a trained classifier (without the checksum)."""
    for attr in ("normalizer", "feature_config"):
        if getattr(model, attr, None) is None:
            raise ConfigError(f"model has no {attr}: train it with icefb.ml.train first",
                              expected=f"model.{attr} set")
    return {
        "format": FORMAT,
        "architecture": model.architecture(),
        "feature_version": FEATURE_VERSION,
        "feature_config": model.feature_config.to_dict(),
        "feature_names": list(model.feature_config.feature_names),
        "sequence_length": model.feature_config.sequence_length,
        "classes": {int(c): c.name.lower() for c in CLASSES},
        "normalization": model.normalizer.to_dict(),
        "training": getattr(model, "training_info", {}),
    }


def save_model(model, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ``PATH.safetensors`` + ``PATH.json``.

    Parameters
    ----------
    model : LSTMClassifier or MLPClassifier
        A trained module with ``normalizer`` and ``feature_config`` attributes.
    path : path-like
        Destination without suffix (a ``.safetensors``/``.json`` suffix is dropped).

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    from safetensors.torch import save

    weights, meta_path = _paths(path)
    meta = model_metadata(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(state, metadata={"format": FORMAT})
    meta["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    text = json.dumps(meta, indent=1).encode()
    weights.parent.mkdir(parents=True, exist_ok=True)
    # both files are complete under temporary names before either replaces a model saved at
    # this path before; a crash between the two renames leaves a pair whose checksum differs,
    # which load_model refuses (CorruptFileError) rather than loading mixed files
    tmps: list[Path] = []
    try:
        tmps.append(_write_temp(weights, blob))
        tmps.append(_write_temp(meta_path, text))
        for tmp, final in zip(tmps, (weights, meta_path), strict=True):
            os.replace(tmp, final)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    model.checksum = meta["weights_sha256"]
    return weights


def _write_temp(final: Path, data: bytes) -> Path:
    """Write ``data`` to a new file beside ``final`` (mode from the umask, as ``open`` does)."""
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _resolve(name_or_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    if isinstance(name_or_path, str) and name_or_path in PRETRAINED:
        base = resources.files("icefb") / "data" / name_or_path
        return _paths(Path(str(base)))
    return _paths(name_or_path)


def recorded_checksum(name_or_path: str | os.PathLike[str]) -> str:
    """The weights' SHA-256 recorded in a saved model's metadata, read without loading it.

    Parameters
    ----------
    name_or_path : str or path-like
        As :func:`load_model`.

    Returns
    -------
    str
        ``weights_sha256`` of the model's JSON (what :func:`load_model` checks the weights
        against).

    Raises
    ------
    CorruptFileError
        The metadata is missing, unreadable or records no checksum.

    Examples
    --------
    >>> len(recorded_checksum("lstm-synthetic"))
    64
    """
    _, meta_path = _resolve(name_or_path)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"model metadata not readable: {exc}", path=meta_path,
                               expected=f"a model saved by icefb, or one of {list(PRETRAINED)}"
                               ) from exc
    digest = meta.get("weights_sha256") if isinstance(meta, dict) else None
    if not isinstance(digest, str) or not digest:
        raise CorruptFileError("model metadata records no weights checksum", path=meta_path,
                               expected="weights_sha256")
    return digest


def load_model(name_or_path: str | os.PathLike[str], *,
               feature_config: FeatureConfig | None = None, map_location: str = "cpu"):
    """Load a classifier saved by :func:`save_model` or shipped with icefb.

    Parameters
    ----------
    name_or_path : str or path-like
        A pretrained name (:data:`PRETRAINED`, e.g. ``"lstm-synthetic"``) or a path (with or
        without suffix).
    feature_config : FeatureConfig, optional
        The feature set the caller will feed; it must be the model's.
    map_location : str
        Device of the loaded weights.

    Returns
    -------
    LSTMClassifier or MLPClassifier
        In eval mode, with ``feature_config``, ``normalizer``, ``metadata`` and ``checksum``.

    Raises
    ------
    ModelMismatchError
        The model was trained on another feature set, feature version or class set.
    CorruptFileError
        A file is missing, or the weights do not match the recorded checksum.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from icefb.ml.models import build_model

    weights, meta_path = _resolve(name_or_path)
    if not weights.exists() or not meta_path.exists():
        raise CorruptFileError("model files not found", path=weights,
                               expected=f"{weights.name} and {meta_path.name}, or one of "
                               f"{list(PRETRAINED)}")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"unreadable model metadata: {exc}", path=meta_path) from exc
    if meta.get("format") != FORMAT:
        raise ModelMismatchError("not an icefb classifier", path=meta_path,
                                 got=meta.get("format"), expected=FORMAT)
    digest = _sha256(weights)
    if digest != meta.get("weights_sha256"):
        raise CorruptFileError("weights do not match the recorded checksum", path=weights,
                               got=digest, expected=meta.get("weights_sha256"))
    if meta.get("feature_version") != FEATURE_VERSION:
        raise ModelMismatchError("model was trained on another version of the features",
                                 path=meta_path, got=meta.get("feature_version"),
                                 expected=FEATURE_VERSION)
    classes = {int(c): c.name.lower() for c in CLASSES}
    if {int(k): v for k, v in meta.get("classes", {}).items()} != classes:
        raise ModelMismatchError("model predicts another class set", path=meta_path,
                                 got=meta.get("classes"), expected=classes)
    fc = FeatureConfig.from_dict(meta["feature_config"])
    if list(fc.feature_names) != list(meta["feature_names"]):
        raise ModelMismatchError("model feature names differ from this icefb's",
                                 path=meta_path, got=meta["feature_names"],
                                 expected=list(fc.feature_names))
    if feature_config is not None and feature_config != fc:
        raise ModelMismatchError("model was trained on another feature set", path=meta_path,
                                 got=feature_config.to_dict(), expected=fc.to_dict())
    arch = dict(meta["architecture"])
    kind = arch.pop("kind")
    model = build_model(kind, **arch)
    try:  # safetensors only: never unpickles, so a hostile file cannot run code
        state = load_file(str(weights), device=map_location)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFileError(f"weights are not a readable safetensors file: {exc}",
                               path=weights, expected="a safetensors file") from exc
    missing = set(model.state_dict()) ^ set(state)
    if missing:
        raise ModelMismatchError("weights do not fit the architecture", path=weights,
                                 got=sorted(missing)[:5])
    model.load_state_dict(state)
    model.eval()
    model.feature_config = fc
    model.normalizer = Normalizer.from_dict(meta["normalization"])
    model.metadata = meta
    model.checksum = digest
    model.training_info = meta.get("training", {})
    return model
