"""The ``ray`` executor: sandbox work spread over the nodes of a Ray cluster.

Layout. Every node that advertises the custom resource ``[cluster] resource`` (default
``codepref_sandbox``; ``ray start ... --resources '{"codepref_sandbox": 1}'``) gets one
long-lived actor, :class:`SandboxNode`, pinned to it with a hard node-affinity strategy. The
actor owns that node's :class:`~codepref.execution.pool.SandboxPool` (``[sandbox] workers``
containers, 0 = one per core of *that* node) and keeps it warm for the whole run.

Scheduling. The driver (the process running the stage) cuts the work into Ray tasks of
``jobs_per_task`` whole matrices (a matrix is never split across nodes) and keeps
``tasks_per_actor`` of them queued on every actor, so an actor starts its next task as soon
as one finishes. Results stream back to the driver in completion order, and the stage writes
them to its resumable JSONL exactly as with the local pool.

Failures. A Ray task whose actor or node dies (``RayActorError``, ``NodeDiedError``,
``WorkerCrashedError``, lost objects) is put back at the front of the queue and re-run on
another actor; its matrices were never returned, so nothing is recorded twice, and a cell
is never marked ``failed`` because a machine went away. A matrix that came back once is
never yielded again (the driver keeps the ids it yielded). New nodes that join the cluster
mid-run are given an actor at the next refresh (every ``REFRESH_S`` seconds and after every
death). When no sandbox node is left the run stops with :class:`ClusterError`; what was
written stays, and the same command resumes it. An error of the work itself (bad input, a
broken sandbox image) is raised as it would be locally, not retried.

Start-up checks. Each actor checks its node's Docker engine and sandbox image when it is
made; a node that offers the resource but cannot run the sandbox refuses the whole run at
start with a message naming the node and the reason, before any cell runs.

Ray is imported only here, and only when this backend is chosen.
"""

from __future__ import annotations

import collections
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from codepref.config import ClusterConfig, SandboxConfig
from codepref.errors import ClusterError, CodeprefError
from codepref.progress import Tick
from codepref.raycluster import connect, import_ray, lost_errors, raise_codepref_cause
from codepref.records import ExecResult, MatrixJob, PassMatrix, Program

log = logging.getLogger("codepref.cluster")

#: Seconds between looks for nodes that joined the cluster.
REFRESH_S = 10.0
#: Seconds a new actor may take to start its pool and answer.
START_TIMEOUT_S = 120.0


class SandboxNode:
    """The actor on one node: that node's warm pool, kept for the actor's life.

    Made through ``ray.remote`` by :class:`RayExecutor`. The pool is made at once; when the
    node cannot run it (no engine, no image) the reason is kept and reported by :meth:`info`,
    so that the driver can name the node instead of a bare actor death.
    """

    def __init__(self, config: SandboxConfig):
        self.host = socket.gethostname()
        self.pool = None
        self.problem = ""
        try:
            from codepref.execution.pool import SandboxPool

            self.pool = SandboxPool(config)
        except CodeprefError as e:
            self.problem = str(e)

    def info(self) -> dict[str, Any]:
        workers = self.pool.config.n_workers if self.pool is not None else 0
        return {"host": self.host, "workers": workers, "problem": self.problem}

    def run_matrices(self, jobs: list[MatrixJob]) -> list[PassMatrix]:
        return list(self.pool.run_matrices(jobs))

    def run_programs(self, programs: list[Program]) -> list[ExecResult]:
        return list(self.pool.iter_run(programs))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


