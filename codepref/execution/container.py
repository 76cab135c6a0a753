"""One warm sandbox container running the fork-server, and the client side of its protocol.

The container is made, attached and started through the Docker SDK (what ``docker run -i
--rm`` does: create, attach stdin/stdout/stderr, start), and the protocol runs over the
attach connection itself: the engine's multiplexed stream (8-byte frame headers, stream 1
stdout, stream 2 stderr) read straight from its socket. This skips the docker client
process that ``docker run -i`` would put between us and the engine, and needs no docker
binary. Measured on a busy 2-core machine: a ping round trip takes ~480 us instead of
~660 us through ``docker run -i``'s pipes, and the ~110 us of docker client CPU per message
is gone; the HumanEval matrix benchmark (benchmarks/sandbox_throughput.py) is unchanged
within noise, as its messages are few and large.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import SandboxError
from codepref.execution.docker import (
    LABEL,
    OWNER_LABEL,
    client,
    engine_errors,
    inspect_container,
    owner_id,
    remove_container,
)
from codepref_sandbox.server import encode_frame

# Seconds a container may take beyond the programs' own limits before it is deemed hung.
SLACK_S = 10.0
START_TIMEOUT_S = 60.0
# Seconds a request may take to be written into the container (it reads requests at once).
SEND_TIMEOUT_S = 60.0
SERVER_MOUNT = "/opt/codepref"
# Bytes asked of the socket per read.
RECV_BYTES = 65536
# The server's own stderr kept for error messages (a Python traceback fits).
STDERR_KEEP = 8192

# Capabilities the server keeps (everything else is dropped); see sandbox/server.py.
SERVER_CAPS = ("SETUID", "SETGID", "KILL", "DAC_OVERRIDE", "FOWNER")

_STDOUT, _STDERR = 1, 2


class ContainerFailure(Exception):
    """The container died, hung or broke the protocol; the caller replaces it and retries."""


def server_dir() -> Path:
    """The folder holding server.py, bind-mounted read-only into every container."""
    return Path(str(resources.files("codepref_sandbox"))).resolve()


def server_command(config: SandboxConfig) -> list[str]:
    """The fork-server's command line inside the container.

    ``-s -P`` (no user site directory, no script directory on ``sys.path``) is ``-I`` less
    ``-E``: the container's environment, which :func:`container_options` sets, is read, so
    its ``PYTHONHASHSEED`` applies to the server and every program forked from it.
    """
    return ["python3", "-s", "-P", f"{SERVER_MOUNT}/server.py",
            "--uid", str(config.sandbox_uid), "--output-limit", str(config.output_limit_bytes)]


def host_options(config: SandboxConfig) -> dict[str, Any]:
    """The locked-down host settings of a sandbox container, as ``create_host_config`` keywords.

    The same as ``docker run --rm --network none --read-only --tmpfs /tmp:... --memory M
    --memory-swap M --pids-limit P --cpus C --security-opt no-new-privileges --cap-drop ALL
    --cap-add ... --init --log-driver none -v SERVER:/opt/codepref:ro -v MOUNT:ro``.
    """
    binds = {str(server_dir()): {"bind": SERVER_MOUNT, "mode": "ro"}}
    for m in config.mounts:
        host, _, inside = m.partition(":")
        binds[str(Path(host).resolve())] = {"bind": inside, "mode": "ro"}
    return {
        "auto_remove": True,
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,exec,size={config.tmpfs_mb}m,mode=1777"},
        "mem_limit": f"{config.memory_mb}m",
        "memswap_limit": f"{config.memory_mb}m",
        "pids_limit": config.pids_limit,
        "nano_cpus": int(round(config.cpus * 1e9)),
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "cap_add": list(SERVER_CAPS),
        "init": True,
        "log_config": {"type": "none", "config": {}},
        "binds": binds,
    }


def container_options(config: SandboxConfig, name: str) -> dict[str, Any]:
    """The ``create_container`` keywords of a sandbox container, less ``host_config``."""
    return {
        "image": config.image,
        "command": server_command(config),
        "name": name,
        "labels": {LABEL: "1", OWNER_LABEL: owner_id()},
        "user": "0:0",
        # one string-hash seed in every container: a program that iterates a set of strings
        # does the same in every run (reproducible pass matrices and behaviour signatures)
        "environment": {"PYTHONHASHSEED": "0"},
        "stdin_open": True,  # with detach=False also StdinOnce: our disconnect closes its stdin
        "use_config_proxy": False,  # no network inside: the host's proxy settings stay out
    }


class Container:
    """A running sandbox container with a fork-server on its stdin/stdout.

    Args:
        config: the sandbox settings (image, limits, engine).

    Raises:
        SandboxError: the container could not be made or its server did not answer.
    """

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.name = f"codepref-{uuid.uuid4().hex[:12]}"
        self._out = bytearray()  # demultiplexed stdout: protocol frames
        self._err = bytearray()  # the server's stderr, last STDERR_KEEP bytes
        self._raw = bytearray()  # multiplexed bytes not yet demultiplexed
        self._chunk = bytearray(RECV_BYTES)  # reused for every read: no allocation per read
        self._chunk_view = memoryview(self._chunk)
        self._eof = False
        self.id: str | None = None
        self._attached = None
        self._sock: Any = None
        api = client(config.docker).api
        with engine_errors("create the sandbox container", config.docker):
            host_config = api.create_host_config(**host_options(config))
            self.id = api.create_container(**container_options(config, self.name), host_config=host_config)["Id"]
        try:
            with engine_errors("start the sandbox container", config.docker):
                # Attach before start so that nothing the server writes is missed.
                self._attached = api.attach_socket(self.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
                api.start(self.id)
        except SandboxError:
            self.kill()
            raise
        # The SDK hands back a SocketIO (plain connections) or the socket itself (TLS); the
        # returned object also keeps the HTTP response, which closes the socket when collected.
        self._sock = getattr(self._attached, "_sock", self._attached)
        self._sock.settimeout(SEND_TIMEOUT_S)
        try:
            self.info = self.request({"op": "ping"}, START_TIMEOUT_S)
        except ContainerFailure as e:
            why = self._failure_reason() or str(e)
            self.kill()
            raise SandboxError(f"the sandbox container did not start: {why}") from None

    # ---- protocol

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._sock.sendall(encode_frame(message))
        except OSError as e:  # includes socket.timeout and a reset connection
            raise ContainerFailure(f"cannot write to the container: {e}") from None

    def receive(self, timeout: float) -> dict[str, Any]:
        head = self._read(4, timeout)
        (size,) = struct.unpack(">I", head)
        return json.loads(self._read(size, timeout).decode("utf-8"))

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(message)
        return self.receive(timeout)

    def stream(self, message: dict[str, Any], timeout_per_reply: float) -> Iterator[dict[str, Any]]:
        """Send one request and yield its replies until ``done``."""
        self.send(message)
        while True:
            reply = self.receive(timeout_per_reply)
            op = reply.get("op")
            if op == "done":
                return
            if op == "error":
                raise ContainerFailure(f"server error: {reply.get('message')}")
            yield reply

    def _read(self, n: int, timeout: float) -> bytes:
        """The next ``n`` bytes of the server's stdout."""
        deadline = time.monotonic() + timeout
        while len(self._out) < n:
            if self._eof:
                raise ContainerFailure("the container exited")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ContainerFailure(f"no answer from the container within {timeout:.1f} s")
            self._receive_some(remaining)
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def _receive_some(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for bytes from the engine and demultiplex them."""
        pending = getattr(self._sock, "pending", None)  # a TLS socket may hold decrypted bytes
        if not (pending and pending()):
            ready, _, _ = select.select([self._sock], [], [], wait)
            if not ready:
                return
        try:
            got = self._sock.recv_into(self._chunk)
        except (BlockingIOError, InterruptedError, socket.timeout):
            return
        except OSError as e:
            raise ContainerFailure(f"cannot read from the container: {e}") from None
        if not got:
            self._eof = True
            return
        raw = self._raw
        raw += self._chunk_view[:got]
        while len(raw) >= 8:
            kind = raw[0]
            size = int.from_bytes(raw[4:8], "big")
            if len(raw) < 8 + size:
                break
            if kind == _STDOUT:
                self._out += raw[8:8 + size]
            elif kind == _STDERR:
                self._err += raw[8:8 + size]
                del self._err[:-STDERR_KEEP]
            del raw[:8 + size]

    # ---- lifecycle

    def alive(self) -> bool:
        """False once the engine closed the stream (the container exited); asks the engine nothing."""
        if not self._eof and self._sock is not None:
            try:
                self._receive_some(0)
            except ContainerFailure:
                return False
        return not self._eof

    def kill(self) -> None:
        """Stop and remove the container, and close the connection (idempotent, never raises).

        If the engine cannot be reached the container stays; the next pool's orphan clean-up
        (:func:`~codepref.execution.docker.remove_orphans`) removes it.
        """
        if self.id is not None:
            try:
                remove_container(self.id, self.config.docker)
            except SandboxError:
                pass
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._attached is not None and self._attached is not self._sock:
            self._attached.close()
        self._eof = True

    def _failure_reason(self) -> str:
        """Why a container stopped answering: its last stderr line, else its exit state."""
        lines = self._err.decode(errors="replace").strip().splitlines()
        if lines:
            return lines[-1]
        try:
            state = (inspect_container(self.id, self.config.docker) or {}).get("State", {})
        except SandboxError:
            return ""
        if not state:
            return "the container is gone"
        if state.get("Running"):
            return ""
        parts = [f"exit code {state.get('ExitCode')}"]
        if state.get("OOMKilled"):
            parts.append("killed for memory")
        if state.get("Error"):
            parts.append(state["Error"])
        return ", ".join(parts)
