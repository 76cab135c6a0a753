"""One sequence of a local batched decoder (the ``llamacpp`` and ``torch`` backends): its
record, how a sampled token extends it (end tokens, stop strings, ``max_tokens``), and the
:class:`~codepref.generation.backend.Completion` it becomes (the text before the first stop
string, and the sampled token ids that spell that text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from codepref.generation.backend import Completion, SamplingParams

T = TypeVar("T")


@dataclass
class DecodedSeq:
    """One sequence being decoded in a slot of a batch."""

    request: int
    sample: int
    params: SamplingParams
    rng: np.random.Generator
    pos: int
    prompt_tokens: int
    max_tokens: int
    stop: tuple[str, ...]
    buf: bytearray = field(default_factory=bytearray)
    tokens: list[int] = field(default_factory=list)  # sampled ids whose pieces make ``buf``
    n_generated: int = 0
    logprob: float = 0.0
    next_token: int = -1
    finish: str = "stop"


def advance(s: DecodedSeq, tok: int, piece: bytes, is_end: bool) -> bool:
    """Append ``tok`` (whose bytes are ``piece``) to ``s``; True when ``s`` is finished: an
    end-of-generation token (``is_end``; not kept), a stop string in the text, or
    ``max_tokens`` tokens."""
    s.n_generated += 1
    if is_end:
        s.finish = "stop"
        return True
    s.buf += piece
    s.tokens.append(tok)
    if s.stop and hit_stop(s.buf, s.stop):
        s.finish = "stop"
        return True
    if s.n_generated >= s.max_tokens:
        s.finish = "length"
        return True
    s.next_token = tok
    return False


def hit_stop(buf: bytes | bytearray, stop: tuple[str, ...]) -> bool:
    """Whether the end of ``buf`` holds one of the ``stop`` strings (a tail wide enough for
    the longest, decoded leniently: it may end inside a UTF-8 character)."""
    width = max(len(x) for x in stop) * 4 + 16
    tail = bytes(buf[-width:]).decode("utf-8", errors="ignore")
    return any(x in tail for x in stop)


def completion(s: DecodedSeq, piece: Callable[[int], bytes], tokenize: Callable[[str], list[int]],
               logprobs: bool = True) -> Completion:
    """What ``s`` became: its text up to the first stop string, with the token ids that spell
    it (:func:`ids_of`)."""
    text = bytes(s.buf).decode("utf-8", errors="replace")
    cut = min((k for k in (text.find(x) for x in s.stop) if k >= 0), default=-1)
    if cut >= 0:
        text = text[:cut]
    return Completion(text=text, prompt_tokens=s.prompt_tokens, completion_tokens=s.n_generated,
                      logprob=s.logprob if logprobs else None, finish_reason=s.finish,
                      token_ids=ids_of(s, text, piece, tokenize))


def ids_of(s: DecodedSeq, text: str, piece: Callable[[int], bytes],
           tokenize: Callable[[str], list[int]]) -> tuple[int, ...] | None:
    """The sampled ids that spell ``text`` (a prefix of what ``s`` sampled): every token
    wholly inside it, then ``tokenize``'s ids of what is left of the token a stop string was
    cut in. None where ``text`` is not the sampled bytes (invalid UTF-8 replaced) or the cut
    falls inside a character."""
    data = text.encode("utf-8")
    if not bytes(s.buf).startswith(data):
        return None
    kept, used = [], 0
    for tok in s.tokens:
        size = len(piece(tok))
        if used + size > len(data):
            break
        kept.append(tok)
        used += size
    if used < len(data):
        try:
            rest = data[used:].decode("utf-8")
        except UnicodeDecodeError:  # the cut token began inside a character
            return None
        kept += tokenize(rest)
    return tuple(kept)


def map_interleaved(pool: Executor | None, threads: int, fn: Callable[[T], Any], items: Sequence[T]) -> list:
    """``[fn(x) for x in items]``, with the items dealt round-robin to ``threads`` workers of
    ``pool`` (in order when there is no pool or fewer than two items). The decoders draw each
    sequence's next token this way: numpy's passes over a 150k-logit row release the GIL, and
    every sequence has its own generator, so the results are those of one after another."""
    if pool is None or threads < 2 or len(items) < 2:
        return [fn(x) for x in items]
    parts = pool.map(lambda part: [fn(x) for x in part], [items[k::threads] for k in range(threads)])
    out: list = [None] * len(items)
    for k, part in enumerate(parts):
        out[k::threads] = part
    return out
