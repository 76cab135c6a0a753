"""Q4_0/Q5_0 tensors re-encoded as Q8_0 keep every weight: checked block by block and on a
whole GGUF file against the gguf package's own dequantisers (an independent reading of
ggml's block formats)."""

from __future__ import annotations

import numpy as np
import pytest

from codepref.generation import transcode

gguf = pytest.importorskip("gguf")
T = gguf.GGMLQuantizationType


def quantized(qtype, rows: int, cols: int, seed: int) -> np.ndarray:
    w = np.random.default_rng(seed).normal(0.0, 0.05, (rows, cols)).astype(np.float32)
    w[0, :32] = 0.0  # an all-zero block (scale 0)
    w[1, 5] = 3.0  # an outlier that sets its block's scale
    return gguf.quants.quantize(w, qtype)


@pytest.mark.parametrize("qtype, convert", [(T.Q5_0, transcode.q5_0_to_q8_0), (T.Q4_0, transcode.q4_0_to_q8_0)])
def test_blocks_keep_every_weight(qtype, convert):
    q = quantized(qtype, 16, 256, 0)
    wide = np.frombuffer(convert(q.tobytes()), dtype=np.uint8).reshape(16, -1)
    assert wide.shape[1] == 256 // 32 * 34
    before = gguf.quants.dequantize(q, qtype)
    after = gguf.quants.dequantize(wide, T.Q8_0)
    assert np.array_equal(before, after)
    assert np.abs(before).max() > 1.0 and (before[0, :32] == 0).all()


def test_a_gguf_file_is_rewritten_with_the_same_weights_and_metadata(tmp_path):
    src, dst = tmp_path / "m.gguf", tmp_path / "m.q8.gguf"
    w = gguf.GGUFWriter(str(src), "llama")
    w.add_string("general.name", "tiny")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    tensors = {
        "odd.f32": (np.arange(35, dtype=np.float32).reshape(7, 5), T.F32),  # 140 bytes: re-aligns what follows
        "blk.0.q5": (quantized(T.Q5_0, 8, 96, 1), T.Q5_0),
        "blk.0.q8": (quantized(T.Q8_0, 4, 64, 2), T.Q8_0),
        "blk.0.q4": (quantized(T.Q4_0, 3, 64, 3), T.Q4_0),
        "blk.0.q41": (quantized(T.Q4_1, 2, 96, 4), T.Q4_1),  # not widened: copied
    }
    for name, (data, qtype) in tensors.items():
        if qtype == T.F32:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    assert transcode.widen_to_q8_0(src, dst) == 2
    a, b = gguf.GGUFReader(str(src)), gguf.GGUFReader(str(dst))
    assert b.fields["general.name"].contents() == "tiny"
    assert b.fields["tokenizer.ggml.tokens"].contents() == ["a", "b", "c"]
    got = {t.name: t for t in b.tensors}
    want_types = {"odd.f32": T.F32, "blk.0.q5": T.Q8_0, "blk.0.q8": T.Q8_0, "blk.0.q4": T.Q8_0, "blk.0.q41": T.Q4_1}
    for t in a.tensors:
        u = got[t.name]
        assert u.tensor_type == want_types[t.name], t.name
        assert list(u.shape) == list(t.shape)
        assert np.array_equal(gguf.quants.dequantize(t.data, t.tensor_type),
                              gguf.quants.dequantize(u.data, u.tensor_type)), t.name
        assert u.data_offset % 32 == 0


def test_an_unknown_tensor_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="ggml type 99"):
        transcode._nbytes(99, (32,))


def test_q8_0_blocks_requantised_as_q4_0_match_the_reference_rounding():
    """The head variant's re-quantisation is ggml's Q4_0 rounding of the Q8_0 weights (the
    gguf package's quantiser, an independent implementation, gives the same bytes)."""
    q8 = quantized(T.Q8_0, 16, 256, 5)
    q4 = np.frombuffer(transcode.q8_0_to_q4_0(q8.tobytes()), dtype=np.uint8).reshape(16, -1)
    assert q4.shape[1] == 256 // 32 * 18
    weights = gguf.quants.dequantize(q8, T.Q8_0)
    assert np.array_equal(q4, gguf.quants.quantize(weights, T.Q4_0))
    back = gguf.quants.dequantize(q4, T.Q4_0)
    assert (back[0, :32] == 0).all()
    step = np.abs(weights).reshape(16, -1, 32).max(axis=2) / 8  # a block's Q4_0 step |d|
    err = np.abs(back - weights).reshape(16, -1, 32)
    assert (err <= step[..., None] * 0.5 + 1e-6).mean() > 0.95  # rounding to the nearest step ...
    assert (err <= step[..., None] + 1e-6).all()  # ... except +8 steps, clipped to +7


def test_only_the_head_is_requantised(tmp_path):
    src, dst = tmp_path / "m.gguf", tmp_path / "m.head.gguf"
    w = gguf.GGUFWriter(str(src), "llama")
    head, body = quantized(T.Q8_0, 4, 64, 6), quantized(T.Q8_0, 2, 64, 7)
    w.add_tensor("output.weight", head, raw_dtype=T.Q8_0)
    w.add_tensor("blk.0.ffn_up.weight", body, raw_dtype=T.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    assert transcode.head_to_q4_0(src, dst) == 1
    got = {t.name: t for t in gguf.GGUFReader(str(dst)).tensors}
    assert got["output.weight"].tensor_type == T.Q4_0
    assert np.array_equal(gguf.quants.dequantize(got["output.weight"].data, T.Q4_0),
                          gguf.quants.dequantize(gguf.quants.quantize(gguf.quants.dequantize(head, T.Q8_0), T.Q4_0), T.Q4_0))
    assert got["blk.0.ffn_up.weight"].tensor_type == T.Q8_0
    assert np.array_equal(np.asarray(got["blk.0.ffn_up.weight"].data), body)
    with pytest.raises(ValueError, match="no Q8_0 output.weight"):
        transcode.head_to_q4_0(dst, tmp_path / "again.gguf")
