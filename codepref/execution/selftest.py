"""``codepref sandbox check``: prove the sandbox works on this machine.

Runs a handful of programs whose outcomes are known (a pass, an assertion failure, a
crash, an infinite loop, a memory bomb, a fork bomb, a network connection, a write outside
/tmp) plus a small matrix, and compares outcomes with expectations.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from codepref.config import SandboxConfig
from codepref.records import MatrixJob, Outcome, Program

PROBES: list[tuple[str, str, Outcome]] = [
    ("hello", "print('hello')", Outcome.PASSED),
    ("assertion", "assert 1 + 1 == 3", Outcome.FAILED),
    ("crash", "raise RuntimeError('boom')", Outcome.ERROR),
    ("infinite loop", "while True:\n    pass", Outcome.TIMEOUT),
    ("memory bomb", "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))", Outcome.OOM),
    ("fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", Outcome.TIMEOUT),
    ("network", "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)", Outcome.ERROR),
    ("write outside /tmp", "open('/usr/x', 'w')", Outcome.ERROR),
    ("runs as nobody", "import os\nassert os.getuid() != 0", Outcome.PASSED),
]


def run_selftest(config: SandboxConfig, echo: Callable[[str], None] = print) -> bool:
    """Run the probes; print one line each; return True if every outcome is as expected."""
    from codepref.execution.docker import engine_version
    from codepref.execution.pool import SandboxPool

    server = engine_version(config.docker)
    timeout = min(config.timeout_s, 2.0)
    programs = [Program(name, "python", code, timeout_s=timeout) for name, code, _ in PROBES]
    ok = True
    with SandboxPool(config) as pool:
        t0 = time.monotonic()
        results = pool.run(programs)
        info = next(iter(pool._containers)).info if pool._containers else {}
        echo(f"docker engine {server}, image {config.image}, cgroup {info.get('cgroup')}, "
             f"python {info.get('python')}, {config.n_workers} worker(s)")
        for (name, _, want), r in zip(PROBES, results):
            good = r.outcome is want
            ok &= good
            echo(f"  {'ok ' if good else 'BAD'} {name:<20} {r.outcome.value:<8} (expected {want.value}, {r.duration_s:.2f} s)")
        job = MatrixJob("check", "python", ["def inc(x):\n    return x + 1", "def inc(x):\n    return x"],
                        ["assert inc(1) == 2", "assert inc(0) == 1", "assert inc(5) > 0"], timeout_s=timeout)
        m = next(iter(pool.run_matrices([job])))
        want_rows = [["passed"] * 3, ["failed", "failed", "passed"]]
        got_rows = [[o.value for o in row] for row in m.outcomes]
        good = got_rows == want_rows
        ok &= good
        echo(f"  {'ok ' if good else 'BAD'} {'matrix 2x3':<20} {got_rows}")
        echo(f"sandbox check {'passed' if ok else 'FAILED'} in {time.monotonic() - t0:.1f} s")
    return ok
