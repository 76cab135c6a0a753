"""The training configuration: one dataclass, every field documented, validated at once.

Pure Python (no torch): the CLI builds and checks it before any heavy import, and the
trainer resolves its ``"auto"`` fields once it knows whether CUDA is there
(:meth:`TrainConfig.resolve`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from codepref.errors import ConfigError

METHODS = ("dpo", "kto")
#: Loss types exposed per method (TRL names). DPO: ``sigmoid`` is the DPO paper's loss
#: ``-log sigma(beta * m)`` with the margin ``m = (log pi(y_w|x) - log ref(y_w|x)) -
#: (log pi(y_l|x) - log ref(y_l|x))``; ``ipo`` is ``(m/|y| - 1/(2 beta))^2`` (per-token
#: normalised, TRL's form of IPO); ``hinge`` is ``max(0, 1 - beta * m)`` (SLiC);
#: ``robust`` is ``((1-e) * -log sigma(beta m) - e * -log sigma(-beta m)) / (1 - 2e)`` with
#: ``e = label_smoothing`` (rDPO, for noisy preferences). KTO: ``kto`` is the KTO paper's
#: ``w_y * (1 - sigma(beta * (r - z0)))`` for desirable and ``w_y * (1 - sigma(beta * (z0 - r)))``
#: for undesirable completions, ``r = log pi/ref`` and ``z0`` a batch estimate of KL(pi||ref).
LOSS_TYPES = {"dpo": ("sigmoid", "ipo", "hinge", "robust"), "kto": ("kto",)}
DEFAULT_LOSS = {"dpo": "sigmoid", "kto": "kto"}
#: The linear layers of Qwen2/Llama-style blocks: attention and MLP projections.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    """How a LoRA (CPU) or QLoRA (CUDA) adapter is trained with DPO or KTO.

    The reference policy is always the frozen base model (TRL's ``ref_model=None`` with a
    peft adapter: the adapter is disabled for the reference forward), so no second copy of
    the model is held in memory.

    Attributes:
        method: ``"dpo"`` (pairs: prompt/chosen/rejected) or ``"kto"`` (unpaired
            prompt/completion/label). Default ``"dpo"``.
        loss_type: a loss of :data:`LOSS_TYPES` for the method; ``""`` (default) picks
            ``"sigmoid"`` for DPO and ``"kto"`` for KTO.
        nll_weight: RPO's weight alpha of a negative log-likelihood term on the chosen
            answer, added to the DPO loss: ``loss = dpo_loss + alpha * NLL(y_w|x) / |y_w|``
            (the chosen completion's mean per-token NLL; Pang et al. 2024, "Iterative Reasoning
            Preference Optimization", arXiv 2404.19733, used alpha = 1). It keeps the chosen
            answers' likelihood from falling while DPO widens the margin. TRL's
            ``loss_type=[loss, "sft"]`` with ``loss_weights=[1, alpha]``. DPO only. Default 0.0
            (plain DPO).
        beta: the KL-penalty strength beta of DPO/KTO (for IPO: the regulariser tau).
            Higher keeps the policy closer to the base. Default 0.1 (DPO and KTO papers).
        label_smoothing: the assumed label-flip rate e of the ``robust`` loss, in [0, 0.5).
            Default 0.0.
        desirable_weight: KTO weight lambda_D of desirable (label true) samples. Default 1.0.
        undesirable_weight: KTO weight lambda_U of undesirable samples. Default 1.0. The KTO
            paper advises lambda_D * n_D / (lambda_U * n_U) in [1, 4/3].
        learning_rate: peak AdamW learning rate of the adapter. Default 5e-5 (LoRA adapters
            take ~10x the full-fine-tuning DPO rate of 5e-7..5e-6).
        epochs: passes over the data (may be fractional). Default 1.0.
        max_steps: if > 0, stop after this many optimiser steps (overrides ``epochs``).
            Default -1 (off).
        batch_size: pairs (DPO) or samples (KTO) per batch. A DPO pair is two sequences.
            Default 2; KTO needs >= 2 (its KL estimate pairs each prompt with another
            sample's completion in the batch).
        grad_accum: batches accumulated per optimiser step; the effective batch is
            ``batch_size * grad_accum``. Default 4.
        micro_batch: pairs per forward pass: each batch is run as ``batch_size /
            micro_batch`` accumulated forward passes, which gives the same loss and
            gradients (DPO's loss is a mean over pairs). 0 (default) is 1 for DPO on CPU and
            ``batch_size`` otherwise. Sequences in one forward pass are padded to the longest,
            and on a CPU a single pair of ~300-token sequences already fills the matrix
            multiplies, so one pair per pass computes no padding between pairs. Must divide
            ``batch_size``.
        max_length: prompt + completion tokens kept per sequence (longer ones are cut at the
            end). Default 1024.
        lr_scheduler: a transformers scheduler name (``"linear"``, ``"cosine"``,
            ``"constant"`` ...). Default ``"linear"`` (decay to 0).
        warmup_ratio: share of the steps spent warming the learning rate up from 0.
            Default 0.0.
        weight_decay: AdamW weight decay of the adapter weights. Default 0.0.
        max_grad_norm: gradient clipping norm. Default 1.0.
        lora_r: LoRA rank r: each adapted ``W`` becomes ``W + (alpha/r) * B A`` with
            ``A`` r x in, ``B`` out x r (``B`` starts at 0, so the adapter starts as a no-op).
            Default 16.
        lora_alpha: LoRA scale alpha. Default 32 (alpha/r = 2).
        lora_dropout: dropout on the adapter input. Default 0.0 (TRL disables dropout in
            the model for DPO/KTO anyway, so the policy and reference see the same network).
        lora_targets: module-name suffixes that get an adapter. Default the attention and
            MLP projections of Qwen2/Llama blocks (:data:`DEFAULT_TARGETS`); ``("all-linear",)``
            targets every linear layer but the LM head.
        device: ``"auto"`` (default: CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
        quantization: ``"auto"`` (default: ``"4bit"`` on CUDA, ``"none"`` on CPU), ``"4bit"``
            (QLoRA: bitsandbytes NF4 weights with double quantisation; runs on CPU too, very
            slowly, enough for tests) or ``"none"`` (plain weights).
        compute_dtype: ``"auto"`` (default: bfloat16 on CUDA, float32 on CPU, where bf16 was
            ~17x slower on the AVX2 machines measured), ``"float32"`` or ``"bfloat16"``. The
            dtype of unquantised weights and of the 4-bit layers' matmuls.
        gradient_checkpointing: recompute activations in the backward pass to save memory.
            ``None`` (default) means on for CUDA, off on CPU (it costs ~1/3 more compute, and
            a 0.5B step of 2 pairs x 256 tokens peaked at 7.6 GiB RSS without it).
        optimizer: a transformers optimiser name; ``"auto"`` (default) is
            ``"paged_adamw_32bit"`` for 4-bit training on CUDA (QLoRA's paged optimiser) and
            ``"adamw_torch"`` otherwise.
        precompute_ref: compute the reference log-probs (the base model's, adapter off) of all
            the pairs in one pass before training instead of one extra no-grad forward per
            step, and keep them in the cache (``<cache>/ref-logps``, keyed by the model
            files, the rows and the settings they depend on), so a later run on the same pairs
            (another beta, learning rate or loss; a resumed run) skips that forward: about a
            third of a LoRA DPO step. ``None`` (default): on for DPO on CPU, off otherwise.
        share_prompt: run each DPO pair as one packed sequence, the prompt (and any answer
            tokens both answers start with) computed once for chosen and rejected
            (:mod:`codepref.training.shared_prefix`): the same log-probs and gradients as
            two rows, with about a third fewer tokens per pair for ~190-token prompts and
            ~100-token answers. ``None`` (default): on for DPO on CPU, off otherwise (untested
            with GPU attention kernels).
        logging_steps: optimiser steps between metric lines in ``metrics.jsonl``. Default 1.
        save_steps: optimiser steps between checkpoints (what ``--resume`` restarts from).
            Default 50.
        seed: seed of the adapter initialisation and the data order. Default 0.
        threads: torch CPU threads; 0 (default) keeps torch's choice (one per core).
    """

    method: str = "dpo"
    loss_type: str = ""
    nll_weight: float = 0.0
    beta: float = 0.1
    label_smoothing: float = 0.0
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    learning_rate: float = 5e-5
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 2
    grad_accum: int = 4
    micro_batch: int = 0
    max_length: int = 1024
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora_r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = DEFAULT_TARGETS
    device: str = "auto"
    quantization: str = "auto"
    compute_dtype: str = "auto"
    gradient_checkpointing: bool | None = None
    optimizer: str = "auto"
    precompute_ref: bool | None = None
    share_prompt: bool | None = None
    logging_steps: int = 1
    save_steps: int = 50
    seed: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        problems = _check(self)
        if problems:
            raise ConfigError(problems)

    @property
    def loss(self) -> str:
        """The loss type in effect (``loss_type`` or the method's default)."""
        return self.loss_type or DEFAULT_LOSS.get(self.method, "")

    def resolve(self, cuda_available: bool) -> TrainConfig:
        """Fill every ``"auto"``/``None``/``""`` field for the machine at hand.

        Args:
            cuda_available: whether ``torch.cuda.is_available()``.

        Raises:
            ConfigError: ``device="cuda"`` without CUDA.
        """
        if self.device == "cuda" and not cuda_available:
            raise ConfigError(["device is 'cuda' but no CUDA device is available"])
        cuda = self.device == "cuda" or (self.device == "auto" and cuda_available)
        quant = self.quantization if self.quantization != "auto" else ("4bit" if cuda else "none")
        dtype = self.compute_dtype if self.compute_dtype != "auto" else ("bfloat16" if cuda else "float32")
        gc = self.gradient_checkpointing if self.gradient_checkpointing is not None else cuda
        dpo_cpu = self.method == "dpo" and not cuda
        micro = self.micro_batch or (1 if dpo_cpu else self.batch_size)
        precompute = self.precompute_ref if self.precompute_ref is not None else dpo_cpu
        share = self.share_prompt if self.share_prompt is not None else dpo_cpu
        optim = self.optimizer
        if optim == "auto":
            optim = "paged_adamw_32bit" if (cuda and quant == "4bit") else "adamw_torch"
        return dataclasses.replace(
            self,
            loss_type=self.loss,
            device="cuda" if cuda else "cpu",
            quantization=quant,
            compute_dtype=dtype,
            gradient_checkpointing=gc,
            optimizer=optim,
            micro_batch=micro,
            precompute_ref=precompute,
            share_prompt=share and self.method == "dpo",
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lora_targets"] = list(self.lora_targets)
        return d

    def identity(self) -> dict[str, Any]:
        """The settings that define a training run's result, for the run's settings hash.

        :meth:`to_dict` without the settings that change only speed (:data:`SPEED_ONLY`) and
        without settings added later while they hold their default (:data:`NEW_AT_DEFAULT`),
        so runs made before those settings existed keep their hash.
        """
        return {k: v for k, v in self.to_dict().items()
                if k not in SPEED_ONLY and not (k in NEW_AT_DEFAULT and v == NEW_AT_DEFAULT[k])}


#: Settings that change how fast a run trains, not what it learns.
SPEED_ONLY = ("share_prompt",)
#: Settings added after runs existed, with the value that means "as before".
NEW_AT_DEFAULT = {"nll_weight": 0.0}


def _check(c: TrainConfig) -> list[str]:
    p: list[str] = []
    if c.method not in METHODS:
        p.append(f"method must be one of {', '.join(METHODS)}, got {c.method!r}")
    elif c.loss_type and c.loss_type not in LOSS_TYPES[c.method]:
        p.append(f"loss_type for {c.method} must be one of {', '.join(LOSS_TYPES[c.method])}, got {c.loss_type!r}")
    if c.nll_weight < 0:
        p.append(f"nll_weight must be >= 0, got {c.nll_weight}")
    elif c.nll_weight and c.method != "dpo":
        p.append(f"nll_weight (RPO's NLL term) is for dpo only, got method {c.method!r}")
    for name in ("beta", "learning_rate", "epochs", "lora_alpha", "max_grad_norm"):
        if getattr(c, name) <= 0:
            p.append(f"{name} must be > 0, got {getattr(c, name)}")
    for name in ("desirable_weight", "undesirable_weight"):
        if getattr(c, name) <= 0:
            p.append(f"{name} must be > 0, got {getattr(c, name)}")
    if not 0.0 <= c.label_smoothing < 0.5:
        p.append(f"label_smoothing must be in [0, 0.5), got {c.label_smoothing}")
    if not 0.0 <= c.warmup_ratio < 1.0:
        p.append(f"warmup_ratio must be in [0, 1), got {c.warmup_ratio}")
    if not 0.0 <= c.lora_dropout < 1.0:
        p.append(f"lora_dropout must be in [0, 1), got {c.lora_dropout}")
    if c.weight_decay < 0:
        p.append(f"weight_decay must be >= 0, got {c.weight_decay}")
    if c.batch_size < 1:
        p.append(f"batch_size must be >= 1, got {c.batch_size}")
    elif c.method == "kto" and c.batch_size < 2:
        p.append("batch_size must be >= 2 for kto (its KL estimate mixes samples within a batch)")
    for name, low in (("grad_accum", 1), ("lora_r", 1), ("logging_steps", 1), ("save_steps", 1), ("threads", 0)):
        if getattr(c, name) < low:
            p.append(f"{name} must be >= {low}, got {getattr(c, name)}")
    if c.micro_batch < 0:
        p.append(f"micro_batch must be >= 0, got {c.micro_batch}")
    elif c.micro_batch and c.batch_size >= 1 and c.batch_size % c.micro_batch:
        p.append(f"micro_batch ({c.micro_batch}) must divide batch_size ({c.batch_size})")
    elif c.method == "kto" and c.micro_batch == 1:
        p.append("micro_batch must be >= 2 for kto (its KL estimate mixes samples within a forward pass)")
    if c.max_length < 16:
        p.append(f"max_length must be >= 16, got {c.max_length}")
    if c.max_steps == 0 or c.max_steps < -1:
        p.append(f"max_steps must be > 0, or -1 for 'use epochs', got {c.max_steps}")
    if not c.lora_targets or any(not t for t in c.lora_targets):
        p.append("lora_targets must name at least one module")
    if any("lm_head" in t for t in c.lora_targets):
        p.append("lora_targets must not include lm_head (TRL computes log-probs from its weight directly)")
    for name, allowed in (
        ("device", ("auto", "cpu", "cuda")),
        ("quantization", ("auto", "4bit", "none")),
        ("compute_dtype", ("auto", "float32", "bfloat16")),
    ):
        if getattr(c, name) not in allowed:
            p.append(f"{name} must be one of {', '.join(allowed)}, got {getattr(c, name)!r}")
    return p
