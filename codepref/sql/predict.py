"""Ask a model for SQL fixes: task set -> predictions file for :mod:`codepref.sql.evaluate`.

One completion per task (greedy by default, as for a success rate). Each output line is
``{"instance_id", "pred_sqls": [extracted SQL], "completion": the raw answer, "generator",
"params", "finish_reason"}``; the output is resumable (tasks already answered are skipped).

There is no SQL-specific sampling code here: the model is asked through the generate stage
(:func:`codepref.generation.stage.generate_samples`) with the ``sql`` language's hooks
(:mod:`codepref.languages.sql`: the fix prompt, the SQL read from the answer), the same
function that samples the code benchmarks and the training data. :func:`predict_tasks` takes
pipeline tasks (what ``codepref evaluate --benchmark sqlfix --model`` and the pipeline pass);
:func:`predict_sql` (``codepref sql predict``) adapts BIRD-CRITIC tasks to it. The generate
stage's samples go to a working file beside the output (``X.samples.jsonl`` for
``X.jsonl``), which carries an interrupted run over and is removed once the predictions
file is complete.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codepref.records import ResumableJsonl, iter_jsonl, make_header
from codepref.sql.task import SqlTask

if TYPE_CHECKING:
    from codepref.config import GenerationConfig
    from codepref.records import Task

ProgressFactory = Callable[[int, int], Callable[[int], Any]]
#: The opening fence the fix prompt prefills (:func:`codepref.sql.prompts.fix_prompt`).
_OPEN_FENCE = "```sql\n"


def _until_stop(text: str, stops: tuple[str, ...]) -> str:
    """``text`` cut at the first stop string (in case a backend let one through)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def work_file(out_path: str | os.PathLike[str]) -> Path:
    """The generate stage's samples file behind the predictions ``X.jsonl``: ``X.samples.jsonl``."""
    p = Path(out_path)
    return p.with_name(p.name.removesuffix(".jsonl") + ".samples.jsonl")


def prediction(sample: dict[str, Any]) -> dict[str, Any]:
    """One predictions line from the generate stage's solution sample of a task.

    ``completion`` is the model's answer (the prefilled opening fence included) up to its
    closing fence; ``pred_sqls`` the SQL in it (:func:`codepref.sql.extract.extract_sql`,
    what the ``sql`` language reads from an answer), or ``[]`` when it holds none.
    """
    from codepref.sql.extract import extract_sql
    from codepref.sql.prompts import FENCE_STOPS

    raw = sample["raw"].replace("\x00", "")
    head = _OPEN_FENCE if raw.startswith(_OPEN_FENCE) else ""
    completion = head + _until_stop(raw[len(head):], FENCE_STOPS)
    sql = extract_sql(completion)
    return {"instance_id": sample["task_id"], "pred_sqls": [sql] if sql else [], "completion": completion,
            "generator": sample["generator"], "params": sample["params"],
            "finish_reason": sample["params"].get("finish_reason")}


def predict_tasks(tasks: list[Task], out_path: str | os.PathLike[str], config: GenerationConfig, *,
                  generator=None, progress: ProgressFactory | None = None, cluster=None) -> int:
    """Write one predicted fix per SQL task to ``out_path``; return how many were sampled now.

    Args:
        tasks: pipeline tasks of language ``sql`` (e.g. :func:`codepref.tasks.sqlfix.to_task`).
        out_path: predictions JSONL (resumable; see the module docstring).
        config: the generate stage's settings; one solution per task is sampled, no tests.
        generator: an open backend to use instead of opening one from ``config``.
        progress: ``progress(done, total) -> tick(n)`` factory, ticked per answer.
        cluster: a :class:`~codepref.config.ClusterConfig` whose ``generate`` samples on the
            generator actors of a Ray cluster (when no ``generator`` is given).

    Raises:
        OutputMismatchError: ``out_path`` holds predictions made with other settings; and
            whatever :func:`~codepref.generation.stage.generate_samples` raises.
    """
    from codepref.generation.stage import generate_samples, settings_of

    config = dataclasses.replace(config, n_solutions=1, n_tests=0, test_samples=0)
    out = ResumableJsonl(out_path, make_header("sql_predictions", settings_of(config)),
                         key=lambda r: r["instance_id"])
    done = out.open()
    work = work_file(out_path)
    try:
        todo = [t for t in tasks if t.id not in done]
        if todo:
            generate_samples(todo, work, config, generator=generator, progress=progress, cluster=cluster)
            answers = {s["task_id"]: s for _, s in iter_jsonl(work) if s["kind"] == "solution" and s["index"] == 0}
            for t in todo:
                out.append(prediction(answers[t.id]))
        out.finalize()
    finally:
        out.close()
    work.unlink(missing_ok=True)
    return len(todo)


def predict_sql(
    tasks: list[SqlTask],
    directory: Path,
    out_path: str | os.PathLike[str],
    *,
    model: str,
    backend: str = "auto",
    style: str = "chat",
    temperature: float = 0.0,
    max_tokens: int = 512,
    seed: int = 0,
    chunk: int = 64,
    backend_options: dict[str, Any] | None = None,
    generator=None,
    progress: ProgressFactory | None = None,
) -> int:
    """:func:`predict_tasks` for BIRD-CRITIC tasks (``codepref sql predict``); return how many
    were generated now.

    Args:
        tasks: the tasks to answer.
        directory: the database directory (the prompt shows the schema).
        out_path: predictions JSONL (resumable).
        model, backend, backend_options: what generates (see ``codepref generate``).
        style: ``chat`` (instruct models), ``completion`` or ``auto`` (the backend's default
            for the model, as ``codepref generate`` picks it).
        temperature, max_tokens, seed: sampling (temperature 0 = greedy).
        chunk: sequences (here: tasks) sent to the backend at once (each chunk is written when done).
        generator: an open backend to use instead of opening one.
        progress: ``progress(done, total) -> tick(n)`` factory.
    """
    from codepref.config import GenerationConfig
    from codepref.tasks.sqlfix import to_task

    config = GenerationConfig(model=model, backend=backend, n_solutions=1, n_tests=0, test_samples=0,
                              temperature=temperature, max_tokens=max_tokens, seed=seed, prompt_style=style,
                              backend_options=dict(backend_options or {}), chunk_sequences=chunk)
    return predict_tasks([to_task(t, directory) for t in tasks], out_path, config, generator=generator,
                         progress=progress)
