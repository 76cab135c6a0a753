"""Content hashes (SHA-256, hex) of files, bytes and JSON data: one home for all of them.

Output headers record what an output was made from (input files, settings, prompts), so a
resumed or reused output is refused when its inputs changed; task sets record their data
files' hash; the pipeline keys its stages by the config's hash. Each of those values is
written to disk and compared on a later run, so the exact bytes hashed must never change:
that is why :func:`json_sha256` keeps the two JSON spellings in use (compact and
``json.dumps``' default spacing) and ``length`` cuts the hex digest where a caller always
has.

Standard library only (imported by the lowest layers).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from typing import Any

_CHUNK = 1 << 20


def file_sha256(*paths: str | os.PathLike[str], length: int | None = None, gunzip: bool = False) -> str:
    """Hex SHA-256 over the bytes of ``paths`` in order (read in 1 MiB chunks).

    Args:
        length: keep only the first ``length`` hex digits (None: all 64).
        gunzip: hash the files' decompressed content (a release asset may be another gzip
            of the same data: gzip headers carry timestamps).

    Raises:
        OSError, EOFError, zlib.error: a file is unreadable, or (``gunzip``) not a complete
            gzip file.
    """
    h = hashlib.sha256()
    for path in paths:
        with (gzip.open(path, "rb") if gunzip else open(path, "rb")) as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
    return h.hexdigest()[:length]


def bytes_sha256(data: bytes, length: int | None = None) -> str:
    """Hex SHA-256 of ``data`` (the first ``length`` hex digits when given)."""
    return hashlib.sha256(data).hexdigest()[:length]


def json_sha256(obj: Any, length: int | None = None, *, compact: bool = True) -> str:
    """Hex SHA-256 of ``obj`` as canonical JSON: sorted keys, values JSON cannot encode as ``str()``.

    Args:
        length: keep only the first ``length`` hex digits (None: all 64).
        compact: no whitespace (``separators=(",", ":")``); False keeps ``json.dumps``'
            default ``", "`` and ``": "``, which some recorded hashes were made with.
    """
    separators = (",", ":") if compact else None
    blob = json.dumps(obj, sort_keys=True, separators=separators, default=str)
    return bytes_sha256(blob.encode(), length)


__all__ = ["file_sha256", "bytes_sha256", "json_sha256"]
