"""Thin wrappers around the ``docker`` command line (no Docker SDK dependency)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

from codepref.errors import SandboxError

LABEL = "org.codepref.sandbox"
OWNER_LABEL = "org.codepref.owner"


def docker_cmd(docker: str = "docker") -> str:
    """The docker client's path, or a SandboxError explaining how to get one."""
    path = shutil.which(docker)
    if path is None:
        raise SandboxError(
            f"the docker client {docker!r} is not on PATH; install Docker (Debian: apt-get install docker.io)"
        )
    return path


def run_docker(args: list[str], docker: str = "docker", *, check: bool = True, input: bytes | None = None,
               timeout: float | None = 120) -> subprocess.CompletedProcess:
    """Run ``docker ARGS``; raise SandboxError with docker's own message on failure."""
    cmd = [docker_cmd(docker), *args]
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"`docker {' '.join(args[:2])}` did not answer within {timeout} s") from None
    if check and proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise SandboxError(f"`docker {' '.join(args[:2])}` failed: {msg[-1] if msg else proc.returncode}")
    return proc


def engine_running(docker: str = "docker") -> bool:
    """True if a Docker engine answers."""
    try:
        return run_docker(["info", "--format", "{{.ServerVersion}}"], docker, check=False, timeout=20).returncode == 0
    except SandboxError:
        return False


def require_engine(docker: str = "docker") -> None:
    if not engine_running(docker):
        raise SandboxError(
            "no Docker engine answers; start one (e.g. `dockerd --bridge=none --iptables=false &`) "
            "and check that `docker info` works"
        )


def image_exists(image: str, docker: str = "docker") -> bool:
    return run_docker(["image", "inspect", image], docker, check=False).returncode == 0


def owner_id() -> str:
    """Identifies this process on this host in container labels: ``HOST:PID``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def remove_orphans(docker: str = "docker") -> list[str]:
    """Remove sandbox containers left by codepref processes on this host that have died.

    Returns:
        the ids of the containers removed.
    """
    proc = run_docker(
        ["ps", "-a", "--filter", f"label={LABEL}", "--format", f'{{{{.ID}}}} {{{{.Label "{OWNER_LABEL}"}}}}'],
        docker,
        check=False,
    )
    if proc.returncode != 0:
        return []
    host = socket.gethostname()
    dead = []
    for line in proc.stdout.decode().split("\n"):
        parts = line.split()
        if len(parts) != 2:
            continue
        cid, owner = parts
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            dead.append(cid)
    if dead:
        run_docker(["rm", "-f", *dead], docker, check=False)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
