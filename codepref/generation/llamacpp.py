"""llama.cpp backend (``llama-cpp-python``): the CPU default without native bf16, on a GGUF file.

Throughput comes from decoding several sequences in one batch, as llama.cpp's own
``parallel`` example and server do, rather than one stream at a time:

* up to ``parallel`` sequences share one context, each in its own KV stream
  (``kv_unified = false``: a token's attention never runs over other sequences' cells);
* a request's prompt is evaluated once, then its KV cells are copied to all of its
  samples' streams (``llama_memory_seq_cp``), so n samples cost one prompt evaluation;
* every step decodes one token of every active sequence in a single ``llama_decode``
  call, and finished sequences are replaced by waiting ones (continuous batching). The
  running sequences are kept in slots ``0..k-1`` (a finished slot is refilled by moving
  the highest one down): llama.cpp splits a batch over streams into one micro-batch per
  run of consecutive sequence ids.

Each sequence draws from its own seeded generator (:mod:`codepref.generation.nucleus`:
top-p, then temperature, as llama.cpp's sampler chain, without sorting the 150k-token
vocabulary), so sample ``i`` of a request depends only on its seed and its prompt. The
log-probability of each generated token is read from the raw logits:
``logit[t] - logsumexp(logits)``.

Uses llama-cpp-python's low-level bindings (``llama_cpp._internals`` wrappers and the C
functions); the version is pinned in the ``cpu`` extra.
"""

from __future__ import annotations

import ctypes
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from codepref.errors import ConfigError
from codepref.generation import nucleus
from codepref.generation.backend import Completion, GenProgress, Request
from codepref.generation.decoding import DecodedSeq, advance, completion, map_interleaved
from codepref.generation.models import ModelError, resolve
from codepref.generation.prompts import PromptSpec


# ggml's OpenMP threads spin while they wait by default; on a shared or busy CPU that made
# decoding ~10x slower here. Wait passively unless the user chose otherwise. libgomp reads
# this when llama.cpp's library loads (the first ``import llama_cpp`` in the process), so
# it is set when this module is imported, before that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _import_llama_cpp():
    try:
        import llama_cpp
        import llama_cpp._internals as internals
    except ImportError as e:
        raise ModelError(f"the llamacpp backend needs llama-cpp-python ({e}); install codepref[cpu]") from None
    return llama_cpp, internals


# ggml's log levels (ggml.h): NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the
# previous line). llama-cpp-python 0.3.36's own callback maps them with an older numbering
# and so prints warnings (e.g. one per layer when a LoRA adapter loads) as errors.
_GGML_ERROR, _GGML_CONT = 4, 5
_log_state = {"verbose": False, "last": 0, "callback": None}


def _quiet_logs(lib, verbose: bool) -> None:
    """Route llama.cpp's log to stderr: errors only, or everything when ``verbose``."""
    import sys

    _log_state["verbose"] = verbose
    if _log_state["callback"] is not None:
        return

    @lib.llama_log_callback
    def callback(level: int, text: bytes, user_data) -> None:
        if level != _GGML_CONT:
            _log_state["last"] = level
        if _log_state["verbose"] or _log_state["last"] >= _GGML_ERROR:
            print(text.decode("utf-8", errors="replace"), end="", flush=True, file=sys.stderr)

    _log_state["callback"] = callback  # ctypes callbacks must outlive their registration
    lib.llama_log_set(callback, ctypes.c_void_p(0))


@dataclass
class _Seq(DecodedSeq):
    """One sequence being decoded in a slot, with llama.cpp's sampler chain when
    ``draws="llama.cpp"``."""

    chain: Any = None


