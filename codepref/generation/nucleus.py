"""Top-p (nucleus) sampling over one row of logits, exact and cheap on a 150k vocabulary.

The draw is the distribution of llama.cpp's sampler chain ``top_p(p) -> temp(T) -> dist``
(Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration"):

* the nucleus is the shortest run of tokens, in order of falling logit, whose probability
  at temperature 1 (``softmax(logits)``) reaches ``p``: tokens are added while the running
  sum is below ``p * Z`` with ``Z = sum_v exp(l_v - max l)``, the token that reaches it
  included, at least one token;
* the next token is drawn from ``softmax(l_i / T)`` over the nucleus.

Sorting the whole vocabulary (what llama.cpp's ``top_p`` does) costs ~1.4 ms per draw for
Qwen's 151,936 tokens. Here it is avoided without changing the result: the tokens with a
logit above ``max - 8`` are exactly the first ones of the sorted order, so when their mass
already reaches ``p * Z`` (the usual case: a code model is mostly sure of its next token),
the nucleus lies inside them and only they are sorted. Otherwise (a flat row) a histogram of
the logits finds the bin in which the running mass crosses ``p * Z`` and only that bin is
sorted. ``Z`` and the token's log-probability ``l_tok - max - log Z`` share one pass of
``exp`` over the row.
"""

from __future__ import annotations

import numpy as np

#: The candidate set tried before the histogram: tokens within this many nats of the largest
#: logit, if there are at most :data:`MAX_SORT` of them.
WIDTH = 8.0
MAX_SORT = 4096
#: Bins of the histogram that finds the nucleus of a flat row without sorting it.
BINS = 2048


def nucleus(logits: np.ndarray, top_p: float, z: np.ndarray | None = None) -> np.ndarray:
    """Token ids of the top-``top_p`` nucleus of ``logits`` (1-D); by falling logit when found
    among the candidates, else in no particular order.

    ``z`` may pass ``exp(logits - logits.max())`` when the caller has it already.
    """
    m = logits.max()
    if z is None:
        z = np.exp(logits - m)
    if top_p >= 1.0:
        return np.arange(logits.shape[0])
    need = float(top_p) * float(z.sum(dtype=np.float64))
    cand = np.flatnonzero(logits > m - WIDTH)
    if cand.shape[0] <= MAX_SORT and float(z[cand].sum(dtype=np.float64)) >= need:
        return _prefix(cand[np.argsort(-logits[cand], kind="stable")], z, need)
    return _by_histogram(logits, z, need)


def _prefix(order: np.ndarray, z: np.ndarray, need: float) -> np.ndarray:
    """The shortest prefix of ``order`` whose mass reaches ``need`` (at least one token)."""
    running = np.cumsum(z[order], dtype=np.float64)
    k = int(np.searchsorted(running, need, side="left")) + 1  # the token that reaches it too
    return order[:max(1, min(k, order.shape[0]))]


def _by_histogram(logits: np.ndarray, z: np.ndarray, need: float) -> np.ndarray:
    """The nucleus of a row whose candidates did not suffice, as llama.cpp's own bucket sort
    finds it: bin the logits (the bin index is monotone in the logit), add the bins' masses
    from the top until they reach ``need``, and sort only the bin that crosses it."""
    lo, hi = float(logits.min()), float(logits.max())
    if hi <= lo:  # every logit equal
        return _prefix(np.arange(logits.shape[0]), z, need)
    b = ((logits - lo) * (BINS / (hi - lo))).astype(np.int64)
    np.minimum(b, BINS - 1, out=b)
    mass = np.bincount(b, weights=z, minlength=BINS)
    above = np.cumsum(mass[::-1])  # above[j]: mass of the top j + 1 bins
    j = min(int(np.searchsorted(above, need, side="left")), BINS - 1)
    edge = BINS - 1 - j  # the bin in which the running mass reaches ``need``
    inside = np.flatnonzero(b > edge)
    rest = need - (float(above[j - 1]) if j > 0 else 0.0)
    cross = np.flatnonzero(b == edge)
    cross = cross[np.argsort(-logits[cross], kind="stable")]
    return np.concatenate([inside, _prefix(cross, z, rest)])


def draw(logits: np.ndarray, top_p: float, temperature: float, rng: np.random.Generator,
         want_logprob: bool = False) -> tuple[int, float]:
    """One token from ``logits`` (1-D float32): greedy when ``temperature <= 0``, else top-p at
    ``temperature``; with its log-probability under ``softmax(logits)`` when asked (else 0.0).
    """
    if temperature <= 0:
        tok = int(logits.argmax())
        if not want_logprob:
            return tok, 0.0
        m = logits[tok]
        return tok, float(-np.log(np.exp(logits - m).sum(dtype=np.float64)))
    m = logits.max()
    z = np.exp(logits - m)
    keep = nucleus(logits, top_p, z)
    scaled = (logits[keep].astype(np.float64) - float(m)) / float(temperature)
    w = np.exp(scaled - scaled.max())
    cum = np.cumsum(w)
    tok = int(keep[min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), keep.shape[0] - 1)])
    if not want_logprob:
        return tok, 0.0
    return tok, float(logits[tok] - m) - float(np.log(z.sum(dtype=np.float64)))
