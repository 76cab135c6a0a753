"""Train a LoRA/QLoRA adapter with DPO or KTO through TRL, resumably.

The recipe, top to bottom (:func:`train`):

1. Check the inputs before anything heavy: the pair file's columns, the config, the model
   folder, and what ``OUT`` already holds.
2. Load the base model: fp32 on CPU; on CUDA 4-bit NF4 with double quantisation and bf16
   compute (QLoRA), prepared for k-bit training (norms in fp32, gradient checkpointing).
3. Hand it to TRL's ``DPOTrainer``/``KTOTrainer`` with a peft ``LoraConfig`` and
   ``ref_model=None``: the reference log-probs come from the same model with the adapter
   disabled. Where the pairs record the token ids the model sampled, those are what it
   scores, not the tokenizer's split of the text (:mod:`codepref.training.sampled_ids`).
   TRL computes per-token log-probs through a fused, chunked LM head, so the
   ``(batch, seq, 152k)`` logits tensor is never materialised. On CPU (DPO) two settings
   cut the step: the reference log-probs are computed in one pass before training and kept
   in the cache (:func:`reference_cache_file`), so runs on the same pairs pay for them once,
   and each forward pass carries one pair (``micro_batch``), so no pair is padded to another.
4. Log every ``logging_steps`` step to ``OUT/metrics.jsonl`` (loss, chosen/rejected rewards,
   margins, accuracies ...), checkpoint every ``save_steps`` steps to ``OUT/checkpoints``.
5. Save the adapter (``save_pretrained``: ``adapter_config.json`` +
   ``adapter_model.safetensors``) into ``OUT`` and mark ``OUT/train_config.json`` complete.

**Continuing an adapter** (``init_adapter``; the pipeline's round k > 1): the adapter of the
previous round is loaded as the trainable starting point instead of a fresh (B = 0) one, and
TRL keeps a frozen copy of it as the reference (its ``"ref"`` adapter), so round k's DPO/KTO
objective is measured against round k-1's model, as in iterative DPO (Xu et al. 2023, "Some
things are more CRINGE than others", arXiv 2312.16682; Yuan et al. 2024, "Self-Rewarding
Language Models", arXiv 2401.10020). The result is one adapter of the same rank on the same
base, which every backend samples from as before.

``OUT/train_config.json`` holds the resolved config, the base model and its fingerprint, the
pair file's hash and the settings hash. A rerun with the same settings skips a complete run;
``resume=True`` continues an unfinished one from its last checkpoint; anything else is
refused rather than mixed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codepref import __version__
from codepref.errors import ConfigError, InputError, OutputMismatchError
from codepref.progress import Progress
from codepref.quiet import quiet_libraries
from codepref.records import ResumableJsonl, make_header, settings_hash
from codepref.training.config import TrainConfig
from codepref.training.data import TrainData, load_rows
from codepref.training.folder import ADAPTER_FILES, RUN_FILE, AdapterFolder
from codepref.training.models import BaseModel, check_same_base, resolve_base

METRICS_FILE = "metrics.jsonl"
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        out_dir: the output folder (adapter, ``train_config.json``, ``metrics.jsonl``).
        steps: optimiser steps taken in total.
        last: the last metrics line (empty if none was logged).
        skipped: True when ``out_dir`` already held this complete run.
    """

    out_dir: Path
    steps: int
    last: dict[str, Any]
    skipped: bool = False

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / METRICS_FILE


