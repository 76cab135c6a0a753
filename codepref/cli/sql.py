"""``codepref sql verify|predict|evaluate|rewind|tasks``: SQL debugging tasks on SQLite."""

from __future__ import annotations

import functools
import json

import click

from codepref.cli.common import data_option, tqdm_progress


def _sql_options(fn):
    """--data, --workers, --memory, --image, --query-timeout; passes ``directory`` and ``config``."""

    @data_option
    @click.option("--workers", type=int, default=None, help="Warm sandbox containers (default: one per core).")
    @click.option("--memory", "memory_mb", type=int, default=None, help="Memory limit per container in MB (512).")
    @click.option("--image", default=None, help="Sandbox image (codepref-sandbox:latest).")
    @click.option("--query-timeout", "query_timeout_s", type=float, default=5.0, show_default=True,
                  help="Wall-clock seconds per SQL statement.")
    @functools.wraps(fn)
    def wrapper(*args, data, workers, memory_mb, image, **kwargs):
        from codepref.config import SandboxConfig, from_mapping
        from codepref.sql.task import sql_dir

        values = {"workers": workers, "memory_mb": memory_mb, "image": image}
        config = from_mapping(SandboxConfig, {k: v for k, v in values.items() if v is not None})
        return fn(*args, directory=sql_dir(data), config=config, **kwargs)

    return wrapper


def _tasks_option(fn):
    return click.option("--tasks", "tasks_path", default=None, type=click.Path(dir_okay=False),
                        help="Task file (BIRD-CRITIC fields, JSONL); default: the shipped sqlfix set.")(fn)


def _load_tasks(tasks_path):
    from codepref.tasks.sqlfix import load_sql_tasks

    return load_sql_tasks(tasks_path)


@click.group()
def sql() -> None:
    """SQL debugging tasks in the style of BIRD-CRITIC, on SQLite databases.

    A task is a user's issue plus the SQL that misbehaves (issue_sql) and a verified fix
    (sol_sql). A fix is judged by execution in the Docker sandbox on a fresh copy of the
    database: soft result comparison with the gold SQL, or test functions for UPDATE/DELETE
    tasks. The sqlfix benchmark (66 tasks over Chinook and Northwind) ships with codepref;
    the databases come from --data or $CODEPREF_DATA.
    """


@sql.command()
@_tasks_option
@_sql_options
def verify(tasks_path, directory, config, query_timeout_s) -> None:
    """Check every task: its sol_sql must pass and its issue_sql must fail."""
    from codepref.sql.evaluate import verify_tasks

    tasks = _load_tasks(tasks_path)
    bar = tqdm_progress("tasks")(0, len(tasks))
    results = verify_tasks(tasks, directory, config=config, query_timeout_s=query_timeout_s, progress=bar)
    bad = [r for r in results if not (r["gold_passes"] and r["issue_fails"])]
    for r in bad:
        what = "gold fails" if not r["gold_passes"] else "issue_sql does not fail"
        click.echo(f"{r['instance_id']}: {what}: {r['error_message']}")
    gold = sum(r["gold_passes"] for r in results)
    issue = sum(r["issue_fails"] for r in results)
    click.echo(f"{len(results)} tasks: gold passes {gold}/{len(results)}, issue_sql fails {issue}/{len(results)}")
    raise SystemExit(1 if bad else 0)


@sql.command()
@click.option("--predictions", "pred_path", required=True, type=click.Path(dir_okay=False),
              help='JSONL, one line per task: {"instance_id", "pred_sqls": [...]} (or "sql", or "completion" '
                   "with raw model output).")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Per-task results JSONL (default: PREDICTIONS with .results.jsonl).")
@_tasks_option
@_sql_options
def evaluate(pred_path, out_path, tasks_path, directory, config, query_timeout_s) -> None:
    """Judge one predicted fix per task; print the success rate overall and per category.

    Writes per-task results (resumable) and a summary JSON next to them.
    """
    from pathlib import Path

    from codepref.sql.benchmark import format_summary
    from codepref.sql.evaluate import evaluate_sqlfix

    out = Path(out_path) if out_path else Path(pred_path).with_suffix(".results.jsonl")
    summary, _ = evaluate_sqlfix(pred_path, data=directory, out_path=out, tasks_path=tasks_path, config=config,
                                 query_timeout_s=query_timeout_s, progress=tqdm_progress("tasks"))
    summary_path = out.with_name(out.name.replace(".jsonl", "") + ".summary.json")
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    click.echo(format_summary(summary))
    click.echo(f"results: {out}\nsummary: {summary_path}", err=True)


@sql.command()
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Predictions JSONL for `codepref sql evaluate` (resumable).")
@click.option("--model", default="qwen2.5-coder-0.5b-instruct", show_default=True,
              help="Packaged model name, .gguf file, model folder, HF id or served name.")
