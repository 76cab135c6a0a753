"""The base model a run trains on, and the checks that an adapter belongs to it.

``--model`` is resolved by :func:`codepref.generation.models.resolve` (the one model
registry): a packaged model name becomes its cached fp32 safetensors copy (converted from
the GGUF once; the HF Trainer refuses GGUF-loaded models), a local folder is used as it is,
any other id goes to ``from_pretrained`` (a model hub, where one is reachable). A bare
``.gguf`` file is refused: training needs the safetensors copy.

A *fingerprint* (architecture, vocabulary size, hidden size, layer count) of the base is
stored with every adapter, so an adapter cannot be merged into or resumed on another model
by mistake; the check reads only ``config.json``, before any weights are loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codepref.errors import InputError

FINGERPRINT_KEYS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers")


@dataclass(frozen=True)
class BaseModel:
    """A resolved base model.

    Attributes:
        spec: the user's ``--model`` text.
        path: what ``from_pretrained`` loads (a local folder, or a hub id).
        fingerprint: :data:`FINGERPRINT_KEYS` read from its config.
    """

    spec: str
    path: str
    fingerprint: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "path": self.path, "fingerprint": self.fingerprint}


def resolve_base(spec: str, *, fetch_missing: bool = True, progress=None) -> BaseModel:
    """Resolve ``--model`` to a loadable base model and read its fingerprint.

    Args:
        spec: a packaged model name, a local Hugging Face model folder, or a hub id.
        fetch_missing: fetch (and convert) a packaged model that is not cached yet.
        progress: ``progress(phase, done, total)`` for fetching/converting.

    Raises:
        InputError: a folder that is not a model folder.
        ModelError: from the model registry (unknown path, failed fetch or conversion).
    """
    from codepref.generation.models import resolve

    ref = resolve(spec)
    if ref.kind == "gguf":
        raise InputError(
            f"{spec}: training needs a safetensors model, not a bare GGUF; pass a packaged model "
            "name (its safetensors copy is made once) or a Hugging Face model folder"
        )
    if ref.kind == "dir":
        _check_model_dir(Path(ref.spec))
    path = ref.transformers_path(fetch_missing=fetch_missing, progress=progress)
    return BaseModel(spec=spec, path=path, fingerprint=fingerprint(path))


def fingerprint(path: str) -> dict[str, Any]:
    """The identifying shape of a model: :data:`FINGERPRINT_KEYS` from its config.

    Reads ``config.json`` directly for a local folder; a hub id goes through
    ``AutoConfig`` (no weights are loaded).
    """
    cfg_file = Path(path) / "config.json"
    if cfg_file.is_file():
        cfg = json.loads(cfg_file.read_text())
        text = cfg.get("text_config") or {}
        return {k: cfg.get(k, text.get(k)) for k in FINGERPRINT_KEYS}
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(path).get_text_config()
    return {k: getattr(cfg, k, None) for k in FINGERPRINT_KEYS}


def check_same_base(recorded: dict[str, Any], base: BaseModel, what: str) -> None:
    """Raise InputError when ``base`` is not the model ``what`` was trained on.

    Args:
        recorded: the fingerprint stored with the adapter.
        base: the model it is about to be used with.
        what: names the adapter in the message.
    """
    diff = [f"{k} {recorded.get(k)!r} != {base.fingerprint.get(k)!r}" for k in FINGERPRINT_KEYS
            if recorded.get(k) != base.fingerprint.get(k)]
    if diff:
        raise InputError(f"{what} was trained on another model than {base.spec} ({'; '.join(diff)})")


def _check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        if (path / "adapter_config.json").is_file():
            raise InputError(f"{path} is a LoRA adapter, not a base model; pass the base model to --model")
        raise InputError(f"{path} is not a Hugging Face model folder (no config.json)")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise InputError(f"{path} has a config.json but no weights (*.safetensors or *.bin)")