class LlamaCppGenerator:
    """Batched llama.cpp generation on one GGUF model.

    Args:
        model: a packaged model name (fetched on first use; the file it names on this CPU,
            :func:`~codepref.generation.models.default_variant`), ``NAME@TYPE``, or a ``.gguf``
            file.
        parallel: sequences decoded together in one batch.
        n_ctx: KV cache cells per sequence (grown when a prompt plus ``max_tokens`` needs
            more). Every sequence has its own KV stream (``parallel * n_ctx`` cells in all,
            12 KiB each for the 0.5B model), so attention never spans other sequences' cells.
        n_batch: most prompt tokens evaluated per ``llama_decode`` call.
        n_threads: CPU threads (default: all cores).
        logprobs: compute per-token log-probabilities (a log-softmax per token).
        lora: a LoRA adapter in GGUF format, applied at scale 1.
        repack: let llama.cpp repack weights into its CPU layouts for this machine's
            instructions (``use_extra_bufts``; e.g. ``q4_0`` rows interleaved for AVX2). On by
            default, as in llama.cpp; off only to measure what it buys.
        draws: ``"nucleus"`` (default: :mod:`codepref.generation.nucleus`) or
            ``"llama.cpp"`` (llama.cpp's sampler chain ``top_p -> temp -> dist``, which sorts
            the vocabulary at every draw; the same distribution, other random numbers: kept
            as the baseline ``benchmarks/generation_throughput.py --draws`` measures).
        verbose: let llama.cpp print its logs.
    """

    prefill_chat = True

    @staticmethod
    def default_processes() -> int:
        """Worker processes when ``open_generator`` is not given ``processes``: 2 on a machine
        with 2 or more cores (each with half the threads). On 2 cores two single-threaded
        processes made 1.14x the tokens/s of one with two threads, whose threads wait for
        each other at every operation of the graph (docs/architecture.md section 7)."""
        return min(2, os.cpu_count() or 1)

    def __init__(self, model: str, *, parallel: int = 32, n_ctx: int = 2048, n_batch: int = 512,
                 n_threads: int | None = None, logprobs: bool = True, lora: str | None = None,
                 repack: bool = True, draws: str = "nucleus", verbose: bool = False):
        if draws not in ("nucleus", "llama.cpp"):
            raise ConfigError([f"llamacpp option draws must be 'nucleus' or 'llama.cpp', got {draws!r}"])
        self.draws = draws
        ref = resolve(model)
        # the file that runs: a bare packaged name may run a variant on this CPU (models.default_variant)
        self.id = f"llamacpp:{model}" + (f"@{ref.variant}" if ref.variant and "@" not in model else "")
        self.chat_default = ref.chat
        self.parallel = max(1, int(parallel))
        self.logprobs = logprobs
        path = ref.gguf(fetch_missing=True)
        self._lib, internals = _import_llama_cpp()
        lib = self._lib
        lib.llama_backend_init()
        _quiet_logs(lib, verbose)
        mparams = lib.llama_model_default_params()
        mparams.use_extra_bufts = bool(repack)
        try:
            self._model = internals.LlamaModel(path_model=str(path), params=mparams, verbose=verbose)
        except (ValueError, OSError) as e:
            raise ModelError(f"llama.cpp cannot load {path}: {e}") from None
        self._internals = internals
        self._path = path
        self._verbose = verbose
        self.n_batch = n_batch
        self._threads = n_threads or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self._threads) if self._threads > 1 and self.parallel > 1 else None
        self._batch = lib.llama_batch_init(max(n_batch, self.parallel), 0, 1)
        self._vocab = self._model.vocab
        self.n_vocab = self._model.n_vocab()
        self._lora = None
        if lora:
            self._lora = lib.llama_adapter_lora_init(self._model.model, str(lora).encode())
            if not self._lora:
                raise ModelError(f"llama.cpp cannot load the LoRA adapter {lora}")
        self._ctx = None
        self._make_context(n_ctx)
        self._template = self._model.metadata().get("tokenizer.chat_template")
        self._pieces: dict[int, bytes] = {}

    def _make_context(self, n_ctx: int) -> None:
        """(Re)create the context with ``n_ctx`` cells per sequence (rounded up to 256)."""
        lib = self._lib
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None
        cparams = lib.llama_context_default_params()
        cparams.n_ctx = -(-n_ctx // 256) * 256 * self.parallel
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = min(self.n_batch, 512)
        cparams.n_seq_max = self.parallel
        # One KV stream per sequence, and no flash attention: with one shared stream each
        # token's attention runs over all sequences' cells (masked), and CPU flash attention
        # is slower on split streams; measured on 2 cores, 16 sequences of 350 tokens: 288 ms
        # per decode (shared stream, flash) vs 187 ms (streams, no flash).
        cparams.kv_unified = False
        cparams.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.n_threads = self._threads
        cparams.n_threads_batch = self._threads
        cparams.no_perf = True
        try:
            self._ctx = self._internals.LlamaContext(model=self._model, params=cparams, verbose=self._verbose)
        except ValueError as e:
            raise ModelError(f"llama.cpp cannot create a context for {self._path}: {e}") from None
        self.n_ctx = self._ctx.n_ctx() // self.parallel
        if self._lora:
            scales = (ctypes.c_float * 1)(1.0)
            adapters = (lib.llama_adapter_lora_p_ctypes * 1)(self._lora)
            lib.llama_set_adapters_lora(self._ctx.ctx, adapters, 1, scales)

    # ------------------------------------------------------------------ prompts

    def render(self, prompt: PromptSpec) -> str:
        """The prompt as one string: the chat template applied to messages, plus the prefill."""
        if prompt.text is not None:
            return prompt.text + prompt.prefill
        if not self._template:
            raise ModelError(f"{self.id} has no chat template; use the completion prompt style")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = self._model.token_get_text(self._model.token_eos())
        bos = self._model.token_get_text(self._model.token_bos()) if self._model.token_bos() >= 0 else ""
        fmt = Jinja2ChatFormatter(template=self._template, eos_token=eos, bos_token=bos)
        return fmt(messages=list(prompt.messages)).prompt + prompt.prefill

    def tokenize(self, text: str) -> list[int]:
        add_bos = self._model.add_bos_token()
        bos = self._model.token_bos()
        if add_bos and bos >= 0 and text.startswith(self._model.token_get_text(bos)):
            add_bos = False
        return self._model.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[Request], progress: GenProgress | None = None) -> list[list[Completion]]:
        """Decode all samples of all requests, ``parallel`` sequences at a time."""
        lib = self._lib
        prompts = [self.tokenize(self.render(r.prompt)) for r in requests]
        need = max((len(t) + r.params.max_tokens for r, t in zip(requests, prompts)), default=0)
        if need > self.n_ctx:  # a longer prompt than the context was made for: grow it
            self._make_context(need)
        mem = self._ctx.memory
        results: list[list[Completion | None]] = [[None] * r.n for r in requests]
        waiting = deque((i, j) for i, r in enumerate(requests) for j in range(r.n))
        total = len(waiting)
        active: dict[int, _Seq] = {}  # always slots 0..len(active)-1 (see _compact)

        def retire(slot: int, s: _Seq) -> None:
            results[s.request][s.sample] = self._finish(s)
            lib.llama_memory_seq_rm(mem, slot, -1, -1)
            if s.chain is not None:
                lib.llama_sampler_free(s.chain)
            del active[slot]
            self._compact(active, slot)
            if progress:
                progress(total - len(waiting) - len(active), total)

        lib.llama_memory_clear(mem, True)
        while waiting or active:
            self._admit(requests, prompts, waiting, active, retire)
            if not active:
                continue
            # one token for every active sequence, all in one batch
            slots = sorted(active)
            b = self._batch
            b.n_tokens = len(slots)
            for k, slot in enumerate(slots):
                s = active[slot]
                b.token[k] = s.next_token
                b.pos[k] = s.pos
                s.pos += 1
                b.n_seq_id[k] = 1
                b.seq_id[k][0] = slot
                b.logits[k] = True
            self._decode()
            self._step(active, list(enumerate(slots)), retire)
        return [list(r) for r in results]  # type: ignore[arg-type]

    def _admit(self, requests, prompts, waiting, active, retire) -> None:
        """Start waiting samples in free slots: evaluate each new prompt once, copy its cells.

        The prompt is evaluated in the first slot's KV stream and copied to the others, so a
        request's samples pay for their prompt once.
        """
        lib = self._lib
        mem = self._ctx.memory
        while waiting and len(active) < self.parallel:
            i = waiting[0][0]
            req = requests[i]
            group = []
            while waiting and waiting[0][0] == i and len(active) + len(group) < self.parallel:
                group.append(waiting.popleft()[1])
            slots = list(range(len(active), len(active) + len(group)))
            self._eval_prompt(prompts[i], slots[0])
            for slot in slots[1:]:
                lib.llama_memory_seq_cp(mem, slots[0], slot, -1, -1)
            last = self._batch.n_tokens - 1  # the prompt's last token holds the logits
            for slot, j in zip(slots, group):
                active[slot] = _Seq(request=i, sample=j, params=req.params,
                                    rng=np.random.default_rng(req.seeds[j] & 0xFFFFFFFF),
                                    chain=self._chain(req, j) if self.draws == "llama.cpp" else None, pos=len(prompts[i]),
                                    prompt_tokens=len(prompts[i]), max_tokens=req.params.max_tokens,
                                    stop=req.prompt.stop)
            self._step(active, [(last, slot) for slot in slots], retire)

    def _step(self, active: dict[int, _Seq], rows: list[tuple[int, int]], retire) -> None:
        """Sample the next token of each ``(batch row, slot)`` in ``rows`` (slots ascending),
        append it, and retire the sequences that finished, highest slot first (every slot
        above it is still running, so :meth:`_compact` moves a live one down)."""
        toks = self._sample_rows([(active[slot], row) for row, slot in rows])
        done = [slot for (_, slot), tok in zip(rows, toks) if self._advance(active[slot], tok)]
        for slot in reversed(done):
            retire(slot, active[slot])

    def _compact(self, active: dict[int, _Seq], hole: int) -> None:
        """Keep the running sequences in slots 0..k-1: move the highest one into ``hole``.

        llama.cpp splits a batch over separate KV streams into one micro-batch per run of
        consecutive sequence ids, so a batch over slots {0, 2, 5} would cost three decodes
        instead of one. The move copies one stream's cells (``parallel`` x less than the
        decode it saves).
        """
        top = max(active, default=-1)
        if top < hole:
            return
        mem = self._ctx.memory
        self._lib.llama_memory_seq_cp(mem, top, hole, -1, -1)
        self._lib.llama_memory_seq_rm(mem, top, -1, -1)
        active[hole] = active.pop(top)

    def _eval_prompt(self, tokens: list[int], slot: int) -> None:
        b = self._batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start:start + self.n_batch]
            b.n_tokens = len(chunk)
            for k, tok in enumerate(chunk):
                b.token[k] = tok
                b.pos[k] = start + k
                b.n_seq_id[k] = 1
                b.seq_id[k][0] = slot
                b.logits[k] = False
            b.logits[len(chunk) - 1] = True
            self._decode()

    def _decode(self) -> None:
        rc = self._lib.llama_decode(self._ctx.ctx, self._batch)
        if rc != 0:
            raise ModelError(f"llama_decode failed with code {rc} (KV cache full? raise n_ctx)")

    def _chain(self, req: Request, j: int):
        """llama.cpp's sampler chain for sample ``j`` of ``req`` (the ``draws="llama.cpp"`` baseline)."""
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        p = req.params
        if p.temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            if p.top_p < 1:
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(p.top_p, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(p.temperature))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(req.seeds[j] & 0xFFFFFFFF))
        return chain

    def _sample_rows(self, rows: list[tuple[_Seq, int]]) -> list[int]:
        """Next tokens of several sequences (``(seq, batch row)``), on the sampling threads.

        A draw reads the whole 150k-logit row (a max, an ``exp`` pass), and the cores are
        otherwise idle between decodes (:func:`~codepref.generation.decoding.map_interleaved`).
        """
        if self._pool is not None and len(rows) > 1:
            self._lib.llama_get_logits_ith(self._ctx.ctx, rows[0][1])  # settle the outputs once, here
        return map_interleaved(self._pool, self._threads, lambda row: self._sample(*row), rows)

    def _sample(self, s: _Seq, idx: int) -> int:
        """Draw ``s``'s next token from batch row ``idx`` and add its log-probability."""
        row = np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self._ctx.ctx, idx), shape=(self.n_vocab,))
        if s.chain is None:
            tok, logprob = nucleus.draw(row, s.params.top_p, s.params.temperature, s.rng, want_logprob=self.logprobs)
            s.logprob += logprob
            return tok
        tok = self._lib.llama_sampler_sample(s.chain, self._ctx.ctx, idx)
        if self.logprobs:
            m = float(row.max())
            s.logprob += float(row[tok]) - m - float(np.log(np.exp(row - m).sum()))
        return tok

    def _advance(self, s: _Seq, tok: int) -> bool:
        """Append ``tok`` to ``s``; True when ``s`` is finished (:func:`~codepref.generation.decoding.advance`)."""
        is_end = bool(self._lib.llama_vocab_is_eog(self._vocab, tok))
        return advance(s, tok, b"" if is_end else self._piece(tok), is_end)

    def _piece(self, tok: int) -> bytes:
        """The bytes of one token (cached; may be part of a UTF-8 character)."""
        piece = self._pieces.get(tok)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = self._lib.llama_token_to_piece(self._vocab, tok, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = self._lib.llama_token_to_piece(self._vocab, tok, buf, -n, 0, False)
            piece = self._pieces[tok] = buf.raw[:n]
        return piece

    def _finish(self, s: _Seq) -> Completion:
        def tokenize(text: str) -> list[int]:
            return self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False)

        return completion(s, self._piece, tokenize)

    def close(self) -> None:
        """Free the sampling threads, batch, context and model."""
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()
            self._pool = None
        if getattr(self, "_batch", None) is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "_ctx", None) is not None:
            self._ctx.close()
            self._ctx = None
        if getattr(self, "_lora", None):
            self._lora = None
        if getattr(self, "_model", None) is not None:
            self._model.close()
            self._model = None

