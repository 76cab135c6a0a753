"""``codepref compare``: pass@1, the paired bootstrap, exact McNemar, the refusals and the CLI."""

from __future__ import annotations

import json
import math
import random

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.errors import InputError
from codepref.evaluation.compare import (compare, compare_scores, load_evaluation, mcnemar_exact, paired_bootstrap,
                                         read_results, run_evaluations, summary)

TASK_SET = {"name": "humaneval+", "version": "v0.1.10", "sha256": "272720b90ac3", "tasks": 4}


def header(benchmark: str = "humaneval+", task_set: dict | None = None, protocol=None) -> dict:
    settings = {"benchmark": benchmark, "task_set": task_set or TASK_SET}
    h = {"kind": "eval_results", "codepref": "0.1.0", "settings_hash": "x", "settings": settings,
         "task_set": task_set or TASK_SET}
    if protocol is not None:
        h["protocol"] = protocol
    return h


def write_results(path, verdicts: dict[str, tuple[int, int]], **head) -> str:
    """A results file of `codepref evaluate`: ``task -> (correct, n)``."""
    lines = [json.dumps({"_header": header(**head)})]
    lines += [json.dumps({"task_id": t, "n": n, "correct": c, "excluded": 0, "samples": []})
              for t, (c, n) in verdicts.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def write_compact(path, passed: dict[str, bool]) -> str:
    path.write_text("".join(json.dumps({"task_id": t, "passed": p}) + "\n" for t, p in passed.items()))
    return str(path)


# ----------------------------------------------------------------------------- McNemar


@pytest.mark.parametrize("b, c, p", [(3, 0, 0.25), (0, 3, 0.25), (5, 1, 0.21875), (0, 0, 1.0), (2, 2, 1.0),
                                     (1, 0, 1.0), (10, 0, 2 / 1024)])
def test_mcnemar_by_hand(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=1e-15)


def test_mcnemar_matches_scipy_binomtest():
    binomtest = pytest.importorskip("scipy.stats").binomtest
    for b in range(0, 26):
        for c in range(0, 26):
            if b + c:
                assert mcnemar_exact(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-9, abs=1e-15), (b, c)
    assert mcnemar_exact(400, 350) == pytest.approx(binomtest(400, 750, 0.5).pvalue, rel=1e-9)


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_of_a_uniform_improvement_is_a_point():
    low, high = paired_bootstrap([0.0] * 50, [1.0] * 50, resamples=2000, seed=3)
    assert (low, high) == (1.0, 1.0)
    low, high = paired_bootstrap([0.25] * 7, [0.75] * 7, resamples=500)
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_bootstrap_of_symmetric_noise_contains_zero_and_is_seeded():
    rng = random.Random(7)
    before = [rng.random() < 0.5 for _ in range(200)]
    after = [rng.random() < 0.5 for _ in range(200)]
    low, high = paired_bootstrap(before, after, seed=11)
    assert low < 0 < high
    assert paired_bootstrap(before, after, seed=11) == (low, high)
    assert paired_bootstrap(before, after, seed=12) != (low, high)
    # the interval has about the width of a normal approximation's
    d = [a - b for a, b in zip(after, before)]
    m = sum(d) / len(d)
    se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d))
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_chunks_give_the_same_numbers_for_many_tasks():
    # 3000 tasks: several chunks of resamples; still reproducible
    before = [i % 3 == 0 for i in range(3000)]
    after = [i % 2 == 0 for i in range(3000)]
    assert paired_bootstrap(before, after, resamples=1500, seed=1) == paired_bootstrap(before, after, resamples=1500, seed=1)


def test_compare_scores_pass_at_1_wins_losses_and_mcnemar():
    before = {"t0": (0, 1), "t1": (0, 1), "t2": (1, 1), "t3": (1, 1), "t4": (0, 1), "t5": (0, 1)}
    after = {"t0": (1, 1), "t1": (1, 1), "t2": (1, 1), "t3": (0, 1), "t4": (1, 1), "t5": (0, 1)}
    c = compare_scores("x", before, after, resamples=1000)
    assert (c.tasks, c.before, c.after) == (6, 2 / 6, 4 / 6) and c.delta == pytest.approx(2 / 6)
    assert c.won == ["t0", "t1", "t4"] and c.lost == ["t3"]
    assert c.mcnemar_p == mcnemar_exact(3, 1) and c.ci_low <= c.delta <= c.ci_high


def test_several_samples_per_task_give_fractions_and_no_mcnemar():
    before = {"a": (1, 4), "b": (2, 4), "c": (0, 0)}
    after = {"a": (3, 4), "b": (2, 4), "c": (1, 1)}
    c = compare_scores("x", before, after, resamples=200)
    assert c.before == pytest.approx(0.375) and c.after == pytest.approx(0.625)
    assert c.mcnemar_p is None and c.won == ["a"] and c.lost == [] and c.excluded == ["c"] and c.tasks == 2


