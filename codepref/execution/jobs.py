"""File-level execution jobs behind ``codepref sandbox exec`` and ``codepref sandbox matrix``.

Both read JSONL input, validate every line before running anything (one clear error naming
the first bad line), skip what the output already holds, append each result as soon as it
is known, and rename the finished output into place. Killing a run loses at most the
results in flight; rerunning resumes.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import InputError, UnknownNameError
from codepref.languages import LANGUAGES
from codepref.records import MatrixJob, Program, ResumableJsonl, iter_jsonl, make_header

PROGRAM_FIELDS = {"id": str, "language": str, "code": str, "timeout_s": float, "stdin": str}
PROGRAM_REQUIRED = ("id", "language", "code")
JOB_FIELDS = {"task_id": str, "language": str, "solutions": list, "tests": list, "setup": str,
              "timeout_s": float, "test_timeouts_s": list}
JOB_REQUIRED = ("task_id", "language", "solutions", "tests")

Progress = Callable[[int], None]


def _check_fields(obj: dict[str, Any], fields: dict[str, type], required: tuple[str, ...], src: str, line: int) -> None:
    for key in obj:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown field {key!r}{hint}", src, line)
    for key in required:
        if key not in obj:
            raise InputError(f"missing field {key!r}", src, line)
    for key, typ in fields.items():
        value = obj.get(key)
        if value is None:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) if typ is float else isinstance(value, typ)
        if not ok:
            raise InputError(f"field {key!r} must be {typ.__name__}, got {type(value).__name__}", src, line)
        if typ is float and value <= 0:
            raise InputError(f"field {key!r} must be > 0, got {value}", src, line)
    if obj["language"] not in LANGUAGES:
        try:
            LANGUAGES.get(obj["language"])
        except UnknownNameError as e:
            raise InputError(str(e), src, line) from None


def _check_size(text: str, what: str, cap: int, src: str, line: int) -> None:
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > cap:
        raise InputError(f"{what} is {size} bytes, over the {cap}-byte limit (max_code_bytes)", src, line)


def read_programs(path: str | os.PathLike[str], config: SandboxConfig) -> list[Program]:
    """Read and validate ``{"id","language","code","timeout_s"?,"stdin"?}`` lines."""
    src = str(path)
    programs: list[Program] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        _check_fields(obj, PROGRAM_FIELDS, PROGRAM_REQUIRED, src, line)
        pid = obj["id"]
        if not pid:
            raise InputError("field 'id' is empty", src, line)
        if pid in seen:
            raise InputError(f"duplicate id {pid!r} (first on line {seen[pid]})", src, line)
        seen[pid] = line
        _check_size(obj["code"], "code", config.max_code_bytes, src, line)
        programs.append(Program(pid, obj["language"], obj["code"], obj.get("timeout_s"), obj.get("stdin")))
    return programs


def read_jobs(path: str | os.PathLike[str], config: SandboxConfig) -> list[MatrixJob]:
    """Read and validate ``{"task_id","language","solutions","tests","setup"?}`` lines."""
    src = str(path)
    jobs: list[MatrixJob] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        _check_fields(obj, JOB_FIELDS, JOB_REQUIRED, src, line)
        tid = obj["task_id"]
        if tid in seen:
            raise InputError(f"duplicate task_id {tid!r} (first on line {seen[tid]})", src, line)
        seen[tid] = line
        for key in ("solutions", "tests"):
            for i, text in enumerate(obj[key]):
                if not isinstance(text, str):
                    raise InputError(f"{key}[{i}] must be a string, got {type(text).__name__}", src, line)
                _check_size(text, f"{key}[{i}]", config.max_code_bytes, src, line)
        _check_size(obj.get("setup") or "", "setup", config.max_code_bytes, src, line)
        tt = obj.get("test_timeouts_s")
        if tt is not None and (len(tt) != len(obj["tests"]) or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in tt)):
            raise InputError("test_timeouts_s must hold one positive number per test", src, line)
        jobs.append(MatrixJob(tid, obj["language"], obj["solutions"], obj["tests"], obj.get("setup") or "",
                              obj.get("timeout_s"), tt))
    return jobs


def _settings(config: SandboxConfig) -> dict[str, Any]:
    keys = ("image", "memory_mb", "cpus", "pids_limit", "tmpfs_mb", "timeout_s", "output_limit_bytes")
    return {k: getattr(config, k) for k in keys}


def exec_file(in_path, out_path, config: SandboxConfig, progress: Callable[[int, int], Progress] | None = None,
              pool=None) -> Counter:
    """Run every program of ``in_path``; write results to ``out_path``; return outcome counts.

    Args:
        progress: called once with ``(done, total)`` and returning a per-result callback.
        pool: an existing SandboxPool (one is made and closed if None).
    """
    programs = read_programs(in_path, config)
    out = ResumableJsonl(out_path, make_header("exec_results", _settings(config)), key=lambda r: r["id"])
    done = out.open()
    todo = [p for p in programs if p.id not in done]
    tick = progress(len(programs) - len(todo), len(programs)) if progress else None
    counts: Counter = Counter()
    try:
        if todo:
            with _pool(pool, config) as p:
                for result in p.iter_run(todo, tick):
                    out.append(result.to_dict())
                    counts[result.outcome.value] += 1
        out.finalize()
    finally:
        out.close()
    return counts


def matrix_file(in_path, out_path, config: SandboxConfig, progress: Callable[[int, int], Progress] | None = None,
                pool=None) -> Counter:
    """Run every job of ``in_path`` as a solutions x tests matrix; return outcome counts."""
    jobs = read_jobs(in_path, config)
    out = ResumableJsonl(out_path, make_header("pass_matrices", _settings(config)), key=lambda r: r["task_id"])
    done = out.open()
    todo = [j for j in jobs if j.task_id not in done]
    cells = lambda js: sum(len(j.solutions) * len(j.tests) for j in js)  # noqa: E731
    tick = progress(cells(jobs) - cells(todo), cells(jobs)) if progress else None
    counts: Counter = Counter()
    try:
        if todo:
            with _pool(pool, config) as p:
                for matrix in p.run_matrices(todo, tick):
                    out.append(matrix.to_dict())
                    counts.update(o.value for row in matrix.outcomes for o in row)
        out.finalize()
    finally:
        out.close()
    return counts


class _pool:
    """Use the given pool, or make one for the duration of a job."""

    def __init__(self, pool, config: SandboxConfig):
        self.given = pool
        self.config = config
        self.own = None

    def __enter__(self):
        if self.given is not None:
            return self.given
        from codepref.execution.pool import SandboxPool

        self.own = SandboxPool(self.config)
        return self.own

    def __exit__(self, *exc: object) -> None:
        if self.own is not None:
            self.own.close()
