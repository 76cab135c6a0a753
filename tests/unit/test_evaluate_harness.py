"""The in-sandbox judging harness, run on the host in a subprocess, against evalplus's own
``untrusted_check`` on tricky outputs (floats, the sticky atol, types, numpy, special
oracles, crashes, hangs, exits). The sandbox itself is covered by the docker tests.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import pytest

from codepref.evaluation.judges import JudgeSettings, harness_source

RUNNER = r"""
import pickle, sys
args = pickle.load(open(sys.argv[1], "rb"))
h = {"__name__": "codepref_harness"}
exec(compile(args["harness"], "codepref_harness.py", "exec"), h)
h["load_reference"](args["canonical"], args["entry"])
ns = {}
h["load"](ns, args["candidate"], None, True)
try:
    h["run_inputs"](ns, args["payload"], args["entry"], args["atol"], args["limits"], args["budget"], args["oracle"])
    verdict = "pass"
except AssertionError:
    verdict = "fail"
except h["BudgetExceeded"]:
    verdict = "timeout"
print(verdict)
"""


def ours(tmp_path, canonical, candidate, inputs, atol=0.0, oracle=""):
    from codepref.evaluation.judges import encode

    settings = JudgeSettings()
    limits = settings.limits([0.001] * len(inputs))
    args = {"harness": harness_source(), "canonical": canonical, "entry": "f", "candidate": candidate,
            "payload": encode(inputs), "atol": atol, "limits": limits, "budget": settings.budget(limits),
            "oracle": oracle}
    path = tmp_path / "args.pkl"
    path.write_bytes(pickle.dumps(args))
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1]


def theirs(canonical, candidate, inputs, atol=0.0, dataset="humaneval", entry="f", not_none=False):
    from evalplus.eval import untrusted_check

    namespace: dict = {}
    exec(canonical, namespace)
    expected = [namespace["f"](*copy.deepcopy(i)) for i in inputs]
    if not_none:
        expected = [e is not None for e in expected]
    if entry != "f":
        candidate = candidate + f"\n{entry} = f\n"
    stat, _ = untrusted_check(dataset, candidate, inputs, entry, expected, atol, [0.001] * len(inputs),
                              fast_check=True)
    return stat


DIV3 = "def f(x):\n    return x / 3\n"
CASES = [
    ("float close", DIV3, "def f(x):\n    return x / 3 + 1e-9\n", [[1.0], [2.0]], 0.0),
    ("float off", DIV3, "def f(x):\n    return x / 3 + 1e-3\n", [[1.0], [2.0]], 0.0),
    ("float as int", DIV3, "def f(x):\n    return int(x / 3)\n", [[3.0], [4.0]], 0.0),
    ("float with atol", DIV3, "def f(x):\n    return x / 3 + 1e-5\n", [[1.0]], 1e-4),
    ("sticky atol admits a near int", "def f(x):\n    return x / 2 if x < 0 else x * 10**9\n",
     "def f(x):\n    return x / 2 if x < 0 else x * 10**9 + 1\n", [[-1.0], [5]], 0.0),
    ("no sticky atol without a float first", "def f(x):\n    return x * 10**9\n",
     "def f(x):\n    return x * 10**9 + 1\n", [[5]], 0.0),
    ("list length", "def f(x):\n    return [x / 2] * 3\n", "def f(x):\n    return [x / 2] * 2\n", [[1.0]], 0.0),
    ("tuple vs list", "def f(x):\n    return (x, x)\n", "def f(x):\n    return [x, x]\n", [[1]], 0.0),
    ("numpy output", DIV3, "import numpy as np\ndef f(x):\n    return np.array([x / 3])\n", [[1.0]], 0.0),
    ("crash on one input", "def f(x):\n    return x\n", "def f(x):\n    return 1 // (x - 2) and x\n",
     [[1], [2]], 0.0),
    ("sys.exit in the call", "def f(x):\n    return x\n", "import sys\ndef f(x):\n    sys.exit(0)\n", [[1]], 0.0),
    ("exit() is disabled", "def f(x):\n    return x\n", "def f(x):\n    exit()\n    return x\n", [[1]], 0.0),
    ("open() is disabled", "def f(x):\n    return x\n", "def f(x):\n    open('/dev/null')\n    return x\n",
     [[1]], 0.0),
    ("endless loop", "def f(x):\n    return x\n", "def f(x):\n    while True:\n        pass\n", [[1]], 0.0),
    ("mutates its input", "def f(x):\n    return sorted(x)\n", "def f(x):\n    x.sort()\n    return x\n",
     [[[3, 1, 2]], [[2, 1]]], 0.0),
    ("exit at load", "def f(x):\n    return x\n", "def f(x):\n    return x\nimport sys\nsys.exit(0)\n",
     [[1]], 0.0),
    ("__main__ block is not run", "def f(x):\n    return x\n",
     "def f(x):\n    return x\nif __name__ == '__main__':\n    raise SystemExit(3)\n", [[1]], 0.0),
    ("missing entry point", "def f(x):\n    return x\n", "def g(x):\n    return x\n", [[1]], 0.0),
]


@pytest.mark.parametrize("name, canonical, candidate, inputs, atol", CASES, ids=[c[0] for c in CASES])
def test_harness_agrees_with_evalplus(tmp_path, name, canonical, candidate, inputs, atol):
    assert ours(tmp_path, canonical, candidate, inputs, atol) == theirs(canonical, candidate, inputs, atol)


@pytest.mark.parametrize("oracle, canonical, candidate, inputs, entry, dataset", [
    ("set_eq", "def f(a, b):\n    return tuple(set(a) & set(b))\n",
     "def f(a, b):\n    return tuple(sorted(set(a) & set(b), reverse=True))\n", [[(3, 4, 5), (5, 4)]],
     "similar_elements", "mbpp"),
    ("set_eq", "def f(a, b):\n    return tuple(set(a) & set(b))\n", "def f(a, b):\n    return (a[0],)\n",
     [[(3, 4, 5), (5, 4)]], "similar_elements", "mbpp"),
    ("not_none", "import re\ndef f(s):\n    return re.match('a', s)\n", "def f(s):\n    return s.startswith('a')\n",
     [["ab"], ["b"]], "text_match_three", "mbpp"),
    ("not_none", "import re\ndef f(s):\n    return re.match('a', s)\n", "def f(s):\n    return True\n",
     [["ab"], ["b"]], "text_match_three", "mbpp"),
    ("digit_distance", "def f(a, b):\n    return 0\n", "def f(a, b):\n    return sum(abs(int(x) - int(y)) for x, y in "
     "zip(str(a).zfill(4), str(b).zfill(4)))\n", [[123, 256]], "digit_distance_nums", "mbpp"),
])
def test_special_oracles_agree_with_evalplus(tmp_path, oracle, canonical, candidate, inputs, entry, dataset):
    got = ours(tmp_path, canonical, candidate, inputs, 0.0, oracle)
    assert got == theirs(canonical, candidate, inputs, 0.0, dataset, entry, not_none=oracle == "not_none")


def test_os_exit_zero_is_not_a_pass(tmp_path):
    """evalplus reads a process that vanished as "timeout"; here the call fails: neither passes."""
    canonical, candidate = "def f(x):\n    return x\n", "import os\ndef f(x):\n    os._exit(0)\n"
    assert ours(tmp_path, canonical, candidate, [[1]]) == "fail"
    assert theirs(canonical, candidate, [[1]]) != "pass"


def test_find_zero_counts_a_correct_root(tmp_path):
    """Where evalplus 0.3.1 fails every program (its bug), a good root passes and a bad one fails."""
    canonical = "def f(xs):\n    return -xs[0] / xs[1]\n"
    inputs = [[[2.0, 1.0]], [[-3.0, 2.0]]]
    assert ours(tmp_path, canonical, canonical, inputs, 1e-4, "find_zero") == "pass"
    assert ours(tmp_path, canonical, "def f(xs):\n    return 0.5\n", inputs, 1e-4, "find_zero") == "fail"
    assert theirs(canonical, canonical, inputs, 1e-4, "humaneval", "find_zero") == "fail"


def test_time_limits_follow_evalplus():
    s = JudgeSettings()
    assert s.limits([0.01, 0.5, 2.0]) == [1.0, 2.0, 8.0]
    assert s.budget([1.0] * 10) == 12.0 and s.budget([1.0] * 100) == 62.0


# --------------------------------------------------------------------------- CPU-time limits

CLOCK_RUNNER = r"""
import pickle, resource, sys
args = pickle.load(open(sys.argv[1], "rb"))
h = {"__name__": "codepref_harness"}
exec(compile(args["harness"], "codepref_harness.py", "exec"), h)
h["load_reference"]("def f(x):\n    return x\n", "f")
ns = {}
h["load"](ns, args["candidate"], args.get("load_limit"), True, 5.0)
print("cpu soft limit after loading", resource.getrlimit(resource.RLIMIT_CPU)[0], flush=True)
try:
    h["run_inputs"](ns, args["payload"], "f", 0.0, args["limits"], 30.0, "", 4.0, args["wall_factor"],
                    args.get("cpu_cap"))
    print("pass")
