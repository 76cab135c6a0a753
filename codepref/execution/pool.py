"""A pool of warm sandbox containers that runs programs and solution x test matrices.

Each worker slot owns one container running the fork-server (one program at a time). Work
is cut into units (a batch of programs, or a chunk of one task's solutions), units are run
on free slots in threads, and results stream back as they finish. When a container dies,
hangs or breaks the protocol, its slot gets a fresh container and the unfinished part of
the unit is retried; what already came back is kept. A program (or solution row) that
keeps breaking containers is reported as ``sandbox_error`` after ``config.retries`` retries,
never as a failure of the code.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import InputError, SandboxError
from codepref.execution.container import SLACK_S, Container, ContainerFailure
from codepref.execution.docker import image_exists, remove_orphans, require_engine
from codepref.languages import Language, get_language
from codepref.progress import Tick
from codepref.records import ExecResult, MatrixJob, Outcome, PassMatrix, Program

Emit = Callable[[Any], None]
GRACE_S = 0.5  # must match sandbox/server.py
SKIP_ROUNDS = 3  # must match sandbox/server.py: rebuilds of a row without its non-compiling tests


class _Slot:
    """One worker slot: a container started on first use and replaced on failure."""

    def __init__(self, config: SandboxConfig, registry: set[Container], lock: threading.Lock):
        self.config = config
        self.container: Container | None = None
        self._registry = registry
        self._lock = lock

    def get(self) -> Container:
        if self.container is None or not self.container.alive():
            if self.container is not None:
                self.discard()
            self.container = Container(self.config)
            with self._lock:
                self._registry.add(self.container)
        return self.container

    def discard(self) -> None:
        if self.container is not None:
            self.container.kill()
            with self._lock:
                self._registry.discard(self.container)
            self.container = None


@dataclass
class _Retry:
    """Counts container failures on the same piece of work."""

    retries: int
    failures: int = 0

    def failed(self) -> bool:
        """Record one failure; True when the work should be given up as sandbox_error."""
        self.failures += 1
        if self.failures > self.retries:
            self.failures = 0
            return True
        return False


class SandboxPool:
    """Warm containers executing untrusted code.

    Use as a context manager (containers are removed on exit, and at interpreter exit in
    any case)::

        with SandboxPool(SandboxConfig(workers=2)) as pool:
            results = pool.run([Program("a", "python", "print(1)")])

    Args:
        config: sandbox settings; defaults to :class:`SandboxConfig()`.

    Raises:
        SandboxError: no Docker engine, or the image is missing.
    """

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        require_engine(self.config.docker)
        if not image_exists(self.config.image, self.config.docker):
            raise SandboxError(
                f"sandbox image {self.config.image!r} not found; build it with "
                "`codepref sandbox build` (add --offline without a registry; a language's own image: "
                "--language NAME, see `codepref languages list`)"
            )
        self.orphans_removed = remove_orphans(self.config.docker)
        self._containers: set[Container] = set()
        self._lock = threading.Lock()
        self._slots: queue.Queue[_Slot] = queue.Queue()
        for _ in range(self.config.n_workers):
            self._slots.put(_Slot(self.config, self._containers, self._lock))
        self._closed = False
        #: Builds (compiles) the sandbox servers ran for this pool's programs and matrix rows.
        self.builds = 0
        atexit.register(self.close)

    # ------------------------------------------------------------------ public API

    def run(self, programs: list[Program], progress: Tick | None = None) -> list[ExecResult]:
        """Run programs; return their results in input order."""
        by_id = {r.id: r for r in self.iter_run(programs, progress)}
        return [by_id[p.id] for p in programs]

    def iter_run(self, programs: Iterable[Program], progress: Tick | None = None) -> Iterator[ExecResult]:
        """Run programs; yield each result as soon as it is known (any order)."""
        programs = list(programs)
        wire = [self._wire(p) for p in programs]
        size = self.config.batch_size
        units = [list(range(i, min(i + size, len(programs)))) for i in range(0, len(programs), size)]

        def work(slot: _Slot, unit: list[int], emit: Emit) -> None:
            def done(k: int, res: dict[str, Any]) -> None:
                self._count_builds(res)
                p = programs[k]
                emit(ExecResult(p.id, Outcome(res["outcome"]), res.get("exit_code"), res.get("duration_s", 0.0),
                                res.get("stdout", ""), res.get("stderr", "")))

            self._exec_unit(slot, [(k, wire[k]) for k in unit], done)

        for result in self._parallel(units, work):
            if progress:
                progress(1)
            yield result

    def run_matrices(self, jobs: Iterable[MatrixJob], progress: Tick | None = None) -> Iterator[PassMatrix]:
        """Run every job's solutions x tests; yield one PassMatrix per job as it completes.

        Python solutions are loaded once per row and forked per test; a compiled language
        with ``assemble_tests`` (C++) is built once per row with every test in it and run
        once per test (N builds for N x M cells, a failed build fails the row); other
        languages run ``language.assemble(setup + solution, test)`` as one program per cell.
        ``progress`` is called with the number of cells finished.
        """
        jobs = list(jobs)
        for job in jobs:
            self._validate_job(job)
        size = self.config.batch_size
        units: list[tuple[int, list[int]]] = []
        for k, job in enumerate(jobs):
            for start in range(0, len(job.solutions), size):
                units.append((k, list(range(start, min(start + size, len(job.solutions))))))
        rows: dict[int, dict[int, tuple[list[Outcome], list[float]]]] = {k: {} for k in range(len(jobs))}
        for k, job in enumerate(jobs):
            if not job.solutions:
                yield PassMatrix(job.task_id, [], [])

        def work(slot: _Slot, unit: tuple[int, list[int]], emit: Emit) -> None:
            k, sols = unit
            job = jobs[k]
            language = get_language(job.language)
            if language.inproc_python:
                self._matrix_unit_python(slot, job, sols, lambda i, row: emit((k, i, row)))
            elif language.build and language.assemble_tests is not None:
                self._matrix_unit_built(slot, job, language, sols, lambda i, row: emit((k, i, row)))
            else:
                self._matrix_unit_programs(slot, job, sols, lambda i, row: emit((k, i, row)))

        for k, i, row in self._parallel(units, work):
            rows[k][i] = row
            if progress:
                progress(len(row[0]))
            job = jobs[k]
            if len(rows[k]) == len(job.solutions):
                done = rows.pop(k)
                ordered = [done[i] for i in range(len(job.solutions))]
                yield PassMatrix(job.task_id, [r[0] for r in ordered], [r[1] for r in ordered])

    def close(self) -> None:
        """Remove every container of this pool (idempotent)."""
        with self._lock:
            containers = list(self._containers)
            self._containers.clear()
        for c in containers:
            c.kill()
        self._closed = True

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _timeout(self, value: float | None) -> float:
        return float(value) if value is not None else self.config.timeout_s

    def _wire(self, program: Program) -> dict[str, Any]:
        language = get_language(program.language)
        if len(program.code.encode("utf-8")) > self.config.max_code_bytes:
            raise InputError(f"program {program.id!r} is over the {self.config.max_code_bytes}-byte code limit")
        return self._wire_code(language, program.code, self._timeout(program.timeout_s), program.stdin)

    @staticmethod
    def _wire_code(language: Language, code: str, timeout_s: float, stdin: str | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"code": code, "timeout_s": timeout_s, "stdin": stdin or ""}
        if language.inproc_python:
            msg["mode"] = "python"
        else:
            msg.update(mode="argv", argv=list(language.argv), filename=language.filename)
        if language.build:
            msg.update(build=list(language.build), build_timeout_s=language.build_timeout_s)
        return msg

    def _validate_job(self, job: MatrixJob) -> None:
        get_language(job.language)
        if job.test_timeouts_s is not None and len(job.test_timeouts_s) != len(job.tests):
            raise InputError(f"task {job.task_id!r}: test_timeouts_s has {len(job.test_timeouts_s)} "
                             f"entries for {len(job.tests)} tests")
        cap = self.config.max_code_bytes
        for what, texts in (("solution", job.solutions), ("test", job.tests), ("setup", [job.setup])):
            for i, t in enumerate(texts):
                if len(t.encode("utf-8")) > cap:
                    raise InputError(f"task {job.task_id!r}: {what} {i} is over the {cap}-byte code limit")

    def _cell_timeouts(self, job: MatrixJob) -> list[float]:
        if job.test_timeouts_s is not None:
            return [float(t) for t in job.test_timeouts_s]
        return [self._timeout(job.timeout_s)] * len(job.tests)

    def _parallel(self, units: list, work: Callable[[_Slot, Any, Emit], None]) -> Iterator[Any]:
        """Run ``work(slot, unit, emit)`` for every unit on free slots; yield what is emitted."""
        if self._closed:
            raise SandboxError("this sandbox pool is closed")
        out: queue.Queue = queue.Queue()
        todo: queue.Queue = queue.Queue()
        for u in units:
            todo.put(u)
        stop = threading.Event()

        def worker() -> None:
            slot = self._slots.get()
            try:
                while not stop.is_set():
                    try:
                        unit = todo.get_nowait()
                    except queue.Empty:
                        return
                    work(slot, unit, lambda item: out.put(("item", item)))
            except BaseException as e:  # surfaced in the caller's thread
                out.put(("error", e))
            finally:
                self._slots.put(slot)
                out.put(("exit", None))

        n = min(self.config.n_workers, len(units))
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        running = n
        try:
            while running:
                kind, item = out.get()
                if kind == "item":
                    yield item
                elif kind == "exit":
                    running -= 1
                else:
                    raise item
        finally:
            stop.set()
            for t in threads:
                t.join()

    def _stream_retrying(self, slot: _Slot, keys: list[int], request: Callable[[list[int]], tuple[dict, float]],
                         reply: Callable[[int, dict], None], give_up: Callable[[int, str], None]) -> None:
        """Send ``keys``' work to the slot's container, retrying on fresh containers.

        ``request(sent)`` gives the message for the keys still to do and the seconds to
        wait for each reply; each reply's ``index`` is a position in ``sent`` and goes to
        ``reply(key, message)``. When the container fails, the slot gets a new one and the
        keys without a reply are sent again; after ``config.retries`` failures in a row
        with no reply in between, the first of them is given up (``give_up(key, why)``)
        so that one piece of work that keeps breaking containers cannot stall the rest.
        """
        pending = list(keys)
        retry = _Retry(self.config.retries)
        while pending:
            sent = pending
            finished: set[int] = set()
            try:
                container = slot.get()
                message, per_reply = request(sent)
                for msg in container.stream(message, per_reply):
                    key = sent[msg["index"]]
                    finished.add(key)
                    reply(key, msg)
                pending = []
            except ContainerFailure as e:
                slot.discard()
                pending = [k for k in sent if k not in finished]
                if finished:
                    retry.failures = 0
                if pending and retry.failed():
                    give_up(pending.pop(0), str(e))

    def _exec_unit(self, slot: _Slot, items: list[tuple[int, dict[str, Any]]], done: Callable[[int, dict], None]) -> None:
        wire = dict(items)

        def request(sent: list[int]) -> tuple[dict, float]:
            programs = [wire[k] for k in sent]
            wait = max(w["timeout_s"] + w.get("build_timeout_s", 0.0) for w in programs)
            return {"op": "exec", "programs": programs}, wait + SLACK_S

        self._stream_retrying(slot, [k for k, _ in items], request, done,
                              lambda k, why: done(k, _sandbox_error(why)))

    def _matrix_unit_python(self, slot: _Slot, job: MatrixJob, sols: list[int], emit: Callable) -> None:
        timeouts = self._cell_timeouts(job)
        load_timeout = self._timeout(job.timeout_s)
        per_row = load_timeout + sum(timeouts) + GRACE_S * (len(timeouts) + 1) + SLACK_S

        def request(sent: list[int]) -> tuple[dict, float]:
            return {"op": "matrix", "setup": job.setup, "solutions": [job.solutions[i] for i in sent],
                    "tests": job.tests, "timeouts": timeouts, "load_timeout": load_timeout}, per_row

        def row(i: int, reply: dict) -> None:
            emit(i, ([Outcome(o) for o in reply["outcomes"]], [float(d) for d in reply["durations"]]))

        self._stream_retrying(slot, sols, request, row,
                              lambda i, _why: emit(i, ([Outcome.SANDBOX_ERROR] * len(job.tests),
                                                       [0.0] * len(job.tests))))

    def _matrix_unit_built(self, slot: _Slot, job: MatrixJob, language: Language, sols: list[int],
                           emit: Callable) -> None:
        timeouts = self._cell_timeouts(job)
        builds = 1 + (SKIP_ROUNDS if language.skip_test_arg else 0)  # and again without non-compiling tests
        per_row = builds * language.build_timeout_s + sum(timeouts) + GRACE_S * (len(timeouts) + 1) + SLACK_S
        prefix = f"{job.setup}\n" if job.setup else ""
        assemble = language.assemble_tests
        assert assemble is not None

        def request(sent: list[int]) -> tuple[dict, float]:
            return {"op": "built_matrix", "filename": language.filename, "build": list(language.build),
                    "build_timeout_s": language.build_timeout_s, "argv": list(language.argv),
                    "programs": [assemble(prefix + job.solutions[i], job.tests) for i in sent],
                    "timeouts": timeouts, "skip_test_arg": language.skip_test_arg}, per_row

        def row(i: int, reply: dict) -> None:
            self._count_builds(reply)
            emit(i, ([Outcome(o) for o in reply["outcomes"]], [float(d) for d in reply["durations"]]))

        self._stream_retrying(slot, sols, request, row,
                              lambda i, _why: emit(i, ([Outcome.SANDBOX_ERROR] * len(job.tests),
                                                       [0.0] * len(job.tests))))

    def _count_builds(self, reply: dict) -> None:
        if reply.get("builds"):
            with self._lock:
                self.builds += int(reply["builds"])

    def _matrix_unit_programs(self, slot: _Slot, job: MatrixJob, sols: list[int], emit: Callable) -> None:
        language = get_language(job.language)
        timeouts = self._cell_timeouts(job)
        prefix = f"{job.setup}\n" if job.setup else ""
        items = []
        for i in sols:
            for j, test in enumerate(job.tests):
                code = language.assemble(prefix + job.solutions[i], test)
                items.append((i * len(job.tests) + j, self._wire_code(language, code, timeouts[j])))
        cells: dict[int, dict] = {}

        def done(k: int, res: dict) -> None:
            self._count_builds(res)
            cells[k] = res

        self._exec_unit(slot, items, done)
        m = len(job.tests)
        for i in sols:
            row = [cells[i * m + j] for j in range(m)]
            emit(i, ([Outcome(r["outcome"]) for r in row], [float(r.get("duration_s", 0.0)) for r in row]))


@contextlib.contextmanager
def sandbox_pool(pool: SandboxPool | None, config: SandboxConfig | None = None) -> Iterator[SandboxPool]:
    """``pool`` when one is given (left open), else a new pool on ``config`` closed on exit.

    For stages that take an optional open pool (the pipeline shares one across stages) and
    otherwise start their own containers only when there is work to run.
    """
    if pool is not None:
        yield pool
        return
    with SandboxPool(config) as own:
        yield own


def _sandbox_error(message: str) -> dict[str, Any]:
    return {"outcome": Outcome.SANDBOX_ERROR.value, "exit_code": None, "duration_s": 0.0,
            "stdout": "", "stderr": f"[codepref: sandbox failed after retries: {message}]"}
