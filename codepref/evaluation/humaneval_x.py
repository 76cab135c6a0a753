"""HumanEval-X benchmarks (``humaneval-x-cpp``, ``humaneval-x-js``): one program per sample,
judged by the upstream rules (THUDM/CodeGeeX ``codegeex/benchmark``, ``evaluate_humaneval_x.py``
and ``execution.py``) in the language's sandbox image.

Samples (:func:`codepref.evaluation.samples.read_samples`): HumanEval-X lines
``{"task_id": "CPP/0", "generation": ...}`` (several per task allowed; the code is
``prompt + generation``), human-eval ``completion`` lines, or codepref ``generate`` output
(``text``, the whole solution). With ``S = prompt + generation``:

* **C++**: program = the helper includes the *prompt* lacks (CodeGeeX's ``IMPORT_HELPER``,
  :data:`codepref.languages.cpp.HELPER_INCLUDES`) + ``"\\n"`` + S + ``"\\n"`` + test, compiled
  with ``g++ -std=c++11`` and OpenSSL linked (upstream links it for CPP/162 only; see
  :mod:`codepref.languages.cpp`). Passed iff the compile succeeds and the program exits 0.
* **JavaScript**: program = S + ``"\\n"`` + test, run with ``node``. Passed iff its stdout
  and stderr are both empty: the tests use ``console.assert``, which prints and does not
  change the exit status. A program that times out or crashes fails.

Limits: each program may run ``wall_factor`` x ``test_timeout_s`` seconds (15 s by default;
upstream: 3 s wall-clock, 5 s in its evaluation script) and a compile up to the language's
``build_timeout_s`` (upstream gives the compile the same 3 s, which a loaded machine can miss).
A sample whose run failed in the sandbox (``sandbox_error``) is excluded and reported, never
counted as a failure.

Results and summary have the fields of :mod:`codepref.evaluation.run` (``n``/``correct`` per
task, each sample's ``passed``, ``status`` and ``valid``, pass@k), so reports and
``codepref compare`` read them like any other benchmark's.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codepref.config import ClusterConfig, SandboxConfig
from codepref.errors import InputError
from codepref.evaluation.benchmarks import EvalSettings, Progress, TestsJudge
from codepref.evaluation.samples import SampleRef, read_samples
from codepref.records import ExecResult, Outcome, Program, ResumableJsonl, Task, make_header, write_text_atomic


def program(task: Task, solution: str) -> str:
    """The program judging ``solution`` (prompt + generation) on ``task`` (upstream assembly)."""
    test = task.tests[0]
    if task.language == "cpp":
        from codepref.languages.cpp import missing_helpers

        return missing_helpers(task.prompt) + "\n" + solution + "\n" + test
    return solution + "\n" + test


def passed(task: Task, result: ExecResult) -> bool:
    """The upstream verdict: C++ exit 0 after a successful compile; JavaScript silent output."""
    if result.outcome is not Outcome.PASSED:
        return False
    if task.language == "javascript":
        return result.stdout == "" and result.stderr == ""
    return True


def status(task: Task, result: ExecResult) -> str:
    """``pass``, ``fail``, ``timeout`` or ``sandbox_error`` of one sample."""
    if result.outcome is Outcome.SANDBOX_ERROR:
        return "sandbox_error"
    if passed(task, result):
        return "pass"
    return "timeout" if result.outcome is Outcome.TIMEOUT else "fail"


@dataclass(frozen=True)
class HumanEvalXJudge(TestsJudge):
    """A HumanEval-X language in the benchmark registry (see the module docstring)."""

    language: str = "cpp"
    sandbox_memory_mb: int | None = None

    def evaluate(self, settings: EvalSettings, progress: Progress | None = None) -> dict[str, Any]:
        from codepref.evaluation.run import default_outputs, samples_beside, samples_protocol, summarize, summary_beside
        from codepref.languages import sandbox_for
        from codepref.tasks import sha256_of
        from codepref.tasks.source import load_task_set

        started = time.monotonic()
        config = sandbox_for(settings.sandbox or SandboxConfig(), [self.language], settings.data)
        task_set = load_task_set(settings.benchmark, path=settings.tasks_path, data_dir=settings.data)
        by_id = task_set.by_id()
        samples, allow_empty = settings.samples, settings.allow_empty
        if samples is None:
            if settings.generation is None or settings.results_path is None:
                raise InputError("give a samples file, or a model to generate samples and an output path")
            samples = samples_beside(settings.results_path)
            tasks = task_set.tasks[:settings.limit] if settings.limit else task_set.tasks
            self.sample(tasks, Path(samples), settings.generation, benchmark=settings.benchmark, progress=progress,
                        cluster=settings.cluster)
            allow_empty = True
        results_path = Path(settings.results_path or default_outputs(samples, settings.benchmark)[0])
        summary_path = Path(settings.summary_path or summary_beside(results_path))
        by_task = read_samples(samples, by_id, allow_empty=allow_empty, max_code_bytes=config.max_code_bytes)
        timeout = settings.judge.wall_factor * settings.judge.test_timeout_s
        header = {"benchmark": settings.benchmark, "task_set": task_set.header(), "samples_sha256": sha256_of(samples),
                  "judge": dataclasses.asdict(settings.judge), "timeout_s": timeout,
                  "sandbox": {k: getattr(config, k) for k in ("image", "memory_mb", "cpus", "pids_limit")}}
        out = ResumableJsonl(results_path, make_header("eval_results", header, task_set=task_set.header(),
                                                       protocol=samples_protocol(samples)), key=lambda r: r["task_id"])
        done = out.open()
        try:
            todo = [t for t in by_task if t not in done]
            if todo:
                self._judge([by_id[t] for t in todo], by_task, out, config, timeout, progress, settings.cluster)
            out.finalize()
        finally:
            out.close()
        summary = summarize(results_path, settings.ks, task_set, settings.benchmark)
        summary.update(samples_file=str(samples), results_file=str(results_path),
                       wall_s=round(time.monotonic() - started, 2))
        write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
        summary["summary_file"] = str(summary_path)
        return summary

    @staticmethod
    def _judge(tasks: list[Task], by_task: dict[str, list[SampleRef]], out: ResumableJsonl, config: SandboxConfig,
               timeout: float, progress: Progress | None, cluster: ClusterConfig | None = None) -> None:
        """Run every sample's program (here, or on the sandbox actors of ``cluster``); append
        each task's line once all its samples are judged."""
        from codepref.execution.executor import open_executor

        programs, owner = [], {}
        for task in tasks:
            for ref in by_task[task.id]:
                pid = f"{task.id}#{ref.index}"
                programs.append(Program(pid, task.language, program(task, ref.program), timeout_s=timeout))
                owner[pid] = (task, ref)
        tick = progress("programs")(0, len(programs)) if progress else None
        pending = {t.id: len(by_task[t.id]) for t in tasks}
        rows: dict[str, list[dict[str, Any]]] = {t.id: [] for t in tasks}
        with open_executor(None, config, cluster) as pool:
            for result in pool.iter_run(programs, tick):
                task, ref = owner[result.id]
                verdict = status(task, result)
                rows[task.id].append({"index": ref.index, "line": ref.line, "passed": verdict == "pass",
                                      "status": {"test": verdict}, "valid": verdict != "sandbox_error"})
                pending[task.id] -= 1
                if pending[task.id] == 0:
                    out.append(_record(task.id, sorted(rows.pop(task.id), key=lambda r: r["index"])))


def _record(task_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    valid = [r for r in rows if r["valid"]]
    return {"task_id": task_id, "n": len(valid), "correct": sum(r["passed"] for r in valid),
            "excluded": len(rows) - len(valid), "samples": rows}


CPP_JUDGE = HumanEvalXJudge(language="cpp")
JS_JUDGE = HumanEvalXJudge(language="javascript")