def train(
    pairs: str | os.PathLike[str],
    model: str,
    out_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    fetch_progress=None,
    callbacks: tuple = (),
    ref_progress: Progress | None = None,
    init_adapter: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train an adapter on a pair (DPO) or labelled-sample (KTO) file.

    Args:
        pairs: JSONL of :class:`~codepref.records.Pair` (DPO) or
            :class:`~codepref.records.Labelled` (KTO) lines.
        model: a packaged model name, a local Hugging Face model folder, or a hub id.
        out_dir: where the adapter, ``train_config.json`` and ``metrics.jsonl`` go.
        config: the training settings (default :class:`TrainConfig`); ``config.method``
            picks DPO or KTO.
        resume: continue an unfinished run in ``out_dir`` from its last checkpoint.
        progress: a progress-bar factory over optimiser steps.
        fetch_progress: ``progress(phase, done, total)`` while a packaged model is fetched
            or converted.
        callbacks: extra ``transformers.TrainerCallback`` objects (early stopping, custom
            logging).
        ref_progress: a progress-bar factory over pairs for the reference pass
            (``precompute_ref``; skipped when the cache holds it).
        init_adapter: an adapter folder (``codepref train``'s output) to continue from; it
            is also the reference. Its rank, alpha and target modules must be the config's,
            and it must have been trained on ``model``. Default: a fresh adapter, the base
            model as the reference.

    Returns:
        A :class:`TrainResult`.

    Raises:
        InputError: bad pair file, not a model folder, unfinished run without ``resume``, an
            ``init_adapter`` that is not an adapter folder or belongs to another model.
        ConfigError: invalid settings (e.g. ``device="cuda"`` without CUDA, 4-bit without
            bitsandbytes), an ``init_adapter`` with another rank, alpha or target modules.
        OutputMismatchError: ``out_dir`` holds a run with other settings.
    """
    cfg = config or TrainConfig()
    out = Path(out_dir)
    data = load_rows(pairs, cfg.method)
    _precheck_out(out, resume)
    base = resolve_base(model, progress=fetch_progress)

    import torch

    resolved = cfg.resolve(torch.cuda.is_available())
    if resolved.quantization == "4bit":
        _require_bitsandbytes()
    init = InitAdapter.check(init_adapter, resolved, base) if init_adapter is not None else None
    run = _run_record(resolved, base, data, init)
    state = _open_out(out, run, resume)
    if state == "complete":
        done = json.loads((out / RUN_FILE).read_text())
        return TrainResult(out, done["result"]["steps"], done["result"].get("last", {}), skipped=True)
    return _fit(resolved, base, data, out, run, progress, callbacks, ref_progress, init)


@dataclass(frozen=True)
class InitAdapter:
    """A checked adapter folder to continue training from.

    Attributes:
        path: the folder.
        sha256: the hash of its weights file (part of the run's settings and of the
            reference cache key: the reference is this adapter).
    """

    path: Path
    sha256: str

    @classmethod
    def check(cls, folder: str | os.PathLike[str], cfg: TrainConfig, base: BaseModel) -> InitAdapter:
        """Check ``folder`` against the resolved config and the base model (no weights loaded)."""
        from codepref.hashing import file_sha256

        found = AdapterFolder.read(folder)
        path = found.path
        if not (path / "adapter_model.safetensors").is_file():
            raise InputError(f"init adapter {path} is not a LoRA adapter folder (no adapter_model.safetensors)")
        found.check_base(base, "the init adapter")
        adapter = found.config
        problems = []
        if adapter.get("r") != cfg.lora_r:
            problems.append(f"lora_r {cfg.lora_r} != the init adapter's r {adapter.get('r')}")
        if float(adapter.get("lora_alpha", 0)) != float(cfg.lora_alpha):
            problems.append(f"lora_alpha {cfg.lora_alpha} != the init adapter's {adapter.get('lora_alpha')}")
        targets = sorted(adapter.get("target_modules") or ())
        if list(cfg.lora_targets) != ["all-linear"] and targets != sorted(cfg.lora_targets):
            problems.append(f"lora_targets {sorted(cfg.lora_targets)} != the init adapter's {targets}")
        if problems:
            raise ConfigError([f"[train] cannot continue {path}: {p}" for p in problems])
        return cls(path, file_sha256(path / "adapter_model.safetensors"))


# --------------------------------------------------------------------------- output folder


def _precheck_out(out: Path, resume: bool) -> None:
    """Cheap checks of ``out`` that need no settings (before the model is resolved)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RUN_FILE).is_file():
        raise InputError(f"{out} is not empty and holds no codepref training run; choose another --out")
    if resume and not (out / RUN_FILE).is_file():
        raise InputError(f"nothing to resume in {out} (no {RUN_FILE})")


def _run_record(cfg: TrainConfig, base: BaseModel, data: TrainData, init: InitAdapter | None = None) -> dict[str, Any]:
    settings = {
        "config": cfg.identity(),
        "model": {"spec": base.spec, "fingerprint": base.fingerprint},
        "pairs_sha256": data.sha256,
    }
    extra: dict[str, Any] = {}
    if init is not None:  # absent otherwise, so fresh runs keep their settings hash
        settings["init_adapter_sha256"] = init.sha256
        extra["init_adapter"] = {"path": str(init.path), "sha256": init.sha256}
    return {
        **extra,
        "codepref": __version__,
        "settings_hash": settings_hash(settings),
        "config": cfg.to_dict(),
        "model": base.to_dict(),
        "pairs": {"path": data.path, "sha256": data.sha256, "rows": len(data.rows)},
        "status": "running",
    }


def _open_out(out: Path, run: dict[str, Any], resume: bool) -> str:
    """Return ``"fresh"``, ``"resume"`` or ``"complete"`` after checking ``out``'s run."""
    run_file = out / RUN_FILE
    if not run_file.is_file():
        out.mkdir(parents=True, exist_ok=True)
        _write_json(run_file, run)
        return "fresh"
    old = json.loads(run_file.read_text())
    if old.get("settings_hash") != run["settings_hash"]:
        check_same_base(old.get("model", {}).get("fingerprint", {}),
                        BaseModel(run["model"]["spec"], run["model"]["path"], run["model"]["fingerprint"]),
                        f"the run in {out}")
        raise OutputMismatchError(
            f"{out} holds a run with other settings (hash {old.get('settings_hash')} != "
            f"{run['settings_hash']}); choose another --out or delete it"
        )
    if old.get("status") == "complete" and all((out / f).is_file() for f in ADAPTER_FILES):
        return "complete"
    if not resume:
        raise InputError(f"{out} holds an unfinished run; pass --resume to continue it or choose another --out")
    return "resume"


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    from codepref.records import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _last_checkpoint(out: Path) -> str | None:
    ckpts = [p for p in (out / CHECKPOINTS).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    ckpts = [p for p in ckpts if (p / "trainer_state.json").is_file()]
    if not ckpts:
        return None
    return str(max(ckpts, key=lambda p: int(p.name.split("-")[-1])))


def _require_bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(["quantization '4bit' needs bitsandbytes (pip install 'codepref[train]')"]) from None


# --------------------------------------------------------------------------- training


def load_base(base: BaseModel | str, cfg: TrainConfig):
    """Load the base model and tokenizer for a *resolved* config.

    Args:
        base: the resolved base model, or a local model folder.
        cfg: a config after :meth:`TrainConfig.resolve`.

    Returns:
        ``(model, tokenizer)``. With ``quantization="4bit"`` the model's linear layers are
        bitsandbytes NF4 (double-quantised, ``compute_dtype`` matmuls) and it is prepared for
        k-bit training (peft's ``prepare_model_for_kbit_training``).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = base.path if isinstance(base, BaseModel) else str(base)
    dtype = getattr(torch, cfg.compute_dtype)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if cfg.quantization == "4bit":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = {"": 0} if cfg.device == "cuda" else {"": "cpu"}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if cfg.quantization == "4bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=bool(cfg.gradient_checkpointing),
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif cfg.device == "cuda":
        model.to("cuda")
    return model, tokenizer


def lora_config(cfg: TrainConfig):
    """The peft ``LoraConfig`` of a training config."""
    from peft import LoraConfig

    targets: Any = list(cfg.lora_targets)
    if targets == ["all-linear"]:
        targets = "all-linear"
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )


def trl_args(cfg: TrainConfig, output_dir: str):
    """TRL's ``DPOConfig``/``KTOConfig`` for a *resolved* config (codepref's settings)."""
    micro = cfg.micro_batch or cfg.batch_size
    common: dict[str, Any] = dict(
        output_dir=output_dir,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=cfg.grad_accum * cfg.batch_size // micro,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim=cfg.optimizer,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=[],
        disable_tqdm=True,
        bf16=cfg.compute_dtype == "bfloat16",
        fp16=False,
        use_cpu=cfg.device == "cpu",
        beta=cfg.beta,
        max_length=cfg.max_length,
        precompute_ref_log_probs=bool(cfg.precompute_ref),
        precompute_ref_batch_size=micro,
        dataloader_num_workers=0,
    )
    # transformers 5.x renamed gradient_checkpointing to activation_checkpointing (the old
    # name warns); older releases, which TRL 1.16 also accepts, only know the old one.
    from transformers import TrainingArguments

    ckpt = "activation_checkpointing" if hasattr(TrainingArguments, "activation_checkpointing") else "gradient_checkpointing"
    common[ckpt] = bool(cfg.gradient_checkpointing)
    common[f"{ckpt}_kwargs"] = {"use_reentrant": False}
    if cfg.method == "dpo":
        from trl import DPOConfig

        losses, weights = [cfg.loss_type], None
        if cfg.nll_weight:  # RPO: the DPO loss plus alpha x the chosen answer's mean NLL
            losses, weights = [cfg.loss_type, "sft"], [1.0, cfg.nll_weight]
        return DPOConfig(loss_type=losses, loss_weights=weights, label_smoothing=cfg.label_smoothing, **common)
    from trl import KTOConfig

    return KTOConfig(
        loss_type=cfg.loss_type,
        desirable_weight=cfg.desirable_weight,
        undesirable_weight=cfg.undesirable_weight,
        **common,
    )


def score_only_completions_on_cpu() -> None:
    """Make TRL's fused LM head skip prompt and padding positions on CPU too.

    TRL computes per-token log-probs through a chunked LM head that never materialises the
    ``(tokens, vocabulary)`` logits. On CUDA it projects only the positions whose label is
    not -100 (the completion tokens); elsewhere it projects every position, because on
    Neuron a changing number of positions would recompile the graph. CPU has no such cost,
    and with a 152k vocabulary the head is ~28% of a 0.5B forward: scoring prompt positions
    too (half of them in a typical pair) wasted ~8 CPU-seconds per step of 2 pairs x 256
    tokens. The result is identical (masked positions are zero either way; see
    tests/integration/test_training_tiny.py). Process-wide and idempotent; TRL is pinned,
    and ``trl.trainer.utils._use_triton`` is used there only for this decision.
    """
    import trl.trainer.utils as trl_utils

    original = trl_utils._use_triton
    if getattr(original, "_codepref_cpu_compact", False):
        return

    def use_compact(device) -> bool:
        return device.type == "cpu" or original(device)

    use_compact._codepref_cpu_compact = True  # type: ignore[attr-defined]
    trl_utils._use_triton = use_compact


def build_trainer(cfg: TrainConfig, model, tokenizer, rows: list[dict], output_dir: str, callbacks=(),
                  ref_cache: Path | None = None, ref_progress: Progress | None = None):
    """TRL's DPO or KTO trainer with ``ref_model=None``: a fresh LoRA adapter on ``model``
    (reference: the adapter off), or, when ``model`` is already a peft model (an adapter to
    continue, :func:`continue_adapter`), that adapter trained further (reference: TRL's frozen
    copy of it).

    With ``cfg.precompute_ref`` (DPO), the reference log-probs are read from ``ref_cache``
    when it holds them, else computed in one pass (ticking ``ref_progress`` per pair) and
    written there (see :func:`reference_cache_file`).
    """
    import datasets
    from transformers import PrinterCallback

    from codepref.training.sampled_ids import with_sampled_ids

    datasets.disable_progress_bars()
    if cfg.device == "cpu":
        score_only_completions_on_cpu()
    dataset = datasets.Dataset.from_list(rows)
    args = trl_args(cfg, output_dir)
    if cfg.method == "dpo":
        Trainer = with_sampled_ids(_cached_reference_dpo_trainer(ref_cache, ref_progress), "dpo")
    else:
        from trl import KTOTrainer

        Trainer = with_sampled_ids(KTOTrainer, "kto")
    trainer = Trainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=None if _is_peft(model) else lora_config(cfg),
        callbacks=list(callbacks),
    )
    trainer.remove_callback(PrinterCallback)
    if cfg.share_prompt:
        from codepref.training.shared_prefix import share_prompt_forward

        share_prompt_forward(trainer.model.get_base_model())  # the model is a peft model (peft_config above)
    return trainer


def _is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def continue_adapter(model, init: InitAdapter):
    """``model`` with the adapter in ``init`` loaded as its trainable ``"default"`` adapter."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(init.path), is_trainable=True)


def reference_cache_file(cfg: TrainConfig, model_path: str, rows: list[dict], init_sha256: str = "") -> Path:
    """Where the reference log-probs of ``rows`` under the base model at ``model_path`` are kept.

    The key covers everything they depend on: the model folder's files (name, size and
    modification time of each: weights and tokenizer), the rows, ``max_length`` (sequences
    are cut there), the weights' dtype and quantisation, and the TRL version (which defines
    how a pair is tokenised), and the adapter continued from (``init_sha256``), which is the
    reference when there is one. Not the trained adapter's settings, beta, learning rate or
    loss: without an initial adapter the reference is the base model with the adapter off.
    """
    import trl

    from codepref.config import cache_dir
    from codepref.hashing import json_sha256

    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(model_path).iterdir() if p.is_file())
    key = json_sha256({
        "model": [os.path.realpath(model_path), files],
        "rows": json_sha256(rows),
        "max_length": cfg.max_length,
        "compute_dtype": cfg.compute_dtype,
        "quantization": cfg.quantization,
        "trl": trl.__version__,
        **({"init_adapter": init_sha256} if init_sha256 else {}),
    }, 32)
    return cache_dir() / "ref-logps" / f"{key}.json"


