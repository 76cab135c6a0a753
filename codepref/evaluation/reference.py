"""Reference runtimes: how long the canonical solution takes on each input of a plus task.

EvalPlus derives each input's time limit from the canonical solution's runtime on it. codepref
measures those runtimes in the sandbox (the same containers and limits as the candidates),
one program per task, and caches them in ``CACHE/reference-times/NAME.json`` keyed by a hash
of everything that determines them (prompt, canonical solution, inputs, sandbox image, CPU
share, the clock). ``CACHE`` is ``$CODEPREF_CACHE``, else ``$XDG_CACHE_HOME/codepref``, else
``~/.cache/codepref``. A canonical solution that raises or times out is an error: the task set
is broken, and its verdicts would be meaningless.

The runtimes are CPU times (EvalPlus measures wall-clock), as every limit derived from them
is enforced on CPU time (see :mod:`codepref.evaluation.judges`): measured on a busy machine
they come out as on a quiet one, so the cache holds no trace of the load at the time, and
the many reference programs can run in parallel without inflating one another's times.
"""

from __future__ import annotations

import json
import os

from codepref.config import SandboxConfig, cache_dir
from codepref.errors import CodeprefError
from codepref.evaluation.judges import encode, harness_source
from codepref.hashing import bytes_sha256
from codepref.progress import Tick
from codepref.records import Outcome, Program, Task

#: Wall-clock limit of one task's reference program (MBPP+'s slowest task takes ~30 s).
REFERENCE_TIMEOUT_S = 600.0
#: What the runtimes measure; part of the cache key, so that runtimes of another clock
#: (earlier versions cached wall-clock times) are measured again rather than reused.
CLOCK = "cpu"


class CanonicalSolutionError(CodeprefError):
    """The canonical solution of a task failed in the sandbox."""


def task_key(task: Task, config: SandboxConfig) -> str:
    """Hash of what the reference runtimes of ``task`` depend on."""
    meta = task.metadata
    blob = encode([task.prompt, meta["canonical_solution"], task.entry_point, meta["base_input"],
                   meta["plus_input"], meta.get("oracle", ""), config.image, config.cpus, CLOCK])
    return bytes_sha256(blob.encode(), 20)


def reference_program(task: Task, timeout_s: float = REFERENCE_TIMEOUT_S) -> Program:
    meta = task.metadata
    payloads = {name: encode(meta[f"{name}_input"]) for name in ("base", "plus")}
    code = (f"__codepref__ = {{'__name__': 'codepref_harness'}}\n"
            f"exec(compile({harness_source()!r}, 'codepref_harness.py', 'exec'), __codepref__)\n"
            f"__codepref__['reference_times']({task.prompt + meta['canonical_solution']!r}, "
            f"{task.entry_point!r}, {payloads!r}, {meta.get('oracle') == 'not_none'!r})\n")
    return Program(task.id, "python", code, timeout_s)


def reference_times(tasks: list[Task], pool, set_name: str, *, cache: bool = True,
                    progress: Tick | None = None) -> dict[str, dict[str, list[float]]]:
    """``{task_id: {"base": [CPU seconds per input], "plus": [...]}}`` for plus tasks.

    Args:
        pool: a :class:`~codepref.execution.SandboxPool` (its config is part of the cache key).
        set_name: names the cache file.
        cache: read and update the cache.
        progress: called with 1 per task measured.

    Raises:
        CanonicalSolutionError: a canonical solution raised, timed out or printed no times.
    """
    path = cache_dir() / "reference-times" / f"{set_name.replace('/', '_')}.json"
    stored: dict = {}
    if cache and path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            stored = {}
    keys = {t.id: task_key(t, pool.config) for t in tasks}
    out: dict[str, dict[str, list[float]]] = {}
    todo = []
    for t in tasks:
        entry = stored.get(t.id)
        if entry and entry.get("key") == keys[t.id]:
            out[t.id] = entry["times"]
        else:
            todo.append(t)
    if todo:
        by_id = {t.id: t for t in todo}
        problems = []
        for result in pool.iter_run([reference_program(t) for t in todo], progress):
            try:
                if result.outcome is not Outcome.PASSED:
                    raise ValueError(f"{result.outcome.value}: {result.stderr.strip()[-300:]}")
                times = json.loads(result.stdout)
                meta = by_id[result.id].metadata
                if [len(times["base"]), len(times["plus"])] != [len(meta["base_input"]), len(meta["plus_input"])]:
                    raise ValueError("wrong number of times")
            except (ValueError, KeyError, TypeError) as e:
                problems.append(f"{result.id}: {e}")
                continue
            out[result.id] = times
            stored[result.id] = {"key": keys[result.id], "times": times}
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(stored))
            os.replace(tmp, path)
        if problems:
            raise CanonicalSolutionError(f"the canonical solution failed in the sandbox for {len(problems)} task(s): "
                                  + "; ".join(sorted(problems)[:3]))
    return out
