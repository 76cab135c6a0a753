"""The packaged GGUF -> safetensors conversion that training loads.

The weights are loaded from a copy without the tokenizer's vocabulary (gguf_header.py, for
speed); this checks on a real packaged model (SmolLM2, llama architecture, whose q/k rows
transformers un-permutes) that the result equals transformers loading the original file.
"""

import pytest

from codepref.generation import models

SMOL = "smollm2-135m-instruct"


@pytest.mark.slow
def test_lean_conversion_equals_loading_the_original_gguf(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    gguf = models.gguf_path(SMOL)
    out = tmp_path / "hf"
    out.mkdir()
    models._convert_to_safetensors(gguf, out)

    kw = dict(dtype=torch.float32)
    direct = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, **kw)
    converted = transformers.AutoModelForCausalLM.from_pretrained(str(out), **kw)
    assert converted.config.vocab_size == direct.config.vocab_size
    assert converted.config.tie_word_embeddings == direct.config.tie_word_embeddings
    a, b = direct.state_dict(), converted.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    text = "def add(a, b):\n    return a + b  # é 中\n"
    tok_direct = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    assert tok(text)["input_ids"] == tok_direct(text)["input_ids"]
    assert tok.eos_token == tok_direct.eos_token
