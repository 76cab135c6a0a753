"""Building the sandbox image, with or without a container registry.

With a registry, ``Dockerfile.sandbox`` builds on ``python:3.12-slim``. Without one
(``offline=True``), a Debian base is made first: ``debootstrap --variant=minbase
--include=python3,... bookworm DIR MIRROR`` into a temporary folder, then ``tar -C DIR -c .
| docker import - codepref-base:bookworm``; the Dockerfile is then built on that base. The
Debian mirror comes from ``--mirror``, ``$CODEPREF_DEBIAN_MIRROR`` or this machine's apt
sources. Images that already exist are reused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from codepref.errors import SandboxError
from codepref.execution.docker import docker_cmd, image_exists, require_engine

OFFLINE_BASE = "codepref-base:bookworm"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-numpy", "sqlite3")
APT_SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")


def find_dockerfile() -> Path:
    """``Dockerfile.sandbox`` at the top of the codepref checkout."""
    path = Path(__file__).resolve().parents[2] / "Dockerfile.sandbox"
    if not path.is_file():
        raise SandboxError(f"Dockerfile.sandbox not found at {path}; pass --dockerfile PATH")
    return path


def debian_mirror(explicit: str | None = None) -> str:
    """The Debian mirror for debootstrap: explicit, $CODEPREF_DEBIAN_MIRROR, or apt's first."""
    if explicit:
        return explicit
    if os.environ.get("CODEPREF_DEBIAN_MIRROR"):
        return os.environ["CODEPREF_DEBIAN_MIRROR"]
    files: list[Path] = []
    for src in APT_SOURCES:
        p = Path(src)
        files += sorted(p.glob("*")) if p.is_dir() else ([p] if p.is_file() else [])
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        # one-line style: "deb [opts] URI suite ..."; deb822 style: "URIs: URI"
        for m in re.finditer(r"^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.M):
            uri = m.group(1)
            if "security" not in uri and uri.startswith(("http://", "https://", "file:/")):
                return uri
    raise SandboxError("no Debian mirror found in apt's sources; pass --mirror URL or set CODEPREF_DEBIAN_MIRROR")


def build_offline_base(mirror: str | None = None, *, tag: str = OFFLINE_BASE, docker: str = "docker",
                       log: Callable[[str], None] = print) -> str:
    """Make ``tag`` from a debootstrap'd Debian (needs root and the debootstrap command)."""
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed (Debian: apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise SandboxError("building the offline base image needs root (debootstrap)")
    url = debian_mirror(mirror)
    with tempfile.TemporaryDirectory(prefix="codepref-rootfs-") as root:
        log(f"debootstrap {SUITE} ({', '.join(BASE_PACKAGES)}) ...")
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, root, url]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise SandboxError("debootstrap failed: " + " | ".join(tail))
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(Path(root, junk), ignore_errors=True)
        log(f"docker import -> {tag}")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run([docker_cmd(docker), "import", "-", tag], stdin=tar.stdout, capture_output=True)
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0:
            raise SandboxError(f"docker import failed: {imp.stderr.decode(errors='replace').strip()}")
    return tag


def build_image(image: str, *, offline: bool = False, base_image: str | None = None, mirror: str | None = None,
                dockerfile: str | os.PathLike[str] | None = None, force: bool = False, docker: str = "docker",
                log: Callable[[str], None] = print) -> str:
    """Build the sandbox image ``image`` unless it exists (or ``force``).

    Args:
        image: the tag to build (``SandboxConfig.image``).
        offline: build on a debootstrap'd base instead of pulling ``python:3.12-slim``.
        base_image: another base image to build on (overrides ``offline``'s base).
        mirror: Debian mirror for the offline base.
        dockerfile: path of Dockerfile.sandbox (default: the checkout's).
        force: rebuild even if the image exists.

    Returns:
        the image tag.
    """
    require_engine(docker)
    if image_exists(image, docker) and not force:
        log(f"{image} exists; nothing to build (use --force to rebuild)")
        return image
    base = base_image
    if offline and base is None:
        base = OFFLINE_BASE
        if image_exists(base, docker):
            log(f"{base} exists; reusing it")
        else:
            build_offline_base(mirror, tag=base, docker=docker, log=log)
    text = Path(dockerfile or find_dockerfile()).read_bytes()
    args = [docker_cmd(docker), "build", "-t", image, "-f", "-"]
    if base:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    if offline:
        args += ["--network", "none"]
    log(f"docker build -> {image}")
    with tempfile.TemporaryDirectory(prefix="codepref-build-") as ctx:
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        proc = subprocess.run([*args, ctx], input=text, capture_output=True, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise SandboxError("docker build failed: " + " | ".join(tail))
    return image