def _cached_reference_dpo_trainer(cache: Path | None, progress: Progress | None):
    """TRL's ``DPOTrainer`` whose reference pass (``precompute_ref_log_probs``) reads and fills ``cache``.

    TRL's own pass keeps its result in a temporary file that dies with the process; this
    one survives it, and shows progress.
    """
    from trl import DPOTrainer

    class CachedReferenceDPOTrainer(DPOTrainer):
        def _precompute_ref_logps(self, dataset, name, batch_size):
            if name != "train" or cache is None:
                return super()._precompute_ref_logps(dataset, name, batch_size)
            if cache.is_file():
                ref = json.loads(cache.read_text())
                if len(ref["chosen"]) == len(dataset):
                    return _with_reference(dataset, ref)
            ref = self._reference_pass(dataset, batch_size)
            from codepref.records import write_text_atomic

            cache.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(cache, json.dumps(ref) + "\n")
            return _with_reference(dataset, ref)

        def _reference_pass(self, dataset, batch_size) -> dict[str, list[float]]:
            from torch.utils.data import DataLoader

            loader = self.accelerator.prepare(DataLoader(dataset, batch_size=batch_size, collate_fn=self.data_collator,
                                                         shuffle=False, num_workers=0))
            tick = progress(0, len(dataset)) if progress is not None else None
            chosen: list[float] = []
            rejected: list[float] = []
            for batch in loader:
                c, r = self.compute_ref_log_probs(self.model, batch)
                chosen += c.float().cpu().tolist()
                rejected += r.float().cpu().tolist()
                if tick is not None:
                    tick(len(c))
            return {"chosen": chosen, "rejected": rejected}

    return CachedReferenceDPOTrainer


