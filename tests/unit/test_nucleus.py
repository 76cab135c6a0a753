"""Top-p draws without sorting the vocabulary: the same nucleus as the textbook full sort,
llama.cpp's up to its float32 rounding, and the right distribution and log-probabilities."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from codepref.generation import nucleus as nuc

V = 151_936  # Qwen2.5's vocabulary: the row size the generator sees


def reference(logits: np.ndarray, top_p: float) -> np.ndarray:
    """The definition: sort everything, keep the shortest prefix whose mass reaches top_p."""
    z = np.exp(logits - logits.max())
    order = np.argsort(-logits, kind="stable")
    running = np.cumsum(z[order], dtype=np.float64)
    k = int(np.searchsorted(running, top_p * z.sum(dtype=np.float64), side="left")) + 1
    return order[:min(k, V)]


def rows(seed: int = 0):
    """Rows from peaked (one sure token: the usual case) to flat (nucleus of 100k tokens)."""
    rs = np.random.default_rng(seed)
    for spread in (0.5, 2.5, 4.0):
        for peak in (0.0, 5.0, 10.0, 20.0):
            row = rs.normal(0.0, spread, V).astype(np.float32)
            row[rs.choice(V, 5, replace=False)] += peak
            yield f"spread {spread} peak {peak}", row
    row = rs.normal(0.0, 2.5, V).astype(np.float32)
    row[42] += 40.0
    yield "one sure token", row


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95, 0.99])
def test_nucleus_is_the_full_sort_nucleus(top_p):
    """Both paths (candidates within 8 nats, and the histogram) give exactly the set the full
    sort gives, on rows whose nucleus ranges from 1 token to most of the vocabulary."""
    sizes = []
    for name, row in rows():
        got, want = nuc.nucleus(row, top_p), reference(row, top_p)
        assert set(got.tolist()) == set(want.tolist()), name
        assert len(got) == len(want), name
        sizes.append(len(want))
    assert min(sizes) == 1 and max(sizes) > 40_000  # both paths were exercised


def test_ties_and_degenerate_rows():
    """Tied logits at the cut: the same number of tokens and the same mass as the full sort;
    an all-equal row keeps the first ceil(p * V) tokens; top_p = 1 keeps everything."""
    rs = np.random.default_rng(1)
    row = np.round(rs.normal(0.0, 2.0, V), 1).astype(np.float32)
    for p in (0.3, 0.9, 0.95):
        got, want = nuc.nucleus(row, p), reference(row, p)
        assert len(got) == len(want)
        assert row[got].sum(dtype=np.float64) == pytest.approx(row[want].sum(dtype=np.float64))
    flat = np.zeros(V, np.float32)
    assert len(nuc.nucleus(flat, 0.5)) == pytest.approx(V / 2, abs=2)
    assert len(nuc.nucleus(row, 1.0)) == V


def test_nucleus_matches_llama_cpps_top_p():
    """Against llama.cpp's own top-p sampler on the same rows: the kept sets differ only at
    the cut, where llama.cpp's float32 running sum rounds, by a negligible mass."""
    lib = pytest.importorskip("llama_cpp")
    dtype = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
    for name, row in rows(2):
        arr = (lib.llama_token_data * V)()
        view = np.frombuffer(arr, dtype=dtype)
        view["id"], view["logit"] = np.arange(V), row
        smpl = lib.llama_sampler_init_top_p(0.95, 1)
        cur = lib.llama_token_data_array(data=arr, size=V, selected=-1, sorted=False)
        lib.llama_sampler_apply(smpl, ctypes.byref(cur))
        lib.llama_sampler_free(smpl)
        theirs = set(view["id"][:cur.size].tolist())
        ours = set(nuc.nucleus(row, 0.95).tolist())
        z = np.exp(row.astype(np.float64) - row.max())
        differ = np.array(sorted(theirs ^ ours), dtype=np.int64)
        assert z[differ].sum() / z.sum() < 1e-3, name


def test_draw_distribution_and_logprob():
    """On a small row the draws follow softmax(l / T) over the nucleus (chi-square), never leave
    it, repeat with the seed, and the log-probability is log_softmax(l)[token]."""
    row = np.full(V, -30.0, np.float32)
    row[[7, 11, 13, 17]] = [3.0, 2.0, 1.0, -2.0]  # at T = 1: 0.66, 0.24, 0.09, 0.004 (+ tail)
    keep = nuc.nucleus(row, 0.95)
    assert sorted(keep.tolist()) == [7, 11, 13]
    temp = 0.8
    w = np.exp(row[keep].astype(np.float64) / temp)
    expected = dict(zip(keep.tolist(), w / w.sum()))
    rng = np.random.default_rng(0)
    n = 20_000
    counts = dict.fromkeys(expected, 0)
    for _ in range(n):
        tok, _ = nuc.draw(row, 0.95, temp, rng)
        counts[tok] += 1
    chi2 = sum((counts[t] - n * p) ** 2 / (n * p) for t, p in expected.items())
    assert chi2 < 13.8  # chi-square, 2 degrees of freedom, p = 0.001

    a = [nuc.draw(row, 0.95, temp, np.random.default_rng(5))[0] for _ in range(3)]
    assert len(set(a)) == 1
    lse = np.log(np.exp(row.astype(np.float64) - 3.0).sum()) + 3.0
    tok, lp = nuc.draw(row, 0.95, temp, np.random.default_rng(1), want_logprob=True)
    assert lp == pytest.approx(float(row[tok]) - lse, abs=1e-5)


def test_greedy_is_argmax_with_its_logprob():
    row = np.random.default_rng(3).normal(0.0, 3.0, V).astype(np.float32)
    tok, lp = nuc.draw(row, 0.95, 0.0, np.random.default_rng(0), want_logprob=True)
    assert tok == int(np.argmax(row))
    lse = np.log(np.exp(row.astype(np.float64) - row.max()).sum()) + row.max()
    assert lp == pytest.approx(float(row[tok]) - lse, abs=1e-4)
