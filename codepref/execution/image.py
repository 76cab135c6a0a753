"""Building the sandbox image, with or without a container registry.

With a registry, ``Dockerfile.sandbox`` builds on ``python:3.12-slim``. Without one
(``offline=True``), a Debian base is made first: ``debootstrap --variant=minbase
--include=python3,... bookworm DIR MIRROR`` into a temporary folder, packed with ``tar``
and imported as ``codepref-base:bookworm`` (what ``docker import`` does); the Dockerfile is
then built on that base. The Debian mirror comes from ``--mirror``,
``$CODEPREF_DEBIAN_MIRROR`` or this machine's apt sources. Images that already exist are
reused.

A language whose programs need more than the base (``Language.packages``: Node.js, g++)
runs in an image of its own, ``codepref-sandbox-<language>:latest``
(:func:`codepref.languages.image_for`), built the same way from its own base
``codepref-base-<language>:bookworm``: debootstrap, then ``apt-get install`` of the extra
packages *inside the chroot* (debootstrap's own ``--include`` resolver misses some
dependencies; apt's does not), packed and imported. With a registry, the Dockerfile's
``PACKAGES`` argument installs them instead. Only the images the languages in use need are
built (``codepref sandbox build --language cpp``).

The engine is driven through the Docker SDK (:mod:`codepref.execution.docker`), so no
docker client binary is needed; builds go through the engine's classic builder (the SDK
cannot drive BuildKit), which is what the old ``DOCKER_BUILDKIT=0 docker build`` used too.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from codepref.errors import SandboxError
from codepref.execution.docker import ENV_ENGINE, client, engine_errors, image_exists, require_engine

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


def build_offline_base(mirror: str | None = None, *, tag: str = OFFLINE_BASE, packages: tuple[str, ...] = (),
                       docker: str = ENV_ENGINE, log: Callable[[str], None] = print) -> str:
    """Make ``tag`` from a debootstrap'd Debian (needs root and the debootstrap command).

    Args:
        packages: Debian packages installed with apt inside the chroot after debootstrap
            (beyond :data:`BASE_PACKAGES`), with their dependencies but no recommends.
        docker: the engine (``"docker"``: the environment's; or an engine URL).
    """
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
        if packages:
            log(f"apt-get install {' '.join(packages)} (in the chroot) ...")
            chroot_install(root, packages)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(Path(root, junk), ignore_errors=True)
        log(f"import -> {tag}")
        # tar (not Python's tarfile) keeps device nodes, ownership and modes exactly.
        with tempfile.TemporaryDirectory(prefix="codepref-rootfs-tar-") as tmp:
            archive = Path(tmp, "rootfs.tar")
            proc = subprocess.run(["tar", "-C", root, "-cf", str(archive), "."], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SandboxError(f"tar of the debootstrap'd root failed: {proc.stderr.strip()}")
            repository, version = _split_tag(tag)
            with engine_errors(f"import {tag}", docker):
                # Given a path, the SDK streams the file and waits for the engine with no timeout.
                client(docker).api.import_image(src=str(archive), repository=repository, tag=version)
    if not image_exists(tag, docker):
        raise SandboxError(f"the import of {tag} reported success but the engine has no such image")
    return tag


def chroot_install(root: str | os.PathLike[str], packages: tuple[str, ...]) -> None:
    """``apt-get install --no-install-recommends PACKAGES`` inside the debootstrap'd ``root``.

    apt reads the sources debootstrap wrote (the same mirror); the host's resolv.conf is
    lent to the chroot for the download and the root's own put back afterwards.

    Raises:
        SandboxError: apt failed (its last lines are kept).
    """
    resolv = Path(root, "etc", "resolv.conf")
    saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
    if resolv.is_symlink():
        resolv.unlink()
    if Path("/etc/resolv.conf").is_file():
        shutil.copyfile("/etc/resolv.conf", resolv)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C"}
    try:
        for cmd in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", *packages],
                    ["apt-get", "clean"]):
            proc = subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise SandboxError(f"{' '.join(cmd[:2])} in the chroot failed: " + " | ".join(tail))
    finally:
        if saved is not None:
            resolv.write_bytes(saved)
        else:
            resolv.unlink(missing_ok=True)


def offline_base_tag(variant: str = "") -> str:
    """The debootstrap'd base of an image: ``codepref-base:bookworm``, or
    ``codepref-base-VARIANT:bookworm`` for one with extra packages."""
    if not variant:
        return OFFLINE_BASE
    name, version = _split_tag(OFFLINE_BASE)
    return f"{name}-{variant}:{version}"


def _split_tag(tag: str) -> tuple[str, str]:
    """``"name:version"`` -> ``("name", "version")``; no version means ``latest``."""
    name, sep, version = tag.rpartition(":")
    if sep and name and "/" not in version:
        return name, version
    return tag, "latest"


def build_image(image: str, *, offline: bool = False, base_image: str | None = None, mirror: str | None = None,
                dockerfile: str | os.PathLike[str] | None = None, force: bool = False, docker: str = ENV_ENGINE,
                packages: tuple[str, ...] = (), variant: str = "", log: Callable[[str], None] = print) -> str:
    """Build the sandbox image ``image`` unless it exists (or ``force``).

    Args:
        image: the tag to build (``SandboxConfig.image``, or a language's image from
            :func:`codepref.languages.image_for`).
        packages: Debian packages the image adds to the base (a language image's).
        variant: names the offline base holding ``packages`` (:func:`offline_base_tag`).
        offline: build on a debootstrap'd base instead of pulling ``python:3.12-slim``.
        base_image: another base image to build on (overrides ``offline``'s base).
        mirror: Debian mirror for the offline base.
        dockerfile: path of Dockerfile.sandbox (default: the checkout's).
        force: rebuild even if the image exists.
        docker: the engine (``"docker"``: the environment's; or an engine URL).

    Returns:
        the image tag.
    """
    require_engine(docker)
    if image_exists(image, docker) and not force:
        log(f"{image} exists; nothing to build (use --force to rebuild)")
        return image
    base = base_image
    if offline and base is None:
        base = offline_base_tag(variant if packages else "")
        if image_exists(base, docker):
            log(f"{base} exists; reusing it")
        else:
            build_offline_base(mirror, tag=base, packages=packages, docker=docker, log=log)
    text = Path(dockerfile or find_dockerfile()).read_bytes()
    log(f"build -> {image}")
    buildargs = {"BASE_IMAGE": base} if base else {}
    if packages:
        buildargs["PACKAGES"] = " ".join(packages)
    tail = _build(image, text, buildargs=buildargs,
                  network_mode="none" if offline else None, docker=docker)
    if not image_exists(image, docker):
        raise SandboxError("docker build failed: " + " | ".join(tail[-3:]))
    return image


def _build(image: str, dockerfile: bytes, *, buildargs: dict[str, str], network_mode: str | None,
           docker: str) -> list[str]:
    """Build ``dockerfile`` (a context of the Dockerfile alone) as ``image``.

    Returns:
        the build's last output lines.

    Raises:
        SandboxError: the engine reported a build error (its message is kept).
    """
    tail: list[str] = []
    with engine_errors(f"build {image}", docker):
        stream = client(docker).api.build(fileobj=io.BytesIO(dockerfile), tag=image, buildargs=buildargs,
                                          network_mode=network_mode, rm=True, forcerm=True, decode=True)
        for event in stream:
            if "error" in event:
                detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                raise SandboxError("docker build failed: " + " | ".join([*tail[-2:], detail.strip()]))
            for line in str(event.get("stream", "")).splitlines():
                if line.strip():
                    tail = [*tail[-9:], line.strip()]
    return tail
