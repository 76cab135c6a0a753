"""Behaviour signatures: what each solution returns on the inputs of the model's own tests.

A pass vector says which of the model's tests a solution passes; when those tests' expected
values are wrong (a small model often writes ``assert f(3) == 7`` for an ``f`` whose right
answer is 6), right solutions fail them together with wrong ones and land in one cluster.
The *inputs* of the tests do not depend on that mistake. Running every candidate on them and
comparing what it returns groups solutions by behaviour, the way AlphaCode clusters samples
and MBR-exec picks the answer most samples agree with (Li et al. 2022; Shi et al. 2022):

1. *inputs*: the expressions the tests assert on, in test order without repeats (at most
   ``MAX_CALLS``): ``assert f(x) == y`` and ``assert f(x) != y`` give ``f(x)``, ``assert f(x)``
   and ``assert not f(x)`` give ``f(x)``, ``assert len(f(x)) == 3`` gives ``len(f(x))``,
   ``assert math.isclose(f(x), y)`` gives ``f(x)`` (a method or module function's first
   argument); expressions that call nothing and tests that do not parse add nothing;
2. each candidate runs once in the sandbox as ``solution + harness``: the harness evaluates
   every expression with a per-call time limit and prints one line with a digest of each
   result (``repr`` made canonical: set elements and dict items sorted, as ``==`` ignores
   their order; floats to 12 significant digits; object addresses removed) or of the
   exception's type name. The sandbox fixes ``PYTHONHASHSEED``, so a solution that
   iterates a set of strings returns the same in every run;
3. a solution's *signature* is the digest of that line. Two candidates behave alike when their
   signatures are equal. A run that prints no line (a crash at import, the sandbox failing)
   has no signature and is like no other solution.

Python only: the harness runs inside the solution's process. :func:`signatures` returns
nothing for other languages, and the consensus filter then counts pass vectors
(:func:`codepref.pairs.build.cluster_size`).

On the learning run's 241 mbpp-train prompts (N = 16), keeping PageRank's pair only where
at least 4 candidates share the chosen one's behaviour and the rejected one fails the prompt's
example (``sure_rejected``) raised pair precision from 0.688 to 0.900 at coverage 0.60 of the
prompts that have a right and a wrong answer; the pass-vector cluster >= 4 alone gave 0.819
at 0.69 (``docs/learning.md``).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable

from codepref.pairs.build import candidates
from codepref.pairs.data import TaskData
from codepref.progress import Progress
from codepref.records import Program

MARK = "CODEPREF_BEHAVIOUR "
#: most expressions per task (tests beyond this add cost, rarely a new split).
MAX_CALLS = 32
#: wall-clock limit of one expression inside the harness, seconds.
CALL_TIMEOUT_S = 1.0

HARNESS = '''

def _cp_behaviour():
    """The behaviour harness: codepref.pairs.behaviour."""
    import hashlib as _h, json as _j, re as _re, signal as _s

    def _canon(v):
        if isinstance(v, (set, frozenset)):
            return type(v).__name__ + "{" + ", ".join(sorted(_canon(x) for x in v)) + "}"
        if isinstance(v, (list, tuple)):
            return type(v).__name__ + "[" + ", ".join(_canon(x) for x in v) + "]"
        if isinstance(v, dict):
            return "dict{" + ", ".join(sorted(_canon(k) + ": " + _canon(x) for k, x in v.items())) + "}"
        if isinstance(v, float):
            return format(v, ".12g")
        return _re.sub(r" at 0x[0-9a-fA-F]+", "", repr(v))

    def _alarm(*_):
        raise TimeoutError()

    _s.signal(_s.SIGALRM, _alarm)
    out = []
    for src in _j.loads(_CP_CALLS):
        try:
            _s.setitimer(_s.ITIMER_REAL, _CP_TIMEOUT)
            text = _canon(eval(src, globals()))
        except BaseException as e:
            text = "!" + type(e).__name__
        finally:
            _s.setitimer(_s.ITIMER_REAL, 0)
        out.append(_h.sha256(text.encode("utf-8", "replace")).hexdigest()[:16])
    print(_CP_MARK + _j.dumps(out), flush=True)


_cp_behaviour()
'''


def call_inputs(tests: Iterable[str], limit: int = MAX_CALLS) -> list[str]:
    """The call expressions ``tests`` assert on (see the module docstring), at most ``limit``."""
    out: list[str] = []
    for text in tests:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assert):
                continue
            call = _asserted_call(node.test)
            if call is not None:
                src = ast.unparse(call)
                if src not in out:
                    out.append(src)
                if len(out) >= limit:
                    return out
    return out


def _asserted_call(e: ast.expr) -> ast.expr | None:
    """The expression an assert checks: the left side of a comparison, or the asserted
    expression itself (``not`` dropped); for a call of an attribute (``math.isclose(f(x), y)``,
    ``np.allclose(...)``) its first argument. None when it calls nothing."""
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
        e = e.operand
    if isinstance(e, ast.Compare):
        e = e.left
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.args:
        e = e.args[0]
    return e if any(isinstance(n, ast.Call) for n in ast.walk(e)) else None


def behaviour_program(solution: str, calls: list[str], timeout_s: float = CALL_TIMEOUT_S) -> str:
    """``solution`` followed by the harness that prints the digest of each call's result."""
    settings = f"\n_CP_CALLS = {json.dumps(calls)!r}\n_CP_TIMEOUT = {float(timeout_s)!r}\n_CP_MARK = {MARK!r}\n"
    return solution + "\n" + settings + HARNESS


def parse_signature(stdout: str) -> str | None:
    """The signature in a harness run's output (the digest of its last ``MARK`` line), None when
    it printed none."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(MARK)]
    if not lines:
        return None
    try:
        digests = json.loads(lines[-1][len(MARK):])
    except ValueError:
        return None
    if not isinstance(digests, list):
        return None
    return hashlib.sha256(json.dumps(digests).encode()).hexdigest()[:16]


def signatures(tasks: list[TaskData], pool, progress: Progress | None = None,
               dedupe: bool = True) -> dict[str, list[str | None]]:
    """Task id -> per matrix row, the row's behaviour signature (None: no signature, or not a
    candidate); Python tasks whose tests hold at least one call expression only.

    Every candidate (:func:`~codepref.pairs.build.candidates`) runs once in ``pool``
    (an open :class:`~codepref.execution.SandboxPool`); ``progress(0, runs)`` gives the tick
    called per run.
    """
    programs, where = [], {}
    out: dict[str, list[str | None]] = {}
    for task in tasks:
        calls = call_inputs(task.tests) if task.language == "python" else []
        if not calls:
            continue
        out[task.task_id] = [None] * len(task.solutions)
        timeout = CALL_TIMEOUT_S * len(calls) + 10.0
        for row in candidates(task.solutions, dedupe):
            pid = f"{len(programs)}"
            where[pid] = (task.task_id, row)
            programs.append(Program(pid, "python", behaviour_program(task.solutions[row], calls), timeout_s=timeout))
    tick = progress(0, len(programs)) if progress and programs else None
    for res in pool.iter_run(programs, tick):
        tid, row = where[res.id]
        out[tid][row] = parse_signature(res.stdout)
    return out
