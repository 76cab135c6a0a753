"""C++ and JavaScript in the real sandbox: HumanEval-X canonical solutions pass under the
upstream rules, wrong/broken/throwing/endless programs fail or time out, a C++ matrix
compiles once per solution, and hostile programs in both languages are contained."""

from __future__ import annotations

import json

import pytest

from codepref.config import SandboxConfig
from codepref.evaluation.humaneval_x import passed, program
from codepref.execution import SandboxPool
from codepref.languages import image_for
from codepref.records import MatrixJob, Outcome, Program

pytestmark = pytest.mark.docker

BENCH = {"cpp": "humaneval-x-cpp", "javascript": "humaneval-x-js"}


def _pool(language: str) -> SandboxPool:
    image, _ = image_for(SandboxConfig().image, [language])
    return SandboxPool(SandboxConfig(image=image, workers=2, timeout_s=10.0))


@pytest.fixture(scope="module")
def cpp_pool():
    with _pool("cpp") as pool:
        yield pool


@pytest.fixture(scope="module")
def js_pool():
    with _pool("javascript") as pool:
        yield pool


def _pool_of(request, language: str) -> SandboxPool:
    return request.getfixturevalue("cpp_pool" if language == "cpp" else "js_pool")


def _tasks(language: str, data):
    from codepref.tasks.source import load_task_set

    return load_task_set(BENCH[language], data_dir=str(data)).tasks


def _judge(pool, tasks, solutions):
    programs = [Program(t.id, t.language, program(t, s), timeout_s=15.0) for t, s in zip(tasks, solutions)]
    results = {r.id: r for r in pool.iter_run(programs)}
    return {t.id: passed(t, results[t.id]) for t in tasks}, results


def _canonical(pool, tasks):
    verdicts, results = _judge(pool, tasks, [t.prompt + t.metadata["canonical_solution"] for t in tasks])
    return {t: (r.outcome.value, r.stderr[:200], r.stdout[:200]) for t, r in results.items() if not verdicts[t]}


# Canonical solutions that fail upstream's own tests: JS/112 returns `(z, false)` (a boolean, not
# the [string, boolean] the tests expect), JS/155 counts the parity of the whole number instead
# of each digit's, JS/162's tests require the npm module js-md5 (not in the image).
UPSTREAM_FAILURES = {"cpp": set(), "javascript": {"JavaScript/112", "JavaScript/155", "JavaScript/162"}}
# JS/32's test draws its polynomials with the unseeded Math.random, and the canonical bisection
# misses its 1e-4 bound on a rare steep one (seen once in a CI run; it passed alone at once):
# its verdict is left out rather than asserted either way.
UNSEEDED = {"cpp": set(), "javascript": {"JavaScript/32"}}


@pytest.mark.parametrize("language", ["cpp", "javascript"])
def test_all_humaneval_x_canonical_solutions_pass(language, shared_data, request):
    """All 164 per language (about 1.5 min each on 2 cores), in the default run."""
    pool = _pool_of(request, language)
    tasks = _tasks(language, shared_data)
    assert len(tasks) == 164
    assert set(_canonical(pool, tasks)) - UNSEEDED[language] == UPSTREAM_FAILURES[language]


WRONG = {"cpp": "    return false;\n}\n", "javascript": "  return false\n}\n"}
BROKEN = {"cpp": "    return numbers +;\n}\n", "javascript": "  return numbers +;\n}\n"}
THROWS = {"cpp": "    throw 1;\n}\n", "javascript": "  throw new Error('boom')\n}\n"}
ENDLESS = {"cpp": "    while (true) {}\n}\n", "javascript": "  while (true) {}\n}\n"}


@pytest.mark.parametrize("language", ["cpp", "javascript"])
def test_wrong_broken_throwing_and_endless_solutions_fail(language, shared_data, request):
    pool = _pool_of(request, language)
    task = _tasks(language, shared_data)[0]  # has_close_elements: its tests expect true and false
    bodies = [WRONG[language], BROKEN[language], THROWS[language], ENDLESS[language]]
    programs = [Program(str(i), language, program(task, task.prompt + b), timeout_s=3.0) for i, b in enumerate(bodies)]
    results = pool.run(programs)
    assert [passed(task, r) for r in results] == [False] * 4
    assert results[1].outcome is Outcome.FAILED and "error" in results[1].stderr.lower()  # g++'s or node's message
    assert results[3].outcome is Outcome.TIMEOUT


def test_cpp_compile_error_is_failed_with_the_message(cpp_pool):
    r = cpp_pool.run([Program("c", "cpp", "int main() { return undeclared; }\n")])[0]
    assert r.outcome is Outcome.FAILED
    assert "undeclared" in r.stderr and "error" in r.stderr


