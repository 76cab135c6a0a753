"""``NAME@TYPE`` model names: parsing and refusal, without making any file."""

from __future__ import annotations

import pytest

from codepref.generation import models
from codepref.generation.models import ModelError, resolve
from codepref.generation.quantize import QUANT_TYPES, split_variant, variant_path


def test_split_variant():
    assert split_variant("qwen2.5-coder-0.5b-instruct@Q4_0") == ("qwen2.5-coder-0.5b-instruct", "q4_0")
    assert split_variant("qwen2.5-coder-0.5b-instruct") == ("qwen2.5-coder-0.5b-instruct", None)


def test_resolve_a_variant_keeps_the_packaged_entry():
    ref = resolve("qwen2.5-coder-0.5b-instruct@q4_0")
    assert ref.kind == "packaged" and ref.variant == "q4_0" and ref.packaged.name == "qwen2.5-coder-0.5b-instruct"
    assert ref.chat and ref.spec == "qwen2.5-coder-0.5b-instruct@q4_0"
    p = variant_path("qwen2.5-coder-0.5b-instruct", "q4_0")
    assert p.name == "qwen2.5-coder-0.5b-instruct.q4_0.gguf" and p.parent.name == "qwen2.5-coder-0.5b-instruct"


@pytest.mark.parametrize("bf16_cpu", [True, False])
def test_the_bare_name_runs_the_bf16_variant_only_on_a_cpu_with_native_bf16(monkeypatch, bf16_cpu):
    """The default model's bare name names its bf16 variant where the CPU has native bf16 dot
    products, the packaged file elsewhere; ``NAME@gguf`` is the packaged file everywhere, and a
    model without a CPU variant keeps its file."""
    monkeypatch.setattr(models, "_NATIVE_BF16", bf16_cpu)
    ref = resolve("qwen2.5-coder-0.5b-instruct")
    assert ref.kind == "packaged" and ref.spec == "qwen2.5-coder-0.5b-instruct"
    assert ref.variant == ("bf16" if bf16_cpu else None)
    shipped = resolve("qwen2.5-coder-0.5b-instruct@gguf")
    assert shipped.kind == "packaged" and shipped.variant is None
    assert shipped.packaged.name == "qwen2.5-coder-0.5b-instruct"
    assert resolve("smollm2-135m-instruct").variant is None
    assert resolve("qwen2.5-coder-1.5b-instruct").variant is None


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
                    "processor\t: 1\nmodel name\t: Other CPU\nflags\t\t: fpu\n")
    assert models.cpu_flags(info) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert models.cpu_fields(info)["model name"] == "Some CPU"  # the first CPU's fields only
    info.write_text("processor\t: 0\nFeatures\t: fp asimd\n")  # an ARM cpuinfo: no x86 flags
    assert models.cpu_flags(info) == set()
    assert models.cpu_flags(tmp_path / "missing") == set()


def test_unknown_type_is_refused_with_the_known_ones():
    with pytest.raises(ModelError, match="unknown quantisation 'q9'.*gguf.*q4_0"):
        resolve("qwen2.5-coder-0.5b-instruct@q9")
    assert "q8_0" in QUANT_TYPES and "f16" in QUANT_TYPES and "bf16" in QUANT_TYPES


def test_an_at_sign_in_other_ids_is_left_alone():
    assert resolve("some-org/model@main").kind == "hub"