except AssertionError as e:
    print("fail", e)
except h["BudgetExceeded"] as e:
    print("timeout", e)
"""


def run_clock(tmp_path, candidate, limits, wall_factor=5.0, stop_s=0.0, **extra):
    """Run the harness on inputs 0..len(limits)-1 in a subprocess; return (returncode, output).

    ``stop_s``: once loaded, the process is stopped (SIGSTOP) for that long, as if other
    processes held every CPU, then continued.
    """
    import os
    import signal
    import time

    from codepref.evaluation.judges import encode

    args = {"harness": harness_source(), "candidate": candidate, "payload": encode([[i] for i in range(len(limits))]),
            "limits": limits, "wall_factor": wall_factor, **extra}
    path = tmp_path / "args.pkl"
    path.write_bytes(pickle.dumps(args))
    proc = subprocess.Popen([sys.executable, "-c", CLOCK_RUNNER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    first = proc.stdout.readline()  # loaded: the inputs are being run now
    if stop_s:
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(stop_s)
        os.kill(proc.pid, signal.SIGCONT)
    proc.wait(timeout=120)  # it prints a line or two: the pipe cannot fill
    with proc.stdout:
        return proc.returncode, first + proc.stdout.read()


SPIN = ("import time\ndef f(x):\n    end = time.process_time() + {s}\n"
        "    while time.process_time() < end:\n        pass\n    return x\n")


def test_time_a_process_waits_for_a_cpu_is_not_charged(tmp_path):
    """Stopped for twice its 1 s limit in the middle of its inputs, a program using 0.2 s of
    CPU per input still passes: a wall-clock limit (the references') would fail it."""
    code, out = run_clock(tmp_path, SPIN.format(s=0.2), [1.0] * 6, stop_s=2.0)
    assert code == 0 and out.split()[-1] == "pass", out


def test_cpu_limit_fails_a_slow_call(tmp_path):
    code, out = run_clock(tmp_path, SPIN.format(s=1.5), [1.0, 1.0])
    assert code == 0 and "fail input 0: over its CPU time limit of 1.00s" in out, out


def test_a_sleeping_call_is_stopped_by_the_wall_clock_backstop(tmp_path):
    """Sleeping uses no CPU time: a call is charged only when it sleeps past ``wall_factor``
    times its limit (here 4 x 0.25 s); a shorter sleep passes where EvalPlus would fail it."""
    sleeper = "import time\ndef f(x):\n    time.sleep(0.4 if x == 0 else 30)\n    return x\n"
    code, out = run_clock(tmp_path, sleeper, [0.25, 0.25], wall_factor=4.0)
    assert code == 0 and "fail input 1: over its wall-clock backstop of 1.0s" in out, out


def test_cpu_cap_ends_a_call_stuck_in_c(tmp_path):
    """``sum(range(...))`` over 10**12 numbers never returns to the interpreter, so no limit's
    handler runs; the cell's CPU cap (RLIMIT_CPU) ends the process, which the sandbox reads
    as a timeout."""
    import signal

    stuck = "def f(x):\n    return sum(range(10**12 + x)) and x\n"
    code, out = run_clock(tmp_path, stuck, [0.5], cpu_cap=2.0)
    assert code == -signal.SIGXCPU, (code, out)


def test_loading_is_cpu_limited_and_its_cap_is_put_back(tmp_path):
    import resource

    soft = resource.getrlimit(resource.RLIMIT_CPU)[0]
    code, out = run_clock(tmp_path, "def f(x):\n    return x\n", [1.0], load_limit=2.0)
    assert code == 0 and out.split()[-1] == "pass" and f"after loading {soft}" in out, out
    spin_at_load = SPIN.format(s=0.0) + "while True:\n    pass\n"
    code, out = run_clock(tmp_path, spin_at_load, [1.0], load_limit=0.5)
    assert code == 0 and "timeout loading the solution timed out" in out, out


def test_reference_times_are_cpu_times():
    """The canonical solution's runtimes leave out time it spends waiting (here: sleeping)."""
    import json

    from codepref.evaluation.judges import encode

    canonical = SPIN.format(s=0.05) + "def g(x):\n    time.sleep(0.3)\n    return f(x)\n"
    runner = ("import sys\nh = {'__name__': 'codepref_harness'}\n"
              "exec(compile(sys.stdin.read(), 'codepref_harness.py', 'exec'), h)\n"
              f"h['reference_times']({canonical!r}, 'g', "
              f"{{'base': {encode([[1], [2]])!r}, 'plus': {encode([[3]])!r}}})\n")
    proc = subprocess.run([sys.executable, "-c", runner], input=harness_source(), capture_output=True, text=True,
                          timeout=60)
    times = json.loads(proc.stdout)
    assert [len(times["base"]), len(times["plus"])] == [2, 1], proc.stderr
    assert all(0.04 <= t < 0.2 for t in times["base"] + times["plus"]), times


def test_jobs_give_the_sandbox_a_wall_clock_deadline_of_wall_factor_times_the_cpu_cap():
    from codepref.evaluation.judges import SLACK_S, build_job
    from codepref.records import Task

    settings = JudgeSettings(wall_factor=3.0)
    plus = Task("t/0", "python", "def f(x):\n", "f", metadata={
        "canonical_solution": "    return x\n", "base_input": [[1], [2]], "plus_input": [[3]], "atol": 0})
    job = build_job(plus, ["def f(x):\n    return x\n"], settings, {"base": [0.5, 0.25], "plus": [2.0]})
    caps = [min(60.0, 2.0 + 1.0) + 2.0 + 2 * 0.75 + SLACK_S, 8.0 + 2.0 + 2 * 2.0 + SLACK_S]
    assert job.test_timeouts_s == [3.0 * c for c in caps] and job.timeout_s == max(job.test_timeouts_s)
    assert all(t.rstrip().endswith(f"4.0, 3.0, {c!r})") for t, c in zip(job.tests, caps))
    # Loading is CPU-limited by the larger column budget (the plus column's 8 + 2 s).
    assert job.solutions[0].rstrip().endswith("10.0, True, 3.0)")

    asserts = Task("t/1", "python", "def f(x):\n", "f", tests=["assert f(1) == 1"])
    job = build_job(asserts, ["def f(x):\n    return x\n"], settings)
    cap = settings.test_timeout_s + 1.0 + SLACK_S
    assert job.test_timeouts_s == [3.0 * cap] and job.tests[0].rstrip().endswith(f"False, 3.0, {cap!r})")