@pytest.mark.parametrize("language,solutions,tests", [
    ("cpp", ["int inc(int x){ return x + 1; }", "int inc(int x){ return x; }", "int inc(int x){ return y; }"],
     ["assert(inc(1) == 2);", "assert(inc(0) == 1);", "assert(inc(5) > 0);"]),
    ("javascript", ["const inc = (x) => x + 1", "const inc = (x) => x", "const inc = (x) => { throw 1 }"],
     ["assert.deepStrictEqual(inc(1), 2);", "console.assert(inc(0) === 1);", "assert(inc(5) > 0);"]),
])
def test_self_test_matrix_uses_the_exit_status(language, solutions, tests, request):
    pool = _pool_of(request, language)
    m = next(iter(pool.run_matrices([MatrixJob("t", language, solutions, tests, timeout_s=5.0)])))
    assert [[o.value for o in row] for row in m.outcomes] == [
        ["passed"] * 3, ["failed", "failed", "passed"], ["failed"] * 3]


def test_cpp_matrix_compiles_once_per_solution():
    """A 3 x 4 matrix: 3 builds (the servers count them), 12 cells each in its own process
    (every cell gets a fresh pid: the tests compare getpid() with a value no earlier cell
    could have left, since a cell's writes to /tmp are removed after it)."""
    sols = [f"#include<unistd.h>\nint probe(){{ return {k}; }}\n" for k in range(3)]
    tests = [f'assert(probe() >= 0 && access("/tmp/codepref-cell", F_OK) != 0 && '
             f'fclose(fopen("/tmp/codepref-cell", "w")) == 0 && {j} >= 0);' for j in range(4)]
    with _pool("cpp") as pool:
        m = next(iter(pool.run_matrices([MatrixJob("t", "cpp", sols, tests, timeout_s=5.0)])))
        assert [[o.value for o in row] for row in m.outcomes] == [["passed"] * 4] * 3
        assert pool.builds == 3


def test_cpp_test_that_does_not_compile_fails_alone():
    """Self-written C++ tests often do not compile (wrong arguments, a vector compared with a
    braced list). Such a test fails alone: its row is built again without it (2 builds), the
    other tests run. A solution that does not compile still fails its whole row (1 build)."""
    sols = ["#include<vector>\nint first(std::vector<int> v){ return v[0]; }",
            "#include<vector>\nint first(std::vector<int> v){ return v[0] + 1; }",
            "#include<vector>\nint first(std::vector<int> v){ return undeclared; }"]
    tests = ["assert(first({1, 2}) == 1);", "assert(first(1, 2) == 1);", "assert(first({3}) == 3);",
             "assert(first({4, 5}) == {4});"]
    with _pool("cpp") as pool:
        m = next(iter(pool.run_matrices([MatrixJob("t", "cpp", sols, tests, timeout_s=5.0)])))
        assert [[o.value for o in row] for row in m.outcomes] == [
            ["passed", "failed", "passed", "failed"],
            ["failed"] * 4,
            ["failed"] * 4]
        assert pool.builds == 2 + 2 + 1


def test_test_ranges_and_failing_tests_read_gcc_output():
    """The server's mapping of compiler messages to tests (no Docker needed, but it lives here
    beside the behaviour it enables)."""
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location("server", pathlib.Path(__file__).parents[2] / "sandbox" / "server.py")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    from codepref.languages.cpp import assemble_tests

    code = assemble_tests("int f(int x){ return x; }", ["assert(f(1) == 1);", "assert(f(1, 2) == 1);"])
    ranges = server.test_ranges(code)
    assert sorted(ranges) == [0, 1] and all(a < b for a, b in ranges.values())
    bad_line = next(n for n, line in enumerate(code.splitlines(), 1) if "f(1, 2)" in line)
    sol_line = next(n for n, line in enumerate(code.splitlines(), 1) if "int f(int x)" in line)
    err = (f"/tmp/.src3/program.cpp: In function 'void codepref_test_1()':\n"
           f"/tmp/.src3/program.cpp:{bad_line}:9: error: too many arguments to function 'int f(int)'\n")
    assert server.failing_tests(err, "program.cpp", ranges) == {1}
    assert server.failing_tests(err + f"/tmp/.src3/program.cpp:{sol_line}:3: error: x\n", "program.cpp", ranges) == set()
    assert server.failing_tests("/usr/bin/ld: cannot find -lfoo\n", "program.cpp", ranges) == set()
    req = (f"/usr/include/c++/12/bits/stl_vector.h:10:5: error: no match\n"
           f"/tmp/.src3/program.cpp:{bad_line}:20:   required from here\n")
    assert server.failing_tests(req, "program.cpp", ranges) == {1}


# ----------------------------------------------------------------------------- hostile programs

