"""``codepref audit``: pair precision and coverage against a benchmark's hidden tests."""

from __future__ import annotations

import click

from codepref.cli.common import sandbox_options, tqdm_progress


@click.command()
@click.option("--benchmark", required=True,
              help="Task set whose hidden tests judge the solutions (e.g. humaneval, mbpp).")
@click.option("--pairs", "pair_paths", multiple=True, type=click.Path(dir_okay=False),
              help="DPO or KTO JSONL from `codepref rank` (repeatable: one table row per scorer).")
@click.option("--samples", "samples_path", default=None, type=click.Path(dir_okay=False),
              help="Instead of --pairs: audit every scorer on these samples ...")
@click.option("--matrices", "matrices_path", default=None, type=click.Path(dir_okay=False),
              help="... and these matrices (adds the oracle row: the best coverage possible).")
@click.option("--scorer", "scorers", multiple=True,
              help="With --samples: scorers to audit (default codet, pagerank, minimax).")
@click.option("--pairs-per-task", type=int, default=1, show_default=True, help="With --samples.")
@click.option("--min-margin", type=float, default=0.0, show_default=True, help="With --samples.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the table as JSON here.")
@sandbox_options
def audit(benchmark, pair_paths, samples_path, matrices_path, scorers, pairs_per_task, min_margin, json_path,
          config) -> None:
    """Judge chosen and rejected solutions with the benchmark's hidden tests.

    Reports, per scorer: pair precision (chosen passes the hidden tests AND rejected
    fails), chosen-correct rate, rejected-wrong rate and coverage (tasks yielding a pair).
    """
    import json

    from codepref.errors import InputError
    from codepref.evaluation.audit import format_table
    from codepref.tasks.source import load_task_map

    if bool(pair_paths) == bool(samples_path or matrices_path):
        raise InputError("give either --pairs FILE ... or --samples FILE --matrices FILE")
    if not pair_paths and not (samples_path and matrices_path):
        raise InputError("--samples and --matrices go together")
    tasks = load_task_map(benchmark)
    if pair_paths:
        rows = _audit_pairs(pair_paths, tasks, benchmark, config)
    else:
        rows = _audit_samples(samples_path, matrices_path, tasks, scorers or ("codet", "pagerank", "minimax"),
                              pairs_per_task, min_margin, benchmark, config)
    click.echo(format_table(rows))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump([r.to_dict() for r in rows], fh, indent=1)


def _audit_pairs(paths, tasks, benchmark, config):
    from codepref.execution import SandboxPool
    from codepref.evaluation.audit import audit_records, hidden_verdicts, read_records, wanted_programs

    records, totals = [], {}
    for path in paths:
        recs, total = read_records(path)
        records += recs
        for r in recs:
            totals.setdefault(r.get("scorer", "?"), total)
    with SandboxPool(_for_tasks(config, tasks)) as pool:
        verdicts = hidden_verdicts(wanted_programs(records), tasks, pool, progress=tqdm_progress("cells"),
                                   set_name=_set_name(benchmark))
    return audit_records(records, verdicts, totals)


def _audit_samples(samples_path, matrices_path, tasks, scorers, pairs_per_task, min_margin, benchmark, config):
    from codepref.execution import SandboxPool
    from codepref.evaluation.audit import audit_scorers, hidden_verdicts
    from codepref.pairs.build import PairOptions
    from codepref.pairs.data import load_task_data
    from codepref.scoring import get_scorer

    instances = [get_scorer(s) for s in scorers]
    data = load_task_data(samples_path, matrices_path, {tid: t.prompt for tid, t in tasks.items()})
    wanted = {t.task_id: [s for s in t.solutions if s.strip()] for t in data}
    with SandboxPool(_for_tasks(config, tasks)) as pool:
        verdicts = hidden_verdicts(wanted, tasks, pool, progress=tqdm_progress("cells"),
                                   set_name=_set_name(benchmark))
    return audit_scorers(data, verdicts, instances, PairOptions(pairs_per_task=pairs_per_task, min_margin=min_margin))


def _for_tasks(config, tasks):
    """The sandbox config plus what the tasks' languages need (SQL: the databases)."""
    from codepref.languages import sandbox_for

    return sandbox_for(config, {t.language for t in tasks.values()})


def _set_name(benchmark: str) -> str:
    from pathlib import Path

    return Path(benchmark).name if Path(benchmark).is_file() else benchmark