@click.option("--backend", default="auto", show_default=True, help="auto (torch for the default model on CPUs with native bf16, else llamacpp), llamacpp, torch, hf, openai or vllm.")
@click.option("--prompt-style", "style", type=click.Choice(["chat", "completion"]), default="chat",
              show_default=True, help="chat for instruct models, completion for base models.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--max-tokens", type=int, default=512, show_default=True, help="Most new tokens per answer.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N tasks.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A backend option, e.g. -o parallel=4 (llamacpp). Repeatable.")
@_tasks_option
@data_option
def predict(out_path, model, backend, style, temperature, max_tokens, limit, options, tasks_path, data) -> None:
    """Ask a model for one fix per task (the prompt shows schema, issue and SQL)."""
    from codepref.config import parse_overrides
    from codepref.sql.predict import predict_sql
    from codepref.sql.task import sql_dir

    directory = sql_dir(data)
    tasks = _load_tasks(tasks_path)[:limit]
    n = predict_sql(tasks, directory, out_path, model=model, backend=backend, style=style, temperature=temperature,
                    max_tokens=max_tokens, backend_options=parse_overrides(list(options)),
                    progress=tqdm_progress("tasks"))
    click.echo(f"{n} new predictions ({len(tasks)} tasks): {out_path}")


@sql.command()
@click.option("--seeds", "seeds_path", default=None, type=click.Path(dir_okay=False),
              help='Verified queries, JSONL {"id","db_id","sql","question"?,"conditions"?} or a task file '
                   "(its sol_sql); default: the shipped seed set.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Output task file (BIRD-CRITIC fields, JSONL; resumable).")
@click.option("--per-seed", type=click.IntRange(min=1), default=3, show_default=True,
              help="Tasks kept per seed at most (different bug kinds first).")
@click.option("--max-candidates", type=click.IntRange(min=1), default=24, show_default=True,
              help="Mutants executed per seed at most (a seeded random sample).")
@click.option("--seed", "rng_seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--operators", default=None, metavar="A,B,...",
              help="Mutation operators to use (default: all): join_type, drop_predicate, comparison, aggregate, "
                   "limit, null_unsafe, int_division, distinct, order, group_by, date_format, logic, union.")
@click.option("--stats", "stats_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the statistics as JSON here.")
@_sql_options
def rewind(seeds_path, out_path, per_seed, max_candidates, rng_seed, operators, stats_path, directory, config,
           query_timeout_s) -> None:
    """SQL-Rewind: make debug tasks by putting bugs into verified SQL (training data).

    Each seed query is parsed with sqlglot and mutated one node at a time (swapped join
    types, dropped or altered predicates, changed aggregates, off-by-one LIMIT, NULL-unsafe
    comparisons, integer division, ...). A mutant is kept only if it parses, runs without
    error in the sandbox and changes the result; it becomes a task with the mutant as
    issue_sql and the seed as sol_sql.
    """
    from codepref.sql import rewind_seeds_path
    from codepref.sql.rewind import rewind_file

    ops = [o.strip() for o in operators.split(",") if o.strip()] if operators else None
    stats = rewind_file(seeds_path or rewind_seeds_path(), out_path, directory, per_seed=per_seed,
                        max_candidates=max_candidates, rng_seed=rng_seed, operators=ops, config=config,
                        query_timeout_s=query_timeout_s, progress=tqdm_progress("seeds"))
    if stats_path:
        with open(stats_path, "w", encoding="utf-8") as fh:
            json.dump(stats, fh, indent=2)
    keys = ("seeds", "seed_verified", "candidates", "executed", "run_failed", "unchanged", "survived", "kept",
            "survived_per_100_seeds", "kept_per_100_seeds")
    click.echo(", ".join(f"{k} {stats.get(k, 0)}" for k in keys))
    click.echo(f"tasks: {out_path}", err=True)


@sql.command()
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Pipeline task JSONL (id, language, prompt, tests, setup, metadata).")
@_tasks_option
@data_option
def tasks(out_path, tasks_path, data) -> None:
    """Write SQL tasks as pipeline tasks (prompt with schema, setup, SQL checks)."""
    from dataclasses import asdict

    from codepref.records import ResumableJsonl, make_header
    from codepref.sql.task import sql_dir
    from codepref.tasks.sqlfix import to_task

    directory = sql_dir(data)
    records = [asdict(to_task(t, directory)) for t in _load_tasks(tasks_path)]
    out = ResumableJsonl(out_path, make_header("tasks", {"source": tasks_path or "sqlfix"}), key=lambda r: r["id"])
    done = out.open()
    try:
        out.extend(r for r in records if r["id"] not in done)
        out.finalize()
    finally:
        out.close()
    click.echo(f"{len(records)} tasks: {out_path}")