HOSTILE = {
    "cpp": {
        "fork bomb": ("#include<unistd.h>\nint main(){ while (1) fork(); }\n", {Outcome.TIMEOUT}),
        "memory bomb": ("#include<cstring>\n#include<vector>\nint main(){ std::vector<char*> v; while (1) {"
                        " char *p = new char[50 << 20]; memset(p, 1, 50 << 20); v.push_back(p); } }\n",
                        {Outcome.OOM}),
        "write outside tmp": ('#include<cstdio>\nint main(){ return fopen("/usr/codepref-x", "w") ? 0 : 1; }\n',
                              {Outcome.FAILED}),
        "network": ("#include<sys/socket.h>\n#include<netinet/in.h>\n#include<arpa/inet.h>\nint main(){"
                    " int s = socket(AF_INET, SOCK_STREAM, 0); sockaddr_in a{}; a.sin_family = AF_INET;"
                    " a.sin_port = htons(53); inet_pton(AF_INET, \"1.1.1.1\", &a.sin_addr);"
                    " return connect(s, (sockaddr*)&a, sizeof a) == 0 ? 0 : 1; }\n", {Outcome.FAILED}),
        "output flood": ('#include<cstdio>\nint main(){ static char b[65536]; for (;;) fwrite(b, 1, sizeof b, stdout); }\n',
                         {Outcome.ERROR}),
        "daemonised child": ("#include<unistd.h>\nint main(){ if (fork() == 0) { setsid(); if (fork() == 0)"
                             " { execl(\"/bin/sleep\", \"sleep\", \"1000\", (char*)0); } _exit(0); } return 0; }\n",
                             {Outcome.PASSED}),
    },
    "javascript": {
        "fork bomb": ("const cp = require('child_process');\n"
                      "for (;;) { try { cp.spawn('node', ['-e', 'setInterval(()=>{}, 1000)'], "
                      "{detached: true, stdio: 'ignore'}); } catch (e) {} }\n",
                      # each child node is ~40 MB: a fast machine fills the 256 MB limit first
                      {Outcome.TIMEOUT, Outcome.ERROR, Outcome.OOM}),
        "memory bomb": ("const a = [];\nfor (;;) a.push(new Array(1e7).fill(1.5));\n", {Outcome.OOM, Outcome.ERROR}),
        "write outside tmp": ("require('fs').writeFileSync('/usr/codepref-x', 'x');\n", {Outcome.FAILED}),
        "network": ("require('net').connect(53, '1.1.1.1').on('error', e => { console.error(e.code);"
                    " process.exit(3); });\n", {Outcome.FAILED}),
        # Node queues what a pipe does not take at once, so on a busy machine (a slow reader)
        # the flood may hit the memory limit before the output cap: contained either way.
        "output flood": ("const b = 'x'.repeat(65536);\nfor (;;) process.stdout.write(b);\n",
                         {Outcome.ERROR, Outcome.TIMEOUT, Outcome.OOM}),
        "daemonised child": ("require('child_process').spawn('sleep', ['1000'], {detached: true, stdio: 'ignore'})"
                             ".unref();\n", {Outcome.PASSED}),
    },
}

# Run after each hostile program in the same container: nothing of it is left (no other
# process but init and the server, no file outside /tmp, an empty /tmp), and it still works.
AFTERWARDS = ("import os\n"
              "procs = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]\n"
              "names = [open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0] for p in procs]\n"
              "assert all(b'server.py' in open(f'/proc/{p}/cmdline', 'rb').read() for p in procs), names\n"
              "assert not os.path.exists('/usr/codepref-x')\n"
              "assert [n for n in os.listdir('/tmp') if not n.startswith(('w', '.src', '.stdin'))] == []\n")


@pytest.mark.parametrize("language", ["cpp", "javascript"])
@pytest.mark.parametrize("name", list(HOSTILE["cpp"]))
def test_hostile_programs_are_contained(language, name):
    code, expected = HOSTILE[language][name]
    image, _ = image_for(SandboxConfig().image, [language])
    with SandboxPool(SandboxConfig(image=image, workers=1, timeout_s=4.0, memory_mb=256)) as pool:
        result, after = pool.run([Program("hostile", language, code), Program("after", "python", AFTERWARDS)])
        assert result.outcome in expected, (result.outcome, result.stderr[-300:])
        assert after.outcome is Outcome.PASSED, after.stderr[-500:]
        ok = pool.run([Program("next", language, "int main(){ return 0; }\n" if language == "cpp"
                               else "process.exit(0)\n")])[0]
        assert ok.outcome is Outcome.PASSED, ok.stderr


def test_evaluate_humaneval_x_samples_file(shared_data, tmp_path):
    """The HumanEval-X sample format (several per task) through the registered judge."""
    from codepref.evaluation.benchmarks import EvalSettings, get_benchmark

    tasks = _tasks("javascript", shared_data)[:3]
    lines = []
    for t in tasks:
        lines.append({"task_id": t.id, "generation": t.metadata["canonical_solution"]})
        lines.append({"task_id": t.id, "generation": WRONG["javascript"]})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    judge = get_benchmark("humaneval-x-js")
    summary = judge.evaluate(EvalSettings(benchmark="humaneval-x-js", samples=samples, data=str(shared_data),
                                          ks=(1,), sandbox=SandboxConfig(workers=1)))
    assert summary["tasks"] == 3 and summary["samples"] == 6
    records = [json.loads(x) for x in (tmp_path / "samples.humaneval-x-js.results.jsonl").read_text().splitlines()[1:]]
    assert [[s["passed"] for s in r["samples"]] for r in records] == [[True, False]] * 3
