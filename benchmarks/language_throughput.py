"""Sandbox throughput for C++ and JavaScript matrices: the warm pool against one
``docker run`` per program, in one run.

Cells: for each of the first ``--tasks`` HumanEval-X tasks of the language, ``--rows``
copies of the canonical solution (each a distinct row) x the single asserts of the task's
hidden test (:mod:`codepref.languages.cpp` / ``javascript`` parse them; C++ asserts using the
test's own helpers such as ``issame`` are left out, as for a prompt's examples).

* ``matrix``  codepref's warm containers (``SandboxPool.run_matrices``): C++ compiles each
  row once with all its tests and runs one process per cell; JavaScript runs one
  ``node`` per cell. Prints the compiles the servers ran (C++: one per row).
* ``docker``  one ``docker run --rm --network none`` per cell with the cell's program on
  stdin (C++: compile and run that cell's program; the docker CLI, as a naive harness would
  use it); a time-boxed prefix of the cells.

    python benchmarks/language_throughput.py [--language cpp|javascript] [--tasks 20] [--rows 2]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from codepref.config import SandboxConfig
from codepref.execution import SandboxPool
from codepref.languages import get_language, image_for
from codepref.records import MatrixJob, Outcome, Task
from codepref.tasks.source import load_task_set

BENCH = {"cpp": "humaneval-x-cpp", "javascript": "humaneval-x-js"}
RUN = {"cpp": "cat > /tmp/p.cpp && g++ -std=c++11 -o /tmp/p /tmp/p.cpp -lcrypto -lssl && /tmp/p",
       "javascript": "cat > /tmp/p.js && node /tmp/p.js"}


def jobs(language: str, n_tasks: int, rows: int, data: str | None) -> list[MatrixJob]:
    hooks = get_language(language).generation
    out = []
    for task in load_task_set(BENCH[language], data_dir=data).tasks[:n_tasks]:
        probe = Task(task.id, language, task.prompt, task.entry_point, metadata={"example_test": task.tests[0]})
        tests = hooks.prompt_tests(probe)
        solution = task.prompt + task.metadata["canonical_solution"]
        if tests:
            out.append(MatrixJob(task.id, language, [solution + " " * r for r in range(rows)], tests, timeout_s=10.0))
    return out


def docker_run(image: str, language: str, program: str) -> bool:
    proc = subprocess.run(["docker", "run", "--rm", "-i", "--network", "none", "--memory", "512m", "--user", "65534",
                           "--tmpfs", "/tmp:exec", image, "sh", "-c", RUN[language]],
                          input=program, capture_output=True, text=True)
    return proc.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--language", choices=sorted(BENCH), default="cpp")
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--rows", type=int, default=2, help="solutions per task (copies of the canonical one)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=30.0, help="time box of the docker-run baseline")
    ap.add_argument("--data", default=None, help="data folder (default $CODEPREF_DATA)")
    args = ap.parse_args()
    language = get_language(args.language)
    image, _ = image_for(SandboxConfig().image, [args.language])
    config = SandboxConfig(image=image, workers=args.workers, timeout_s=10.0)
    todo = jobs(args.language, args.tasks, args.rows, args.data)
    cells = sum(len(j.solutions) * len(j.tests) for j in todo)
    rows = sum(len(j.solutions) for j in todo)
    print(f"{args.language}: {len(todo)} tasks, {rows} solutions, {cells} cells, image {image}, "
          f"{config.n_workers} worker(s)")

    with SandboxPool(config) as pool:
        t0 = time.monotonic()
        pool.run([])  # nothing: containers start on first use
        warm = pool.run_matrices([MatrixJob("warm", args.language, [todo[0].solutions[0]], todo[0].tests[:1])])
        next(iter(warm))
        start_s = time.monotonic() - t0
        builds_before = pool.builds
        t0 = time.monotonic()
        outcomes = [o for m in pool.run_matrices(todo) for row in m.outcomes for o in row]
        matrix_s = time.monotonic() - t0
        builds = pool.builds - builds_before
    passed = sum(o is Outcome.PASSED for o in outcomes)
    matrix_rate = cells / matrix_s
    print(f"warm-up (containers + one cell): {start_s:.1f} s")
    print(f"matrix: {cells} cells in {matrix_s:.1f} s = {matrix_rate:.2f} cells/s ({passed} passed); "
          f"compiles {builds} for {rows} solutions ({builds / max(1, len(todo)):.1f} per task matrix)")

    if shutil.which("docker") is None:
        print("docker: skipped (no docker CLI on PATH)")
        return
    programs = [language.assemble(s, t) for j in todo for s in j.solutions for t in j.tests]
    done, ok = 0, 0
    t0 = time.monotonic()
    with ThreadPoolExecutor(config.n_workers) as ex:
        it = iter(programs)
        while time.monotonic() - t0 < args.budget_s:
            batch = [p for _, p in zip(range(config.n_workers), it)]
            if not batch:
                break
            ok += sum(ex.map(lambda p: docker_run(image, args.language, p), batch))
            done += len(batch)
    docker_s = time.monotonic() - t0
    docker_rate = done / docker_s
    print(f"docker run per cell: {done} cells in {docker_s:.1f} s = {docker_rate:.2f} cells/s ({ok} passed)")
    print(f"matrix / docker run: {matrix_rate / docker_rate:.1f}x")


if __name__ == "__main__":
    main()
