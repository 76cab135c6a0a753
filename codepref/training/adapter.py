"""Load a trained adapter onto its base model, and merge it into plain weights.

Merging computes ``W' = W + (alpha/r) * B A`` for every adapted layer and drops the adapter,
giving an ordinary model folder (safetensors + tokenizer) for tools that cannot load peft
adapters (llama.cpp's converter, vLLM without LoRA support ...). The base is loaded
unquantised (``dtype``, default float32) even when the adapter was trained with QLoRA: the
merged weights are then the dequantised base plus the adapter.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from codepref.errors import InputError
from codepref.training.folder import AdapterFolder
from codepref.training.models import BaseModel, resolve_base
from codepref.quiet import quiet_libraries


def adapter_base(adapter_dir: str | os.PathLike[str], model: str | None = None) -> BaseModel:
    """Check an adapter folder and resolve the base model it belongs to (no weights loaded).

    Args:
        adapter_dir: a folder written by ``codepref train`` (or any peft LoRA folder).
        model: the base model to use; default the one recorded at training time.

    Raises:
        InputError: not an adapter folder, no base model known, or ``model`` is not the
            model the adapter was trained on.
    """
    folder = AdapterFolder.read(adapter_dir)
    spec = model or folder.base_spec
    if not spec:
        raise InputError(f"{folder.path} does not record its base model; pass --model")
    base = resolve_base(spec)
    folder.check_base(base, "the adapter")
    return base


def load_adapter(adapter_dir: str | os.PathLike[str], model: str | None = None, *, dtype: str = "float32"):
    """The base model with the trained adapter applied (a peft ``PeftModel``, eval mode).

    Args:
        adapter_dir: the adapter folder.
        model: base model override (checked against the recorded fingerprint).
        dtype: ``"float32"`` or ``"bfloat16"`` for the base weights.

    Returns:
        ``(peft_model, tokenizer)``.
    """
    base = adapter_base(adapter_dir, model)
    quiet_libraries()
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base.path)
    weights = AutoModelForCausalLM.from_pretrained(base.path, dtype=getattr(torch, dtype))
    peft_model = PeftModel.from_pretrained(weights, str(adapter_dir))
    peft_model.eval()
    return peft_model, tokenizer


def merge(adapter_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], model: str | None = None,
          *, dtype: str = "float32") -> Path:
    """Write base + adapter as one plain model folder.

    Args:
        adapter_dir: the adapter folder (``codepref train``'s ``--out``).
        out_dir: the merged model folder to create; must not exist or be empty.
        model: base model override (checked against the recorded fingerprint).
        dtype: ``"float32"`` (default) or ``"bfloat16"`` for the merged weights.

    Returns:
        ``out_dir``; written to a temporary sibling and renamed into place when complete.

    Raises:
        InputError: a bad adapter folder, a base model mismatch, or a non-empty ``out_dir``.
    """
    out = Path(out_dir)
    if dtype not in ("float32", "bfloat16"):
        raise InputError(f"dtype must be float32 or bfloat16, got {dtype!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not empty; choose another --out")
    peft_model, tokenizer = load_adapter(adapter_dir, model, dtype=dtype)
    merged = peft_model.merge_and_unload()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    return out
