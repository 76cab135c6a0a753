"""Training: DPO/KTO on preference data with a LoRA (CPU) or QLoRA (CUDA) adapter.

The only part of codepref that imports torch, peft, trl and bitsandbytes, and only inside
functions: importing this package is cheap.

* :mod:`codepref.training.config` — :class:`TrainConfig`, every setting documented.
* :mod:`codepref.training.data` — pair/label files checked and reduced to TRL's columns.
* :mod:`codepref.training.models` — the base model (via the generation model registry).
* :mod:`codepref.training.trainer` — :func:`train`: TRL's DPOTrainer/KTOTrainer + peft.
* :mod:`codepref.training.adapter` — :func:`load_adapter`, :func:`merge`.
* :mod:`codepref.training.tiny` — random-initialised models for tests and benchmarks.
"""

from __future__ import annotations

from codepref.training.config import TrainConfig

__all__ = ["TrainConfig", "train", "merge", "load_adapter"]


def __getattr__(name: str):
    if name == "train":
        from codepref.training.trainer import train

        return train
    if name in ("merge", "load_adapter"):
        from codepref.training import adapter as _adapter

        return getattr(_adapter, name)
    raise AttributeError(f"module 'codepref.training' has no attribute {name!r}")