class RayExecutor:
    """Runs matrices and programs on sandbox actors across a Ray cluster (see the module doc).

    Args:
        config: the sandbox settings every node's pool uses.
        cluster: the cluster address, resource name and task sizes.

    Raises:
        ClusterError: Ray is not installed, the cluster cannot be reached, no node offers
            the resource, or a node that offers it cannot run the sandbox.
    """

    def __init__(self, config: SandboxConfig | None = None, cluster: ClusterConfig | None = None):
        self.config = config or SandboxConfig()
        self.cluster = cluster or ClusterConfig(backend="ray")
        self._own_connection = connect(self.cluster.address)
        self._actors: dict[str, Any] = {}  # node id -> actor handle
        self._workers: dict[str, int] = {}  # node id -> containers of its pool
        self._gone: set[str] = set()  # nodes whose actor died: never used again in this run
        self._closed = False
        #: Ray tasks re-run because their actor or node died (for reports and tests).
        self.retried_tasks = 0
        try:
            self._add_actors(first=True)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ public API

    @property
    def nodes(self) -> dict[str, int]:
        """Node id -> containers, for the nodes running an actor now."""
        return dict(self._workers)

    def run_matrices(self, jobs: Iterable[MatrixJob], progress: Tick | None = None) -> Iterator[PassMatrix]:
        """Run every job's solutions x tests on the cluster; yield each matrix once, as it completes."""
        jobs = list(jobs)
        seen: set[str] = set()
        for batch in self._stream("run_matrices", jobs, self.cluster.jobs_per_task):
            for m in batch:
                if m.task_id in seen:
                    continue
                seen.add(m.task_id)
                if progress:
                    progress(sum(len(row) for row in m.outcomes))
                yield m

    def iter_run(self, programs: Iterable[Program], progress: Tick | None = None) -> Iterator[ExecResult]:
        """Run programs on the cluster; yield each result once, as soon as it is known."""
        programs = list(programs)
        seen: set[str] = set()
        size = self.cluster.jobs_per_task * self.config.batch_size
        for batch in self._stream("run_programs", programs, size):
            for r in batch:
                if r.id in seen:
                    continue
                seen.add(r.id)
                if progress:
                    progress(1)
                yield r

    def run(self, programs: list[Program], progress: Tick | None = None) -> list[ExecResult]:
        """Run programs; return their results in input order."""
        by_id = {r.id: r for r in self.iter_run(programs, progress)}
        return [by_id[p.id] for p in programs]

    def close(self) -> None:
        """Close every actor's pool, end the actors, and disconnect if this executor connected."""
        if self._closed:
            return
        self._closed = True
        ray = import_ray()
        if ray.is_initialized():
            closing = [a.close.remote() for a in self._actors.values()]
            try:
                ray.get(closing, timeout=60)
            except Exception:  # a dead actor's containers are removed by the next pool on its host
                pass
            for actor in self._actors.values():
                ray.kill(actor)
        self._actors.clear()
        self._workers.clear()
        if self._own_connection and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _sandbox_nodes(self) -> dict[str, str]:
        """Alive nodes offering the resource and not yet used: node id -> address."""
        ray = import_ray()
        res = self.cluster.resource
        return {n["NodeID"]: n.get("NodeManagerAddress", "?") for n in ray.nodes()
                if n.get("Alive") and n.get("Resources", {}).get(res, 0) >= 1
                and n["NodeID"] not in self._actors and n["NodeID"] not in self._gone}

    def _add_actors(self, first: bool = False) -> None:
        """Start an actor on every sandbox node without one; check each can run the sandbox."""
        ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = self._sandbox_nodes()
        if not nodes:
            if first:
                raise ClusterError(f"no alive node of the Ray cluster at {self.cluster.address!r} offers the "
                                   f"resource {self.cluster.resource!r}; start sandbox nodes with "
                                   f"ray start --resources '{{\"{self.cluster.resource}\": 1}}'")
            return
        remote = ray.remote(SandboxNode)
        started = {}
        for node_id in nodes:
            started[node_id] = remote.options(
                resources={self.cluster.resource: 1}, num_cpus=0, max_restarts=0,
                max_concurrency=self.cluster.tasks_per_actor + 1,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
            ).remote(self.config)
        refs = {node_id: actor.info.remote() for node_id, actor in started.items()}
        problems = []
        for node_id, ref in refs.items():
            try:
                info = ray.get(ref, timeout=START_TIMEOUT_S)
            except Exception as e:  # died or never started: leave the node out
                self._gone.add(node_id)
                ray.kill(started[node_id])
                if first:
                    problems.append(f"node {node_id[:12]} ({nodes[node_id]}): its sandbox actor did not start: "
                                    f"{type(e).__name__}")
                continue
            if info["problem"]:
                problems.append(f"node {node_id[:12]} ({nodes[node_id]}, host {info['host']}) offers "
                                f"{self.cluster.resource!r} but cannot run the sandbox: {info['problem']}")
                self._gone.add(node_id)
                ray.kill(started[node_id])
                continue
            self._actors[node_id] = started[node_id]
            self._workers[node_id] = info["workers"]
        if problems and first:
            raise ClusterError(problems[0] if len(problems) == 1 else
                               f"{len(problems)} sandbox nodes refused:\n  " + "\n  ".join(problems))
        added = [n for n in started if n in self._actors]
        if added:
            log.info("sandbox work on %d actor(s) of the Ray cluster at %s (%d containers)%s", len(added),
                     self.cluster.address, sum(self._workers[n] for n in added), "" if first else ", joined late")

    def _drop(self, node_id: str) -> None:
        actor = self._actors.pop(node_id, None)
        self._workers.pop(node_id, None)
        self._gone.add(node_id)
        if actor is not None:
            try:
                import_ray().kill(actor)
            except Exception:
                pass

    def _stream(self, method: str, items: list, size: int) -> Iterator[list]:
        """Run ``items`` in Ray tasks of ``size`` on the actors; yield each task's result list.

        A task whose actor or node died is re-queued first and its node left out; other
        errors are raised (a codepref error as itself).
        """
        if self._closed:
            raise ClusterError("this Ray executor is closed")
        ray = import_ray()
        from ray import exceptions as rex

        lost = lost_errors()
        pending = collections.deque(items[i:i + size] for i in range(0, len(items), size))
        inflight: dict[Any, tuple[str, list]] = {}
        refreshed = time.monotonic()
        try:
            while pending or inflight:
                self._submit(method, pending, inflight)
                if not inflight:
                    self._add_actors()
                    if not self._actors:
                        left = sum(len(c) for c in pending)
                        raise ClusterError(f"no sandbox node is left in the Ray cluster; {left} item(s) not run "
                                           "(what finished is written; rerun the same command to resume)")
                    continue
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=REFRESH_S)
                for ref in ready:
                    node_id, chunk = inflight.pop(ref)
                    try:
                        result = ray.get(ref)
                    except lost:
                        self.retried_tasks += 1
                        self._drop(node_id)
                        pending.appendleft(chunk)
                        continue
                    except rex.RayTaskError as e:
                        raise_codepref_cause(e)
                        raise
                    yield result
                if time.monotonic() - refreshed > REFRESH_S:
                    refreshed = time.monotonic()
                    self._add_actors()
        finally:
            for ref in inflight:  # the consumer stopped early: do not leave work queued
                try:
                    ray.cancel(ref)
                except Exception:
                    pass

    def _submit(self, method: str, pending: collections.deque, inflight: dict) -> None:
        """Queue tasks on every actor with fewer than ``tasks_per_actor`` in flight."""
        load: dict[str, int] = collections.Counter(node for node, _ in inflight.values())
        for node_id, actor in list(self._actors.items()):
            call: Callable = getattr(actor, method).remote
            while pending and load[node_id] < self.cluster.tasks_per_actor:
                chunk = pending.popleft()
                inflight[call(chunk)] = (node_id, chunk)
                load[node_id] += 1
