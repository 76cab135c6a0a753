"""The judging harness that runs *inside* the sandbox (standard library only).

This file is shipped as source text: every benchmark matrix job's ``setup`` executes it into
a private dict ``__codepref__`` of the loaded solution's namespace (see
:mod:`codepref.evaluation.judges`). It reproduces how the reference harnesses run a program:

* openai/human-eval ``check_correctness`` (HumanEval, and the assert tests of MBPP and user
  task files): the program is executed with ``__name__ == "builtins"`` (they ``exec`` into
  ``{}``), under ``reliability_guard`` (``exit``, ``os.kill``, ``os.system``,
  ``subprocess.Popen`` ... set to None), with stdin/stdout/stderr swallowed and one
  ``setitimer`` limit (3 s) for the whole program. Any exception fails it; the limit
  expiring is "timed out".
* EvalPlus ``untrusted_check`` (HumanEval+, MBPP+): the solution is loaded the same way
  (and ``open`` is disabled too); then the entry point is called on every input, each call
  under its own limit ``max(min_time_limit, factor * reference_time)``; the output is
  compared with the canonical solution's output on a deep copy of the same input (exact
  match, else ``np.allclose(out, exp, rtol=1e-7, atol=atol)`` with the type and length
  checks and the "sticky" ``atol = 1e-6`` for float outputs, and EvalPlus's special
  oracles); the first failing input stops the check; everything together must finish
  within ``min(60, sum(limits)) + 2`` seconds. A deliberate difference: the ``find_zero``
  oracle (HumanEval/32) counts a correct root as a pass, as upstream EvalPlus does after
  fixing 0.3.1, where a ``continue`` skips the bookkeeping and no program can pass it.

**Time is CPU time.** Both references measure wall-clock: ``setitimer(ITIMER_REAL)`` for
every limit, ``time.time()`` around the ground truth in EvalPlus's ``trusted_exec``, and
``p.join(timeout)`` for the whole check. A solution then passes or fails with the machine's
load: a correct O(n^2) HumanEval/96 that needs half of its 1 s per-input floor on a quiet
machine ran over it while another evaluation ran beside it. Here every limit (human-eval's
3 s for loading plus a test, EvalPlus's per-input limits and whole-check budget) is on the
CPU time of the process running the program (user + system, all threads: :func:`cpu_time`,
enforced by ``setitimer(ITIMER_PROF)``), and the canonical
solution's runtimes are CPU times too (:func:`reference_times`). Time the process spends
waiting for a CPU that other processes hold is not charged, so the verdicts do not depend on
what else runs. Also, an input's limit is raised to ``factor`` times the canonical
solution's CPU time on it in the same cell when that is larger (what slows a process's own
instructions, such as a shared cache, slows both alike).

What CPU time does not see is a program that waits without computing (sleeping, blocked):
for that, and for a process starved beyond reason, every CPU limit has a wall-clock backstop
``wall_factor`` (5) times as long; a call that reaches it fails like one over its limit.
Code stuck in one C call (``sum(range(10**12))``) runs no signal handler; ``RLIMIT_CPU`` ends it:
a cell is capped at ``cpu_cap_s`` CPU seconds (the sandbox then reports a timeout), and
loading at its own limit plus a second.

Both references import numpy before the guard (their own modules do); a candidate whose
source mentions numpy gets it imported before the guard here too, as importing it with
``open`` disabled would fail.

The canonical solution is loaded once per solution row (in the loader, before the
candidate) and run next to the candidate in each test cell, so the expected outputs never
have to be stored or shipped (some HumanEval+/MBPP+ outputs are hundreds of MB).

How a cell reports: a pass exits normally; a wrong answer or any exception of the candidate
raises ``AssertionError`` (outcome ``failed``); an exhausted time budget raises
:class:`BudgetExceeded` (outcome ``error``, read as "timed out" by the judges).
"""

import base64
import builtins
import contextlib
import copy
import faulthandler
import io
import json
import math
import os
import pickle
import resource
import signal
import sys
import time
import zlib

STATE = {"load_error": None, "load_s": 0.0, "reference": None}
#: A CPU limit's wall-clock backstop, as a multiple of the limit (see the module docstring).
WALL_FACTOR = 5.0


