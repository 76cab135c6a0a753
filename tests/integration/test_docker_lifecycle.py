"""The container lifecycle through the Docker SDK, against the real engine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from codepref.config import SandboxConfig
from codepref.errors import SandboxError
from codepref.execution.container import SERVER_CAPS, Container
from codepref.execution.docker import (
    LABEL,
    OWNER_LABEL,
    client,
    image_exists,
    inspect_container,
    remove_container,
    remove_orphans,
)

pytestmark = pytest.mark.docker

IMAGE = SandboxConfig().image


def _labelled(owner: str) -> str:
    """A stopped sandbox-labelled container owned by ``owner``; returns its id."""
    api = client().api
    return api.create_container(IMAGE, ["true"], name=f"codepref-test-{uuid.uuid4().hex[:8]}",
                                labels={LABEL: "1", OWNER_LABEL: owner})["Id"]


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_orphans_of_dead_owners_are_removed_and_others_kept():
    host = socket.gethostname()
    dead = _labelled(f"{host}:{_dead_pid()}")
    mine = _labelled(f"{host}:{os.getpid()}")
    elsewhere = _labelled(f"some-other-host:{_dead_pid()}")
    try:
        removed = remove_orphans()
        assert dead in removed
        assert inspect_container(dead) is None
        assert inspect_container(mine) is not None  # its owner (this process) is alive
        assert inspect_container(elsewhere) is not None  # another host's pids mean nothing here
    finally:
        for cid in (dead, mine, elsewhere):
            remove_container(cid)


def test_a_container_runs_locked_down_and_is_removed_on_kill():
    config = SandboxConfig(workers=1, memory_mb=256, pids_limit=64, cpus=0.5)
    c = Container(config)
    try:
        assert c.info.get("python")
        state = inspect_container(c.id)
        hc = state["HostConfig"]
        assert hc["NetworkMode"] == "none" and hc["ReadonlyRootfs"] is True
        assert hc["Memory"] == hc["MemorySwap"] == 256 * 2**20
        assert hc["PidsLimit"] == 64 and hc["NanoCpus"] == 500_000_000
        assert hc["CapDrop"] == ["ALL"] and sorted(hc["CapAdd"]) == sorted(SERVER_CAPS)
        assert hc["SecurityOpt"] == ["no-new-privileges"] and hc["Init"] is True
        assert hc["LogConfig"]["Type"] == "none" and hc["AutoRemove"] is True
        assert "/tmp" in hc["Tmpfs"] and all(b.endswith(":ro") for b in hc["Binds"])
        assert state["Config"]["Labels"][OWNER_LABEL] == f"{socket.gethostname()}:{os.getpid()}"
        program = {"code": "print('hi')", "timeout_s": 5, "mode": "python", "stdin": ""}
        reply = c.request({"op": "exec", "programs": [program]}, 20)
        assert reply["stdout"] == "hi\n" and reply["outcome"] == "passed"
        assert c.receive(20)["op"] == "done"
        assert c.alive()
    finally:
        c.kill()
    assert inspect_container(c.id) is None
    assert not c.alive()
    c.kill()  # idempotent


def test_a_container_removed_behind_our_back_is_seen_dead():
    c = Container(SandboxConfig(workers=1))
    try:
        client().api.remove_container(c.id, force=True)
        with pytest.raises(Exception) as err:
            c.request({"op": "ping"}, 10)
        assert type(err.value).__name__ == "ContainerFailure"
        assert not c.alive()
    finally:
        c.kill()


def test_a_missing_image_is_a_clear_error():
    name = f"codepref-no-such-image:{uuid.uuid4().hex[:8]}"
    assert not image_exists(name)
    assert image_exists(IMAGE)
    with pytest.raises(SandboxError, match="could not create the sandbox container: .*No such image"):
        Container(SandboxConfig(workers=1, image=name))


def test_the_image_builds_through_the_sdk_and_a_failing_build_says_why(tmp_path):
    from codepref.execution.image import OFFLINE_BASE, build_image

    if not image_exists(OFFLINE_BASE):
        pytest.skip(f"{OFFLINE_BASE} is made by `codepref sandbox build --offline`")
    tag = f"codepref-test-build:{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    try:
        assert build_image(tag, offline=True, log=lines.append) == tag
        assert image_exists(tag)
        assert any("exists; reusing it" in line for line in lines)  # the base was not rebuilt
        broken = tmp_path / "Dockerfile"
        broken.write_text(f"FROM {OFFLINE_BASE}\nRUN echo about to fail && exit 3\n")
        with pytest.raises(SandboxError, match="docker build failed: .*non-zero code: 3"):
            build_image(tag + "-broken", offline=True, dockerfile=broken, log=lines.append)
        assert not image_exists(tag + "-broken")
    finally:
        client().api.remove_image(tag, force=True)
