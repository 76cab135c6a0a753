"""Generation fanned out to generator actors on a Ray cluster (data parallel).

:class:`RayGenerator` is a :class:`~codepref.generation.backend.Generator`, so the generate
stage uses it unchanged (``generate_samples(..., generator=RayGenerator(...))``). It starts
one actor, :class:`GeneratorNode`, per node that offers the custom resource ``resource``
(default ``codepref_generator``; ``ray start ... --resources '{"codepref_generator": 1}'``),
pinned there with a hard node-affinity strategy; each actor opens the configured backend
once (llama.cpp on a CPU node; with ``num_gpus = 1``, vLLM or transformers on a GPU) and
keeps the model loaded for the whole run.

Rules:

* **Seeds**: every sample carries its own seed (the stage's ``seed_for(base, task, kind,
  i)``), and a backend samples each sequence with its own seed whatever else is in its batch,
  so a sample is the same whichever actor ran it, and the same as on one machine.
* **Order**: :meth:`RayGenerator.generate` cuts the requests into parts of at least
  ``sequences_per_part`` sequences, keeps ``parts_per_actor`` parts queued on every actor,
  and returns the completions in request order.
* **Failures**: a part whose actor or node dies is re-run on another actor (the stage writes
  nothing of a chunk until all of it is back, so nothing is lost or duplicated); with no
  generator actor left, :class:`~codepref.errors.ClusterError`.

Ray is imported only here, and only when this generator is made.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from typing import Any

from codepref.errors import ClusterError
from codepref.generation.backend import Completion, Request, describe, mirror, open_generator
from codepref.generation.prompts import PromptSpec
from codepref.raycluster import connect, import_ray, lost_errors, raise_codepref_cause

log = logging.getLogger("codepref.cluster")

START_TIMEOUT_S = 600.0  # a node may have to fetch and load the model first


class GeneratorNode:
    """The actor on one node: one open backend, kept for the actor's life."""

    def __init__(self, backend: str, model: str, options: dict[str, Any]):
        self.gen = open_generator(backend, model, **options)

    def info(self) -> dict[str, Any]:
        return describe(self.gen)

    def render(self, spec: PromptSpec) -> str:
        return self.gen.render(spec)

    def generate(self, requests: list[Request]) -> list[list[Completion]]:
        return self.gen.generate(requests)

    def close(self) -> None:
        self.gen.close()


class RayGenerator:
    """A generator whose model runs on every generator node of a Ray cluster.

    Args:
        backend, model, options: what every actor opens (``open_generator(backend, model, **options)``).
        address: the Ray cluster (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); ignored when
            this process is already connected.
        resource: the custom resource of generator nodes.
        num_gpus: GPUs each actor holds (1 for vLLM data parallel; 0 on CPU nodes).
        sequences_per_part, parts_per_actor: how requests are cut and queued.

    Raises:
        ClusterError: no Ray, no cluster, or no node offering ``resource``.
        ModelError (from an actor): the model cannot be loaded on a node.
    """

    def __init__(self, backend: str, model: str, options: dict[str, Any] | None = None, *, address: str = "auto",
                 resource: str = "codepref_generator", num_gpus: float = 0, sequences_per_part: int = 32,
                 parts_per_actor: int = 2):
        self.sequences_per_part = max(1, sequences_per_part)
        self.parts_per_actor = max(1, parts_per_actor)
        self._own_connection = connect(address)
        ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(resource, 0) >= 1]
        if not nodes:
            self.close()
            raise ClusterError(f"no alive node of the Ray cluster offers the resource {resource!r}; start generator "
                               f"nodes with ray start --resources '{{\"{resource}\": 1}}'")
        remote = ray.remote(GeneratorNode)
        self._actors = [remote.options(resources={resource: 1}, num_cpus=0, num_gpus=num_gpus, max_restarts=0,
                                       scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)
                                       ).remote(backend, model, dict(options or {})) for n in nodes]
        try:
            infos = ray.get([a.info.remote() for a in self._actors], timeout=START_TIMEOUT_S)
        except ray.exceptions.RayTaskError as e:
            self.close()
            raise_codepref_cause(e)
            raise
        log.info("sampling %s on %d generator actor(s) of the Ray cluster at %s", model, len(self._actors), address)
        mirror(self, infos[0])

    @property
    def actors(self) -> int:
        """Generator actors alive now."""
        return len(self._actors)

    def render(self, spec: PromptSpec) -> str:
        """The backend's rendering of a prompt (asked of one actor)."""
        return import_ray().get(self._actors[0].render.remote(spec))

    def generate(self, requests: Sequence[Request], progress=None) -> list[list[Completion]]:
        """For each request, its completions in seed order; parts run on free actors."""
        ray = import_ray()
        from ray import exceptions as rex

        lost = lost_errors()
        parts: collections.deque = collections.deque()
        start, size = 0, 0
        for i, r in enumerate(requests):
            size += len(r.seeds)
            if size >= self.sequences_per_part or i == len(requests) - 1:
                parts.append((start, list(requests[start:i + 1])))
                start, size = i + 1, 0
        total = sum(len(r.seeds) for r in requests)
        results: list[list[Completion] | None] = [None] * len(requests)
        inflight: dict[Any, tuple[Any, tuple[int, list[Request]]]] = {}
        done = 0
        while parts or inflight:
            load = collections.Counter(id(a) for a, _ in inflight.values())
            for actor in self._actors:
                while parts and load[id(actor)] < self.parts_per_actor:
                    part = parts.popleft()
                    inflight[actor.generate.remote(part[1])] = (actor, part)
                    load[id(actor)] += 1
            if not inflight:
                raise ClusterError("no generator actor is left in the Ray cluster; rerun the same command to resume")
            ready, _ = ray.wait(list(inflight), num_returns=1)
            actor, (offset, reqs) = inflight.pop(ready[0])
            try:
                outs = ray.get(ready[0])
            except lost:
                self._actors = [a for a in self._actors if a is not actor]
                parts.appendleft((offset, reqs))
                continue
            except rex.RayTaskError as e:
                raise_codepref_cause(e)
                raise
            results[offset:offset + len(outs)] = outs
            done += sum(len(r.seeds) for r in reqs)
            if progress:
                progress(done, total)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Free every actor's model and end the actors; disconnect if this generator connected."""
        ray = import_ray()
        actors, self._actors = getattr(self, "_actors", []), []
        if ray.is_initialized():
            try:
                ray.get([a.close.remote() for a in actors], timeout=60)
            except Exception:
                pass
            for a in actors:
                ray.kill(a)
            if self._own_connection:
                ray.shutdown()
