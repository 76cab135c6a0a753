"""Quantised variants of a packaged model, made on this machine with llama.cpp's quantize API.

``NAME@TYPE`` (for example ``qwen2.5-coder-0.5b-instruct@q4_0``) names the packaged model
``NAME`` re-quantised to ``TYPE`` (:data:`QUANT_TYPES`). It is accepted wherever ``--model``
is, by the llama.cpp backend; the first use makes the file (seconds for a 0.5B model) and
keeps it beside the packaged GGUF in the model cache, with a stamp ``FILE.variant.json``
recording its sha256, the source's sha256, the type and the llama-cpp-python version. The
evaluation cache keys a variant by that sha256.

The source is the packaged GGUF itself (the only copy of the weights codepref can reach), so
a variant is *re-quantised* (``allow_requantize``): a type with more bits than the source
(``q8_0``, ``f16``) cannot restore precision the source lost; it only changes which CPU
kernels run. Transformers and training keep using the packaged model's dequantised
safetensors copy.

Two types are made by :mod:`codepref.generation.transcode` instead, tensor by tensor:
``q8_0-exact`` re-encodes every Q4_0/Q5_0 tensor as Q8_0 with the same scales, so every
weight keeps its value and only the kernel changes (the packaged Qwen2.5-Coder files are
mostly Q5_0); ``q4_0-head`` re-quantises only the output matrix (the LM head, a quarter of the
0.5B model's per-token FLOPs) from Q8_0 to Q4_0 and keeps every other tensor.

Why variants: llama.cpp's CPU speed depends on the weight type (``q4_0`` has repacked AVX2
kernels in this build, the packaged file is mostly ``q5_0``/``q8_0``, ``bf16`` runs on the
native bf16 dot products of AVX512-BF16 cores); measure with
``benchmarks/generation_throughput.py --variants`` and check quality with ``codepref
evaluate --model NAME@TYPE`` before adopting one. One is adopted: on a CPU with native bf16
the default model's bare name runs its ``bf16`` variant
(:attr:`~codepref.generation.models.PackagedModel.cpu_variant`); ``NAME@gguf`` runs the
packaged file there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from codepref.hashing import file_sha256

if TYPE_CHECKING:
    from codepref.generation.models import Progress

#: Variant name -> the llama.cpp file type constant (``llama_cpp.LLAMA_FTYPE_*``).
QUANT_TYPES = {
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "bf16": "LLAMA_FTYPE_MOSTLY_BF16",
}
#: Variants made tensor by tensor (:mod:`codepref.generation.transcode`): name -> (function
#: name there, what its stamp says it did).
TRANSCODED_TYPES = {
    "q8_0-exact": ("widen_to_q8_0", "tensors re-encoded as Q8_0, same weights"),
    "q4_0-head": ("head_to_q4_0", "tensor (output.weight) re-quantised Q8_0 -> Q4_0, the others unchanged"),
}


#: ``NAME@gguf``: the packaged file as shipped, also where the bare name runs a variant
#: (:attr:`~codepref.generation.models.PackagedModel.cpu_variant`).
PACKAGED_FILE = "gguf"


def split_variant(model: str) -> tuple[str, str | None]:
    """``"NAME@TYPE"`` -> ``("NAME", "type")``; anything else -> ``(model, None)``."""
    if "@" not in model:
        return model, None
    name, _, variant = model.rpartition("@")
    return name, variant.lower()


def check_type(variant: str) -> None:
    """Raise ModelError unless ``variant`` is a known type."""
    from codepref.generation.models import ModelError

    if variant not in QUANT_TYPES and variant not in TRANSCODED_TYPES:
        raise ModelError(f"unknown quantisation {variant!r}; known: "
                         f"{', '.join([PACKAGED_FILE, *QUANT_TYPES, *TRANSCODED_TYPES])}")


def variant_path(name: str, variant: str) -> Path:
    """Where variant ``variant`` of packaged model ``name`` lives (made or not)."""
    from codepref.generation.models import model_dir

    return model_dir(name) / f"{name}.{variant}.gguf"


def stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".variant.json")


def variant_stamp(name: str, variant: str) -> dict | None:
    """The stamp of a made variant whose source is the registry's file; None if not made."""
    from codepref.generation.models import MODELS

    path = variant_path(name, variant)
    stamp = stamp_path(path)
    if not (path.is_file() and stamp.is_file()):
        return None
    info = json.loads(stamp.read_text())
    if info.get("source_sha256") != MODELS.get(name).sha256 or info.get("size") != path.stat().st_size:
        return None
    return info


def variant_gguf(name: str, variant: str, *, fetch_missing: bool = True, progress: Progress | None = None) -> Path:
    """The GGUF of ``name`` re-quantised to ``variant``, made once (from the packaged GGUF).

    Raises:
        ModelError: an unknown type; the packaged model not cached (and ``fetch_missing``
            False); llama.cpp failed to quantise.
    """
    from codepref.generation.models import MODELS, ModelError, gguf_path

    check_type(variant)
    path = variant_path(name, variant)
    if variant_stamp(name, variant) is not None:
        return path
    if not fetch_missing:
        raise ModelError(f"variant {name}@{variant} is not made yet; run `codepref models fetch {name}@{variant}`")
    source = gguf_path(name, fetch_missing=True, progress=progress)
    partial = path.with_name(path.name + ".partial")
    if variant in TRANSCODED_TYPES:
        from codepref.generation import transcode

        function, what = TRANSCODED_TYPES[variant]
        if progress:
            progress("re-encode", 0, 1)
        try:
            n = getattr(transcode, function)(source, partial)
        except ValueError as e:
            partial.unlink(missing_ok=True)
            raise ModelError(f"cannot make {name}@{variant}: {e}") from None
        return _stamp(name, variant, partial, path, progress, "re-encode", {"method": f"{n} {what}"})
    try:
        import llama_cpp
    except ImportError as e:
        raise ModelError(f"making a quantised variant needs llama-cpp-python ({e}); install codepref[cpu]") from None
    from codepref.generation.llamacpp import _quiet_logs

    _quiet_logs(llama_cpp, verbose=False)  # a line per tensor otherwise
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[variant])
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    if progress:
        progress("quantize", 0, 1)
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    if rc != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp could not quantise {source} to {variant} (return code {rc})")
    return _stamp(name, variant, partial, path, progress, "quantize", {"llama_cpp_python": llama_cpp.__version__})


def _stamp(name: str, variant: str, partial: Path, path: Path, progress: Progress | None, label: str,
           extra: dict) -> Path:
    """Move the finished ``partial`` into place and write its stamp (sha256, source, how)."""
    from codepref.generation.models import MODELS

    os.replace(partial, path)
    info = {"name": name, "type": variant, "sha256": file_sha256(path), "size": path.stat().st_size,
            "source_sha256": MODELS.get(name).sha256, **extra}
    stamp_path(path).write_text(json.dumps(info, indent=1) + "\n")
    if progress:
        progress(label, 1, 1)
    return path
