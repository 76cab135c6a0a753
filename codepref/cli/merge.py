"""``codepref merge``: fold a trained LoRA adapter into plain model weights."""

from __future__ import annotations

import click


@click.command()
@click.option("--adapter", "adapter_dir", required=True, type=click.Path(file_okay=False),
              help="The adapter folder (`codepref train --out`).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="New folder for the merged model (safetensors + tokenizer).")
@click.option("--model", default=None, help="Base model (default: the one the adapter was trained on).")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16"]), default="float32",
              help="Dtype of the merged weights (float32).")
def merge(adapter_dir: str, out_dir: str, model: str | None, dtype: str) -> None:
    """Merge a trained LoRA adapter into plain model weights.

    Writes base + adapter as one ordinary model folder (each adapted W becomes
    W + alpha/r * B A), for tools that cannot load peft adapters. The base's fingerprint (architecture,
    vocabulary, hidden size, layers) must match the one recorded with the adapter.
    """
    from codepref.training.adapter import merge as run_merge

    click.echo(str(run_merge(adapter_dir, out_dir, model, dtype=dtype)))