def cpu_time():
    """CPU seconds this process has used (user + system, all threads).

    From ``getrusage``: ``time.process_time()`` reads the same clock, but on Linux it drops
    to the scheduler tick (4 ms) while a CPU rlimit or CPU timer is armed, as in a sandbox
    child; ``getrusage`` stays exact to the microsecond.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TimeoutException(Exception):
    """A per-call limit expired: ``args[0]`` is ``"cpu"`` (the CPU limit) or ``"wall"`` (its backstop)."""


class BudgetExceeded(Exception):
    """The program's whole time budget ran out: the reference harness's "timed out"."""


@contextlib.contextmanager
def time_limit(cpu_s, wall_s):
    """Raise TimeoutException in the main thread once this process has used ``cpu_s`` more
    seconds of CPU time (``ITIMER_PROF``: user + system, all threads), or ``wall_s`` seconds
    have passed (``ITIMER_REAL``, the backstop); the references use ``ITIMER_REAL`` alone."""

    def on_cpu(signum, frame):
        raise TimeoutException("cpu")

    def on_wall(signum, frame):
        raise TimeoutException("wall")

    signal.signal(signal.SIGPROF, on_cpu)
    signal.signal(signal.SIGALRM, on_wall)
    signal.setitimer(signal.ITIMER_PROF, cpu_s)
    signal.setitimer(signal.ITIMER_REAL, wall_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)


def cap_cpu(seconds):
    """Lower this process's soft ``RLIMIT_CPU`` to ``seconds`` more CPU seconds from now.

    The kernel then ends the process (``SIGXCPU``) even inside a C call that never returns
    to the interpreter, where the ``ITIMER_PROF`` handler cannot run. The hard limit (the
    sandbox's) stays, so an unprivileged process can put the soft one back.

    Returns:
        The previous ``(soft, hard)`` to restore, or None if the limit was already lower.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    want = int(math.ceil(cpu_time() + seconds))
    if all(old == resource.RLIM_INFINITY or want < old for old in (soft, hard)):
        resource.setrlimit(resource.RLIMIT_CPU, (want, hard))
        return soft, hard
    return None


@contextlib.contextmanager
def cpu_capped(seconds):
    """:func:`cap_cpu` for the block only."""
    previous = cap_cpu(seconds)
    try:
        yield
    finally:
        if previous is not None:
            resource.setrlimit(resource.RLIMIT_CPU, previous)


class WriteOnlyStringIO(io.StringIO):
    """A StringIO that raises on reads (stdin of the program under test)."""

    def read(self, *args, **kwargs):
        raise IOError

    def readline(self, *args, **kwargs):
        raise IOError

    def readlines(self, *args, **kwargs):
        raise IOError

    def readable(self, *args, **kwargs):
        return False


class redirect_stdin(contextlib._RedirectStream):  # type: ignore[name-defined]
    _stream = "stdin"


@contextlib.contextmanager
def swallow_io():
    stream = WriteOnlyStringIO()
    with contextlib.redirect_stdout(stream):
        with contextlib.redirect_stderr(stream):
            with redirect_stdin(stream):
                yield


_OS_DISABLED = ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
                "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
                "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir")
_MODULES_DISABLED = ("ipdb", "joblib", "resource", "psutil", "tkinter")
_MISSING = object()


@contextlib.contextmanager
def guard(disable_open):
    """``reliability_guard`` of human-eval (``disable_open=False``) or EvalPlus (True), undone on exit.

    The references disable these for good in a throwaway process; here the loader must
    fork afterwards, so everything is put back when the block ends.
    """
    import shutil
    import subprocess

    targets = [(builtins, "exit"), (builtins, "quit"), (builtins, "help"), (shutil, "rmtree"), (shutil, "move"),
               (shutil, "chown"), (subprocess, "Popen")]
    # os._exit too: in the references it ends the throwaway process (a failed check); here the
    # cell's exit status is the verdict, so an os._exit(0) must not read as a pass.
    targets += [(os, name) for name in (*_OS_DISABLED, "_exit")]
    if disable_open:
        targets.append((builtins, "open"))
    saved = [(obj, name, getattr(obj, name, _MISSING)) for obj, name in targets]
    saved_modules = [(name, sys.modules.get(name, _MISSING)) for name in _MODULES_DISABLED]
    saved_omp = os.environ.get("OMP_NUM_THREADS")
    faulthandler.disable()
    os.environ["OMP_NUM_THREADS"] = "1"
    for obj, name, _ in saved:
        setattr(obj, name, None)
    for name, _ in saved_modules:
        sys.modules[name] = None
    try:
        yield
    finally:
        for obj, name, value in saved:
            if value is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(obj, name)
            else:
                setattr(obj, name, value)
        for name, value in saved_modules:
            if value is _MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value
        if saved_omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved_omp