# ----------------------------------------------------------------------------- files


def test_results_files_and_compact_lines_read_alike(tmp_path):
    full = read_results(write_results(tmp_path / "a.results.jsonl", {"HumanEval/0": (1, 1), "HumanEval/1": (0, 1)}))
    compact = read_results(write_compact(tmp_path / "b.jsonl", {"HumanEval/0": True, "HumanEval/1": False}))
    assert full.scores == compact.scores == {"HumanEval/0": (1, 1), "HumanEval/1": (0, 1)}
    assert full.benchmark == "humaneval+" and full.task_set["sha256"] == "272720b90ac3"
    assert compact.benchmark is None and compact.label == "b"
    sql = tmp_path / "sqlfix.results.jsonl"
    sql.write_text('{"instance_id": "q1", "passed": true, "category": "join"}\n')
    assert read_results(sql).scores == {"q1": (1, 1)}


@pytest.mark.parametrize("line, message", [
    ('{"passed": true}', "missing 'task_id'"),
    ('{"task_id": "a", "passed": 1}', "'passed' must be true or false"),
    ('{"task_id": "a", "n": 1, "correct": 2}', "0 <= correct <= n"),
    ('{"task_id": "a"}', "needs 'passed'"),
    ('{"task_id": "a", "passed": true}\n{"task_id": "a", "passed": false}', "appears twice"),
])
def test_bad_lines_are_refused_with_the_line(tmp_path, line, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(InputError, match=message):
        read_results(f)


def test_an_unfinished_results_file_is_named(tmp_path):
    (tmp_path / "x.results.jsonl.partial").write_text("")
    with pytest.raises(InputError, match="unfinished"):
        read_results(tmp_path / "x.results.jsonl")


def test_different_task_sets_are_refused(tmp_path):
    a = load_evaluation(write_results(tmp_path / "a.results.jsonl", {"Mbpp/2": (1, 1)}, benchmark="mbpp+",
                                      task_set={"name": "mbpp+", "sha256": "aaa"}))
    b = load_evaluation(write_results(tmp_path / "b.results.jsonl", {"Mbpp/2": (1, 1)}, benchmark="mbpp+",
                                      task_set={"name": "mbpp+", "sha256": "bbb"}))
    with pytest.raises(InputError, match="different task sets"):
        compare(a, b)
    c = load_evaluation(write_results(tmp_path / "c.results.jsonl", {"Mbpp/2": (1, 1)}, benchmark="humaneval+"))
    with pytest.raises(InputError, match="different benchmarks"):
        compare(a, c)


def test_different_tasks_are_refused(tmp_path):
    a = load_evaluation(write_results(tmp_path / "a.results.jsonl", {"T/0": (1, 1), "T/1": (0, 1)}))
    b = load_evaluation(write_results(tmp_path / "b.results.jsonl", {"T/0": (1, 1), "T/2": (0, 1)}))
    with pytest.raises(InputError, match="cover different tasks.*1 only in .*T/1.*1 only in .*T/2"):
        compare(a, b)


def test_mixed_protocols_are_refused_unless_allowed(tmp_path):
    a = load_evaluation(write_results(tmp_path / "a.results.jsonl", {"T/0": (1, 1)}, protocol="greedy-v1"))
    b = load_evaluation(write_results(tmp_path / "b.results.jsonl", {"T/0": (0, 1)}, protocol="greedy-v2"))
    with pytest.raises(InputError, match="different evaluation protocols"):
        compare(a, b)
    r = compare(a, b, allow_mixed_protocols=True, resamples=10)
    assert r.benchmarks["humaneval+"].protocol == ["greedy-v1", "greedy-v2"]
    same = load_evaluation(write_results(tmp_path / "c.results.jsonl", {"T/0": (0, 1)}, protocol="greedy-v1"))
    assert compare(a, same, resamples=10).benchmarks["humaneval+"].protocol == "greedy-v1"


def make_run(root, before: dict[str, dict[str, bool]], *rounds: dict[str, dict[str, bool]]):
    """A run directory with eval/before and eval/roundK folders of BENCH.results.jsonl files."""
    for name, evals in [("before", before), *((f"round{k}", r) for k, r in enumerate(rounds, 1))]:
        d = root / "eval" / name
        d.mkdir(parents=True)
        for bench, verdicts in evals.items():
            write_results(d / f"{bench}.results.jsonl", {t: (int(p), 1) for t, p in verdicts.items()},
                          benchmark=bench, task_set={"name": bench, "sha256": bench * 3})
    return root


HE_BEFORE = {f"HumanEval/{i}": i < 3 for i in range(10)}
HE_AFTER = {f"HumanEval/{i}": i < 6 for i in range(10)}
MB_BEFORE = {f"Mbpp/{i}": i % 2 == 0 for i in range(2, 12)}
MB_AFTER = {f"Mbpp/{i}": i % 2 == 0 or i == 3 for i in range(2, 12)}


def test_a_run_directory_before_against_its_last_round(tmp_path):
    run = make_run(tmp_path / "run", {"humaneval+": HE_BEFORE, "mbpp+": MB_BEFORE},
                   {"humaneval+": HE_BEFORE, "mbpp+": MB_BEFORE}, {"humaneval+": HE_AFTER, "mbpp+": MB_AFTER})
    evals = run_evaluations(run)
    assert list(evals) == ["before", "round1", "round2"]
    assert set(load_evaluation(run)) == {"humaneval+", "mbpp+"}
    r = compare(load_evaluation(evals["before"]), load_evaluation(run), pool=True, resamples=2000)
    he, mb, pooled = r.benchmarks["humaneval+"], r.benchmarks["mbpp+"], r.pooled
    assert (he.before, he.after, he.won, he.lost) == (0.3, 0.6, ["HumanEval/3", "HumanEval/4", "HumanEval/5"], [])
    assert he.mcnemar_p == 0.25 and mb.won == ["Mbpp/3"] and mb.mcnemar_p == 1.0
    assert pooled.tasks == 20 and pooled.before == pytest.approx(0.4) and pooled.after == pytest.approx(0.6)
    assert pooled.mcnemar_p == mcnemar_exact(4, 0)
    s = summary(r)
    assert list(s) == ["pooled", "humaneval+", "mbpp+"]
    assert all(list(v) == ["before", "after", "delta", "ci_low", "ci_high", "mcnemar_p"] for v in s.values())
    assert s["humaneval+"]["delta"] == pytest.approx(0.3)


# ----------------------------------------------------------------------------- CLI


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_is_registered():
    r = invoke("--help")
    assert r.exit_code == 0 and "compare" in r.output
    r = invoke("compare", "--help")
    assert r.exit_code == 0 and "McNemar" in r.output and "--allow-mixed-protocols" in r.output


def test_cli_two_files_table_json_and_summary_out(tmp_path):
    a = write_compact(tmp_path / "before.jsonl", HE_BEFORE)
    b = write_results(tmp_path / "after.results.jsonl", {t: (int(p), 1) for t, p in HE_AFTER.items()})
    r = invoke("compare", a, b, "--resamples", 500)
    assert r.exit_code == 0, r.output
    assert "humaneval+" in r.output and "0.3000" in r.output and "0.6000" in r.output and "+0.3000" in r.output
    assert "won (fail->pass): HumanEval/3, HumanEval/4, HumanEval/5" in r.output and "0.25" in r.output
    out = tmp_path / "summary.json"
    r = invoke("compare", a, b, "--json", "--pool", "--seed", 5, "--resamples", 500, "--out", out)
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["seed"] == 5 and got["benchmarks"]["humaneval+"]["won"] == ["HumanEval/3", "HumanEval/4", "HumanEval/5"]
    saved = json.loads(out.read_text())
    assert saved == got["summary"] and set(saved) == {"pooled", "humaneval+"}
    assert saved["pooled"] == saved["humaneval+"] and saved["pooled"]["mcnemar_p"] == 0.25
    r2 = invoke("compare", a, b, "--json", "--pool", "--seed", 5, "--resamples", 500)
    assert json.loads(r2.output)["summary"] == saved  # seeded: the same numbers again


def test_cli_run_directory_alone(tmp_path):
    run = make_run(tmp_path / "run", {"humaneval+": HE_BEFORE}, {"humaneval+": HE_AFTER})
    r = invoke("compare", run, "--json", "--resamples", 200)
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["a"].endswith("before") and got["b"].endswith("round1")
    assert got["summary"]["humaneval+"]["after"] == 0.6
    only_before = make_run(tmp_path / "run2", {"humaneval+": HE_BEFORE})
    r = invoke("compare", only_before)
    assert r.exit_code == 2 and "eval/before and an evaluation after training" in r.output


def test_cli_refusals_are_one_line_errors(tmp_path):
    a = write_results(tmp_path / "a.results.jsonl", {"T/0": (1, 1)}, protocol="p1")
    b = write_results(tmp_path / "b.results.jsonl", {"T/0": (1, 1)}, protocol="p2")
    r = invoke("compare", a, b)
    assert r.exit_code == 2 and r.output.startswith("error: ") and "--allow-mixed-protocols" in r.output
    assert invoke("compare", a, b, "--allow-mixed-protocols", "--resamples", 10).exit_code == 0
    c = write_results(tmp_path / "c.results.jsonl", {"T/0": (1, 1), "T/1": (1, 1)}, protocol="p1")
    r = invoke("compare", a, c)
    assert r.exit_code == 2 and "cover different tasks" in r.output
    r = invoke("compare", tmp_path, a)  # a folder with three results files of one benchmark
    assert r.exit_code == 2 and "two results files for benchmark 'humaneval+'" in r.output
