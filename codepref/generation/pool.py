"""One backend in several local processes (data parallel on one machine).

:class:`ProcessPoolGenerator` is a :class:`~codepref.generation.backend.Generator`: it
starts ``processes`` worker processes, each of which opens the same backend and model once
(with ``n_threads = cores // processes`` where the backend takes ``n_threads`` and it was not
given), and splits every :meth:`~ProcessPoolGenerator.generate` call's requests between
them. ``open_generator(..., processes=2)`` (the backend option ``processes``) makes one.

Why: on a 2-core machine llama.cpp's decoding with 2 threads waits at a barrier between the
graph's operations, hundreds of times per token step; two single-threaded processes, each
decoding its own batch, never wait for each other. Measured in
``benchmarks/generation_throughput.py --processes`` (docs/architecture.md section 7).

Rules:

* **Same samples**: a request goes whole to one worker (its samples share one prompt
  evaluation), every sample keeps its own seed, and a backend draws each sequence from its
  own seed and logits whatever else is in its batch, so the completions are those of one
  process up to floating-point differences: llama.cpp's logits move in the last bits with
  the thread count and the batch's row blocking (greedy, 62 of 64 HumanEval answers of the
  default model were identical to one process's), as for any batching backend
  (:mod:`codepref.generation.backend`).
* **Split**: requests are dealt to the worker with the fewest sequences so far, in order, so
  each worker gets one large share and keeps its own batch full; completions come back in
  request order, and ``progress`` counts the completions of all workers.
* **Start**: the first worker starts alone and the others once it is ready, so a model
  still to fetch or convert into the cache is made once, not raced for.
* **Failures**: a codepref error in a worker (a model that cannot load, a failed decode) is
  raised in this process as the same error; any other error, and a worker that dies, as a
  :class:`~codepref.generation.models.ModelError` naming it. Workers end with the generator
  (:meth:`close`) or with this process.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from codepref.generation.backend import Completion, GenProgress, Request, describe, mirror
from codepref.generation.models import ModelError
from codepref.generation.prompts import PromptSpec

START_TIMEOUT_S = 900.0  # the first worker may fetch and convert the model


def _portable(e: BaseException) -> tuple:
    """A codepref error as ``(type, args, attributes)``; anything else (or what pickle cannot
    carry) as a ModelError naming the type and the text the worker saw."""
    from codepref.errors import CodeprefError

    if isinstance(e, CodeprefError):
        parts = (type(e), e.args, dict(e.__dict__))
        try:
            pickle.dumps(parts)
            return parts
        except Exception:  # noqa: BLE001 - a type or state pickle cannot carry: the text below
            pass
    return (ModelError, (f"{type(e).__name__} in a generation worker: {e}",), {})


def _rebuild(parts: tuple) -> BaseException:
    """The exception :func:`_portable` described (its ``__init__`` is not called again)."""
    cls, args, state = parts
    e = cls.__new__(cls)
    e.args = args
    e.__dict__.update(state)
    return e


def _serve(fd: int) -> None:
    """A worker (``python -c``, see :meth:`ProcessPoolGenerator.__init__`): read
    ``(backend, model, options)`` from the socket ``fd``, open the backend, then answer
    ``render``/``generate``/``close`` messages until told to close or the parent is gone."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from codepref.generation.backend import open_generator

    conn = Connection(fd)
    backend, model, options = conn.recv()
    try:
        gen = open_generator(backend, model, **options)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", _portable(e)))
        return
    conn.send(("ready", describe(gen)))
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:  # the parent is gone
            break
        if kind == "close":
            break
        try:
            if kind == "render":
                conn.send(("done", gen.render(payload)))
            else:
                outs = gen.generate(payload, progress=lambda done, total: conn.send(("progress", done)))
                conn.send(("done", outs))
        except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
            conn.send(("error", _portable(e)))
    gen.close()
    conn.close()


def deal(requests: Sequence[Request], workers: int) -> list[list[int]]:
    """Request indices per worker: each request, in order, to the worker with the fewest
    sequences so far (the lowest-numbered on a tie)."""
    shares: list[list[int]] = [[] for _ in range(workers)]
    load = [0] * workers
    for i, r in enumerate(requests):
        w = min(range(workers), key=lambda k: (load[k], k))
        shares[w].append(i)
        load[w] += r.n
    return shares


