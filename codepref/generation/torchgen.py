"""torch backend: codepref's own batched decoder for Qwen2- and Llama-style models on the CPU.

Why it exists: on CPUs with native bf16 dot products torch's bf16 matrix products (oneDNN)
run about twice as fast as llama.cpp's bf16 kernels (``benchmarks/machine_peak.py --bf16``
against llama.cpp's batched prompt evaluation), and transformers' ``generate`` spends most
of its time outside them. This backend keeps only what a decoder step needs, so the matrix
products dominate (docs/architecture.md section 7 has the measurements):

* the weights are read once from the model's safetensors folder into a few fused bf16
  matrices per layer (q/k/v as one, gate/up as one); a LoRA adapter folder (``adapter``) is
  merged into them at load, ``W + (alpha / r) B A`` (``alpha / sqrt(r)`` for rsLoRA);
* every sequence owns a slot of a KV cache (``[slots, kv_heads, cells, head_dim]`` per
  layer) that is only as long as the longest running sequence (:meth:`Decoder.fit`); a
  request's prompt is evaluated once (causal attention over the prompt,
  scaled_dot_product_attention) and its cells copied to its samples' slots;
* each step feeds one token of every running sequence as one batch: the matrix products see
  ``M = running sequences``; attention reads each slot's own cells (grouped-query
  attention without repeating the key/value heads), masked beyond the slot's position;
* finished sequences are replaced by waiting ones (continuous batching) and the running ones
  are kept in slots ``0..k-1``, as in the llamacpp backend.

Numerics: weights and matrix products in bf16 (``dtype="float32"`` for fp32), the residual
stream, RMSNorm and softmax in fp32. Draws are codepref's exact nucleus
(:mod:`codepref.generation.nucleus`) with one seeded generator per sample, so sample ``i`` of
a request depends only on its seed and its prompt (up to the batch's floating point).
Log-probabilities are read from the raw logits, ``logit[t] - logsumexp(logits)``.

Supported: causal LMs whose config names ``Qwen2ForCausalLM`` or ``LlamaForCausalLM`` with
plain RoPE (no ``rope_scaling``), as safetensors folders (a packaged model's copy is made
once from its GGUF). Anything else: the ``hf`` backend.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from codepref.errors import ConfigError
from codepref.generation import nucleus
from codepref.generation.backend import Completion, GenProgress, Request
from codepref.generation.decoding import DecodedSeq, advance, completion, map_interleaved
from codepref.generation.hf import end_token_ids, render_with_template
from codepref.generation.models import ModelError, native_bf16, resolve
from codepref.generation.prompts import PromptSpec

ARCHITECTURES = ("Qwen2ForCausalLM", "LlamaForCausalLM")
#: The KV cache grows by this many cells per slot (:meth:`Decoder.fit`).
CELL_STEP = 64


def default_dtype() -> str:
    """``bfloat16`` on a CPU with native bf16 dot products, else ``float32`` (bf16 matrix
    products without them were 1.3-3x slower than fp32 on an AVX2 machine)."""
    return "bfloat16" if native_bf16() else "float32"


# --------------------------------------------------------------------------- weights


class _Weights(Mapping):
    """The tensors of a safetensors folder (one file or shards), each read when asked for.

    A tensor is a view of the file's memory map (safetensors): the decoder keeps copies only
    (its bf16 or fused forms), so the map goes when loading is done."""

    def __init__(self, folder: Path):
        from safetensors import safe_open

        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise ModelError(f"{folder} holds no .safetensors weights")
        self._file_of: dict[str, Any] = {}
        for f in files:
            handle = safe_open(str(f), framework="pt")
            self._file_of.update(dict.fromkeys(handle.keys(), handle))

    def __getitem__(self, name: str):
        return self._file_of[name].get_tensor(name)

    def __iter__(self):
        return iter(self._file_of)

    def __len__(self) -> int:
        return len(self._file_of)


def _lora_deltas(adapter: str | os.PathLike[str]) -> dict[str, Any]:
    """``{base weight name: delta}`` of a peft LoRA adapter folder: ``scale * B @ A`` in fp32,
    ``scale = lora_alpha / r`` (``/ sqrt(r)`` with ``use_rslora``).

    Raises:
        ModelError: not a LoRA adapter folder, or a LoRA variant this merge does not do.
    """
    from safetensors.torch import load_file

    folder = Path(adapter)
    try:
        cfg = json.loads((folder / "adapter_config.json").read_text())
        tensors = load_file(str(folder / "adapter_model.safetensors"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{folder} is not a LoRA adapter folder: {e}") from None
    plain = cfg.get("peft_type", "LORA") == "LORA" and not any(cfg.get(k) for k in ("use_dora", "rank_pattern",
                                                                                   "alpha_pattern"))
    if not plain:
        raise ModelError(f"{folder}: only plain LoRA adapters can be merged here (use the hf backend)")
    r, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
    other = sorted(n for n in tensors if ".lora_A." not in n and ".lora_B." not in n)
    if other:  # e.g. modules_to_save copies or embedding LoRA, which a merge here would drop
        raise ModelError(f"{folder}: the adapter holds weights other than LoRA matrices ({other[0]} ...); "
                         "use the hf backend")
    deltas = {}
    for name, a in tensors.items():
        if ".lora_A." not in name:
            continue
        b = tensors[name.replace(".lora_A.", ".lora_B.")]
        base = name.split(".lora_A.")[0]
        base = base.removeprefix("base_model.model.") + ".weight"
        deltas[base] = scale * (b.float() @ a.float())
    if not deltas:
        raise ModelError(f"{folder}: the adapter holds no LoRA matrices")
    return deltas


class Decoder:
    """The model's forward pass for decoding, on a per-slot KV cache.

    Args:
        folder: a transformers folder (``config.json`` and safetensors weights).
        dtype: ``"bfloat16"`` or ``"float32"``: the weights and matrix products.
        adapter: a peft LoRA adapter folder merged into the weights.
    """

    def __init__(self, folder: str | os.PathLike[str], dtype: str = "bfloat16", adapter: str | None = None):
        import torch

        folder = Path(folder)
        try:
            cfg = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise ModelError(f"{folder}: no readable config.json ({e})") from None
        arch = (cfg.get("architectures") or ["?"])[0]
        if arch not in ARCHITECTURES:
            raise ModelError(f"the torch backend runs {', '.join(ARCHITECTURES)}; {folder} is {arch} "
                             "(use the hf backend)")
        # RoPE settings: ``rope_theta`` and ``rope_scaling`` (older configs) or ``rope_parameters``
        ropes = [cfg.get("rope_scaling") or {}, cfg.get("rope_parameters") or {}]
        rope = {**ropes[0], **ropes[1]}
        scaled = any(r.get("rope_type", r.get("type", "default")) != "default" for r in ropes)
        if scaled or cfg.get("use_sliding_window"):
            raise ModelError(f"{folder}: scaled RoPE or sliding-window attention is not implemented by the torch "
                             "backend (use the hf backend)")
        if dtype not in ("bfloat16", "float32"):
            raise ConfigError([f"torch option dtype must be bfloat16 or float32, got {dtype!r}"])
        self.dtype = getattr(torch, dtype)
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.head_dim = cfg.get("head_dim") or self.hidden // self.heads
        self.n_layers = cfg["num_hidden_layers"]
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        theta = float(cfg.get("rope_theta") or rope.get("rope_theta") or 10000.0)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim))

        sd = _Weights(folder)
        deltas = _lora_deltas(adapter) if adapter else {}
        unused = set(deltas)

        # Tensors read from the folder are views of its memory map: everything kept is a copy
        # (``copy=True``), so the map (the whole fp32 file) is released after loading.
        def w(name: str):
            t = sd[name].float()
            if name in deltas:
                t = t + deltas[name]
                unused.discard(name)
            return t.to(self.dtype, copy=True).contiguous()

        def f32(name: str):
            return sd[name].to(torch.float32, copy=True)

        def bias(name: str, rows: int):
            return f32(name) if name in sd else torch.zeros(rows)

        q_rows, kv_rows = self.heads * self.head_dim, self.kv_heads * self.head_dim
        self.layers = []
        try:
            for i in range(self.n_layers):
                p = f"model.layers.{i}."
                self.layers.append({
                    "ln1": f32(p + "input_layernorm.weight"),
                    "ln2": f32(p + "post_attention_layernorm.weight"),
                    "qkv": torch.cat([w(p + "self_attn.q_proj.weight"), w(p + "self_attn.k_proj.weight"),
                                      w(p + "self_attn.v_proj.weight")]).contiguous(),
                    "qkv_bias": torch.cat([bias(p + "self_attn.q_proj.bias", q_rows),
                                           bias(p + "self_attn.k_proj.bias", kv_rows),
                                           bias(p + "self_attn.v_proj.bias", kv_rows)]).to(self.dtype),
                    "o": w(p + "self_attn.o_proj.weight"),
                    "gate_up": torch.cat([w(p + "mlp.gate_proj.weight"), w(p + "mlp.up_proj.weight")]).contiguous(),
                    "down": w(p + "mlp.down_proj.weight"),
                })
            self.embed = w("model.embed_tokens.weight")
            self.head = w("lm_head.weight") if "lm_head.weight" in sd else self.embed
            self.norm = f32("model.norm.weight")
        except KeyError as e:
            raise ModelError(f"{folder}: weight {e} is missing (not a {arch} checkpoint?)") from None
        if unused:
            raise ModelError(f"{adapter}: LoRA matrices for weights this model does not have: {sorted(unused)[:3]}")
        self.vocab = self.head.shape[0]
        self.k_cache: list[Any] = []
        self.v_cache: list[Any] = []
        self.slots = self.cells = 0

    # ------------------------------------------------------------------ cache

    def reserve(self, slots: int, cells: int = CELL_STEP) -> None:
        """An empty KV cache for ``slots`` sequences of ``cells`` cells each; :meth:`fit` grows it."""
        self.slots, self.cells = slots, 0
        self.k_cache, self.v_cache = [], []
        self.fit(cells)

    def fit(self, cells: int) -> None:
        """At least ``cells`` cells per slot, contents kept, in steps of :data:`CELL_STEP`.

        The cache is only as long as the longest sequence needs, so a decode step reads every
        slot's cells as one contiguous block (``cache[:B]``); a slice of the cell axis would
        be copied first (about a third of a step at 450 cells, measured). Growing copies the
        cache, once per 64 steps at most. New cells are zero: cells past a slot's position
        are masked, and must not hold NaN."""
        import torch

        if cells <= self.cells:
            return
        new = -(-cells // CELL_STEP) * CELL_STEP
        shape = (self.slots, self.kv_heads, new, self.head_dim)
        for caches in (self.k_cache, self.v_cache):
            for i in range(self.n_layers):
                grown = torch.zeros(shape, dtype=self.dtype)
                if i < len(caches):
                    grown[:, :, :self.cells] = caches[i]
                    caches[i] = grown
                else:
                    caches.append(grown)
        self.cells = new

    def copy_slot(self, src: int, dst: int, length: int) -> None:
        """Copy the first ``length`` cells of slot ``src`` into slot ``dst``."""
        for cache in (*self.k_cache, *self.v_cache):
            cache[dst, :, :length] = cache[src, :, :length]

    # ------------------------------------------------------------------ forward

    def _rms(self, x, weight):
        import torch

        return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight).to(self.dtype)

    def _rope(self, positions):
        """cos and sin of the rotary angles, ``[tokens, 1, head_dim / 2]``."""
        import torch

        angles = positions.to(torch.float64)[:, None] * self.inv_freq[None]
        return torch.cos(angles)[:, None].to(self.dtype), torch.sin(angles)[:, None].to(self.dtype)

    @staticmethod
    def _rotate(x, cos, sin):
        import torch

        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def _mlp(self, x, layer):
        import torch.nn.functional as F

        gate, up = (self._rms(x, layer["ln2"]) @ layer["gate_up"].t()).chunk(2, dim=-1)
        return x + ((F.silu(gate) * up) @ layer["down"].t()).float()

    def _qkv(self, x, layer, cos, sin):
        import torch

        n = x.shape[0]
        qkv = torch.addmm(layer["qkv_bias"], self._rms(x, layer["ln1"]), layer["qkv"].t())
        q_end = self.heads * self.head_dim
        k_end = q_end + self.kv_heads * self.head_dim
        q = self._rotate(qkv[:, :q_end].view(n, self.heads, self.head_dim), cos, sin)
        k = self._rotate(qkv[:, q_end:k_end].view(n, self.kv_heads, self.head_dim), cos, sin)
        v = qkv[:, k_end:].view(n, self.kv_heads, self.head_dim)
        return q, k, v

    def prefill(self, tokens: Sequence[int], slot: int):
        """Evaluate a prompt into ``slot`` (cells ``0..len-1``); the logits of its last token."""
        import torch
        import torch.nn.functional as F

        n = len(tokens)
        self.fit(n)
        ids = torch.tensor(tokens, dtype=torch.long)
        x = self.embed[ids].float()
        cos, sin = self._rope(torch.arange(n))
        for i, layer in enumerate(self.layers):
            q, k, v = self._qkv(x, layer, cos, sin)
            self.k_cache[i][slot, :, :n] = k.transpose(0, 1)
            self.v_cache[i][slot, :, :n] = v.transpose(0, 1)
            heads_first = [t.transpose(0, 1)[None] for t in (q, k, v)]  # [1, heads, tokens, head_dim]
            o = F.scaled_dot_product_attention(*heads_first, is_causal=True, enable_gqa=True)
            x = x + (o[0].transpose(0, 1).reshape(n, -1) @ layer["o"].t()).float()
            x = self._mlp(x, layer)
        return (self._rms(x[-1:], self.norm) @ self.head.t()).float()[0]

    def decode(self, tokens, positions):
        """One token for each of slots ``0..B-1`` at ``positions``; their logits ``[B, vocab]``.

        Attention of slot ``b`` runs over its cells ``0..positions[b]``: the query heads are
        grouped by their key/value head (``[B, kv_heads, group, head_dim]``), so the cache is
        read once per key/value head, never repeated per query head."""
        import torch

        b = tokens.shape[0]
        self.fit(int(positions.max()) + 1)
        span = self.cells
        x = self.embed[tokens].float()
        cos, sin = self._rope(positions)
        rows = torch.arange(b)
        group = self.heads // self.kv_heads
        masked = torch.arange(span)[None] > positions[:, None]
        bias = torch.zeros(b, 1, 1, span).masked_fill(masked[:, None, None], float("-inf"))
        scale = 1.0 / math.sqrt(self.head_dim)
        for i, layer in enumerate(self.layers):
            q, k, v = self._qkv(x, layer, cos, sin)
            kc, vc = self.k_cache[i], self.v_cache[i]
            kc[rows, :, positions] = k
            vc[rows, :, positions] = v
            keys, values = kc[:b], vc[:b]  # contiguous: the cache is as long as needed (fit)
            scores = torch.matmul((q * scale).view(b, self.kv_heads, group, self.head_dim), keys.transpose(-1, -2))
            weights = torch.softmax(scores.float().add_(bias), dim=-1).to(self.dtype)
            o = torch.matmul(weights, values).reshape(b, -1)
            x = x + (o @ layer["o"].t()).float()
            x = self._mlp(x, layer)
        return (self._rms(x, self.norm) @ self.head.t()).float()


# --------------------------------------------------------------------------- generator


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet, inverted: the character that stands for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _conversion_note(phase: str, done: int, total: int) -> None:
    """One line on stderr when a packaged model's safetensors copy is made (once, ~20 s)."""
    if phase == "convert" and done == 0:
        print("converting the model to safetensors for the torch backend, once (kept in the cache)",
              file=sys.stderr, flush=True)


