"""``codepref train``: DPO or KTO on a pair file, writing a LoRA adapter."""

from __future__ import annotations

import click

from codepref.cli.common import tqdm_progress


@click.command()
@click.option("--pairs", "pairs_path", required=True, type=click.Path(dir_okay=False),
              help="JSONL: prompt/chosen/rejected lines (dpo) or prompt/completion/label lines (kto).")
@click.option("--model", default=None,
              help="Base model: a packaged model name, a Hugging Face model folder or a hub id "
                   "(default qwen2.5-coder-0.5b-instruct).")
@click.option("--method", type=click.Choice(["dpo", "kto"]), default=None, help="Objective (default dpo).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: adapter, train_config.json, metrics.jsonl.")
@click.option("--resume", is_flag=True, help="Continue an unfinished run in --out from its last checkpoint.")
@click.option("--init-adapter", type=click.Path(file_okay=False, exists=True), default=None,
              help="Continue training this adapter folder (e.g. the last round's --out) instead of a "
                   "fresh one; it is also the reference model. Same lora_r, lora_alpha and targets.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with training settings (top level or a [train] table).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one setting, e.g. --set beta=0.2 --set lora_r=8 (repeatable).")
@click.option("--loss", "loss_type", default=None, help="Loss: sigmoid|ipo|hinge|robust (dpo), kto (kto).")
@click.option("--beta", type=float, default=None, help="KL strength beta (0.1).")
@click.option("--lr", "learning_rate", type=float, default=None, help="Peak learning rate (5e-5).")
@click.option("--epochs", type=float, default=None, help="Passes over the data (1).")
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimiser steps.")
@click.option("--batch-size", type=int, default=None, help="Pairs/samples per forward pass (2).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="auto (default): CUDA with 4-bit QLoRA when available, else CPU fp32 LoRA.")
def train(pairs_path, model, method, out_dir, resume, init_adapter, config_file, overrides, **flags) -> None:
    """Train a LoRA adapter with DPO or KTO on preference data.

    TRL's DPOTrainer (pairs: prompt/chosen/rejected) or KTOTrainer (prompt/completion/label)
    with a peft LoRA adapter. The frozen base model is the reference (the adapter is
    switched off for it), so one copy of the model is in memory. On CUDA the base is 4-bit
    NF4 (QLoRA) with gradient checkpointing and a paged optimiser; on CPU it stays fp32.
    Every setting is a field of codepref.training.TrainConfig (see --set); a rerun with the
    same settings skips a finished run, and --resume continues an interrupted one.
    With --init-adapter the given adapter is trained further and a frozen copy of it is the
    reference (iterative DPO: round k against round k-1's model).
    """
    from codepref.config import from_mapping, load_toml, parse_overrides
    from codepref.generation.models import DEFAULT_MODEL
    from codepref.training import TrainConfig
    from codepref.training.trainer import train as run_train

    values: dict = {}
    if config_file:
        table = load_toml(config_file)
        values.update(table.get("train", table))
    values.update(parse_overrides(list(overrides)))
    values.update({k: v for k, v in flags.items() if v is not None})
    if method is not None:
        values["method"] = method
    config = from_mapping(TrainConfig, values)
    result = run_train(pairs_path, model or DEFAULT_MODEL, out_dir, config, resume=resume,
                       progress=tqdm_progress("step"), fetch_progress=_fetch_echo,
                       ref_progress=_reference_echo, init_adapter=init_adapter)
    if result.skipped:
        click.echo(f"{out_dir} already holds this finished run ({result.steps} steps); nothing to do", err=True)
    else:
        click.echo(f"trained {result.steps} steps; {_last(result.last)}", err=True)
    click.echo(str(result.out_dir))


def _last(m: dict) -> str:
    keys = [("loss", "loss"), ("rewards/margins", "margin"), ("rewards/accuracies", "reward accuracy")]
    parts = [f"{name} {m[k]:.4g}" for k, name in keys if k in m]
    return "last step: " + ", ".join(parts) if parts else "no metrics logged"


def _reference_echo(done: int, total: int):
    click.echo(f"reference log-probs of {total} pairs, once (kept in the cache for later runs on these pairs) ...",
               err=True)
    return tqdm_progress("pair")(done, total)


def _fetch_echo(phase: str, done: int, total: int) -> None:
    if phase == "convert" and done == 0:
        click.echo("converting the model to safetensors once (about a minute) ...", err=True)
