"""``codepref execute``: every task's solution x test pass matrix from generated samples."""

from __future__ import annotations

import click

from codepref.cli.common import cluster_option, data_option, sandbox_options, tqdm_progress


@click.command()
@click.option("--samples", "samples_path", required=True, type=click.Path(dir_okay=False),
              help="Samples JSONL from `codepref generate`.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Pass matrices JSONL, one task a line; an interrupted run resumes.")
@click.option("--tasks", "tasks_spec", default=None,
              help="Task set name or JSONL file giving each task's language and setup code "
                   "(default: the task set named in the samples header, else plain Python).")
@click.option("--language", default="python", show_default=True,
              help="Language of every task when no task set is known.")
@click.option("--cell-timeout", "cell_timeout_s", type=float, default=5.0, show_default=True,
              help="Seconds per solution x test cell.")
@data_option
@sandbox_options
@cluster_option
def execute(samples_path, out_path, tasks_spec, language, cell_timeout_s, data, config, cluster) -> None:
    """Run every solution against every self-generated test of its task in the sandbox.

    Each Python solution is loaded once and each test runs in a fresh fork of it.
    Identical solutions run once; identical tests count once. Output lines:
    {"task_id","outcomes","durations","solution_index","test_index","language"}.
    """
    from codepref.execution.stage import execute_samples
    from codepref.tasks.source import load_task_map, samples_task_set
    from codepref.languages import sandbox_for

    spec = tasks_spec or samples_task_set(samples_path)
    tasks = load_task_map(spec, data) if spec else None
    if tasks:  # e.g. SQL tasks: their databases mounted read-only from the data folder
        config = sandbox_for(config, {t.language for t in tasks.values()}, data)
    counts = execute_samples(samples_path, out_path, config, tasks=tasks, language=language,
                             cell_timeout_s=cell_timeout_s, progress=tqdm_progress("cells"), cluster=cluster)
    total = sum(counts.values())
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    click.echo(f"ran {total} cells: {parts}" if total else "nothing to run: the output is complete", err=True)
