"""``backend = "auto"``: the backend a model runs with when none is named."""

from __future__ import annotations

import importlib.util

import pytest

from codepref.config import GenerationConfig
from codepref.evaluation.benchmarks import ModelSampling
from codepref.generation import models
from codepref.generation.backend import AUTO, concrete_backend, default_backend

DEFAULT = "qwen2.5-coder-0.5b-instruct"


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(models, "_NATIVE_BF16", True)


def test_the_default_model_runs_on_the_torch_decoder_on_a_bf16_cpu(bf16_cpu):
    if not all(importlib.util.find_spec(m) for m in ("torch", "transformers")):
        pytest.skip("torch or transformers is not installed here")
    assert default_backend(DEFAULT) == "torch"
    assert GenerationConfig(model=DEFAULT).backend == "torch"
    assert ModelSampling(model=DEFAULT).backend == "torch"


def test_llama_cpp_everywhere_else(monkeypatch, bf16_cpu):
    """Models measured only with llama.cpp, explicit variants and paths keep llama.cpp; so does
    every model on a CPU without native bf16, or where torch is not installed."""
    for model in ("smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct", f"{DEFAULT}@gguf", "model.gguf"):
        assert default_backend(model) == "llamacpp"
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    assert default_backend(DEFAULT) == "llamacpp"
    monkeypatch.undo()
    monkeypatch.setattr(models, "_NATIVE_BF16", False)
    assert default_backend(DEFAULT) == "llamacpp"
    assert GenerationConfig(model=DEFAULT).backend == "llamacpp"


def test_a_named_backend_is_kept(bf16_cpu):
    for backend in ("llamacpp", "hf", "openai", "vllm", "torch"):
        assert concrete_backend(backend, DEFAULT) == backend
        assert GenerationConfig(model=DEFAULT, backend=backend).backend == backend
    assert concrete_backend(AUTO, "smollm2-135m-instruct") == "llamacpp"


def test_llama_cpp_options_under_auto_say_which_backend_was_chosen(bf16_cpu):
    """An option only llama.cpp takes, given without naming a backend where auto chose torch,
    is refused before anything loads, and the message says why torch and how to get llama.cpp."""
    if not all(importlib.util.find_spec(m) for m in ("torch", "transformers")):
        pytest.skip("torch or transformers is not installed here")
    from codepref.errors import ConfigError
    from codepref.generation.backend import open_generator

    with pytest.raises(ConfigError) as e:
        open_generator(AUTO, DEFAULT, n_ctx=2048)
    assert "'torch' takes no option 'n_ctx'" in str(e.value) and "llamacpp" in str(e.value)
