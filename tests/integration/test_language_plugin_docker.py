"""A language from outside codepref: the test plugin ``tests/plugins/codepref-bash`` is
installed (pip, into a folder of its own) and codepref, unchanged, lists it and runs a
solutions x tests matrix in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "codepref-bash"

RUN_MATRIX = """
import json
from codepref.execution import execute_matrix
from codepref.records import Task
task = Task("add", "bash", "add a and b")
m = execute_matrix(task, ["add() { echo $(( $1 + $2 )); }", "add() { echo $(( $1 - $2 )); }"],
                   ['[ "$(add 1 2)" = 3 ]', '[ "$(add 2 0)" = 2 ]'], timeout_s=5.0)
print(json.dumps([[o.value for o in row] for row in m.outcomes]))
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("plugin")
    source = tmp_path_factory.mktemp("plugin-src") / "codepref-bash"
    shutil.copytree(PLUGIN, source)  # the build's by-products stay out of the repository
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, capture_output=True)
    return target


def _env(path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(path), os.environ.get("PYTHONPATH")]))}


def test_installed_plugin_language_is_listed(plugin_path):
    out = subprocess.run([sys.executable, "-m", "codepref", "languages", "list"], env=_env(plugin_path),
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("bash "))
    assert "plugin codepref-bash 0.1.0" in line and "codepref-sandbox:latest" in line


def test_installed_plugin_language_runs_a_matrix(plugin_path):
    proc = subprocess.run([sys.executable, "-c", RUN_MATRIX], env=_env(plugin_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [["passed", "passed"], ["failed", "passed"]]


def test_without_the_plugin_bash_is_unknown():
    proc = subprocess.run([sys.executable, "-m", "codepref", "languages", "list"], capture_output=True, text=True,
                          check=True)
    assert not any(x.startswith("bash ") for x in proc.stdout.splitlines())
