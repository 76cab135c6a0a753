"""An adapter folder as ``codepref train`` writes it (or any peft LoRA folder): reading it
and checking that it belongs to a base model, without loading weights.

Both users of a trained adapter go through here: :func:`codepref.training.adapter.adapter_base`
(apply or merge it) and :class:`codepref.training.trainer.InitAdapter` (continue training it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codepref.errors import InputError
from codepref.training.models import BaseModel, check_same_base

RUN_FILE = "train_config.json"
"""The training run record ``codepref train`` writes beside the adapter."""

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
"""The files of a complete adapter as ``codepref train`` saves it."""


@dataclass(frozen=True)
class AdapterFolder:
    """A LoRA adapter folder.

    Attributes:
        path: the folder.
        config: its ``adapter_config.json`` (rank ``r``, ``lora_alpha``, ``target_modules`` ...).
        run: the ``codepref train`` run record beside it, ``{}`` for a foreign adapter.
    """

    path: Path
    config: dict[str, Any]
    run: dict[str, Any]

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> AdapterFolder:
        """Read ``folder``; InputError when it holds no adapter config or no weights."""
        path = Path(folder)
        cfg_file = path / "adapter_config.json"
        if not cfg_file.is_file():
            raise InputError(f"{path} is not a LoRA adapter folder (no adapter_config.json)")
        if not (path / "adapter_model.safetensors").is_file() and not (path / "adapter_model.bin").is_file():
            raise InputError(f"{path} has no adapter weights (adapter_model.safetensors)")
        run = json.loads((path / RUN_FILE).read_text()) if (path / RUN_FILE).is_file() else {}
        return cls(path, json.loads(cfg_file.read_text()), run)

    @property
    def base_spec(self) -> str | None:
        """The base model it was trained on: the recorded spec, else peft's base path."""
        return self.run.get("model", {}).get("spec") or self.config.get("base_model_name_or_path")

    def check_base(self, base: BaseModel, what: str) -> None:
        """InputError when the recorded fingerprint (if any) is not ``base``'s."""
        recorded = self.run.get("model", {}).get("fingerprint")
        if recorded:
            check_same_base(recorded, base, f"{what} in {self.path}")
