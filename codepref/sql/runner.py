"""Run the SQL evaluator in the Docker sandbox: one program per (task, prediction).

The program is :mod:`codepref.sql.compare` + :mod:`codepref.sql.evaluator` (stdlib only),
run as a ``python`` program in a fork of the sandbox server; the request travels on its
stdin and the verdict comes back as one JSON line on stdout. The database directory is
bind-mounted read-only at ``/data/sql`` and every evaluation copies its database into the
program's private working directory (a fresh copy per phase).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import SandboxError
from codepref.progress import Tick
from codepref.records import Outcome, Program
from codepref.sql.task import SqlTask, db_files

CONTAINER_SQL_DIR = "/data/sql"
IMPORT_MARK = "# sandbox: inlined"


@functools.lru_cache(maxsize=1)
def evaluator_program() -> str:
    """The Python program the sandbox runs: compare.py, evaluator.py, then ``main()``."""
    from codepref.sql import compare, evaluator

    compare_src = Path(compare.__file__).read_text(encoding="utf-8")
    eval_src = Path(evaluator.__file__).read_text(encoding="utf-8")
    # Drop the host-only import block (try: from codepref... except ImportError: pass).
    start = eval_src.index("try:  # on the host")
    end = eval_src.index("    pass\n", eval_src.index(IMPORT_MARK)) + len("    pass\n")
    eval_src = eval_src[:start] + eval_src[end:]
    return f"{compare_src}\n\n{eval_src}\n\nif __name__ == '__main__':\n    main()\n"


@dataclass(frozen=True)
class SqlJob:
    """One evaluation: a task and a prediction (``None``: judge the gold ``sol_sql``)."""

    key: str
    task: SqlTask
    pred_sqls: list[str] | None


def sql_sandbox_config(config: SandboxConfig | None, directory: Path) -> SandboxConfig:
    """``config`` plus the read-only mount of the database directory at ``/data/sql``."""
    config = config or SandboxConfig()
    mount = f"{Path(directory).resolve()}:{CONTAINER_SQL_DIR}"
    if mount in config.mounts:
        return config
    others = tuple(m for m in config.mounts if not m.endswith(f":{CONTAINER_SQL_DIR}"))
    return dataclasses.replace(config, mounts=(*others, mount))


def program_timeout(task: SqlTask, query_timeout_s: float) -> float:
    """Wall-clock limit of one evaluation program.

    ``q * (6 + 2 * n_tests) + 10`` seconds for per-query limit ``q``: room for phase 1 and
    phase 2 each timing out once, the gold side of every test, and the copies.
    """
    n_tests = max(1, len(task.test_cases))
    return query_timeout_s * (6 + 2 * n_tests) + 10.0


def _failed(job: SqlJob, reason: str, **flags: Any) -> dict[str, Any]:
    verdict = {"instance_id": job.task.instance_id, "status": "failed", "execution_error": False,
               "timeout_error": False, "assertion_error": False, "error_message": reason,
               "issue_sql_passed_unexpectedly": False}
    verdict.update(flags)
    return verdict


def _verdict(job: SqlJob, outcome: Outcome, stdout: str, stderr: str) -> dict[str, Any]:
    if outcome is Outcome.PASSED:
        for line in reversed(stdout.strip().splitlines()):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and "status" in obj:
                return obj
        return _failed(job, f"evaluator printed no verdict: {stderr[-300:]}", execution_error=True)
    if outcome is Outcome.TIMEOUT:
        return _failed(job, "the evaluation ran past its time limit", timeout_error=True)
    if outcome is Outcome.OOM:
        return _failed(job, "the evaluation ran out of memory", execution_error=True)
    if outcome is Outcome.SANDBOX_ERROR:
        return _failed(job, f"sandbox error: {stderr[-300:]}", sandbox_error=True)
    return _failed(job, f"evaluator crashed ({outcome.value}): {stderr[-300:]}", execution_error=True)


def run_sql_jobs(
    jobs: Iterable[SqlJob],
    directory: Path,
    *,
    pool=None,
    config: SandboxConfig | None = None,
    query_timeout_s: float = 5.0,
    max_rows: int = 100_000,
    check_issue: bool = True,
    only_issue: bool = False,
    progress: Tick | None = None,
) -> Iterator[tuple[SqlJob, dict[str, Any]]]:
    """Evaluate every job in the sandbox; yield ``(job, verdict)`` as each finishes.

    Args:
        jobs: what to judge.
        directory: the database directory (see :func:`codepref.sql.task.sql_dir`).
        pool: a SandboxPool whose config mounts ``directory`` at ``/data/sql`` (made with
            :func:`sql_sandbox_config`); a temporary pool is made if None.
        config: sandbox settings for the temporary pool.
        query_timeout_s: wall-clock limit per SQL statement.
        max_rows: a statement returning more rows fails.
        check_issue: run phase 1 (``issue_sql`` must fail); BIRD-CRITIC always does.
        only_issue: run phase 1 only (SQL-Rewind's probes: does this issue SQL fail?).
        progress: called with 1 per finished job.

    The verdict is the evaluator's dict (``status`` "success"/"failed", error flags,
    ``issue_sql_passed_unexpectedly``, ``error_message`` ...). A program that times out,
    runs out of memory or hits a sandbox failure gets a ``failed`` verdict saying so.
    """
    jobs = list(jobs)
    if not jobs:
        return
    files = db_files(directory, [j.task for j in jobs])
    root = Path(directory).resolve()
    code = evaluator_program()
    programs = []
    for k, job in enumerate(jobs):
        rel = files[job.task.db_id].resolve().relative_to(root).as_posix()
        request = {"task": job.task.to_dict(), "pred_sqls": job.pred_sqls, "db_path": f"{CONTAINER_SQL_DIR}/{rel}",
                   "query_timeout_s": query_timeout_s, "max_rows": max_rows, "check_issue": check_issue or only_issue,
                   "only_issue": only_issue}
        timeout = program_timeout(job.task, query_timeout_s)
        programs.append(Program(str(k), "python", code, timeout, json.dumps(request)))
    own = None
    if pool is None:
        from codepref.execution import SandboxPool

        own = pool = SandboxPool(sql_sandbox_config(config, root))
    else:
        mount = f"{root}:{CONTAINER_SQL_DIR}"
        if mount not in pool.config.mounts:
            raise SandboxError(f"the sandbox pool does not mount the database directory (need mount {mount!r}; "
                               "build its config with codepref.sql.runner.sql_sandbox_config)")
    try:
        for result in pool.iter_run(programs, progress):
            job = jobs[int(result.id)]
            yield job, _verdict(job, result.outcome, result.stdout, result.stderr)
    finally:
        if own is not None:
            own.close()