def decode(payload):
    """Inputs shipped as base64(zlib(pickle))."""
    return pickle.loads(zlib.decompress(base64.b64decode(payload)))


# --------------------------------------------------------------------------- loading


def load(ns, source, time_limit_s=None, disable_open=False, wall_factor=WALL_FACTOR):
    """Execute the candidate ``source`` in the module namespace ``ns`` like ``exec(code, {})``.

    Exceptions (SystemExit included) are recorded, not raised: the tests then fail, as in
    the references, where the program's exec is inside the same ``try``. ``time_limit_s``
    limits the CPU time of loading (wall backstop ``wall_factor`` times as long); the CPU
    seconds it took are kept in ``STATE["load_s"]`` and count against the tests' limits.
    """
    ns["__name__"] = "builtins"  # what __name__ resolves to under exec(code, {})
    ns.pop("__file__", None)
    t0 = cpu_time()
    if "numpy" in source:  # the references' processes have numpy imported before the guard
        with contextlib.suppress(ImportError):
            import numpy  # noqa: F401
    try:
        code = compile(source, "solution.py", "exec")
        with guard(disable_open):
            with swallow_io():
                if time_limit_s:
                    # This process goes on to fork the test cells: its CPU cap is put back.
                    with cpu_capped(time_limit_s + 1.0), time_limit(time_limit_s, wall_factor * time_limit_s):
                        exec(code, ns)
                else:
                    exec(code, ns)
    except TimeoutException:
        STATE["load_error"] = "timeout"
    except BaseException as e:  # noqa: BLE001 - any failure of the candidate is a verdict
        STATE["load_error"] = f"{type(e).__name__}: {e}"
    STATE["load_s"] = cpu_time() - t0


def load_reference(source, entry_point):
    """Load the canonical solution into a namespace of its own."""
    namespace = {}
    with swallow_io():
        exec(compile(source, "canonical.py", "exec"), namespace)
    STATE["reference"] = namespace[entry_point]


def _check_loaded():
    error = STATE["load_error"]
    if error == "timeout":
        raise BudgetExceeded("loading the solution timed out")
    if error is not None:
        raise AssertionError(f"the solution did not load: {error}")


# --------------------------------------------------------------------------- human-eval style


def run_test(ns, test_code, timeout_s, disable_open=False, wall_factor=WALL_FACTOR, cpu_cap_s=None):
    """Run one test program in the solution's namespace; the load time counts against ``timeout_s``.

    ``timeout_s`` is CPU time (wall backstop ``wall_factor`` times the CPU time left);
    ``cpu_cap_s``, when given, caps this cell's CPU time through ``RLIMIT_CPU``.
    """
    _check_loaded()
    remaining = timeout_s - STATE["load_s"]
    if remaining <= 0:
        raise BudgetExceeded("no time left after loading")
    if cpu_cap_s:
        cap_cpu(cpu_cap_s)  # for the rest of this cell's life
    try:
        code = compile(test_code, "test.py", "exec")
        with guard(disable_open):
            with swallow_io():
                with time_limit(remaining, wall_factor * remaining):
                    exec(code, ns)
    except TimeoutException:
        raise BudgetExceeded("timed out") from None
    except BaseException as e:  # noqa: BLE001
        raise AssertionError(f"{type(e).__name__}: {e}") from None


# --------------------------------------------------------------------------- EvalPlus style


def _poly(xs, x):
    """EvalPlus's oracle for HumanEval/32: the polynomial with coefficients ``xs`` at ``x``."""
    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


def _surface_area(base_edge, height):
    """EvalPlus's oracle for Mbpp/581."""
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    base_area = base_edge**2
    lateral_area = 4 * (base_edge * slant_height) / 2
    return round(base_area + lateral_area)


def _digit_distance_nums(num1, num2):
    """EvalPlus's oracle for Mbpp/558."""
    str_num1, str_num2 = str(num1), str(num2)
    width = max(len(str_num1), len(str_num2))
    str_num1, str_num2 = str_num1.zfill(width), str_num2.zfill(width)
    return sum(abs(int(a) - int(b)) for a, b in zip(str_num1, str_num2))


def is_floats(x):
    """A float, a non-empty list/tuple of floats, or a float numpy array (EvalPlus)."""
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        return x.dtype == np.float64 or x.dtype == np.float32
    return False


