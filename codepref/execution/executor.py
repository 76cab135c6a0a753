"""Executors: where sandbox work runs, chosen by ``[cluster] backend``.

An executor runs programs and solution x test matrices and streams their results back; the
stages and evaluation take any of them where they take a pool. Two are registered in
:data:`EXECUTORS`:

* ``local`` — :class:`~codepref.execution.pool.SandboxPool`: warm containers on this machine
  (the default, unchanged);
* ``ray`` — :class:`~codepref.execution.ray_executor.RayExecutor`: one sandbox actor per
  node of a Ray cluster that offers the sandbox resource, each owning that node's pool.

Both have the same interface: ``config`` (the :class:`SandboxConfig`), ``run_matrices(jobs,
progress)`` yielding one :class:`PassMatrix` per job in completion order, ``iter_run(programs,
progress)`` and ``run(programs)``, ``close()``, and use as a context manager. For the same input
they give the same outcomes; only the order of completion and the measured durations differ.
Nothing here imports Ray: the ``ray`` entry is loaded only when asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from codepref.config import ClusterConfig, SandboxConfig
from codepref.registry import Registry

#: backend name -> a class taking ``(SandboxConfig, ClusterConfig)``.
EXECUTORS: Registry = Registry("executor backend")
EXECUTORS.register("local", "codepref.execution.executor:LocalExecutor")
EXECUTORS.register("ray", "codepref.execution.ray_executor:RayExecutor")


def LocalExecutor(config: SandboxConfig | None = None, cluster: ClusterConfig | None = None):
    """The ``local`` backend: a :class:`SandboxPool` on this machine (``cluster`` is unused)."""
    from codepref.execution.pool import SandboxPool

    return SandboxPool(config)


def make_executor(config: SandboxConfig | None = None, cluster: ClusterConfig | None = None):
    """A new executor of ``cluster.backend`` (``local`` when ``cluster`` is None); close it after use.

    Raises:
        SandboxError: ``local`` without a Docker engine or the image.
        ClusterError: ``ray`` without the extra, the cluster, or a usable sandbox node.
    """
    cluster = cluster or ClusterConfig()
    return EXECUTORS.get(cluster.backend)(config or SandboxConfig(), cluster)


@contextlib.contextmanager
def open_executor(given=None, config: SandboxConfig | None = None,
                  cluster: ClusterConfig | None = None) -> Iterator:
    """``given`` when not None (left open), else a new executor of ``cluster`` closed on exit."""
    if given is not None:
        yield given
        return
    executor = make_executor(config, cluster)
    try:
        yield executor
    finally:
        executor.close()