class ProcessPoolGenerator:
    """``backend`` on ``model`` in ``processes`` local worker processes.

    Args:
        backend, model, options: what each worker opens (``open_generator(backend, model,
            **options)``); ``n_threads`` defaults to ``os.cpu_count() // processes`` (at
            least 1) for a backend that takes it.
        processes: worker processes (>= 2).

    Raises:
        ModelError (or the worker's codepref error): a worker cannot open the model.
    """

    def __init__(self, backend: str, model: str, options: dict[str, Any], processes: int, *,
                 takes_threads: bool = False):
        self.processes = processes
        options = dict(options, processes=1)
        if takes_threads and options.get("n_threads") is None:
            options["n_threads"] = max(1, (os.cpu_count() or 1) // processes)
        self._conns: list[Connection] = []
        self._procs: list[subprocess.Popen] = []
        # A fresh interpreter per worker (not a fork of this process and its libraries'
        # threads, and not multiprocessing's spawn, which re-runs the caller's main script),
        # importing codepref from where this process does.
        boot = f"import sys; sys.path[:0] = {sys.path!r}; from codepref.generation.pool import _serve; _serve(%d)"
        def start() -> None:
            mine, theirs = socket.socketpair()
            proc = subprocess.Popen([sys.executable, "-c", boot % theirs.fileno()], pass_fds=(theirs.fileno(),),
                                    stdin=subprocess.DEVNULL)
            theirs.close()
            conn = Connection(mine.detach())
            conn.send((backend, model, options))
            self._conns.append(conn)
            self._procs.append(proc)

        try:
            # The first worker alone: it fetches, assembles or converts the model into the
            # cache if that is still to do (two at once would race on the same files).
            start()
            infos = [self._receive(0, timeout=START_TIMEOUT_S)[1]]
            for _ in range(1, processes):
                start()
            infos += [self._receive(k, timeout=START_TIMEOUT_S)[1] for k in range(1, processes)]
        except BaseException:
            self.close()
            raise
        mirror(self, infos[0])
        self._busy = infos[0]["busy_sequences"]
        self._min_chunk = infos[0].get("min_chunk_sequences")

    @property
    def busy_sequences(self) -> int | None:
        """The backend's own ``busy_sequences`` (per worker: the generate stage sends
        ``processes`` times a chunk, :func:`codepref.generation.stage.chunk_size`)."""
        return self._busy

    @property
    def min_chunk_sequences(self) -> int | None:
        """The backend's own ``min_chunk_sequences`` (per worker, as ``busy_sequences``)."""
        return self._min_chunk

    def _require_open(self) -> None:
        if not self._conns:
            raise ModelError("this generation pool is closed (close() was called, or a worker failed "
                             "in an earlier call); open a new generator")

    def _receive(self, k: int, timeout: float | None = None) -> tuple[str, Any]:
        """The next message of worker ``k``; its error raised here; a dead worker a ModelError."""
        conn = self._conns[k]
        if timeout is not None and not conn.poll(timeout):
            raise ModelError(f"generation worker {k} did not start within {timeout:.0f} s")
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            proc = self._procs[k]
            try:
                code = proc.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            raise ModelError(f"generation worker {k} ended unexpectedly (exit code {code})") from None
        if kind == "error":
            raise _rebuild(payload)
        return kind, payload

    def render(self, spec: PromptSpec) -> str:
        """The backend's rendering of a prompt (asked of the first worker)."""
        self._require_open()
        self._conns[0].send(("render", spec))
        return self._receive(0)[1]

    def generate(self, requests: Sequence[Request], progress: GenProgress | None = None) -> list[list[Completion]]:
        """For each request, its completions in seed order; the workers sample in parallel.

        Raises:
            ModelError (or a worker's codepref error): a worker failed; the pool then closes
                itself, and a later call raises a ModelError saying so.
        """
        self._require_open()
        shares = deal(requests, self.processes)
        total = sum(r.n for r in requests)
        done = [0] * self.processes
        running = {}
        for k, share in enumerate(shares):
            if share:
                self._conns[k].send(("generate", [requests[i] for i in share]))
                running[self._conns[k]] = k
        results: list[list[Completion] | None] = [None] * len(requests)
        while running:
            for conn in wait(list(running)):
                k = running[conn]
                try:
                    kind, payload = self._receive(k)
                except BaseException:
                    self.close()  # the other workers' answers would be read by the next call
                    raise
                if kind == "progress":
                    done[k] = payload
                else:
                    for i, outs in zip(shares[k], payload):
                        results[i] = outs
                    done[k] = sum(requests[i].n for i in shares[k])
                    del running[conn]
                if progress:
                    progress(sum(done), total)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Close every worker's model and end the workers."""
        for conn in getattr(self, "_conns", []):
            try:
                conn.send(("close", None))
            except (OSError, ValueError):
                pass
        for proc in getattr(self, "_procs", []):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for conn in getattr(self, "_conns", []):
            conn.close()
        self._conns, self._procs = [], []
