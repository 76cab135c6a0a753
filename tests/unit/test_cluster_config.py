"""``[cluster]``: the executor backends, their settings, and that Ray stays out of the way.

The Ray backend itself runs against a real multi-node cluster in
``tests/integration/test_ray_cluster.py``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from codepref.config import ClusterConfig
from codepref.errors import ConfigError
from codepref.execution.executor import EXECUTORS
from codepref.runconfig import SECTIONS, load_run_config


def test_default_is_the_local_pool():
    assert ClusterConfig().backend == "local"
    assert load_run_config().cluster == ClusterConfig()
    assert EXECUTORS.names() == ["local", "ray"]


def test_cluster_section_is_read_and_checked():
    c = load_run_config(None, ['cluster.backend="ray"', 'cluster.address="ray://head:10001"'])
    assert (c.cluster.backend, c.cluster.address) == ("ray", "ray://head:10001")
    with pytest.raises(ConfigError) as e:
        load_run_config(None, ['cluster.backend="slurm"', "cluster.jobs_per_task=0"])
    text = str(e.value)
    assert "backend must be local or ray" in text and "jobs_per_task must be >= 1" in text
    assert SECTIONS["cluster"] is ClusterConfig


def test_cluster_is_not_in_the_execute_stage_key():
    """The backend changes where cells run, not the records: switching it redoes nothing."""
    import inspect

    from codepref import pipeline

    src = inspect.getsource(pipeline)
    assert '["sandbox", "execute"]' in src


def test_execute_and_generate_take_a_cluster_address():
    from codepref.cli import main

    for command in ("execute", "generate"):
        assert "--cluster-address" in CliRunner().invoke(main, [command, "--help"]).output


def test_import_and_help_do_not_import_ray():
    code = ("import sys, codepref, codepref.execution.executor, codepref.runconfig\n"
            "from click.testing import CliRunner\nfrom codepref.cli import main\n"
            "CliRunner().invoke(main, ['--help']); CliRunner().invoke(main, ['execute', '--help'])\n"
            "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_address_nobody_listens_on_fails_at_once():
    """``ray.init`` retries a dead ``HOST:PORT`` for minutes; codepref says so in seconds."""
    import socket

    from codepref.errors import ClusterError
    from codepref.raycluster import check_reachable

    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(ClusterError, match="cannot connect to the Ray cluster"):
            check_reachable(address, timeout_s=5)
    check_reachable("auto")  # left to Ray