def compare(out, exp, inp, atol, oracle):
    """EvalPlus's verdict on one output; raises AssertionError if wrong.

    Returns:
        The ``atol`` to use for the following inputs: EvalPlus sets it to 1e-6 the first
        time an expected output is a float and keeps it for the rest of the inputs.
    """
    exact_match = out == exp
    if oracle == "always":
        exact_match = exact_match or True
    elif oracle == "or_zero":
        exact_match = exact_match or out == 0
    elif oracle == "surface_area":
        exact_match = exact_match or abs(out - _surface_area(*inp)) <= atol
    elif oracle == "digit_distance":
        exact_match = exact_match or out == _digit_distance_nums(*inp)
    elif oracle == "set_eq":
        exact_match = set(out) == set(exp)
    elif oracle == "not_none":
        exact_match = out == exp if isinstance(out, bool) else exp == (out is not None)
    elif oracle == "find_zero":
        assert abs(_poly(*inp, out)) <= atol
        return atol
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    if not exact_match and atol != 0:
        import numpy as np

        assert type(out) == type(exp)  # noqa: E721 - exactly EvalPlus's check
        if isinstance(exp, (list, tuple)):
            assert len(out) == len(exp)
        assert np.allclose(out, exp, rtol=1e-07, atol=atol)
    else:
        assert exact_match
    return atol


def run_inputs(ns, payload, entry_point, atol, limits, budget_s, oracle="", factor=4.0, wall_factor=WALL_FACTOR,
               cpu_cap_s=None):
    """Differential test of the candidate against the canonical solution on the shipped inputs.

    ``limits`` are EvalPlus's per-input limits from the stored reference times, in CPU
    seconds, as is ``budget_s`` (what loading and the calls may use together). An input's
    limit is raised to ``factor`` times the canonical solution's CPU time on it in this very
    cell when that is larger (it is never below EvalPlus's). Each call also has a wall-clock
    backstop of ``wall_factor`` times its limit. ``cpu_cap_s``, when given, caps this cell's
    CPU time through ``RLIMIT_CPU`` (canonical runs and comparisons included).
    """
    _check_loaded()
    if cpu_cap_s:
        cap_cpu(cpu_cap_s)  # for the rest of this cell's life
    inputs = decode(payload)
    reference = STATE["reference"]
    spent = STATE["load_s"]
    if entry_point not in ns:
        raise AssertionError(f"the solution defines no {entry_point!r}")
    fn = ns[entry_point]
    for i, inp in enumerate(inputs):
        arguments = copy.deepcopy(inp)
        with swallow_io():
            t_ref = cpu_time()
            exp = reference(*arguments)
            t_ref = cpu_time() - t_ref
        if oracle == "not_none":
            exp = exp is not None
        remaining = budget_s - spent
        if remaining <= 0:
            raise BudgetExceeded(f"time budget of {budget_s:.1f}s spent before input {i}")
        own_limit = max(limits[i], factor * t_ref)
        limit = min(own_limit, remaining)
        t0 = cpu_time()
        try:
            with guard(True):
                with time_limit(limit, wall_factor * own_limit):
                    with swallow_io():
                        out = fn(*inp)
            atol = compare(out, exp, inp, atol, oracle)
        except TimeoutException as e:
            if e.args[0] == "cpu" and limit == remaining:
                raise BudgetExceeded(f"CPU time budget of {budget_s:.1f}s spent at input {i}") from None
            if e.args[0] == "cpu":
                raise AssertionError(f"input {i}: over its CPU time limit of {limit:.2f}s") from None
            raise AssertionError(f"input {i}: over its wall-clock backstop of {wall_factor * own_limit:.1f}s") from None
        except BaseException as e:  # noqa: BLE001
            raise AssertionError(f"input {i}: {type(e).__name__}: {e}") from None
        finally:
            spent += cpu_time() - t0


def reference_times(source, entry_point, payloads, not_none=False):
    """Run the canonical solution on every input and print ``{"base": [s, ...], ...}`` as JSON.

    Like EvalPlus's ground-truth pass: each call gets a deep copy of its input and is timed
    alone; the canonical solution must not raise. The times are CPU times (EvalPlus measures
    wall-clock), the clock every limit derived from them is enforced on.
    """
    namespace = {}
    with swallow_io():
        exec(compile(source, "canonical.py", "exec"), namespace)
    fn = namespace[entry_point]
    times = {}
    for name, payload in payloads.items():
        column = []
        for inp in decode(payload):
            inp = copy.deepcopy(inp)
            with swallow_io():
                t0 = cpu_time()
                fn(*inp)
                column.append(round(cpu_time() - t0, 6))
        times[name] = column
    sys.stdout.write(json.dumps(times))
    sys.stdout.flush()
