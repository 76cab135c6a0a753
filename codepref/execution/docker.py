"""The Docker engine, reached through the Docker SDK for Python (``docker`` on PyPI).

No ``docker`` client binary is needed. Which engine answers is decided like the docker
CLI decides it: ``DOCKER_HOST`` (``unix://``, ``tcp://``, ``ssh://``), ``DOCKER_TLS_VERIFY``
and ``DOCKER_CERT_PATH``, else the local socket (``docker.from_env()``). The ``engine``
argument of the functions here (``SandboxConfig.docker``) can name another engine by URL.

Every SDK or connection error is turned into a :class:`~codepref.errors.SandboxError`
(:class:`~codepref.errors.EngineUnavailableError` when nothing answers), so callers never
see the SDK's or requests' exception types. The SDK is imported on first use: importing
it (and requests) costs about 0.1 s, which ``codepref --help`` need not pay.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from codepref.errors import EngineUnavailableError, SandboxError

if TYPE_CHECKING:
    import docker

LABEL = "org.codepref.sandbox"
OWNER_LABEL = "org.codepref.owner"

# ``SandboxConfig.docker``'s default: the engine of the environment (DOCKER_HOST or the local socket).
ENV_ENGINE = "docker"
# Seconds one engine call may take (create, start, remove, inspect, ping; builds and imports: none).
API_TIMEOUT_S = 60
# Connections kept per client: one is held by every attached container, so this bounds how
# many containers a process drives without the SDK's pool discarding connections.
MAX_POOL_SIZE = 256
ENGINE_URL_SCHEMES = ("unix://", "tcp://", "ssh://", "http://", "https://", "npipe://")

_clients: dict[tuple, docker.DockerClient] = {}
_clients_lock = threading.Lock()


def engine_address(engine: str = ENV_ENGINE) -> str:
    """The engine ``engine`` names, for messages: a URL, or the environment's choice."""
    if engine != ENV_ENGINE:
        return engine
    host = os.environ.get("DOCKER_HOST")
    if host:
        return f"{host} (DOCKER_HOST)"
    return "the default engine (the docker CLI's current context, else unix:///var/run/docker.sock)"