class TorchGenerator:
    """Batched decoding with :class:`Decoder` (see the module docstring).

    Args:
        model: a packaged model name (its safetensors copy is made once from the GGUF), a
            local transformers folder or a Hugging Face id in the local cache.
        parallel: sequences decoded together in one batch.
        dtype: ``"auto"`` (bfloat16 on a CPU with native bf16, else float32), ``"bfloat16"``
            or ``"float32"``.
        adapter: a peft LoRA adapter folder, merged into the weights at load.
        n_threads: torch's CPU threads (default: all cores).
        logprobs: compute per-token log-probabilities.
    """

    prefill_chat = True

    def __init__(self, model: str, *, parallel: int = 64, dtype: str = "auto", adapter: str | None = None,
                 n_threads: int | None = None, logprobs: bool = True):
        try:
            import torch
            from transformers import AutoTokenizer
        except ImportError as e:
            raise ModelError(f"the torch backend needs torch and transformers ({e}); install codepref[hf]") from None
        ref = resolve(model)
        self.dtype = default_dtype() if dtype == "auto" else dtype
        # bf16 weights are named as llama.cpp's are (``@bf16``); fp32 is the model's own copy
        self.id = f"torch:{model}" + ("@bf16" if self.dtype == "bfloat16" else "") + (f"+{adapter}" if adapter else "")
        self.chat_default = ref.chat
        self.parallel = max(1, int(parallel))
        # each generate call ends with its batch draining; four batches' worth per call keep
        # it full for most of the call
        self.min_chunk_sequences = 4 * self.parallel
        self.logprobs = logprobs
        self._threads = n_threads or os.cpu_count() or 1
        torch.set_num_threads(self._threads)
        self._pool = ThreadPoolExecutor(self._threads) if self._threads > 1 else None
        from codepref.quiet import quiet_libraries

        quiet_libraries()
        path = ref.transformers_path(fetch_missing=True, progress=_conversion_note)
        try:
            self.tok = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as e:
            raise ModelError(f"transformers cannot load the tokenizer of {model!r}: {str(e).splitlines()[0]}") from None
        self.decoder = Decoder(path, self.dtype, adapter)
        self.end_ids = end_token_ids(self.tok)
        gen_cfg = Path(path) / "generation_config.json"  # the model's own end tokens, where it names them
        if gen_cfg.is_file():
            eos = json.loads(gen_cfg.read_text()).get("eos_token_id")
            self.end_ids |= {i for i in (eos if isinstance(eos, list) else [eos]) if i is not None}
        self._pieces = self._piece_table()

    def _piece_table(self) -> list[bytes]:
        """The bytes each token id stands for (special tokens as their text)."""
        n = max(len(self.tok), self.decoder.vocab)
        byte_of = _byte_decoder()
        special = set(self.tok.all_special_ids) | {i for i in self.tok.added_tokens_decoder}
        table = [b""] * n
        for text, i in self.tok.get_vocab().items():
            if i >= n:
                continue
            if i in special or any(ch not in byte_of for ch in text):
                table[i] = self.tok.decode([i]).encode("utf-8")
            else:
                table[i] = bytes(byte_of[ch] for ch in text)
        return table

    def render(self, prompt: PromptSpec) -> str:
        """The prompt as one string: the chat template applied to messages, plus the prefill."""
        return render_with_template(self.tok, prompt, self.id)

    def generate(self, requests: Sequence[Request], progress: GenProgress | None = None) -> list[list[Completion]]:
        """Decode all samples of all requests, ``parallel`` sequences at a time."""
        import torch

        prompts = [self.tok(self.render(r.prompt), add_special_tokens=False).input_ids for r in requests]
        self.decoder.reserve(self.parallel)
        results: list[list[Completion | None]] = [[None] * r.n for r in requests]
        waiting = deque((i, j) for i, r in enumerate(requests) for j in range(r.n))
        total = len(waiting)
        active: dict[int, DecodedSeq] = {}  # always slots 0..len(active)-1
        first_logits: dict[int, np.ndarray] = {}  # a request's prompt logits while samples wait

        def retire(slot: int) -> None:
            s = active.pop(slot)
            results[s.request][s.sample] = self._finish(s)
            top = max(active, default=-1)
            if top > slot:  # keep the running sequences in slots 0..k-1
                self.decoder.copy_slot(top, slot, active[top].pos)
                active[slot] = active.pop(top)
            if progress:
                progress(total - len(waiting) - len(active), total)

        with torch.inference_mode():
            while waiting or active:
                while waiting and len(active) < self.parallel:  # admit: one prompt evaluation per request
                    i = waiting[0][0]
                    group = []
                    while waiting and waiting[0][0] == i and len(active) + len(group) < self.parallel:
                        group.append(waiting.popleft()[1])
                    first = len(active)
                    # the prompt's cells: from a running sample of the same request (its first
                    # len(prompt) cells), else evaluated into the first new slot
                    source = next((slot for slot, s in active.items() if s.request == i), None)
                    if source is None or i not in first_logits:
                        first_logits[i] = self.decoder.prefill(prompts[i], first).numpy()
                        source = first
                    for slot in range(first, first + len(group)):
                        if slot != source:
                            self.decoder.copy_slot(source, slot, len(prompts[i]))
                    req = requests[i]
                    for k, j in enumerate(group):
                        active[first + k] = DecodedSeq(request=i, sample=j, params=req.params,
                                                 rng=np.random.default_rng(req.seeds[j] & 0xFFFFFFFF),
                                                 pos=len(prompts[i]), prompt_tokens=len(prompts[i]),
                                                 max_tokens=req.params.max_tokens, stop=req.prompt.stop)
                    for slot in sorted(range(first, first + len(group)), reverse=True):
                        if self._advance(active[slot], self._draw(active[slot], first_logits[i])):
                            retire(slot)
                    if not waiting or waiting[0][0] != i:
                        first_logits.pop(i, None)  # all of its samples have started
                if not active:
                    continue
                slots = range(len(active))
                tokens = torch.tensor([active[s].next_token for s in slots], dtype=torch.long)
                positions = torch.tensor([active[s].pos for s in slots], dtype=torch.long)
                logits = self.decoder.decode(tokens, positions).numpy()
                # torch is idle between steps: the draws use the CPU threads (map_interleaved)
                drawn = map_interleaved(self._pool, self._threads, lambda s: self._draw(active[s], logits[s]), slots)
                finished = []
                for s, tok in zip(slots, drawn):
                    seq = active[s]
                    seq.pos += 1
                    if self._advance(seq, tok):
                        finished.append(s)
                for s in reversed(finished):  # highest first: every slot above is still running
                    retire(s)
        return [list(r) for r in results]  # type: ignore[arg-type]

    def _draw(self, s: DecodedSeq, row: np.ndarray) -> int:
        tok, logprob = nucleus.draw(row, s.params.top_p, s.params.temperature, s.rng, want_logprob=self.logprobs)
        s.logprob += logprob
        return tok

    def _advance(self, s: DecodedSeq, tok: int) -> bool:
        """Append ``tok`` to ``s``; True when ``s`` is finished (:func:`~codepref.generation.decoding.advance`)."""
        is_end = tok in self.end_ids
        return advance(s, tok, b"" if is_end else self._pieces[tok], is_end)

    def _finish(self, s: DecodedSeq) -> Completion:
        return completion(s, self._pieces.__getitem__,
                          lambda text: self.tok(text, add_special_tokens=False).input_ids, self.logprobs)

    def close(self) -> None:
        """Drop the weights, the KV cache and the drawing threads."""
        self.decoder = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
