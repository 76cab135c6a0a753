"""``NAME@TYPE`` model names: parsing and refusal, without making any file."""

from __future__ import annotations

import pytest

from codepref.generation.models import ModelError, resolve
from codepref.generation.quantize import QUANT_TYPES, split_variant, variant_path


def test_split_variant():
    assert split_variant("qwen2.5-coder-0.5b-instruct@Q4_0") == ("qwen2.5-coder-0.5b-instruct", "q4_0")
    assert split_variant("qwen2.5-coder-0.5b-instruct") == ("qwen2.5-coder-0.5b-instruct", None)


def test_resolve_a_variant_keeps_the_packaged_entry():
    ref = resolve("qwen2.5-coder-0.5b-instruct@q4_0")
    assert ref.kind == "packaged" and ref.variant == "q4_0" and ref.packaged.name == "qwen2.5-coder-0.5b-instruct"
    assert ref.chat and ref.spec == "qwen2.5-coder-0.5b-instruct@q4_0"
    assert resolve("qwen2.5-coder-0.5b-instruct").variant is None
    p = variant_path("qwen2.5-coder-0.5b-instruct", "q4_0")
    assert p.name == "qwen2.5-coder-0.5b-instruct.q4_0.gguf" and p.parent.name == "qwen2.5-coder-0.5b-instruct"


def test_unknown_type_is_refused_with_the_known_ones():
    with pytest.raises(ModelError, match="unknown quantisation 'q9'.*q4_0"):
        resolve("qwen2.5-coder-0.5b-instruct@q9")
    assert "q8_0" in QUANT_TYPES and "f16" in QUANT_TYPES


def test_an_at_sign_in_other_ids_is_left_alone():
    assert resolve("some-org/model@main").kind == "hub"
