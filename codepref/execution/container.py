"""One warm sandbox container running the fork-server, and the client side of its protocol."""

from __future__ import annotations

import os
import select
import struct
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import SandboxError
from codepref.execution.docker import LABEL, OWNER_LABEL, docker_cmd, owner_id, run_docker
from codepref_sandbox.server import encode_frame

# Seconds a container may take beyond the programs' own limits before it is deemed hung.
SLACK_S = 10.0
START_TIMEOUT_S = 60.0
SERVER_MOUNT = "/opt/codepref"

# Capabilities the server keeps (everything else is dropped); see sandbox/server.py.
SERVER_CAPS = ("SETUID", "SETGID", "KILL", "DAC_OVERRIDE", "FOWNER")


class ContainerFailure(Exception):
    """The container died, hung or broke the protocol; the caller replaces it and retries."""


def server_dir() -> Path:
    """The folder holding server.py, bind-mounted read-only into every container."""
    return Path(str(resources.files("codepref_sandbox"))).resolve()


def docker_run_args(config: SandboxConfig, name: str) -> list[str]:
    """The full ``docker run`` argument list for one sandbox container."""
    args = [
        "run", "-i", "--rm", "--name", name,
        "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={owner_id()}",
        "--network", "none",
        "--read-only",
        "--tmpfs", f"/tmp:rw,exec,size={config.tmpfs_mb}m,mode=1777",
        "--memory", f"{config.memory_mb}m", "--memory-swap", f"{config.memory_mb}m",
        "--pids-limit", str(config.pids_limit),
        "--cpus", str(config.cpus),
        "--security-opt", "no-new-privileges",
        "--cap-drop", "ALL",
    ]
    for cap in SERVER_CAPS:
        args += ["--cap-add", cap]
    args += [
        "--init",
        "--log-driver", "none",
        "--user", "0:0",
        "-v", f"{server_dir()}:{SERVER_MOUNT}:ro",
    ]
    for m in config.mounts:
        host, _, inside = m.partition(":")
        args += ["-v", f"{os.path.abspath(host)}:{inside}:ro"]
    args += [
        config.image,
        "python3", "-I", f"{SERVER_MOUNT}/server.py",
        "--uid", str(config.sandbox_uid), "--output-limit", str(config.output_limit_bytes),
    ]
    return args


class Container:
    """A running sandbox container with a fork-server on its stdin/stdout.

    Args:
        config: the sandbox settings (image, limits).
    """

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.name = f"codepref-{uuid.uuid4().hex[:12]}"
        self.proc = subprocess.Popen(
            [docker_cmd(config.docker), *docker_run_args(config, self.name)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._buf = b""
        try:
            self.info = self.request({"op": "ping"}, START_TIMEOUT_S)
        except ContainerFailure as e:
            err = self._stderr_tail()
            self.kill()
            raise SandboxError(f"the sandbox container did not start: {err or e}") from None

    # ---- protocol

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write(encode_frame(message))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise ContainerFailure(f"cannot write to the container: {e}") from None

    def receive(self, timeout: float) -> dict[str, Any]:
        head = self._read(4, timeout)
        (size,) = struct.unpack(">I", head)
        import json

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
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ContainerFailure(f"no answer from the container within {timeout:.1f} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, max(65536, n - len(self._buf)))
            if not chunk:
                raise ContainerFailure("the container exited")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    # ---- lifecycle

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Stop and remove the container (idempotent)."""
        run_docker(["rm", "-f", self.name], self.config.docker, check=False, timeout=60)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _stderr_tail(self) -> str:
        if self.proc.poll() is None:
            return ""
        try:
            return self.proc.stderr.read().decode(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError, ValueError):
            return ""
