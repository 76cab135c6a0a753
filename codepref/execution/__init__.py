"""Execution of untrusted code in Docker sandboxes.

* :class:`SandboxPool` — warm containers running programs and matrices;
  :func:`sandbox_pool` — a given pool, or a new one for the duration of a ``with``.
* :func:`execute_matrix` — one task's solutions x tests as a :class:`PassMatrix`.
* :mod:`codepref.execution.image` — building the sandbox image (offline too).

Importing this package starts nothing; containers start on first use.
"""

from __future__ import annotations

from codepref.execution.matrix import execute_matrix
from codepref.execution.pool import SandboxPool, sandbox_pool

__all__ = ["SandboxPool", "execute_matrix", "sandbox_pool"]
