"""The cost of running the sandbox through Ray: the same execution job on ``local`` and ``ray``.

The job: HumanEval's canonical solutions, each against its own asserts one a cell (the cells
of ``sandbox_throughput.py``), as pass matrices. It runs, in one process and one run:

* ``local``         the warm pool on this machine, ``--workers`` containers;
* ``ray, 1 node``   a Ray cluster started here whose head node offers ``codepref_sandbox``:
  one sandbox actor with ``--workers`` containers; this process is the driver;
* ``ray, 2 nodes``  a second node (a second raylet on this machine) joins; two actors with
  ``--workers / 2`` containers each, so the machine runs as many containers as ``local``.

Each executor first runs a few matrices outside the timing (containers started, actors
placed), then the whole job ``--repeats`` times; the best run counts. Printed: cells/s and
the ratio to ``local``, that the outcomes of every run are the same, each executor's warm-up
time, and how many matrix records per second the driver can append to its JSONL (the limit
of one driver however many nodes run cells). Goal: ray on one
node >= 0.8x local. Nodes use one CPU each and a 100 MB object store; usage stats and the
dashboard are off.

    python benchmarks/cluster_overhead.py [--workers 2] [--tasks N] [--repeats 2] [--jobs-per-task 8]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from sandbox_throughput import load  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from codepref.config import ClusterConfig, SandboxConfig  # noqa: E402
from codepref.execution.docker import remove_orphans  # noqa: E402
from codepref.execution.executor import make_executor  # noqa: E402
from codepref.records import MatrixJob  # noqa: E402

RESOURCE = "codepref_sandbox"
NODE = dict(num_cpus=1, object_store_memory=100 * 2**20)


def measure(executor, jobs: list[MatrixJob], repeats: int) -> tuple[int, float, dict]:
    """(cells, best seconds, task id -> outcomes) of the whole job on ``executor``."""
    t0 = time.perf_counter()
    list(executor.run_matrices(jobs[:8]))  # warm: containers started, actors placed
    print(f"  warm-up (containers started, 8 matrices run): {time.perf_counter() - t0:.2f} s")
    best, outcomes = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        matrices = list(executor.run_matrices(jobs))
        best = min(best, time.perf_counter() - t0)
        got = {m.task_id: [[o.value for o in row] for row in m.outcomes] for m in matrices}
        assert outcomes is None or got == outcomes, "two runs of the same job differ"
        outcomes = got
    cells = sum(len(row) for rows in outcomes.values() for row in rows)
    return cells, best, outcomes


def driver_write_rate(n: int = 2000, size: int = 20) -> float:
    """Records/s the driver appends to a resumable JSONL: ``size x size`` matrices as the
    execute stage writes them (outcomes, durations, indices), one flushed line each."""
    import tempfile

    from codepref.records import ResumableJsonl, make_header

    row = {"outcomes": [["passed"] * size] * size, "durations": [[0.0123] * size] * size,
           "solution_index": list(range(size)), "test_index": list(range(size)), "language": "python"}
    with tempfile.TemporaryDirectory() as d:
        out = ResumableJsonl(os.path.join(d, "m.jsonl"), make_header("pass_matrices", {}), key=lambda r: r["task_id"])
        out.open()
        t0 = time.perf_counter()
        for i in range(n):
            out.append({"task_id": f"t/{i}", **row})
        out.finalize()
        return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="containers in all (default: cores)")
    ap.add_argument("--tasks", type=int, default=None, help="only the first N HumanEval tasks")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--jobs-per-task", type=int, default=8, help="matrices per Ray task")
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    tasks = load(args.tasks)
    jobs = [MatrixJob(t, "python", [sol], cells, timeout_s=5.0) for t, sol, cells in tasks]
    print(f"HumanEval: {len(jobs)} matrices, {sum(len(c) for _, _, c in tasks)} cells, {args.workers} containers "
          f"in all, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    rows = {}
    with make_executor(SandboxConfig(workers=args.workers)) as local:
        print("local")
        rows["local"] = measure(local, jobs, args.repeats)

    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False,
                                                                resources={RESOURCE: 1}))
    try:
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        one = ClusterConfig(backend="ray", address=cluster.address, jobs_per_task=args.jobs_per_task)
        with make_executor(SandboxConfig(workers=args.workers), one) as executor:
            print("ray, 1 node")
            rows["ray, 1 node"] = measure(executor, jobs, args.repeats)
        cluster.add_node(**NODE, resources={RESOURCE: 1})
        with make_executor(SandboxConfig(workers=max(1, args.workers // 2)), one) as executor:
            assert len(executor.nodes) == 2, executor.nodes
            print("ray, 2 nodes")
            rows["ray, 2 nodes"] = measure(executor, jobs, args.repeats)
    finally:
        ray.shutdown()
        cluster.shutdown()
        remove_orphans()

    base_cells, base_s, base_outcomes = rows["local"]
    print(f"{'executor':<14} {'cells':>6} {'seconds':>8} {'cells/s':>8} {'vs local':>9}  same outcomes")
    for name, (cells, secs, outcomes) in rows.items():
        ratio = (cells / secs) / (base_cells / base_s)
        print(f"{name:<14} {cells:>6} {secs:>8.2f} {cells / secs:>8.1f} {ratio:>8.2f}x  {outcomes == base_outcomes}")
    rate = driver_write_rate()
    print(f"driver JSONL appends, 20x20 matrices: {rate:.0f} records/s = {rate * 400:.0f} cells/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
