"""``NAME@TYPE``: a packaged model re-quantised here with llama.cpp, made once, stamped, usable.

SmolLM2-135M (packaged as Q4_1) re-quantised to Q8_0: the file is made by ``codepref models
fetch`` with a stamp holding its real sha256 and the source's, a second fetch reuses it, the
llama.cpp backend samples from it, and the evaluation cache tells it apart from the packaged
file by content.
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