def client(engine: str = ENV_ENGINE) -> docker.DockerClient:
    """A Docker SDK client for ``engine``, made once and shared by all threads.

    Args:
        engine: ``"docker"`` for the environment's engine (``docker.from_env()``), or an
            engine URL such as ``unix:///run/docker.sock`` or ``tcp://host:2376``.

    Raises:
        EngineUnavailableError: no engine answers there.
        SandboxError: ``engine`` is neither ``"docker"`` nor an engine URL.
    """
    if engine != ENV_ENGINE and not engine.startswith(ENGINE_URL_SCHEMES):
        raise SandboxError(
            f"the sandbox setting docker={engine!r} must be 'docker' (the engine of DOCKER_HOST or the "
            f"local socket) or an engine URL such as unix:///var/run/docker.sock or tcp://HOST:2376; "
            f"the docker client program is not used"
        )
    env = tuple(os.environ.get(k) for k in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"))
    key = (engine, env)
    with _clients_lock:
        found = _clients.get(key)
        if found is not None:
            return found
        import docker

        # Made under the lock: concurrent first calls (the pool's worker threads) share one client.
        with engine_errors("connect", engine):
            if engine == ENV_ENGINE:
                made = docker.from_env(timeout=API_TIMEOUT_S, max_pool_size=MAX_POOL_SIZE)
            else:
                made = docker.DockerClient(base_url=engine, timeout=API_TIMEOUT_S, max_pool_size=MAX_POOL_SIZE)
        _clients[key] = made
        return made


@contextmanager
def engine_errors(what: str, engine: str = ENV_ENGINE) -> Iterator[None]:
    """Turn the SDK's and requests' exceptions raised inside into SandboxErrors.

    Args:
        what: the operation, for the message (``"create the container"``).
        engine: the engine, for the message.
    """
    import docker.errors
    import requests.exceptions

    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
        raise EngineUnavailableError(_unreachable(engine, e)) from None
    except docker.errors.APIError as e:
        raise SandboxError(f"docker could not {what}: {e.explanation or e}") from None
    except docker.errors.DockerException as e:
        # from_env() wraps a failed connection: "Error while fetching server API version: ..."
        if "server API version" in str(e) or isinstance(e.__cause__ or e.__context__, requests.exceptions.RequestException):
            raise EngineUnavailableError(_unreachable(engine, e)) from None
        raise SandboxError(f"docker could not {what}: {e}") from None
    except requests.exceptions.RequestException as e:
        raise SandboxError(f"docker could not {what}: {e}") from None


def _unreachable(engine: str, error: BaseException) -> str:
    reason = _os_reason(error)
    if reason is None:
        text = str(error)
        reason = text if len(text) < 200 else text[:200] + " ..."
    hint = "start one (e.g. `dockerd --bridge=none --iptables=false &`) or point DOCKER_HOST at a running engine"
    if "Permission denied" in reason:
        hint = "this user may not use its socket: run as root or join the docker group"
    return f"no Docker engine answers at {engine_address(engine)}: {reason}; {hint}"


def _os_reason(error: BaseException) -> str | None:
    """The operating system's words for a failed connection (``Connection refused``), found
    anywhere in the chain of wrappers that requests, urllib3 and the SDK put around it."""
    seen: set[int] = set()
    todo: list[object] = [error]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        todo += [e.__cause__, e.__context__, *e.args, getattr(e, "reason", None)]
    return None


def require_engine(engine: str = ENV_ENGINE) -> None:
    """Check that the engine answers a ping.

    Raises:
        EngineUnavailableError: it does not (the message names the engine and says what to do).
    """
    with engine_errors("ping the engine", engine):
        client(engine).ping()


def engine_running(engine: str = ENV_ENGINE) -> bool:
    """True if the engine answers a ping."""
    try:
        require_engine(engine)
    except SandboxError:
        return False
    return True


def engine_version(engine: str = ENV_ENGINE) -> str:
    """The engine's version (``docker version``'s Server.Version)."""
    with engine_errors("ask the engine's version", engine):
        return str(client(engine).version().get("Version", "unknown"))


def image_exists(image: str, engine: str = ENV_ENGINE) -> bool:
    """True if the engine holds ``image`` (a tag or id)."""
    import docker.errors

    with engine_errors(f"inspect the image {image}", engine):
        try:
            client(engine).api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.NotFound:
            return False
    return True


def inspect_container(container: str, engine: str = ENV_ENGINE) -> dict[str, Any] | None:
    """The engine's record of a container (``docker inspect``), or None if it is gone."""
    import docker.errors

    with engine_errors(f"inspect the container {container}", engine):
        try:
            return client(engine).api.inspect_container(container)
        except docker.errors.NotFound:
            return None


def remove_container(container: str, engine: str = ENV_ENGINE) -> None:
    """Kill and remove a container (``docker rm -f``); one that is gone already is fine."""
    import docker.errors

    with engine_errors(f"remove the container {container}", engine):
        try:
            client(engine).api.remove_container(container, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            # 409: a removal is already under way (the container was started with auto-remove).
            if e.status_code != 409:
                raise


def sandbox_containers(engine: str = ENV_ENGINE) -> list[tuple[str, str]]:
    """``(id, owner)`` of every sandbox container on the engine, running or not."""
    with engine_errors("list the sandbox containers", engine):
        found = client(engine).api.containers(all=True, filters={"label": LABEL})
    return [(c["Id"], (c.get("Labels") or {}).get(OWNER_LABEL, "")) for c in found]


def owner_id() -> str:
    """Identifies this process on this host in container labels: ``HOST:PID``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def remove_orphans(engine: str = ENV_ENGINE) -> list[str]:
    """Remove sandbox containers left by codepref processes on this host that have died.

    Containers of live processes, and of other hosts sharing the engine, are left alone.

    Returns:
        the ids of the containers removed.
    """
    host = socket.gethostname()
    dead = []
    for cid, owner in sandbox_containers(engine):
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            dead.append(cid)
    for cid in dead:
        remove_container(cid, engine)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
