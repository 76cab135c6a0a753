"""Ask a model for SQL fixes: task set -> predictions file for :mod:`codepref.sql.evaluate`.

One completion per task (greedy by default, as for a success rate). Each output line is
``{"instance_id", "pred_sqls": [extracted SQL], "completion": the raw answer, "generator",
"params"}``; the output is resumable (tasks already answered are skipped). Generation goes
through the generation stage's backends (:func:`codepref.generation.backend.open_generator`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codepref.records import ResumableJsonl, make_header
from codepref.sql.task import SqlTask, db_file

ProgressFactory = Callable[[int, int], Callable[[int], Any]]


def _until_stop(text: str, stops: tuple[str, ...]) -> str:
    """``text`` cut at the first stop string (in case a backend let one through)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def predict_sql(
    tasks: list[SqlTask],
    directory: Path,
    out_path: str | os.PathLike[str],
    *,
    model: str,
    backend: str = "llamacpp",
    style: str = "chat",
    temperature: float = 0.0,
    max_tokens: int = 512,
    seed: int = 0,
    chunk: int = 8,
    backend_options: dict[str, Any] | None = None,
    generator=None,
    progress: ProgressFactory | None = None,
) -> int:
    """Write one predicted fix per task to ``out_path``; return how many were generated now.

    Args:
        tasks: the tasks to answer.
        directory: the database directory (the prompt shows the schema).
        out_path: predictions JSONL (resumable).
        model, backend, backend_options: what generates (see ``codepref generate``).
        style: ``chat`` (instruct models), ``completion`` or ``auto`` (the backend's default
            for the model, as ``codepref generate`` picks it).
        temperature, max_tokens, seed: sampling (temperature 0 = greedy).
        chunk: tasks sent to the backend at once (each chunk is written when done).
        generator: an open backend to use instead of opening one.
        progress: ``progress(done, total) -> tick(n)`` factory.
    """
    from codepref.generation.backend import Request, SamplingParams, open_generator
    from codepref.sql.extract import extract_sql
    from codepref.sql.prompts import fix_prompt, problem_text

    params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
    settings = {"model": model, "backend": backend, "style": style, "params": params.to_dict(), "seed": seed}
    out = ResumableJsonl(out_path, make_header("sql_predictions", settings), key=lambda r: r["instance_id"])
    done = out.open()
    todo = [t for t in tasks if t.instance_id not in done]
    tick = progress(len(tasks) - len(todo), len(tasks)) if progress else None
    own = None
    try:
        if todo and generator is None:
            own = generator = open_generator(backend, model, **(backend_options or {}))
        if todo and style == "auto":
            style = "chat" if generator.chat_default else "completion"
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            specs = [fix_prompt(problem_text(t, db_file(directory, t.db_id)), style) for t in part]
            answers = generator.generate([Request(s, params, (seed,)) for s in specs])
            for t, spec, completions in zip(part, specs, answers):
                c = completions[0]
                prefill = spec.prefill if (spec.text is not None or generator.prefill_chat) else ""
                raw = prefill + _until_stop(c.text.replace("\x00", ""), spec.stop)
                sql = extract_sql(raw)
                out.append({"instance_id": t.instance_id, "pred_sqls": [sql] if sql else [], "completion": raw,
                            "generator": generator.id, "params": params.to_dict(),
                            "finish_reason": c.finish_reason})
            if tick:
                tick(len(part))
        out.finalize()
    finally:
        out.close()
        if own is not None:
            own.close()
    return len(todo)
