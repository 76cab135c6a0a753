"""Re-encode chosen tensors of a GGUF in another block type: Q4_0/Q5_0 as Q8_0 with the same
numbers (the same model, another kernel), or the Q8_0 LM head as Q4_0 (:func:`head_to_q4_0`).

ggml's ``Q5_0`` block holds 32 weights as ``d * (q - 16)`` with one fp16 scale ``d`` and
5-bit ``q`` (4 low bits in ``qs``, the 5th in the 32-bit ``qh``); ``Q4_0`` as ``d * (q - 8)``
with 4-bit ``q``; ``Q8_0`` holds 32 weights as ``d * k`` with one fp16 scale and ``k`` an
int8. All use blocks of 32, so such a block is exactly the Q8_0 block with the same ``d`` and
``k = q - 16`` (or ``q - 8``): no weight changes. The three types multiply against activations quantised to Q8_0, so the dot products are the same
integer sums times the same scales; only the order in which the CPU kernels add blocks may
differ (float rounding).

Why: the packaged Qwen2.5-Coder-0.5B "Q4_K_M" GGUF is mostly Q5_0 (a 896-wide row does not
fit K-quants' 256-blocks, so llama.cpp fell back to Q5_0 for most of its matrices), and a
machine where llama.cpp's Q8_0 kernels beat its Q5_0 ones samples faster from the same
model. Unlike a re-quantisation (:mod:`codepref.generation.quantize`, which rounds the
weights again), this keeps the model's answers. Measured (``generation_throughput.py
--variants q8_0-exact``): on a 2-core AVX-512 machine, no faster (76.2 vs 76.5 tok/s at 32
sequences), with all 164 greedy HumanEval+ answers identical to the packaged file's; an
AVX2 machine earlier ran a (lossy) all-Q8_0 file 1.15x faster than the packaged one.

GGUF layout (:func:`recode`): see :mod:`codepref.generation.gguf_header`. The metadata is copied byte for
byte, the tensor infos are rewritten with the new types and offsets, and each tensor's data
is either copied or re-encoded.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from codepref.generation.gguf_header import TensorInfo, _align, read_header

Q4_0, Q5_0, Q8_0 = 2, 6, 8  # ggml_type ids
Q4_0_BLOCK, Q5_0_BLOCK, Q8_0_BLOCK = 18, 22, 34  # bytes per 32 weights
#: the bytes per block of 32 (or per 256 for K-quants) of the types a tensor may have here
_BLOCK = {0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32), 9: (36, 32),
          10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256), 14: (210, 256), 15: (292, 256),
          20: (18, 32), 30: (2, 1)}


def q5_0_to_q8_0(raw: bytes | memoryview) -> bytes:
    """Q5_0 blocks (22 bytes each) as Q8_0 blocks (34 bytes each) holding the same weights."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q5_0_BLOCK)
    d = blocks[:, 0:2]
    qh = blocks[:, 2:6].copy().view("<u4")[:, 0]
    qs = blocks[:, 6:22]
    low = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int16)  # weights 0-15, then 16-31
    high = ((qh[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int16) << 4
    k = (low | high) - 16
    out = np.empty((blocks.shape[0], Q8_0_BLOCK), dtype=np.uint8)
    out[:, 0:2] = d
    out[:, 2:] = k.astype(np.int8).view(np.uint8)
    return out.tobytes()


def q4_0_to_q8_0(raw: bytes | memoryview) -> bytes:
    """Q4_0 blocks (18 bytes each: fp16 d, 16 bytes of nibbles) as Q8_0 blocks, same weights."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_0_BLOCK)
    qs = blocks[:, 2:18]
    k = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int16) - 8
    out = np.empty((blocks.shape[0], Q8_0_BLOCK), dtype=np.uint8)
    out[:, 0:2] = blocks[:, 0:2]
    out[:, 2:] = k.astype(np.int8).view(np.uint8)
    return out.tobytes()


def _nbytes(ggml_type: int, dims) -> int:
    if ggml_type not in _BLOCK:
        raise ValueError(f"ggml type {ggml_type} has no known block size")
    size, per = _BLOCK[ggml_type]
    n = int(np.prod(dims, dtype=np.int64))
    return n // per * size


def q8_0_to_q4_0(raw: bytes | memoryview) -> bytes:
    """Q8_0 blocks re-quantised as Q4_0 (lossy: 4 bits per weight instead of 8).

    ggml's reference rounding (``quantize_row_q4_0_ref``): per block of 32 weights ``x``,
    ``m`` is the weight of largest magnitude (the first one on ties), ``d = m / -8``, and
    ``q = min(15, trunc(x / d + 8.5))``, so ``x ~ d * (q - 8)``. Weight ``j`` (< 16) goes in
    the low nibble of byte ``j``, weight ``16 + j`` in its high nibble.
    """
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q8_0_BLOCK)
    x = blocks[:, 0:2].copy().view("<f2").astype(np.float32) * blocks[:, 2:].copy().view(np.int8).astype(np.float32)
    m = x[np.arange(x.shape[0]), np.abs(x).argmax(axis=1)]
    d = (m / -8.0).astype(np.float32)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.minimum(15, np.trunc(x * inv[:, None] + 8.5)).astype(np.uint8)
    out = np.empty((blocks.shape[0], Q4_0_BLOCK), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


#: (from type, to type) -> the re-encoding of one tensor's raw data
RECODE = {(Q4_0, Q8_0): q4_0_to_q8_0, (Q5_0, Q8_0): q5_0_to_q8_0, (Q8_0, Q4_0): q8_0_to_q4_0}


def recode(src: str | os.PathLike[str], dst: str | os.PathLike[str], new_type: Callable[[TensorInfo], int]) -> int:
    """Copy the GGUF ``src`` to ``dst`` with each tensor ``t`` re-encoded as ``new_type(t)``
    (a pair in :data:`RECODE`, or ``t.ggml_type`` to copy it); returns how many were re-encoded.

    Raises:
        InputError: ``src`` is not a readable GGUF file.
        ValueError: ``new_type`` asks for a re-encoding not in :data:`RECODE`.
    """
    src, dst = Path(src), Path(dst)
    header = read_header(src)
    align = header.alignment
    with open(src, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        offset, layout = 0, []
        for t in header.tensors:
            to = new_type(t)
            if to != t.ggml_type and (t.ggml_type, to) not in RECODE:
                raise ValueError(f"no re-encoding of {t.name} from ggml type {t.ggml_type} to {to}")
            layout.append((t, to, offset))
            offset = _align(offset + _nbytes(to, t.dims), align)
        with open(dst, "wb") as out:
            out.write(buf[:header.tensors_span[0]])  # magic, counts, metadata: unchanged
            for t, to, new_offset in layout:  # the entry with its last 12 bytes (type, offset) new
                out.write(t.entry[:-12] + struct.pack("<IQ", to, new_offset))
            out.write(b"\0" * (-out.tell() % align))
            data_start = out.tell()
            for t, to, new_offset in layout:
                out.write(b"\0" * (data_start + new_offset - out.tell()))
                a = header.data_start + t.offset
                raw = buf[a:a + _nbytes(t.ggml_type, t.dims)]
                out.write(RECODE[t.ggml_type, to](raw) if to != t.ggml_type else raw)
            out.write(b"\0" * (-out.tell() % align))
    return sum(1 for t, to, _ in layout if to != t.ggml_type)


def widen_to_q8_0(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> int:
    """Copy the GGUF ``src`` to ``dst`` with every Q4_0 and Q5_0 tensor re-encoded as Q8_0
    (same weights); returns how many tensors were re-encoded.

    Raises:
        InputError: ``src`` is not a readable GGUF file.
    """
    return recode(src, dst, lambda t: Q8_0 if t.ggml_type in (Q4_0, Q5_0) else t.ggml_type)


def head_to_q4_0(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> int:
    """Copy the GGUF ``src`` to ``dst`` with its output matrix (the LM head, ``output.weight``)
    re-quantised from Q8_0 to Q4_0 and every other tensor unchanged; returns 1.

    Why: the LM head is a quarter of the 0.5B model's per-token FLOPs (896 x 151,936 of
    ~494M weights), and llama.cpp's repacked Q4_0 kernels are faster here than its Q8_0 ones.
    Lossy (:func:`q8_0_to_q4_0`), unlike :func:`widen_to_q8_0`.

    Raises:
        InputError: ``src`` is not a readable GGUF file.
        ValueError: ``src`` has no Q8_0 ``output.weight``.
    """
    header = read_header(src)
    if not any(t.name == "output.weight" and t.ggml_type == Q8_0 for t in header.tensors):
        raise ValueError(f"{src} has no Q8_0 output.weight to re-quantise")
    return recode(src, dst, lambda t: Q4_0 if t.name == "output.weight" else t.ggml_type)
