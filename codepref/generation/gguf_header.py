"""Read a GGUF file's header quickly, and copy a GGUF without its tokenizer vocabulary.

Why: transformers loads a GGUF model through ``gguf.GGUFReader``, which parses every
metadata value element by element through numpy memmap views. For Qwen2.5 the tokenizer's
151,936 tokens and 151,387 merges make that ~20-30 s per read, and
``from_pretrained(gguf_file=...)`` reads the file twice (config, then tensors), so turning
the 0.5B GGUF into safetensors spent more time parsing strings than dequantising weights
(profiled: 61 s of 104 in ``GGUFReader._build_fields``, 12 s in ``dequantize``). The
model needs none of those strings; the tokenizer is converted separately.

GGUF layout (version 2 and 3, little-endian; llama.cpp ``docs/gguf.md``)::

    "GGUF" | u32 version | u64 tensor_count | u64 kv_count
    kv_count x  (string key | u32 value_type | value)
    tensor_count x (string name | u32 n_dims | n_dims x u64 dim | u32 ggml_type | u64 offset)
    zero padding to ``general.alignment`` (default 32), then the tensor data;
    a tensor's offset is relative to the start of the data.

A string is ``u64 length | bytes``; an array is ``u32 element_type | u64 count | elements``.
Because offsets are relative to the data section, dropping metadata entries and re-padding
leaves every tensor valid: :func:`strip_metadata` copies the data section byte for byte.
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codepref.errors import InputError

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# value_type -> struct format of a scalar (strings and arrays are handled separately)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY, UINT32 = 8, 9, 4

#: the tokenizer's vocabulary arrays: needed by a tokenizer, never by the model's weights
TOKENIZER_ARRAYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                    "tokenizer.ggml.scores")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in the header: ``entry`` is its bytes as written (name, dims, type,
    offset), ``offset`` relative to the start of the data."""

    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int
    entry: bytes


@dataclass
class Header:
    """A GGUF file's header: its metadata and where each part lies.

    ``fields`` maps a key to its value (arrays as lists; strings as ``str``, or ``bytes``
    where they are not UTF-8); ``spans`` maps a key to the byte range of its whole entry;
    ``tensors_span`` is the range of the tensor infos, ``tensors`` the infos themselves;
    ``data_start`` the aligned start of the tensor data.
    """

    version: int
    tensor_count: int
    fields: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    tensors_span: tuple[int, int] = (0, 0)
    tensors: list[TensorInfo] = field(default_factory=list)
    data_start: int = 0

    @property
    def alignment(self) -> int:
        return int(self.fields.get("general.alignment", DEFAULT_ALIGNMENT))


class _Cursor:
    def __init__(self, buf, pos: int = 0):
        self.buf, self.pos = buf, pos

    def take(self, fmt: str):
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self):
        n = self.take("<Q")
        raw = bytes(self.buf[self.pos:self.pos + n])
        if len(raw) != n:
            raise struct.error("string runs past the end of the file")
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw

    def value(self, vtype: int):
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            etype, count = self.take("<I"), self.take("<Q")
            if etype in _SCALARS:  # one unpack for the whole array
                fmt = _SCALARS[etype]
                size = struct.calcsize(fmt)
                values = list(struct.unpack_from(f"<{count}{fmt[1]}", self.buf, self.pos))
                self.pos += size * count
                return values
            return [self.value(etype) for _ in range(count)]
        if vtype not in _SCALARS:
            raise struct.error(f"unknown value type {vtype}")
        return self.take(_SCALARS[vtype])


def read_header(path: str | os.PathLike[str]) -> Header:
    """Parse the header of the GGUF file ``path`` (metadata, tensor infos, data offset).

    Raises:
        InputError: not a GGUF file, an unsupported version, or a truncated/garbled header.
    """
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(4) != MAGIC:
            raise InputError(f"{path} is not a GGUF file (no 'GGUF' magic)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            try:
                return _parse(buf)
            except struct.error as e:
                raise InputError(f"{path}: a truncated or garbled GGUF header ({e})") from None


def _parse(buf) -> Header:
    c = _Cursor(buf, 4)
    version = c.take("<I")
    if version not in (2, 3):
        raise struct.error(f"GGUF version {version} is not supported (2 or 3)")
    tensor_count, kv_count = c.take("<Q"), c.take("<Q")
    header = Header(version=version, tensor_count=tensor_count)
    for _ in range(kv_count):
        start = c.pos
        key = c.string()
        if isinstance(key, bytes):
            raise struct.error("a metadata key is not UTF-8")
        header.fields[key] = c.value(c.take("<I"))
        header.spans[key] = (start, c.pos)
    start = c.pos
    for _ in range(tensor_count):
        entry_start = c.pos
        name = c.string()
        n_dims = c.take("<I")
        dims = struct.unpack_from(f"<{n_dims}Q", buf, c.pos)
        c.pos += 8 * n_dims
        ggml_type, offset = c.take("<I"), c.take("<Q")
        header.tensors.append(TensorInfo(name if isinstance(name, str) else name.decode("utf-8", "replace"),
                                         tuple(dims), ggml_type, offset, bytes(buf[entry_start:c.pos])))
    if c.pos > len(buf):
        raise struct.error("the tensor infos run past the end of the file")
    header.tensors_span = (start, c.pos)
    header.data_start = _align(c.pos, header.alignment)
    return header


def _align(n: int, alignment: int) -> int:
    return n + (-n % alignment)


def _string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def strip_metadata(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                   drop: tuple[str, ...] = TOKENIZER_ARRAYS) -> Header:
    """Copy the GGUF ``src`` to ``dst`` without the metadata entries named in ``drop``.

    The tensors are copied byte for byte. When ``tokenizer.ggml.tokens`` is dropped and the
    file has no ``{architecture}.vocab_size``, that key is added with the number of tokens,
    so a loader that sized the vocabulary from the token list (transformers does) gets the
    same number. Returns the source's header.

    Raises:
        InputError: ``src`` is not a readable GGUF file.
    """
    src, dst = Path(src), Path(dst)
    header = read_header(src)
    kept = [k for k in header.fields if k not in drop]
    extra = b""
    n_extra = 0
    arch = header.fields.get("general.architecture")
    tokens = header.fields.get("tokenizer.ggml.tokens")
    if "tokenizer.ggml.tokens" in drop and isinstance(tokens, list) and isinstance(arch, str) \
            and f"{arch}.vocab_size" not in header.fields:
        extra = _string(f"{arch}.vocab_size") + struct.pack("<II", UINT32, len(tokens))
        n_extra = 1
    with open(src, "rb") as f, open(dst, "wb") as out:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            out.write(MAGIC + struct.pack("<IQQ", header.version, header.tensor_count, len(kept) + n_extra))
            for key in kept:
                a, b = header.spans[key]
                out.write(buf[a:b])
            out.write(extra)
            a, b = header.tensors_span
            out.write(buf[a:b])
            out.write(b"\0" * (-out.tell() % header.alignment))
        f.seek(header.data_start)
        shutil.copyfileobj(f, out, 1 << 24)
    return header
