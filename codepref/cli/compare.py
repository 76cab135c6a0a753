"""``codepref compare A [B]``: two evaluations task by task (pass@1, bootstrap CI, McNemar)."""

from __future__ import annotations

import json

import click


@click.command("compare")
@click.argument("a", type=click.Path(exists=True))
@click.argument("b", type=click.Path(exists=True), required=False)
@click.option("--pool", is_flag=True, help="Also compare all benchmarks' tasks pooled together.")
@click.option("--resamples", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Paired bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--allow-mixed-protocols", is_flag=True,
              help="Compare results whose headers name different evaluation protocols.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of a table.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help='Also write the summary JSON here: {"pooled"?, BENCH: {before, after, delta, ci_low, '
                   "ci_high, mcnemar_p}}.")
def compare(a, b, pool, resamples, seed, allow_mixed_protocols, as_json, out_path) -> None:
    """Compare evaluation A (before) with B (after), task by task.

    A and B are results files of `codepref evaluate` (or JSONL lines {"task_id", "passed"}),
    folders of BENCH.results.jsonl files, or run directories of `codepref run` (their last
    evaluation). With A alone, a run directory: its base model (eval/before) against its last
    round.

    For each benchmark both have: pass@1 of each (mean over tasks of the pass fraction), the
    difference with a paired bootstrap 95% interval over tasks, the exact McNemar p-value
    (one sample per task only) and the tasks won (fail->pass) and lost. Both sides must be
    the same task set and the same tasks; results made under different evaluation protocols
    are refused unless --allow-mixed-protocols.

    \b
    Examples:
      codepref compare base.humanevalplus.results.jsonl tuned.humanevalplus.results.jsonl
      codepref compare runs/quickstart
      codepref compare runs/baseline runs/experiment --pool --out summary.json
    """
    from codepref.evaluation.compare import compare as run_compare
    from codepref.evaluation.compare import format_table, load_evaluation, run_evaluations, summary
    from codepref.records import write_text_atomic

    if b is None:
        evals = run_evaluations(a)
        if "before" not in evals or len(evals) < 2:
            raise click.UsageError(f"{a} needs eval/before and an evaluation after training to compare with "
                                   "itself; or give two evaluations A B")
        last = list(evals)[-1]
        a_path, b_path = evals["before"], evals[last]
    else:
        a_path, b_path = a, b
    result = run_compare(load_evaluation(a_path), load_evaluation(b_path), pool=pool, resamples=resamples, seed=seed,
                         allow_mixed_protocols=allow_mixed_protocols, a_name=str(a_path), b_name=str(b_path))
    if out_path:
        write_text_atomic(out_path, json.dumps(summary(result), indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(format_table(result))
        if out_path:
            click.echo(f"summary: {out_path}")
