"""Matrix execution: every candidate solution of a task against every candidate test."""

from __future__ import annotations

from codepref.config import SandboxConfig
from codepref.records import MatrixJob, PassMatrix, Task


def execute_matrix(
    task: Task,
    solutions: list[str],
    tests: list[str],
    *,
    pool=None,
    config: SandboxConfig | None = None,
    timeout_s: float | None = None,
    test_timeouts_s: list[float] | None = None,
) -> PassMatrix:
    """Run ``solutions x tests`` for one task and return the pass matrix.

    Each Python solution is loaded once (after ``task.setup``) in a sandboxed child; each
    test then runs in a fresh fork of that child, so cells are isolated from each other and
    the solution's setup is paid once per row, not once per cell.

    Args:
        task: gives the id, language and setup code.
        solutions: candidate programs (rows).
        tests: test snippets (columns), e.g. single ``assert`` statements.
        pool: a :class:`~codepref.execution.SandboxPool` to use; a temporary one is made
            (and removed) if None.
        config: settings for the temporary pool.
        timeout_s: wall-clock limit per cell (default: the pool's ``timeout_s``).
        test_timeouts_s: per-test limits, overriding ``timeout_s``.
    """
    from codepref.execution.pool import SandboxPool

    job = MatrixJob(task.id, task.language, list(solutions), list(tests), task.setup, timeout_s, test_timeouts_s)
    if pool is not None:
        return next(iter(pool.run_matrices([job])))
    with SandboxPool(config) as own:
        return next(iter(own.run_matrices([job])))
