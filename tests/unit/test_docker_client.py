"""The Docker SDK layer without a working engine: typed errors and the container's settings."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from codepref.config import SandboxConfig
from codepref.errors import EngineUnavailableError, SandboxError
from codepref.execution.container import SERVER_CAPS, SERVER_MOUNT, container_options, host_options
from codepref.execution.docker import LABEL, OWNER_LABEL, engine_running, require_engine


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_engine(monkeypatch) -> str:
    host = f"tcp://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("DOCKER_HOST", host)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    return host


def test_an_unreachable_engine_is_a_typed_error_naming_it(dead_engine):
    with pytest.raises(EngineUnavailableError) as err:
        require_engine()
    text = str(err.value)
    assert dead_engine.removeprefix("tcp://") in text and "DOCKER_HOST" in text
    assert "Connection refused" in text
    assert "start one" in text  # says what to do
    assert isinstance(err.value, SandboxError) and err.value.exit_code == 3
    assert engine_running() is False


def test_the_pool_and_the_cli_refuse_to_start_without_an_engine(dead_engine):
    from codepref.cli import main
    from codepref.execution import SandboxPool

    with pytest.raises(EngineUnavailableError):
        SandboxPool(SandboxConfig(workers=1))
    r = CliRunner().invoke(main, ["sandbox", "check", "--workers", "1"])
    assert r.exit_code == 3
    assert r.output.strip().splitlines()[-1].startswith(f"error: no Docker engine answers at {dead_engine}")


def test_an_engine_url_is_used_and_anything_else_is_refused():
    port = _closed_port()
    with pytest.raises(EngineUnavailableError, match=f"tcp://127.0.0.1:{port}"):
        require_engine(f"tcp://127.0.0.1:{port}")
    with pytest.raises(SandboxError, match="must be 'docker'.*or an engine URL"):
        require_engine("/usr/bin/docker")


def test_container_settings_lock_the_container_down(tmp_path):
    cfg = SandboxConfig(memory_mb=256, pids_limit=64, cpus=0.5, tmpfs_mb=32, mounts=(f"{tmp_path}:/data",))
    host = host_options(cfg)
    assert host["network_mode"] == "none"
    assert host["read_only"] is True
    assert host["tmpfs"] == {"/tmp": "rw,exec,size=32m,mode=1777"}
    assert host["mem_limit"] == host["memswap_limit"] == "256m"  # no swap beyond the limit
    assert host["pids_limit"] == 64
    assert host["nano_cpus"] == 500_000_000
    assert host["security_opt"] == ["no-new-privileges"]
    assert host["cap_drop"] == ["ALL"] and host["cap_add"] == list(SERVER_CAPS)
    assert host["init"] is True and host["auto_remove"] is True
    assert host["log_config"]["type"] == "none"
    assert all(b["mode"] == "ro" for b in host["binds"].values())
    assert {b["bind"] for b in host["binds"].values()} == {SERVER_MOUNT, "/data"}
    opts = container_options(cfg, "n")
    assert opts["labels"][LABEL] == "1" and opts["labels"][OWNER_LABEL].endswith(":" + str(__import__("os").getpid()))
    assert opts["stdin_open"] is True and opts["image"] == cfg.image
    assert opts["environment"] == {"PYTHONHASHSEED": "0"}  # set order is the same in every run
