"""The fast GGUF header reader and the vocabulary-free copy used to convert models for training.

A small GGUF is written with the ``gguf`` package's own writer (the reference for the
format) and read back with its own reader, so both directions are checked against an
independent implementation.
"""

import numpy as np
import pytest

from codepref.errors import InputError
from codepref.generation.gguf_header import TOKENIZER_ARRAYS, read_header, strip_metadata

gguf = pytest.importorskip("gguf")

TOKENS = ["a", "b", "ab", "Ġdef", "é", "<|endoftext|>", "\u4e2d"]


def write_model(path, *, alignment=None, vocab_size=None):
    w = gguf.GGUFWriter(str(path), "qwen2")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_block_count(2)
    w.add_context_length(128)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_bool("codepref.flag", True)
    w.add_array("codepref.floats", [0.5, -1.25])
    if vocab_size:
        w.add_vocab_size(vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(TOKENS)
    w.add_token_types([1] * len(TOKENS))
    w.add_token_merges(["a b"])
    w.add_eos_token_id(5)
    rng = np.random.default_rng(0)
    tensors = {"token_embd.weight": rng.standard_normal((7, 3)).astype(np.float32),
               "blk.0.attn_q.bias": rng.standard_normal(5).astype(np.float16),
               "blk.0.ffn_up.weight": rng.standard_normal((3, 11)).astype(np.float32)}
    for name, t in tensors.items():
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors


def reference_fields(path):
    r = gguf.GGUFReader(str(path))
    return r, {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}


def test_read_header_matches_the_reference_reader(tmp_path):
    p = tmp_path / "m.gguf"
    write_model(p)
    h = read_header(p)
    r, fields = reference_fields(p)
    assert h.version == 3 and h.tensor_count == 3
    assert h.fields.keys() == fields.keys()
    for k, v in fields.items():
        assert h.fields[k] == pytest.approx(v), k
    assert h.fields["tokenizer.ggml.tokens"] == TOKENS
    assert h.data_start == r.data_offset


@pytest.mark.parametrize("alignment", [None, 64])
def test_strip_keeps_every_tensor_and_field_but_the_vocabulary(tmp_path, alignment):
    src, dst = tmp_path / "m.gguf", tmp_path / "lean.gguf"
    tensors = write_model(src, alignment=alignment)
    strip_metadata(src, dst)
    r, fields = reference_fields(dst)
    _, original = reference_fields(src)
    assert not set(TOKENIZER_ARRAYS) & set(fields)
    # the number of tokens survives as {arch}.vocab_size, which loaders read instead
    assert fields.pop("qwen2.vocab_size") == len(TOKENS)
    assert fields == {k: v for k, v in original.items() if k not in TOKENIZER_ARRAYS}
    assert r.data_offset % (alignment or 32) == 0
    got = {t.name: np.asarray(t.data) for t in r.tensors}
    assert got.keys() == tensors.keys()
    for name, t in tensors.items():
        assert got[name].dtype == t.dtype and np.array_equal(got[name].reshape(t.shape), t), name


def test_strip_keeps_an_existing_vocab_size(tmp_path):
    src, dst = tmp_path / "m.gguf", tmp_path / "lean.gguf"
    write_model(src, vocab_size=32)
    strip_metadata(src, dst)
    _, fields = reference_fields(dst)
    assert fields["qwen2.vocab_size"] == 32


def test_not_a_gguf_or_truncated_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(InputError, match="not a GGUF"):
        read_header(bad)
    good = tmp_path / "m.gguf"
    write_model(good)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="truncated or garbled"):
        strip_metadata(cut, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
