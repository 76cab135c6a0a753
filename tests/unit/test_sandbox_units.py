"""Sandbox pieces that need no Docker: framing, input validation (container settings: test_docker_client.py)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codepref.config import SandboxConfig
from codepref.errors import InputError
from codepref.execution.image import debian_mirror
from codepref.execution.jobs import read_jobs, read_programs
from codepref.execution.pool import _Retry
from codepref_sandbox import server

REPO = Path(__file__).resolve().parents[2]


def test_frames_round_trip_through_a_pipe():
    r, w = os.pipe()
    msg = {"op": "exec", "programs": [{"code": "print('é')", "timeout_s": 1}]}
    os.write(w, server.encode_frame(msg) + server.encode_frame({"op": "ping"}))
    os.close(w)
    assert server.read_frame(r) == msg
    assert server.read_frame(r) == {"op": "ping"}
    assert server.read_frame(r) is None
    os.close(r)


def _lines(tmp_path, *lines):
    p = tmp_path / "in.jsonl"
    p.write_text("".join(line + "\n" for line in lines))
    return p


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "language": "python"}'], r":1: missing field 'code'"),
        (['{"id": "a", "language": "pyton", "code": ""}'], r":1: unknown language 'pyton'; did you mean 'python'"),
        (['{"id": "a", "language": "python", "code": "", "timeout": 1}'], r"unknown field 'timeout' \(did you mean 'timeout_s'"),
        (['{"id": "a", "language": "python", "code": "1"}', '{"id": "a", "language": "python", "code": "2"}'],
         r":2: duplicate id 'a' \(first on line 1\)"),
        (['{"id": "a", "language": "python", "code": 5}'], r"field 'code' must be str"),
        (['{"id": "a", "language": "python", "code": "x", "timeout_s": 0}'], r"'timeout_s' must be > 0"),
        (['{"id": "a", "language": "python", "code": "' + "x" * 2000 + '"}'], r"over the 1000-byte limit"),
    ],
)
def test_program_input_errors_name_the_line(tmp_path, lines, message):
    with pytest.raises(InputError, match=message):
        read_programs(_lines(tmp_path, *lines), SandboxConfig(max_code_bytes=1000))


def test_job_input_errors(tmp_path):
    p = _lines(tmp_path, '{"task_id": "t", "language": "python", "solutions": ["a"], "tests": [1]}')
    with pytest.raises(InputError, match=r"tests\[0\] must be a string"):
        read_jobs(p, SandboxConfig())
    p = _lines(tmp_path, '{"task_id": "t", "language": "python", "solutions": [], "tests": ["x"], "test_timeouts_s": [1, 2]}')
    with pytest.raises(InputError, match="one positive number per test"):
        read_jobs(p, SandboxConfig())


def test_retry_gives_up_after_the_configured_retries():
    r = _Retry(retries=2)
    assert [r.failed() for _ in range(3)] == [False, False, True]
    assert r.failures == 0  # reset for the next piece of work


def test_debian_mirror_precedence(monkeypatch):
    assert debian_mirror("http://mirror.example/debian") == "http://mirror.example/debian"
    monkeypatch.setenv("CODEPREF_DEBIAN_MIRROR", "http://env.example/debian")
    assert debian_mirror() == "http://env.example/debian"


def test_help_imports_no_torch():
    code = "import sys\nfrom click.testing import CliRunner\nfrom codepref.cli import main\n" \
           "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0, r.output\n" \
           "assert 'sandbox' in r.output\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_package_is_listed_in_pyproject():
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "codepref").rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
    assert "codepref_sandbox" in listed


def test_oom_counter_is_read_from_cgroup_v1_and_v2(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\n")
    assert server.cgroup_version(str(v2)) == "v2"
    assert server.oom_kills(str(v2)) == 2
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")
    assert server.cgroup_version(str(v1)) == "v1"
    assert server.oom_kills(str(v1)) == 5
    assert server.oom_kills(str(tmp_path / "none")) is None
