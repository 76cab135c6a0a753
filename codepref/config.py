"""Stage configurations: dataclasses filled from TOML files and ``key=value`` overrides.

Each stage has one dataclass whose docstring documents every field and default. Building
one from user input goes through :func:`from_mapping`, which checks every field and
raises one :class:`~codepref.errors.ConfigError` listing *all* problems at once
(unknown keys with a "did you mean", wrong types, values out of range).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from codepref.errors import ConfigError

C = TypeVar("C")



def cache_dir() -> Path:
    """Where codepref keeps what it downloads and computes once (models, data, reference
    runtimes, evaluations): ``$CODEPREF_CACHE``, else ``$XDG_CACHE_HOME/codepref``, else
    ``~/.cache/codepref``."""
    if os.environ.get("CODEPREF_CACHE"):
        return Path(os.environ["CODEPREF_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "codepref"

@dataclass(frozen=True)
class SandboxConfig:
    """How programs are executed in Docker.

    Attributes:
        image: the sandbox image (built by ``codepref sandbox build``).
        workers: warm containers, one program at a time each; 0 means one per CPU core.
        memory_mb: memory limit of each container (``--memory``; swap is disabled).
        cpus: CPU share of each container (``--cpus``).
        pids_limit: processes and threads per container (``--pids-limit``), contains fork bombs.
        tmpfs_mb: size of the writable ``/tmp`` tmpfs (the rest of the root is read-only).
        timeout_s: default wall-clock limit per program or per matrix cell, in seconds.
        output_limit_bytes: stdout and stderr are each cut to this many bytes.
        max_code_bytes: programs larger than this are refused as bad input.
        batch_size: programs sent to a container in one message.
        retries: times a batch is retried on a fresh container after the sandbox failed;
            a cell still failing after that is ``sandbox_error``.
        sandbox_uid: the unprivileged uid programs run as inside the container.
        docker: the Docker engine: ``"docker"`` for the environment's (``DOCKER_HOST``, else
            the CLI's current context or the local socket), or an engine URL such as
            ``unix:///var/run/docker.sock`` or ``tcp://HOST:2376``. No docker client is needed.
        mounts: extra read-only bind mounts, each ``"HOST_PATH:CONTAINER_PATH"`` (e.g. a
            folder of SQLite databases that programs copy into their private tmp dir).
    """

    image: str = "codepref-sandbox:latest"
    workers: int = 0
    memory_mb: int = 512
    cpus: float = 1.0
    pids_limit: int = 128
    tmpfs_mb: int = 64
    timeout_s: float = 10.0
    output_limit_bytes: int = 64 * 1024
    max_code_bytes: int = 1024 * 1024
    batch_size: int = 16
    retries: int = 2
    sandbox_uid: int = 65534
    docker: str = "docker"
    mounts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for name in ("memory_mb", "pids_limit", "tmpfs_mb", "output_limit_bytes", "max_code_bytes", "batch_size"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("cpus", "timeout_s"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.workers < 0:
            problems.append(f"workers must be >= 0 (0 = one per core), got {self.workers}")
        if self.retries < 0:
            problems.append(f"retries must be >= 0, got {self.retries}")
        if self.memory_mb < 64:
            problems.append(f"memory_mb must be >= 64 (the server itself needs some), got {self.memory_mb}")
        for m in self.mounts:
            host, sep, inside = m.partition(":")
            if not sep or not host or not inside.startswith("/"):
                problems.append(f"mount {m!r} must be HOST_PATH:/CONTAINER_PATH")
            elif not os.path.exists(host):
                problems.append(f"mount {m!r}: {host} does not exist")
        if problems:
            raise ConfigError(problems)

    @property
    def n_workers(self) -> int:
        """The resolved number of containers (``workers``, or one per core when 0)."""
        return self.workers or os.cpu_count() or 1


@dataclass(frozen=True)
class ClusterConfig:
    """Where sandbox work and sampling run: this machine, or actors on a Ray cluster.

    Attributes:
        backend: where sandbox work runs (the execute stage, evaluation judging): ``local``
            (one :class:`~codepref.execution.SandboxPool` here, the default) or ``ray`` (one
            sandbox actor per node offering ``resource``; needs the ``ray`` extra).
        address: the Ray cluster: ``auto`` (the cluster this machine is part of, started with
            ``ray start``) or ``ray://HOST:PORT`` (Ray Client) or ``HOST:PORT`` (the GCS).
        resource: the custom Ray resource a node advertises when it has Docker and the
            sandbox image (``ray start --resources '{"codepref_sandbox": 1}'``).
        generate: sample (the generate stage, evaluation's samples) on one generator actor
            per node of the cluster at ``address`` that offers ``generator_resource``
            (:class:`~codepref.generation.ray_generator.RayGenerator`; a GPU each for vLLM),
            whatever ``backend`` says. False (default): the model is opened here.
        generator_resource: the custom Ray resource of generator nodes.
        jobs_per_task: matrices sent to an actor in one Ray task (a whole matrix is never split).
        tasks_per_actor: Ray tasks queued on each actor at once (2: one runs while the next
            waits, so no actor idles between tasks).

    The cluster changes where cells run and which process samples, not the results: the
    records are the same as here (every sample carries its own seed), so ``[cluster]`` is not
    part of any stage's settings hash or of an evaluation's cache key.
    """

    backend: str = "local"
    address: str = "auto"
    resource: str = "codepref_sandbox"
    jobs_per_task: int = 8
    tasks_per_actor: int = 2
    generate: bool = False
    generator_resource: str = "codepref_generator"

    def __post_init__(self) -> None:
        problems = []
        if self.backend not in ("local", "ray"):
            problems.append(f"backend must be local or ray, got {self.backend!r}")
        if not self.address:
            problems.append("address must be auto, ray://HOST:PORT or HOST:PORT")
        if not self.resource:
            problems.append("resource must name a custom Ray resource")
        if not self.generator_resource:
            problems.append("generator_resource must name a custom Ray resource")
        for name in ("jobs_per_task", "tasks_per_actor"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise ConfigError(problems)


def from_mapping(cls: type[C], values: dict[str, Any], *, where: str = "") -> C:
    """Build dataclass ``cls`` from ``values``, reporting every problem at once.

    Args:
        cls: a dataclass type whose fields have defaults.
        values: field name -> value (from TOML or overrides); missing fields keep defaults.
        where: a prefix for messages, e.g. ``"[sandbox] "``.

    Raises:
        ConfigError: listing unknown keys, type errors and the dataclass's own checks.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    problems: list[str] = []
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{where}unknown key {key!r}{hint}")
            continue
        ok, converted = _coerce(value, hints[key])
        if not ok:
            problems.append(f"{where}{key} must be {_type_name(hints[key])}, got {value!r}")
            continue
        kwargs[key] = converted
    if problems:
        # Still run the dataclass's own checks on what was valid, to report everything.
        try:
            cls(**kwargs)
        except ConfigError as e:
            problems.extend(where + p for p in e.problems)
        raise ConfigError(problems)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError([where + p for p in e.problems]) from None


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings; values are read as TOML scalars when they parse, else text."""
    out: dict[str, Any] = {}
    problems = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"override {item!r} is not key=value")
            continue
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
    if problems:
        raise ConfigError(problems)
    return out


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors into a ConfigError that names the file."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"config file {path} not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path} is a folder, not a TOML config file"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: {e}"]) from None


def _coerce(value: Any, typ: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(typ):
            if arg is type(None) and value is None:
                return True, None
        for arg in typing.get_args(typ):
            if arg is not type(None):
                ok, v = _coerce(value, arg)
                if ok:
                    return True, v
        return False, None
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, None
        (inner, *_) = typing.get_args(typ) or (Any,)
        out = []
        for v in value:
            ok, c = _coerce(v, inner)
            if not ok:
                return False, None
            out.append(c)
        return True, origin(out)
    if origin is dict:
        return isinstance(value, dict), value
    if typ is Any:
        return True, value
    if typ is bool:
        return isinstance(value, bool), value
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if typ is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if typ is str:
        return isinstance(value, str), value
    if typ is Path:
        return isinstance(value, (str, Path)), Path(value) if isinstance(value, (str, Path)) else None
    return isinstance(value, typ), value


def _type_name(typ: Any) -> str:
    args = typing.get_args(typ)
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if typ is type(None):
        return "none"
    return getattr(typ, "__name__", str(typ))


__all__ = ["SandboxConfig", "from_mapping", "parse_overrides", "load_toml", "field"]


@dataclass(frozen=True)
class GenerationConfig:
    """How candidate solutions and self-generated tests are sampled (``codepref generate``).

    Attributes:
        model: a packaged model name (``codepref models list``), a ``.gguf`` file, a local
            transformers folder, a Hugging Face id, or a served model name (``openai``).
        backend: ``auto`` (default), ``llamacpp``, ``torch``, ``hf``, ``openai`` or ``vllm``.
            ``auto`` becomes ``torch`` (codepref's own decoder) for the default model on a CPU
            with native bf16 where torch is installed, else ``llamacpp``
            (:func:`~codepref.generation.backend.default_backend`); the config then holds the
            backend chosen, so stage keys and samples name the one that ran.
        n_solutions: solutions sampled per task (N).
        n_tests: most distinct self-generated asserts kept per task (M); 0 for none.
        test_samples: test-writing completions sampled per task; their asserts are pooled,
            deduplicated and capped at ``n_tests``.
        temperature: sampling temperature of solutions and tests (0 = greedy).
        top_p: nucleus sampling threshold.
        max_tokens: most new tokens per solution.
        test_max_tokens: most new tokens per test-writing completion.
        seed: base seed; sample i of a task uses a seed derived from (seed, task id, kind, i).
        prompt_style: ``completion``, ``chat``, or ``auto`` (chat for instruct models); the
            first two select the protocol of the same name.
        protocol: the named protocol of the solution prompts
            (:mod:`codepref.generation.protocols`: ``chat``, ``completion``, ``qwen-coder``,
            ``evalplus-instruct`` ...); ``""`` for the one ``prompt_style`` selects. A named
            protocol goes with ``prompt_style`` ``auto`` (or the style of the same name).
        backend_options: keyword options of the backend (e.g. ``parallel`` for llamacpp,
            ``base_url`` for openai, ``adapter`` for hf/vllm); not part of the output's
            settings hash, so a run can resume with other performance settings.
        chunk_sequences: whole tasks are sent to the backend together until they hold this
            many sequences (results are written per chunk, so an interruption loses at most
            one). 64 keeps llama.cpp's 32 slots busy with a queue behind them; a chunk of a
            fixed 8 tasks left 24 of them idle in a greedy one-sample evaluation.
        prompt_tests: also keep the tests the task's prompt states (docstring examples,
            asserts; see :func:`codepref.generation.testparse.prompt_tests`) as test samples
            with ``params.source = "prompt"``. They come first, do not count toward
            ``n_tests``, and gate which solutions may be chosen (``[rank] prompt_gate``).
    """

    model: str = "qwen2.5-coder-0.5b-instruct"
    backend: str = "auto"
    n_solutions: int = 8
    n_tests: int = 10
    test_samples: int = 2
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    test_max_tokens: int = 384
    seed: int = 0
    prompt_style: str = "auto"
    protocol: str = ""
    backend_options: dict = field(default_factory=dict)
    chunk_sequences: int = 64
    prompt_tests: bool = True

    def __post_init__(self) -> None:
        from codepref.generation.backend import concrete_backend

        object.__setattr__(self, "backend", concrete_backend(self.backend, self.model))
        problems = []
        for name in ("n_solutions", "n_tests", "test_samples"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_tokens", "test_max_tokens", "chunk_sequences"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.prompt_style not in ("auto", "completion", "chat"):
            problems.append(f"prompt_style must be auto, completion or chat, got {self.prompt_style!r}")
        elif self.protocol:
            from codepref.generation.protocols import protocol_problems

            problems.extend(protocol_problems(self.protocol, self.prompt_style))
        if not self.model:
            problems.append("model must not be empty")
        if problems:
            raise ConfigError(problems)
