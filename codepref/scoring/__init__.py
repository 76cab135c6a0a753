"""Scorers: one score per solution from a task's solution x test pass matrix.

Every scorer follows :class:`codepref.scoring.base.Scorer` (``score(matrix)`` -> per-solution
scores, ``pick(...)`` -> chosen/rejected decisions) and is registered by name in
:data:`SCORERS`; see ARCHITECTURE.md section 5 and each module's docstring for formulas:

* ``codet``    -- CodeT dual execution agreement (arXiv 2207.10397);
* ``pagerank`` -- CodeDPO's PageRank-style code/test iteration (arXiv 2410.05605);
* ``minimax``  -- DSTC's minimax selection (arXiv 2411.13611);
* ``oracle``   -- the benchmark's hidden tests (audits only, never training data by default).

Entries are lazy: importing this package imports no scorer module (nor numpy).
"""

from __future__ import annotations

from typing import Any

from codepref.errors import ConfigError
from codepref.registry import Registry

SCORERS: Registry[Any] = Registry("scorer", group="codepref.scorers")
SCORERS.register("codet", "codepref.scoring.codet:CodeT")
SCORERS.register("pagerank", "codepref.scoring.pagerank:PageRank")
SCORERS.register("minimax", "codepref.scoring.minimax:Minimax")
SCORERS.register("oracle", "codepref.scoring.oracle:Oracle")


def get_scorer(name: str, **options: Any):
    """A scorer instance: ``SCORERS.get(name)(**options)``.

    Raises:
        UnknownNameError: for an unknown name (with "did you mean").
        ConfigError: for options the scorer does not take or values it refuses.
    """
    cls = SCORERS.get(name)
    try:
        return cls(**options)
    except TypeError as e:
        raise ConfigError([f"scorer {name!r}: {e}"]) from None


__all__ = ["SCORERS", "get_scorer"]