def _with_reference(dataset, ref: dict[str, list[float]]):
    return dataset.add_column("ref_chosen_logps", ref["chosen"]).add_column("ref_rejected_logps", ref["rejected"])


def _fit(cfg: TrainConfig, base: BaseModel, data: TrainData, out: Path, run: dict[str, Any],
         progress: Progress | None, extra_callbacks: tuple, ref_progress: Progress | None,
         init: InitAdapter | None = None) -> TrainResult:
    import torch

    quiet_libraries()

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    metrics = ResumableJsonl(out / METRICS_FILE, make_header("train-metrics", {"settings_hash": run["settings_hash"]}),
                             key=lambda r: r["step"])
    metrics.open()
    try:
        model, tokenizer = load_base(base, cfg)
        if init is not None:
            model = continue_adapter(model, init)
        callback = _callback(metrics, progress)
        ref_cache = (reference_cache_file(cfg, base.path, data.rows, init.sha256 if init else "")
                     if cfg.precompute_ref else None)
        trainer = build_trainer(cfg, model, tokenizer, data.rows, str(out / CHECKPOINTS),
                                [callback, *extra_callbacks], ref_cache=ref_cache, ref_progress=ref_progress)
        checkpoint = _last_checkpoint(out)
        output = trainer.train(resume_from_checkpoint=checkpoint)
        _save_adapter(trainer.model, out)
        metrics.finalize()
    finally:
        metrics.close()
    steps = int(trainer.state.global_step)
    result = {
        "steps": steps,
        "train_loss": float(output.training_loss),
        "runtime_s": float(output.metrics.get("train_runtime", 0.0)),
        "last": callback.last,
        "resumed_from": checkpoint and Path(checkpoint).name,
    }
    _write_json(out / RUN_FILE, {**run, "status": "complete", "result": result})
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return TrainResult(out, steps, callback.last)


