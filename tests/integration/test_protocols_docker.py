"""The protocol travels from the samples header into the results header and the summary of
``codepref evaluate`` (judged in the Docker sandbox), and ``codepref compare`` refuses two
results files made under different protocols. The samples come from the generate stage with a
backend that replays fixed answers (no model run)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.config import GenerationConfig
from codepref.evaluation.run import evaluate, load_task_set
from codepref.generation.backend import Completion
from codepref.generation.stage import generate_samples
from codepref.records import read_header

pytestmark = pytest.mark.docker

# What the model writes after each protocol's prefill (an opening python fence for both).
RIGHT = ("def has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n"
         "    return any(b - a < threshold for a, b in zip(s, s[1:]))")
WRONG = "def has_close_elements(numbers, threshold):\n    return False"


class Replay:
    """A backend answering every request with ``text``."""

    id, prefill_chat, chat_default = "replay:recorded", True, True

    def __init__(self, text: str):
        self.text = text

    def generate(self, requests, progress=None):
        return [[Completion(self.text, 10, 5, None, "stop") for _ in r.seeds] for r in requests]

    def close(self) -> None:
        pass


def test_results_and_summary_carry_the_protocol_and_compare_refuses_mixed(tmp_path, sandbox_pool):
    task = load_task_set("humaneval").tasks[:1]
    paths = {}
    for protocol, text in (("qwen-coder", RIGHT), ("chat", WRONG)):
        samples = tmp_path / f"{protocol}.samples.jsonl"
        config = GenerationConfig(n_solutions=1, n_tests=0, test_samples=0, temperature=0.0, protocol=protocol)
        generate_samples(task, samples, config, generator=Replay(text), extra_header={"tasks": "humaneval"})
        results = tmp_path / f"{protocol}.humaneval.results.jsonl"
        summary = evaluate("humaneval", samples, results_path=results, pool=sandbox_pool, ks=(1,))
        assert read_header(results)["protocol"] == protocol
        assert summary["protocol"] == protocol
        assert json.loads((tmp_path / f"{protocol}.humaneval.summary.json").read_text())["protocol"] == protocol
        paths[protocol] = results
        assert summary["pass_at_k"]["humaneval"]["pass@1"] == (1.0 if text is RIGHT else 0.0)

    runner = CliRunner()
    r = runner.invoke(main, ["compare", str(paths["chat"]), str(paths["qwen-coder"])])
    assert r.exit_code == 2 and "different evaluation protocols: 'chat'" in r.output
    r = runner.invoke(main, ["compare", str(paths["chat"]), str(paths["qwen-coder"]), "--allow-mixed-protocols",
                             "--json", "--resamples", "10"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["benchmarks"]["humaneval"]["protocol"] == ["chat", "qwen-coder"]
