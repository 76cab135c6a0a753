"""The generate stage: tasks -> a samples JSONL of solutions and self-generated tests.

For each task, ``n_solutions`` solutions are sampled and ``test_samples`` test-writing
completions; the latter are parsed into single independent tests, pooled, deduplicated
and capped at ``n_tests``. Every record is a :class:`~codepref.records.Sample`; its key is
``(task_id, kind, index)``.

Prompts and parsing are the task language's :class:`~codepref.languages.GenerationHooks`:
Python asks for functions and asserts (:mod:`codepref.generation.prompts`,
:mod:`codepref.generation.testparse`), SQL for a fixed query and result checks
(:mod:`codepref.sql.prompts`, :mod:`codepref.sql.extract`); a chunk may mix languages.

Resuming: the output is a :class:`~codepref.records.ResumableJsonl`. A rerun asks the
backend only for the solution indices that are missing, with the same per-sample seeds
(``seed_for``), so nothing is duplicated. A task's tests are written together after one
backend call; a task with any test record counts as having its tests. Tasks go to the
backend in chunks of whole tasks holding at least ``chunk_sequences`` sequences (so a
batched backend's slots stay busy even with one sample per task; fewer where the backend
says so, :func:`chunk_size`) and each chunk is written as soon as it is done, so an
interruption loses at most one chunk.

Solution prompts and text come from the config's protocol
(:mod:`codepref.generation.protocols`): ``chat`` and ``completion`` are the language's
hooks in that style; named protocols such as ``qwen-coder`` bring their own prompt, stop
strings and answer extraction (Python tasks only). The program is the protocol's
extraction of the answer (``prefill + completion`` where the backend prefills). Python: in
completion style the program is ``task.prompt + completion``; in chat style the code is
extracted by :mod:`codepref.generation.extract`. Test prompts keep the protocol's style,
or ``auto`` (chat for instruct models) under a named protocol. The resolved protocol name is
the samples header's ``protocol``.

On-policy records: every solution line also holds ``prompt``, the exact text the model
continued (the backend's rendering: the chat template applied to the messages plus the
prefill, or the raw prompt plus the prefill; :func:`rendered_prompt`), and ``continuation``,
the text it sampled after it (up to the stop string, which the backend cuts off). The rank
stage makes DPO/KTO records of these two, so training sees the very text that was sampled
(:mod:`codepref.pairs.build`). A backend that sends chat messages to a server which renders
them (``openai`` chat) has no such text: its lines hold neither field. Where the backend
reports the sampled token ids (llama.cpp: :attr:`~codepref.generation.backend.Completion.token_ids`),
the line also holds ``continuation_ids``, and training scores those very tokens rather
than the tokenizer's split of the text (:mod:`codepref.training.sampled_ids`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codepref.config import ClusterConfig, GenerationConfig
from codepref.generation.backend import Completion, Generator, Request, SamplingParams, chat_default, open_generator
from codepref.generation.prompts import PromptSpec
from codepref.generation.protocols import Protocol, auto_protocol, get_protocol, requested_protocol
from codepref.languages import generation_hooks
from codepref.progress import Progress
from codepref.records import ResumableJsonl, Sample, Task, make_header

def seed_for(base: int, task_id: str, kind: str, index: int) -> int:
    """The seed of one sample: the first 4 bytes of sha256("base:task_id:kind:index")."""
    return int.from_bytes(hashlib.sha256(f"{base}:{task_id}:{kind}:{index}".encode()).digest()[:4], "big")


def sample_key(record: dict[str, Any]) -> tuple[str, str, int]:
    return (record["task_id"], record["kind"], int(record["index"]))


def settings_of(config: GenerationConfig) -> dict[str, Any]:
    """The settings that determine the samples (the output header's hash covers these).

    An empty ``protocol`` (the one ``prompt_style`` selects, as before protocols were named)
    is left out, so samples files made before it existed keep their hash and resume.
    """
    d = dataclasses.asdict(config)
    d.pop("backend_options")
    d.pop("chunk_sequences")
    if not d["protocol"]:
        d.pop("protocol")
    return d


def open_sampler(config: GenerationConfig, cluster: ClusterConfig | None = None) -> Generator:
    """The generator a stage samples with: ``config``'s backend opened in this process, or,
    when ``cluster.generate``, a :class:`~codepref.generation.ray_generator.RayGenerator`
    with one actor per node of the cluster offering ``cluster.generator_resource`` (a GPU
    each for ``vllm``). Close it after use.

    Raises:
        ModelError: the model cannot be loaded. ClusterError: no Ray, no cluster, or no
            generator node.
    """
    if cluster is not None and cluster.generate:
        from codepref.generation.ray_generator import RayGenerator

        return RayGenerator(config.backend, config.model, config.backend_options, address=cluster.address,
                            resource=cluster.generator_resource, num_gpus=1 if config.backend == "vllm" else 0)
    return open_generator(config.backend, config.model, **config.backend_options)


def prompts_of(config: GenerationConfig, generator: Generator | None = None) -> tuple[Protocol, str]:
    """The protocol of the solution prompts and the prompt style of the test prompts.

    ``auto`` is decided by the model (``generator.chat_default``, or what the backend will
    say, :func:`~codepref.generation.backend.chat_default`, without loading it).

    Raises:
        ConfigError: an unknown protocol, or a prompt style naming another protocol.
        ModelError: a local model path that does not exist (only asked under ``auto``).
    """
    name = requested_protocol(config.protocol, config.prompt_style)
    protocol = get_protocol(name) if name else None
    if protocol is not None and protocol.style is not None:
        return protocol, protocol.style
    chat = generator.chat_default if generator is not None else chat_default(config.backend, config.model,
                                                                             config.backend_options)
    auto = auto_protocol(chat)
    return protocol or get_protocol(auto), auto


def generate_samples(tasks: Iterable[Task], out_path: str | Path, config: GenerationConfig, *,
                     generator: Generator | None = None, progress: Progress | None = None,
                     extra_header: dict[str, Any] | None = None, cluster: ClusterConfig | None = None) -> Counter:
    """Sample solutions and tests for ``tasks`` into ``out_path`` (resumable).

    Args:
        tasks: the tasks (ids must be unique).
        out_path: the samples JSONL; ``NAME.partial`` while incomplete.
        config: what to sample (see :class:`~codepref.config.GenerationConfig`).
        generator: an open backend; by default one is opened from ``config`` (and closed)
            only if there is anything left to generate: here, or on the generator actors
            of a Ray cluster when ``cluster.generate`` (:func:`open_sampler`).
        progress: a progress-bar factory, ticked per completion.
        extra_header: more header fields (e.g. the task set's name and version). The header
            also names the resolved ``protocol`` (see :func:`prompts_of`).
        cluster: where to open the generator when none is given (see :func:`open_sampler`).

    Returns:
        Counts: ``solution`` and ``test`` records written, ``raw_tests`` test completions,
        ``tests_dropped`` test-like statements not kept (Python: syntax errors, not calling
        the function, reading outside names; SQL: incomplete or non-query statements;
        duplicates and those over the cap), ``skipped_tests`` tasks whose language asks
        no tests of them (Python tasks without an entry point), ``derived_tests`` tests
        made from the task's own solutions (included in ``test``; SQL, see
        :class:`~codepref.languages.GenerationHooks`), ``prompt_tests`` tests the prompt
        states (included in ``test``; ``GenerationConfig.prompt_tests``).

    Raises:
        InputError: duplicated task ids, a language codepref (or the protocol) cannot prompt for.
        ConfigError: an unknown protocol, or a prompt style naming another protocol.
        UnknownNameError: an unknown language. ModelError: the model cannot be loaded.
        OutputMismatchError: ``out_path`` holds samples made with other settings.
    """
    from codepref.errors import InputError

    tasks = list(tasks)
    seen_ids: set[str] = set()
    for t in tasks:
        if t.id in seen_ids:
            raise InputError(f"task id {t.id!r} appears twice")
        seen_ids.add(t.id)
    for language in sorted({t.language for t in tasks}):
        generation_hooks(language)  # fail before any sampling on a language without prompts
    protocol, test_style = prompts_of(config, generator)
    for language in sorted({t.language for t in tasks}):
        protocol.check_language(language)
    header = make_header("samples", settings_of(config), protocol=protocol.name, **(extra_header or {}))
    out = ResumableJsonl(out_path, header, key=sample_key)
    done = out.open()
    counts: Counter = Counter()
    try:
        todo = [(t, _missing(t, done, config)) for t in tasks]
        todo = [(t, m) for t, m in todo if m[0] or m[1]]
        total = sum(len(sol) + (config.test_samples if tst else 0) for _, (sol, tst) in todo)
        if total:
            own = generator is None
            gen = generator or open_sampler(config, cluster)
            try:
                tick = progress(0, total) if progress else (lambda n: None)
                for chunk in _chunks(todo, chunk_size(config, gen), config.test_samples):
                    for rec in _generate_chunk(gen, chunk, config, protocol, test_style, tick, counts):
                        out.append(rec)
            finally:
                if own:
                    gen.close()
        out.finalize()
    finally:
        out.close()
    return counts


def chunk_size(config: GenerationConfig, gen: Generator) -> int:
    """Sequences per chunk: ``config.chunk_sequences``, or fewer where the backend says fewer
    keep it busy (its ``busy_sequences``: the hf backend's two batches), so a slow backend
    writes its results, and a stopped run keeps them, every few tasks rather than every 64;
    or more where the backend needs more to keep its batch full (its ``min_chunk_sequences``:
    the torch backend's batch drains at the end of every call); times the backend's worker
    ``processes`` (each gets a chunk's worth)."""
    busy = getattr(gen, "busy_sequences", None)
    size = max(1, min(config.chunk_sequences, busy)) if busy else config.chunk_sequences
    size = max(size, getattr(gen, "min_chunk_sequences", None) or 0)
    return size * getattr(gen, "processes", 1)


def _chunks(todo: list, size_limit: int, test_samples: int):
    """``todo`` in runs of whole tasks, each closed once it holds ``size_limit`` sequences
    (solutions still to sample plus test completions)."""
    chunk, size = [], 0
    for task, (sol, tests) in todo:
        chunk.append((task, (sol, tests)))
        size += len(sol) + (test_samples if tests else 0)
        if size >= size_limit:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _missing(task: Task, done: set, config: GenerationConfig) -> tuple[list[int], bool]:
    """Solution indices still to sample, and whether the task's tests are still to make."""
    sol = [i for i in range(config.n_solutions) if (task.id, "solution", i) not in done]
    has_tests = any(k[0] == task.id and k[1] == "test" for k in done)
    want_tests = config.n_tests > 0 and config.test_samples > 0 and not has_tests
    return sol, want_tests


def _generate_chunk(gen: Generator, chunk, config: GenerationConfig, protocol: Protocol, test_style: str, tick,
                    counts: Counter):
    sol_params = SamplingParams(config.temperature, config.top_p, config.max_tokens)
    test_params = SamplingParams(config.temperature, config.top_p, config.test_max_tokens)
    requests: list[Request] = []
    plan: list[tuple[Task, str, list[int], PromptSpec]] = []
    for task, (sol_idx, want_tests) in chunk:
        hooks = generation_hooks(task.language)
        if sol_idx:
            spec = protocol.solution_prompt(task)
            requests.append(Request(spec, sol_params, tuple(seed_for(config.seed, task.id, "solution", i)
                                                            for i in sol_idx)))
            plan.append((task, "solution", sol_idx, spec))
        if want_tests:
            spec = hooks.test_prompt(task, test_style, config.n_tests)
            if spec is None:
                counts["skipped_tests"] += 1
                continue
            idx = list(range(config.test_samples))
            requests.append(Request(spec, test_params, tuple(seed_for(config.seed, task.id, "test", j) for j in idx)))
            plan.append((task, "test", idx, spec))
    if not requests:
        return
    outs = gen.generate(requests, progress=_delta(tick))
    solutions: dict[str, list[str]] = {}  # this chunk's solution texts (a task's come before its tests)
    for (task, kind, idx, spec), req, comps in zip(plan, requests, outs):
        if kind == "solution":
            prompt = rendered_prompt(spec, gen)
            for i, seed, c in zip(idx, req.seeds, comps):
                counts["solution"] += 1
                record = _solution_record(task, i, spec, c, gen, config, seed, protocol, prompt)
                solutions.setdefault(task.id, []).append(record["text"])
                yield record
        else:
            yield from _test_records(task, spec, req, comps, gen, config, counts, solutions.get(task.id, []))


def rendered_prompt(spec: PromptSpec, gen: Generator) -> str | None:
    """The exact text ``gen`` continues for ``spec``: ``text + prefill`` in completion style;
    in chat style the backend's ``render`` (chat template + prefill) where it prefills chat
    prompts itself, else None (a server renders the messages; the text is unknown here)."""
    if spec.style == "completion":
        return spec.text + spec.prefill
    render = getattr(gen, "render", None)
    return render(spec) if gen.prefill_chat and render is not None else None


def _answer(spec: PromptSpec, c: Completion, gen: Generator) -> str:
    """The model's whole answer: the prefill (if it was sent) and the completion."""
    if spec.style == "completion" or gen.prefill_chat:
        return spec.prefill + c.text
    return c.text


def _params(config: GenerationConfig, style: str, seed: int, c: Completion, max_tokens: int) -> dict[str, Any]:
    return {"temperature": config.temperature, "top_p": config.top_p, "max_tokens": max_tokens,
            "seed": seed, "style": style, "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens, "finish_reason": c.finish_reason}


def _solution_record(task, index, spec, c, gen, config, seed, protocol: Protocol, prompt: str | None) -> dict[str, Any]:
    """A solution line: the :class:`~codepref.records.Sample` fields, plus the rendered
    ``prompt`` and the sampled ``continuation`` where the prompt text is known."""
    answer = _answer(spec, c, gen)
    code = protocol.solution_text(task, answer)
    record = dataclasses.asdict(Sample(task.id, "solution", index, code, gen.id,
                                       _params(config, spec.style, seed, c, config.max_tokens), c.logprob, answer))
    if prompt is not None:
        record.update(prompt=prompt, continuation=c.text)
        if c.token_ids is not None:
            record["continuation_ids"] = list(c.token_ids)
    return record


def _test_records(task, spec, req, comps, gen, config, counts, solutions: list[str]):
    """The task's test records: the prompt's own tests, the model's, and tests derived from
    its solutions.

    The tests the prompt states (a language's ``prompt_tests`` hook) come first and do not
    count toward ``n_tests``. With a language's ``solution_tests`` hook, those derived from this run's solutions take
    up to half of the ``n_tests`` cap (rounded up) and the model's tests the rest; room one
    kind leaves is filled by the other. (A resumed task whose solutions came from an
    earlier run gets the model's tests only.)
    """
    hooks = generation_hooks(task.language)
    counts["raw_tests"] += len(comps)
    seen: set[str] = set()  # the model's tests, normalised by parse_tests
    derived = hooks.solution_tests(task, solutions) if hooks.solution_tests and solutions else []
    derived = list(dict.fromkeys(derived))
    head, rest = derived[:(config.n_tests + 1) // 2], derived[(config.n_tests + 1) // 2:]
    index = 0
    stated = hooks.prompt_tests(task) if hooks.prompt_tests and config.prompt_tests else []
    for t in stated:  # first, outside the n_tests cap; the model's copies are duplicates
        seen.add(t)
        counts["prompt_tests"] += 1
        counts["test"] += 1
        yield dataclasses.asdict(Sample(task.id, "test", index, t, gen.id,
                                        {"source": "prompt", "max_tokens": config.test_max_tokens}, None, ""))
        index += 1
    offset = index
    for t in head:
        counts["derived_tests"] += 1
        counts["test"] += 1
        yield _derived_record(task, index, t, gen, config)
        index += 1
    for j, (seed, c) in enumerate(zip(req.seeds, comps)):
        answer = _answer(spec, c, gen)
        room = config.n_tests - (index - offset)
        found, candidates = hooks.parse_tests(task, answer, seen)
        found = [a for a in found if a not in head]
        kept = found[:max(room, 0)]
        counts["tests_dropped"] += candidates - len(kept)
        for a in kept:
            params = _params(config, spec.style, seed, c, config.test_max_tokens) | {"test_sample": j}
            counts["test"] += 1
            yield dataclasses.asdict(Sample(task.id, "test", index, a, gen.id, params, None, answer))
            index += 1
    for t in rest[:max(config.n_tests - (index - offset), 0)]:
        counts["derived_tests"] += 1
        counts["test"] += 1
        yield _derived_record(task, index, t, gen, config)
        index += 1


def _derived_record(task, index: int, test: str, gen, config) -> dict[str, Any]:
    """A test made from one of the task's sampled solutions (no completion of its own)."""
    return dataclasses.asdict(Sample(task.id, "test", index, test, gen.id,
                                     {"source": "solution", "max_tokens": config.test_max_tokens}, None, ""))


def _delta(tick):
    """Adapt a ``tick(n)`` to the backends' ``progress(done, total)`` callback."""
    last = [0]

    def progress(done: int, total: int) -> None:
        tick(done - last[0])
        last[0] = done

    return progress