def _save_adapter(model, out: Path) -> None:
    """``save_pretrained`` into a temporary folder, then move the files into ``out``."""
    tmp = out / ".adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # Only the trained adapter: a continued one also carries TRL's frozen "ref" copy.
    model.save_pretrained(str(tmp), selected_adapters=["default"])
    for f in ADAPTER_FILES:
        os.replace(tmp / f, out / f)
    shutil.rmtree(tmp, ignore_errors=True)


def _callback(metrics: ResumableJsonl, progress: Progress | None):
    from transformers import TrainerCallback

    class _Log(TrainerCallback):
        """Writes each training log to metrics.jsonl and ticks the progress bar."""

        def __init__(self) -> None:
            self.tick = None
            self.start = time.monotonic()
            self.last: dict[str, Any] = {}

        def on_train_begin(self, args, state, control, **kwargs):
            if progress is not None:
                self.tick = progress(int(state.global_step), int(state.max_steps))

        def on_step_end(self, args, state, control, **kwargs):
            if self.tick is not None:
                self.tick(1)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:  # the end-of-training summary has no "loss"
                return
            record = {"step": int(state.global_step)}
            record.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
            record["elapsed_s"] = round(time.monotonic() - self.start, 3)
            self.last = record
            if record["step"] not in metrics.done:
                metrics.append(record)

    return _Log()
