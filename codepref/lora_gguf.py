"""Convert a peft LoRA adapter folder into a llama.cpp GGUF LoRA adapter.

The pipeline trains with peft (safetensors) but samples on CPU with llama.cpp, which loads
LoRA adapters only as GGUF (``general.type = "adapter"``, ``adapter.type = "lora"``,
``adapter.lora.alpha``). This is what llama.cpp's ``convert_lora_to_gguf.py`` writes, in a
few lines and without torch:

* every adapted linear ``W`` (HF name ``model.layers.i.self_attn.q_proj``) gets two tensors
  named after the GGUF base tensor, ``blk.i.attn_q.weight.lora_a`` = peft ``lora_A``
  (``r x in``) and ``.lora_b`` = ``lora_B`` (``out x r``); llama.cpp computes
  ``W x + (alpha / r) * B (A x)``, the same update as peft's ``(alpha/r) * B A``;
* for the ``llama`` architecture, HF -> GGUF conversion permutes the output rows of
  ``q_proj`` and ``k_proj`` (rotary layout); the same row permutation is applied to ``B``,
  since ``P (B A) = (P B) A``.

Reads safetensors with numpy and writes with the ``gguf`` package (both in the ``hf`` and
``train`` extras).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from codepref.errors import InputError

PREFIX = "base_model.model."


def _permute(rows, n_head: int, n_head_kv: int | None):
    """llama.cpp's q/k permutation of output rows (convert_hf_to_gguf ``LlamaModel.permute``)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    value = f.parts[f.data[0]]
    if f.types and f.types[0].name == "STRING":
        return bytes(value).decode()
    return value.tolist()[0] if hasattr(value, "tolist") else value


def convert_adapter(adapter_dir: str | os.PathLike[str], base_gguf: str | os.PathLike[str],
                    out_path: str | os.PathLike[str]) -> Path:
    """Write ``adapter_dir`` (peft LoRA) as a GGUF LoRA for the GGUF model ``base_gguf``.

    Args:
        adapter_dir: a folder with ``adapter_config.json`` and ``adapter_model.safetensors``.
        base_gguf: the GGUF model the adapter's base was converted from (architecture,
            block and head counts are read from it).
        out_path: the ``.gguf`` file to write (atomically).

    Raises:
        InputError: not a LoRA folder, or a tensor with no GGUF counterpart.
    """
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    adapter = Path(adapter_dir)
    cfg_file, weights = adapter / "adapter_config.json", adapter / "adapter_model.safetensors"
    if not cfg_file.is_file() or not weights.is_file():
        raise InputError(f"{adapter} is not a peft LoRA folder (adapter_config.json + adapter_model.safetensors)")
    cfg = json.loads(cfg_file.read_text())
    reader = gguf.GGUFReader(str(base_gguf))
    arch = _field(reader, "general.architecture")
    n_blocks = int(_field(reader, f"{arch}.block_count"))
    n_head = _field(reader, f"{arch}.attention.head_count")
    n_head_kv = _field(reader, f"{arch}.attention.head_count_kv")
    arch_enum = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
    names = gguf.get_tensor_name_map(arch_enum, n_blocks)

    out = Path(out_path)
    tmp = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp), arch=arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(cfg.get("lora_alpha", cfg.get("r", 8))))
    for key, value in sorted(load_file(str(weights)).items()):
        if not key.startswith(PREFIX) or ".lora_" not in key:
            raise InputError(f"{weights}: unexpected tensor {key!r} (only LoRA A/B matrices are converted)")
        module, _, rest = key[len(PREFIX):].partition(".lora_")
        which = rest.split(".")[0]  # "A" or "B"
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if target is None:
            raise InputError(f"{weights}: no GGUF tensor for {module!r} in architecture {arch!r}")
        data = np.ascontiguousarray(value, dtype=np.float32)
        if arch == "llama" and which == "B" and module.endswith(("q_proj", "k_proj")):
            data = np.ascontiguousarray(_permute(data, n_head, n_head if module.endswith("q_proj") else n_head_kv))
        writer.add_tensor(f"{target}.lora_{which.lower()}", data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return out


def adapter_backend_options(backend: str, model: str, adapter: str | os.PathLike[str]) -> dict[str, str]:
    """The backend option that makes ``backend`` sample ``model`` with the peft adapter ``adapter``.

    llama.cpp loads GGUF LoRA files: the peft folder is converted once into
    ``ADAPTER/adapter.gguf`` (:func:`convert_adapter`, against the model's GGUF) and reused
    afterwards. ``hf``, ``torch`` (which merges it into the weights) and ``vllm`` take the
    folder itself.

    Raises:
        ConfigError: a backend that cannot apply an adapter (``openai``).
        InputError: not a peft LoRA folder.
    """
    from codepref.errors import ConfigError

    adapter = Path(adapter)
    if backend == "llamacpp":
        target = adapter / "adapter.gguf"
        if not target.is_file():
            from codepref.generation.models import resolve

            convert_adapter(adapter, resolve(model).gguf(fetch_missing=True), target)
        return {"lora": str(target)}
    if backend in ("hf", "torch", "vllm"):
        return {"adapter": str(adapter)}
    raise ConfigError([f"backend {backend!r} cannot sample from a trained adapter; use llamacpp, torch, hf or vllm"])
