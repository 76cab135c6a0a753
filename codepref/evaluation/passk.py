"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models
Trained on Code", as in openai/human-eval's ``estimate_pass_at_k``).

With ``n`` samples of a problem of which ``c`` are correct, the probability that at least
one of ``k`` samples drawn without replacement is correct is

    pass@k = 1 - C(n - c, k) / C(n, k)

and the benchmark score is its mean over problems. The binomial ratio is evaluated as the
numerically stable product

    C(n - c, k) / C(n, k) = prod_{i = n - c + 1}^{n} (1 - k / i)

and pass@k = 1 exactly when ``n - c < k`` (every draw of ``k`` contains a correct sample).
Examples: n=10, c=3, k=1 gives 3/10; n=5, c=1, k=2 gives 1 - C(4,2)/C(5,2) = 1 - 6/10 = 0.4.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np


def estimate_pass_at_k(num_samples: int | Sequence[int] | np.ndarray, num_correct: Sequence[int] | np.ndarray,
                       k: int) -> np.ndarray:
    """pass@k of each problem.

    Args:
        num_samples: ``n`` per problem, or one ``n`` for all.
        num_correct: ``c`` per problem.
        k: samples drawn; must be >= 1.

    Returns:
        A float array, one pass@k per problem.

    Raises:
        ValueError: ``k < 1``, ``c > n``, negative counts or mismatched lengths.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if isinstance(num_samples, (int, np.integer)):
        ns: Iterable[int] = itertools.repeat(int(num_samples), len(num_correct))
    else:
        if len(num_samples) != len(num_correct):
            raise ValueError(f"{len(num_samples)} sample counts for {len(num_correct)} correct counts")
        ns = num_samples
    out = []
    for n, c in zip(ns, num_correct):
        n, c = int(n), int(c)
        if c < 0 or n < 0 or c > n:
            raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
        out.append(1.0 if n - c < k else 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1))))
    return np.array(out, dtype=float)


def pass_at_k(num_samples: Sequence[int], num_correct: Sequence[int], ks: Iterable[int]) -> dict[str, float]:
    """Mean pass@k over problems for every ``k`` that every problem has samples for.

    As in human-eval, ``k`` is reported only if each problem has at least ``k`` samples
    (``n >= k``); other ``k`` are left out rather than estimated from too few samples.

    Returns:
        ``{"pass@1": 0.41, ...}`` in the order of ``ks``.
    """
    n = np.asarray(num_samples)
    if n.size == 0:
        return {}
    return {f"pass@{k}": float(estimate_pass_at_k(n, num_correct, k).mean()) for k in ks if (n >= k).all()}


def parse_ks(text: str) -> list[int]:
    """``"1,10,100"`` -> ``[1, 10, 100]`` (sorted, unique); ValueError on anything else."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--k must be comma-separated integers like 1,10, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"--k needs integers >= 1, got {text!r}")
    return ks
