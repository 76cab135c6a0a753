"""A second identical ``codepref evaluate --model`` samples and judges nothing (the evaluation cache).

Real model (SmolLM2-135M through llama.cpp) and real sandbox; the cache lives in a temporary
``$CODEPREF_CACHE`` whose ``models/`` is the user's, so the model is not fetched again. The
backend is counted by wrapping the generate stage's ``open_generator`` (it still opens the
real backend).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import codepref.generation.stage as stage
from codepref.cli import main
from codepref.generation.models import cache_dir

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_second_identical_evaluation_runs_no_generation(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    models = cache_dir() / "models"
    cache = tmp_path / "cache"
    cache.mkdir()
    if models.is_dir():
        (cache / "models").symlink_to(models)
    monkeypatch.setenv("CODEPREF_CACHE", str(cache))
    opened = []
    real_open = stage.open_generator

    def counting_open(*args, **kwargs):
        opened.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(stage, "open_generator", counting_open)

    def evaluate(out, *extra):
        args = ["evaluate", "-b", "humaneval", "--model", "smollm2-135m-instruct", "--limit", "2", "--k", "1",
                "--max-tokens", "48", "--out", str(out), "--workers", "2", *extra]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        return r.output

    first = tmp_path / "a" / "smol.results.jsonl"
    first.parent.mkdir()
    out = evaluate(first)
    assert len(opened) == 1 and "stored evaluation" in out
    second = tmp_path / "b" / "smol.results.jsonl"
    second.parent.mkdir()
    out = evaluate(second)
    assert len(opened) == 1, "the second identical evaluation opened the backend"
    assert "reused cached evaluation" in out
    for name in ("smol.samples.jsonl", "smol.results.jsonl"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    a, b = (json.loads((tmp_path / d / "smol.summary.json").read_text()) for d in ("a", "b"))
    assert a["pass_at_k"] == b["pass_at_k"] and a["eval_cache"]["key"] == b["eval_cache"]["key"]
    assert b["eval_cache"]["reused"] is True and b["results_file"] == str(second)

    third = tmp_path / "c" / "smol.results.jsonl"  # one setting of the key changed: a miss
    third.parent.mkdir()
    evaluate(third, "--max-tokens", "40")
    assert len(opened) == 2
    fourth = tmp_path / "d" / "smol.results.jsonl"  # the cache turned off: sampled again
    fourth.parent.mkdir()
    out = evaluate(fourth, "--no-eval-cache")
    assert len(opened) == 3 and "reused cached evaluation" not in out
