"""Model FLOPs of a decoder-only transformer: forward, generation, LoRA/full training steps.

Shared by ``machine_peak.py``, ``generation_throughput.py`` and ``train_step.py`` to turn a
rate (tokens/s, steps/s) into model FLOP/s and MFU, the achieved model FLOP/s over the
machine's measured peak (``machine_peak.py``). Pure arithmetic; no torch.

Counting (one multiply-add = 2 FLOPs; norms, activations, softmax, rotary and the embedding
lookup are left out, as in Kaplan et al. 2020, "Scaling Laws for Neural Language Models",
table 1, and Chowdhery et al. 2022, "PaLM", appendix B):

* **Forward, per token** at a position that attends to ``c`` positions (itself included):
  ``2 * N + 4 * L * d_attn * c``, where ``N`` is the number of weights in the matmuls (the
  q/k/v/o and gate/up/down projections of every layer, plus the LM head ``d_model x vocab``,
  which runs as a matmul whether or not it is tied to the embedding; the embedding is a
  lookup and not counted), ``L`` the layers and ``d_attn = heads * head_dim`` (the query
  width: with grouped-query attention QK^T and AV still cost ``heads * head_dim`` per
  attended position). ``4 = 2 (QK^T) + 2 (AV)``. The LM head is counted only at positions
  whose logits are needed (the last prompt token and each generated token in generation; the
  completion tokens in DPO), i.e. the work the job requires, not what an implementation may
  spend on top.
* **Full fine-tuning**: forward + backward = 3x forward (the backward computes gradients
  w.r.t. activations and w.r.t. weights, each as costly as the forward): ``6N + 12 L d_attn c``
  per token, PaLM's MFU numerator (appendix B, which takes ``c = T``, the sequence length;
  here ``c`` is the causal context actually attended, ``(T + 1) / 2`` on average).
* **LoRA with a frozen base**: the backward still propagates activation gradients through
  every layer (``2N``) but computes no weight gradients of the frozen weights, so the base
  costs ``4N`` per token (forward + activation gradients), the adapters ``6 N_lora`` (they are
  trained), and attention (no weights) ``12 L d_attn c`` as in full training.
* **DPO with ``ref_model=None``** (codepref's and TRL's setting without precomputed reference
  log-probs) adds one no-grad reference forward with the adapter disabled: ``2N + 4 L d_attn c``
  per token. So a LoRA DPO step costs ~``6N`` per token, like full training without a
  reference, though for a different reason.

Recomputation (gradient checkpointing) is not counted: MFU counts the model's FLOPs, not the
hardware's (PaLM appendix B's MFU vs HFU), so a setting that recomputes has a lower MFU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: Linear layers of a Qwen2/Llama-style block, by the names peft and transformers use.
LAYER_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Qwen2/Llama-style decoder that decide its FLOPs.

    Attributes:
        name: a label (architecture or model name).
        layers: transformer blocks.
        hidden: the model width ``d_model``.
        intermediate: the MLP width (gate/up output, down input).
        heads: query heads.
        kv_heads: key/value heads (grouped-query attention when fewer than ``heads``).
        head_dim: width of one head.
        vocab: vocabulary size (LM head outputs).
    """

    name: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @classmethod
    def from_hf_config(cls, config: dict) -> ModelShape:
        """From a transformers ``config.json`` dict."""
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        return cls(
            name=str(config.get("model_type", "model")),
            layers=int(config["num_hidden_layers"]),
            hidden=hidden,
            intermediate=int(config["intermediate_size"]),
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            vocab=int(config["vocab_size"]),
        )

    @classmethod
    def from_model_dir(cls, path: str | Path) -> ModelShape:
        """From a transformers model folder (its ``config.json``)."""
        return cls.from_hf_config(json.loads((Path(path) / "config.json").read_text()))

    @classmethod
    def from_gguf(cls, path: str | Path) -> ModelShape:
        """From a GGUF file's metadata (the ``gguf`` package if installed, else llama.cpp)."""
        meta, vocab = _gguf_metadata(Path(path))
        arch = str(meta["general.architecture"])
        heads = int(meta[f"{arch}.attention.head_count"])
        hidden = int(meta[f"{arch}.embedding_length"])
        return cls(
            name=str(meta.get("general.name") or arch),
            layers=int(meta[f"{arch}.block_count"]),
            hidden=hidden,
            intermediate=int(meta[f"{arch}.feed_forward_length"]),
            heads=heads,
            kv_heads=int(meta.get(f"{arch}.attention.head_count_kv") or heads),
            head_dim=int(meta.get(f"{arch}.attention.key_length") or hidden // heads),
            vocab=vocab,
        )

    @property
    def attn_dim(self) -> int:
        """Query width ``heads * head_dim`` (the attention score/value work per position)."""
        return self.heads * self.head_dim

    def linears(self) -> dict[str, tuple[int, int]]:
        """Each per-layer linear layer as ``(in_features, out_features)``."""
        kv = self.kv_heads * self.head_dim
        return {
            "q_proj": (self.hidden, self.attn_dim),
            "k_proj": (self.hidden, kv),
            "v_proj": (self.hidden, kv),
            "o_proj": (self.attn_dim, self.hidden),
            "gate_proj": (self.hidden, self.intermediate),
            "up_proj": (self.hidden, self.intermediate),
            "down_proj": (self.intermediate, self.hidden),
        }

    @property
    def body_params(self) -> int:
        """Weights in the matmuls of all layers (biases and norms left out)."""
        return self.layers * sum(i * o for i, o in self.linears().values())

    @property
    def head_params(self) -> int:
        """Weights of the LM head (``hidden x vocab``)."""
        return self.hidden * self.vocab

    @property
    def matmul_params(self) -> int:
        """``N``: body + LM head weights."""
        return self.body_params + self.head_params

    def lora_params(self, rank: int, targets: tuple[str, ...] | list[str] = LAYER_LINEARS) -> int:
        """Weights of rank-``rank`` LoRA adapters on ``targets`` of every layer
        (``"all-linear"`` means every per-layer linear)."""
        names = LAYER_LINEARS if list(targets) == ["all-linear"] else targets
        lin = self.linears()
        return self.layers * sum(rank * (lin[t][0] + lin[t][1]) for t in names if t in lin)

    def forward_flops(self, tokens: int, attended: int, head_tokens: int) -> float:
        """Forward FLOPs of ``tokens`` positions that attend ``attended`` positions in total
        (see :func:`causal_attended`), with LM-head logits at ``head_tokens`` positions."""
        return (2 * self.body_params * tokens + 2 * self.head_params * head_tokens
                + 4 * self.layers * self.attn_dim * attended)

    def forward_flops_per_token(self, context: float) -> float:
        """``2N + 4 L d_attn c``: one token that attends ``context`` positions, with logits."""
        return 2 * self.matmul_params + 4 * self.layers * self.attn_dim * context


def causal_attended(tokens: int, past: int = 0) -> int:
    """Attended positions summed over ``tokens`` new positions after ``past`` cached ones
    (causal: the i-th new token attends ``past + i`` positions, itself included)."""
    return tokens * past + tokens * (tokens + 1) // 2


def generation_flops(shape: ModelShape, prompt_tokens: int, completion_tokens: int, *, prompt: bool = True) -> float:
    """Model FLOPs of one sequence: evaluate the prompt (logits at its last token only),
    then generate ``completion_tokens`` tokens one at a time over the growing KV cache.
    ``prompt=False``: without the prompt's evaluation (a further sample of a prompt that
    was evaluated once for all its samples)."""
    prefill = shape.forward_flops(prompt_tokens, causal_attended(prompt_tokens), head_tokens=1) if prompt else 0.0
    # The first completion token comes from the prompt's last logits; each later one is a
    # forward of the previous token with its logits.
    steps = max(completion_tokens - 1, 0)
    decode = shape.forward_flops(steps, causal_attended(steps, past=prompt_tokens), head_tokens=steps)
    return prefill + decode


def train_flops(shape: ModelShape, tokens: int, attended: int, head_tokens: int, *, lora_params: int = 0,
                full: bool = False, reference_forward: bool = False) -> float:
    """Model FLOPs of one training forward+backward (see the module docstring).

    Args:
        shape: the model.
        tokens: positions in the batch (padding excluded).
        attended: attended positions summed over them (:func:`causal_attended` per sequence).
        head_tokens: positions whose logits the loss needs.
        lora_params: trained adapter weights (LoRA); ignored when ``full``.
        full: every weight is trained (``6N``) instead of a frozen base with adapters (``4N``).
        reference_forward: add a no-grad forward for the reference log-probs (DPO with
            ``ref_model=None``).
    """
    fwd = shape.forward_flops(tokens, attended, head_tokens)
    if full:
        total = 3 * fwd
    else:
        attention = 4 * shape.layers * shape.attn_dim * attended
        weights = fwd - attention
        total = 2 * weights + 3 * attention + 6 * lora_params * tokens
    if reference_forward:
        total += fwd
    return total


def _gguf_metadata(path: Path) -> tuple[dict, int]:
    """A GGUF's key/value metadata and vocabulary size."""
    try:
        import gguf
    except ImportError:
        gguf = None
    if gguf is not None:
        reader = gguf.GGUFReader(str(path))
        meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.")}
        embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
        return meta, int(embd.shape[1])
    from llama_cpp import Llama

    llm = Llama(str(path), vocab_only=True, verbose=False)
    try:
        return dict(llm.metadata), int(llm.n_vocab())
    finally:
        llm.close()
