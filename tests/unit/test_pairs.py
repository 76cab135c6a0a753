"""Pair and KTO record building, sample/matrix joining, efficiency picking and the audit counts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from codepref.errors import ConfigError, InputError
from codepref.evaluation.audit import audit_records, audit_scorers, format_table, oracle_task, programs_of
from codepref.pairs.build import BuildStats, PairOptions, build_records, candidates, skip_reason, task_picks
from codepref.pairs.data import TaskData, completion_of, load_task_data
from codepref.pairs.efficiency import (EfficiencyOptions, efficiency_plan, parse_times, pick_faster,
                                       timing_program)
from codepref.records import Outcome, PassMatrix, make_header
from codepref.scoring import get_scorer

P, F, S = Outcome.PASSED, Outcome.FAILED, Outcome.SANDBOX_ERROR
PROMPT = "def add(a, b):\n"
SOLS = [PROMPT + "    return a + b\n", PROMPT + "    return a + b\n", PROMPT + "    return a - b\n",
        PROMPT + "    return a * b\n"]
TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 0) == 0"]
#: rows: +, + (duplicate), -, * ; tests: add(1,2)==3, add(2,2)==4, add(0,0)==0
ROWS = [[P, P, P], [P, P, P], [F, F, P], [F, P, P]]


def task(rows=ROWS, sols=SOLS, tests=TESTS, tid="T/0") -> TaskData:
    m = PassMatrix(tid, [list(r) for r in rows], [[0.0] * len(r) for r in rows])
    return TaskData(tid, PROMPT, "python", list(sols), list(tests), m, list(range(len(sols))),
                    list(range(len(tests))))


# ----------------------------------------------------------------------------- building


def test_the_worked_example_with_codet():
    """codet groups: {0, 1} pass all 3 tests: 3 x 2 = 6; row 2 passes 1 test: 1; row 3
    passes 2: 2. Normalised [1, 1, 1/6, 1/3]. Dedupe drops row 1 (same text as row 0),
    so candidates are rows 0, 2, 3 and the pair is chosen 0 vs rejected 2 (margin 5/6).
    The DPO columns hold the completion after the prompt."""
    assert candidates(SOLS) == [0, 2, 3]
    stats = BuildStats()
    [(_, picks, recs)] = list(build_records([task()], get_scorer("codet"), PairOptions(), "dpo", stats))
    (r,) = recs
    assert (r["prompt"], r["chosen"], r["rejected"]) == (PROMPT, "    return a + b\n", "    return a - b\n")
    assert (r["chosen_score"], r["rejected_score"]) == (1.0, pytest.approx(1 / 6))
    assert (r["chosen_index"], r["rejected_index"], r["kind"], r["scorer"]) == (0, 2, "correctness", "codet")
    assert r["chosen_continues_prompt"] and r["rejected_continues_prompt"]
    assert "codet" in r["why"] and (stats.tasks, stats.tasks_with_pairs, stats.records) == (1, 1, 1)


def test_concatenation_appends_the_dstc_tests():
    """Passers per test: [2, 3, 4]. Chosen row 0 passes all three; the strictest is test 0
    (2 passers). Rejected row 2 fails tests 0 and 1; the most lenient of those is test 1
    (3 passers). chosen = code + blank line + test 0; rejected = code + test 1; the bare
    codes and test indices are kept for the audit."""
    [(_, _, (r,))] = build_records([task()], get_scorer("codet"), PairOptions(concat_tests=True))
    assert r["chosen"] == "    return a + b\n\nassert add(1, 2) == 3\n"
    assert r["rejected"] == "    return a - b\n\nassert add(2, 2) == 4\n"
    assert (r["chosen_code"], r["chosen_test_index"], r["rejected_test_index"]) == ("    return a + b\n", 0, 1)
    assert programs_of(r) == [(True, SOLS[0]), (False, SOLS[2])]


def test_kto_samples_are_the_picks_labelled():
    """One pick -> a desirable sample (chosen, label True, score 1) and an undesirable one
    (rejected, label False, score 1/6): 1:1 balanced."""
    [(_, _, recs)] = build_records([task()], get_scorer("codet"), PairOptions(), "kto")
    assert [(r["completion"], r["label"], round(r["score"], 3)) for r in recs] == [
        ("    return a + b\n", True, 1.0), ("    return a - b\n", False, 0.167)]
    assert [r["index"] for r in recs] == [0, 2]


def test_without_dedupe_the_duplicate_is_a_candidate():
    """No dedupe: k=2 gives (0 vs 2) then (1 vs 3): row 1 is row 0's duplicate (1.0),
    row 3 scores 2/6."""
    [(_, picks, _)] = build_records([task()], get_scorer("codet"), PairOptions(pairs_per_task=2, dedupe=False))
    assert [(p.chosen, p.rejected) for p in picks] == [(0, 2), (1, 3)]
    [(_, picks, _)] = build_records([task()], get_scorer("codet"), PairOptions(pairs_per_task=2))
    assert [(p.chosen, p.rejected) for p in picks] == [(0, 2)]  # only 0, 2, 3 are candidates


def test_skip_reasons():
    """All-pass and all-fail tasks are skipped (unless asked); no tests / no solutions too;
    an empty solution is never a candidate."""
    assert skip_reason(task([[P, P]] * 2, SOLS[:2], TESTS[:2]), PairOptions()) == "all pass"
    assert skip_reason(task([[F, F]] * 2, SOLS[:2], TESTS[:2]), PairOptions()) == "all fail"
    assert skip_reason(task([[F, F]] * 2, SOLS[:2], TESTS[:2]), PairOptions(skip_uniform=False)) == ""
    assert skip_reason(task([[], []], SOLS[:2], []), PairOptions()) == "no tests"
    assert skip_reason(task([], [], TESTS), PairOptions()) == "no solutions"
    assert skip_reason(task([[S, S]] * 2, SOLS[:2], TESTS[:2]), PairOptions()) == "every cell failed in the sandbox"
    assert candidates(["", " ", "x", "x ", "y"]) == [2, 4]
    stats = BuildStats()
    list(build_records([task([[P, P]] * 2, SOLS[:2], TESTS[:2]), task([[F]] * 2, SOLS[2:], TESTS[:1])],
                       get_scorer("pagerank"), PairOptions(), "dpo", stats))
    assert stats.reasons == {"all pass": 1, "all fail": 1}
    assert "no pair: all pass 1, all fail 1" in stats.summary()


def test_the_prompt_gate_keeps_solutions_failing_a_stated_test_from_being_chosen():
    """Rows: A passes the stated test 0 and model test 2; B, C, D fail test 0 but agree on
    the (wrong) model tests 1 and 2. codet without the gate: the group {B, C, D} scores
    3 x 2 = 6 against A's 1 x 2 = 2, so a wrong solution is chosen. With column 0 marked
    as stated by the prompt, B, C, D score 0: A is chosen, B (lowest row of the zeros)
    rejected, and the pair says why. When no candidate passes the stated test the task is
    skipped."""
    sols = [PROMPT + f"    return {e}\n" for e in ("a + b", "a - b", "b - a + 0", "-(b - a)")]
    rows = [[P, F, P], [F, P, P], [F, P, P], [F, P, P]]
    t = task(rows, sols, ["assert add(1, 2) == 3", "assert add(2, 2) == 0", "assert add(0, 0) == 0"])
    (ungated,), _ = task_picks(t, get_scorer("codet"), PairOptions())
    assert ungated.chosen == 1
    t.stated = [0]
    (p,), _ = task_picks(t, get_scorer("codet"), PairOptions())
    assert (p.chosen, p.rejected, p.chosen_score, p.rejected_score) == (0, 1, 1.0, 0.0)
    assert "fails a test the prompt states" in p.why
    (p,), _ = task_picks(t, get_scorer("minimax"), PairOptions())
    assert p.chosen == 0 and p.rejected != 0
    assert task_picks(t, get_scorer("codet"), PairOptions(prompt_gate=False))[0][0].chosen == 1
    none_pass = task([[F, P, P], [F, P, P], [F, F, P], [F, P, F]], sols, t.tests)
    none_pass.stated = [0]
    assert task_picks(none_pass, get_scorer("pagerank"), PairOptions()) == \
        ([], "no solution passes the prompt's own tests")


def test_a_sandbox_error_on_a_stated_test_does_not_close_the_gate():
    """Row 0's stated cell is a sandbox error: that says nothing about the code, so row 0
    stays eligible (and, being the only row that passes the rest, is chosen)."""
    from codepref.pairs.build import gate

    t = task([[S, P, P], [F, P, F], [F, F, F]], SOLS[:1] + SOLS[2:], TESTS)
    t.stated = [0]
    assert gate(t).tolist() == [True, False, False]
    t.stated = []
    assert gate(t) is None


def test_min_margin_filters_close_pairs():
    """Rows 0 and 2 only, codet scores: row 0 passes 3 tests (x1) = 3, row 2 one = 1 ->
    margin 2/3. min_margin 0.6 keeps it; 0.7 drops it."""
    t = task([ROWS[0], ROWS[2]], [SOLS[0], SOLS[2]])
    assert task_picks(t, get_scorer("codet"), PairOptions(min_margin=0.6))[0]
    assert task_picks(t, get_scorer("codet"), PairOptions(min_margin=0.7)) == ([], "no pair reaches the minimum margin")


def test_min_cluster_keeps_only_picks_with_a_consensus():
    """Distinct texts, rows: three pass all tests (one cluster of 3), one passes two, one
    fails two. The chosen row's cluster has 3 members: min_cluster 3 keeps the pick, 4
    drops it with the reason. A sandbox error counts as not passed (row 5 = row 3's
    vector once its error cell is read as a failure)."""
    sols = [PROMPT + f"    return a + b + {i} - {i}\n" for i in range(3)] + SOLS[2:]
    rows = [[P, P, P]] * 3 + [ROWS[2], ROWS[3]]
    t = task(rows, sols)
    sc = get_scorer("codet")
    picks, _ = task_picks(t, sc, PairOptions(min_cluster=3))
    assert picks and picks[0].chosen in (0, 1, 2)
    assert task_picks(t, sc, PairOptions(min_cluster=4)) == (
        [], "no consensus: fewer than 4 candidates share the chosen solution's pass vector")
    assert task_picks(t, sc, PairOptions()) == task_picks(t, sc, PairOptions(min_cluster=1))
    from codepref.pairs.build import cluster_size
    t2 = task([[F, F, P], [F, S, P], [P, P, P]], [SOLS[2], PROMPT + "    return b - a\n", SOLS[0]])
    assert cluster_size(t2, [0, 1, 2], 0) == 2 and cluster_size(t2, [0, 1, 2], 2) == 1


def test_bad_options():
    with pytest.raises(ConfigError, match="pairs_per_task"):
        PairOptions(pairs_per_task=0)
    with pytest.raises(ConfigError, match="min_margin"):
        PairOptions(min_margin=2)
    with pytest.raises(ConfigError, match="min_cluster"):
        PairOptions(min_cluster=0)
    with pytest.raises(ConfigError, match="format"):
        list(build_records([task()], get_scorer("codet"), PairOptions(), "sft"))
    with pytest.raises(ConfigError, match="repeats"):
        EfficiencyOptions(repeats=1)


def test_completion_of():
    assert completion_of("def f():\n", "def f():\n    return 1\n") == "    return 1\n"
    assert completion_of("def f():\n", "import os\ndef f(): pass\n") == "import os\ndef f(): pass\n"


# ----------------------------------------------------------------------------- files


def write_jsonl(path, header_kind, lines):
    with open(path, "w") as fh:
        fh.write(json.dumps({"_header": make_header(header_kind, {})}) + "\n")
        for obj in lines:
            fh.write(json.dumps(obj) + "\n")


def sample_lines(tid="T/0", prompt=None):
    out = [{"task_id": tid, "kind": "solution", "index": i, "text": s} for i, s in enumerate(SOLS)]
    out += [{"task_id": tid, "kind": "test", "index": j, "text": t} for j, t in enumerate(TESTS)]
    out[len(SOLS) + 1]["params"] = {"source": "prompt"}  # test 1 is stated by the prompt
    if prompt is not None:
        for o in out:
            o["prompt"] = prompt
    return out


def test_load_task_data_joins_by_sample_index(tmp_path):
    """Matrix rows/columns name sample indices; a matrix without them is read as all
    solutions x distinct tests in index order."""
    write_jsonl(tmp_path / "s.jsonl", "samples", sample_lines(prompt=PROMPT))
    m = task().matrix.to_dict()
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [m | {"solution_index": [3, 2, 1, 0], "test_index": [2, 1, 0]}])
    (d,) = load_task_data(tmp_path / "s.jsonl", tmp_path / "m.jsonl")
    assert d.solutions == SOLS[::-1] and d.tests == TESTS[::-1] and d.prompt == PROMPT
    assert d.stated == [1]  # test sample 1 (source "prompt") is column 1 here
    write_jsonl(tmp_path / "m2.jsonl", "pass_matrices", [m])
    (d,) = load_task_data(tmp_path / "s.jsonl", tmp_path / "m2.jsonl", {"T/0": "other"})
    assert d.solutions == SOLS and d.prompt == "other"


@pytest.mark.parametrize("matrix, prompts, message", [
    ({"task_id": "T/0"}, None, "m.jsonl:2: not a pass matrix line"),
    ({"task_id": "X", "outcomes": [], "durations": []}, None, "task 'X' has no samples"),
    ({"task_id": "T/0", "outcomes": [["passed"]], "durations": [[0]]}, None, "matrix shape 1x1 does not match"),
    ({"task_id": "T/0", "outcomes": [["passed"]], "durations": [[0]], "solution_index": [9], "test_index": [0]},
     None, "solution sample 9 is not in"),
    ({"task_id": "T/0", "outcomes": [["bogus"]], "durations": [[0]]}, None, "not a pass matrix line"),
])
def test_load_task_data_errors(tmp_path, matrix, prompts, message):
    write_jsonl(tmp_path / "s.jsonl", "samples", sample_lines())
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [matrix])
    with pytest.raises(InputError, match=message):
        load_task_data(tmp_path / "s.jsonl", tmp_path / "m.jsonl", prompts)


def test_missing_prompt_says_what_to_pass(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", "samples", sample_lines())
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [task().matrix.to_dict()])
    with pytest.raises(InputError, match=r"no prompt for task 'T/0': pass the task set \(--tasks"):
        load_task_data(tmp_path / "s.jsonl", tmp_path / "m.jsonl")


def test_bad_sample_lines(tmp_path):
    from codepref.samples import read_generated_samples

    cases = [({"task_id": "a", "kind": "solution", "index": 0}, "missing field 'text'"),
             ({"task_id": "a", "kind": "code", "index": 0, "text": ""}, "'kind' must be 'solution' or 'test'"),
             ({"task_id": "a", "kind": "test", "index": "0", "text": ""}, "'index' must be int")]
    for obj, message in cases:
        write_jsonl(tmp_path / "s.jsonl", "samples", [obj])
        with pytest.raises(InputError, match=message):
            read_generated_samples(tmp_path / "s.jsonl")
    write_jsonl(tmp_path / "s.jsonl", "samples", sample_lines()[:1] * 2)
    with pytest.raises(InputError, match="s.jsonl:3: duplicate solution 0 of task 'T/0' \\(first on line 2\\)"):
        read_generated_samples(tmp_path / "s.jsonl")


def onpolicy_lines(tid="T/0"):
    """Sample lines as ``codepref generate`` writes them in chat style: each solution with the
    rendered prompt it was sampled from and its sampled continuation (the code plus what
    came before the closing fence)."""
    out = sample_lines(tid)
    for o in out[:len(SOLS)]:
        o["prompt"] = RENDERED
        o["continuation"] = o["text"] + "\n"
    return out


RENDERED = "<|im_start|>user\nWrite add.<|im_end|>\n<|im_start|>assistant\n```python\n"


def test_onpolicy_records_hold_the_sampled_text_and_the_judged_program(tmp_path):
    """The recorded prompt wins over the task set's; chosen/rejected are the continuations;
    the judged programs travel in chosen_code/rejected_code (KTO: code), so the audit judges
    those and not prompt + continuation."""
    write_jsonl(tmp_path / "s.jsonl", "samples", onpolicy_lines())
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [task().matrix.to_dict()])
    (d,) = load_task_data(tmp_path / "s.jsonl", tmp_path / "m.jsonl", {"T/0": PROMPT})
    assert d.prompt == RENDERED and d.continuations == [x + "\n" for x in SOLS]
    [(_, _, (r,))] = build_records([d], get_scorer("codet"), PairOptions())
    assert (r["prompt"], r["chosen"], r["rejected"]) == (RENDERED, SOLS[0] + "\n", SOLS[2] + "\n")
    assert (r["chosen_code"], r["rejected_code"]) == (SOLS[0], SOLS[2])
    assert not r["chosen_continues_prompt"] and not r["rejected_continues_prompt"]
    assert programs_of(r) == [(True, SOLS[0]), (False, SOLS[2])]
    [(_, _, recs)] = build_records([d], get_scorer("codet"), PairOptions(), "kto")
    assert [(x["prompt"], x["completion"], x["code"], x["label"]) for x in recs] == [
        (RENDERED, SOLS[0] + "\n", SOLS[0], True), (RENDERED, SOLS[2] + "\n", SOLS[2], False)]
    assert [p for x in recs for p in programs_of(x)] == [(True, SOLS[0]), (False, SOLS[2])]
    [(_, _, (r,))] = build_records([d], get_scorer("codet"), PairOptions(concat_tests=True))
    from codepref.languages import get_language

    assert r["chosen"] == get_language("python").assemble(SOLS[0] + "\n", TESTS[0]) and r["chosen_code"] == SOLS[0]


def test_sampled_token_ids_travel_into_the_records(tmp_path):
    """Recorded ``continuation_ids`` become ``chosen_sampled_ids``/``rejected_sampled_ids``
    (KTO: ``completion_sampled_ids``); a pair whose side has none carries neither, and test
    concatenation (text the model did not sample whole) carries none."""
    lines = onpolicy_lines()
    for o in lines[:len(SOLS)]:
        o["continuation_ids"] = [o["index"], 100 + o["index"]]
    write_jsonl(tmp_path / "s.jsonl", "samples", lines)
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [task().matrix.to_dict()])
    (d,) = load_task_data(tmp_path / "s.jsonl", tmp_path / "m.jsonl", {"T/0": PROMPT})
    assert d.continuation_ids == [[i, 100 + i] for i in range(len(SOLS))]
    [(_, _, (r,))] = build_records([d], get_scorer("codet"), PairOptions())
    assert (r["chosen_sampled_ids"], r["rejected_sampled_ids"]) == ([0, 100], [2, 102])
    [(_, _, recs)] = build_records([d], get_scorer("codet"), PairOptions(), "kto")
    assert [x["completion_sampled_ids"] for x in recs] == [[0, 100], [2, 102]]
    [(_, _, (r,))] = build_records([d], get_scorer("codet"), PairOptions(concat_tests=True))
    assert "chosen_sampled_ids" not in r
    d.continuation_ids[2] = []
    [(_, _, (r,))] = build_records([d], get_scorer("codet"), PairOptions())
    assert "chosen_sampled_ids" not in r and "rejected_sampled_ids" not in r
    lines[0]["continuation_ids"] = [1, "2"]
    write_jsonl(tmp_path / "s.jsonl", "samples", lines)
    with pytest.raises(InputError, match="s.jsonl:2: field 'continuation_ids' must be a list of integers"):
        load_task_data(tmp_path / "s.jsonl", tmp_path / "m.jsonl", {"T/0": PROMPT})


def test_without_every_continuation_the_task_prompt_is_used(tmp_path):
    """A row without a recorded continuation (samples from elsewhere) makes the whole task
    fall back to the task set's prompt and the solution minus that prompt."""
    lines = onpolicy_lines()
    del lines[2]["continuation"]
    write_jsonl(tmp_path / "s.jsonl", "samples", lines)
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [task().matrix.to_dict()])
    (d,) = load_task_data(tmp_path / "s.jsonl", tmp_path / "m.jsonl", {"T/0": PROMPT})
    assert d.prompt == PROMPT and d.continuations == []
    [(_, _, (r,))] = build_records([d], get_scorer("codet"), PairOptions())
    assert (r["prompt"], r["chosen"]) == (PROMPT, "    return a + b\n") and "chosen_code" not in r


def test_one_task_needs_one_sampled_prompt(tmp_path):
    from codepref.samples import read_generated_samples

    lines = onpolicy_lines()
    lines[1]["prompt"] = RENDERED + "x"
    write_jsonl(tmp_path / "s.jsonl", "samples", lines)
    with pytest.raises(InputError, match="s.jsonl:3: solution 1 of task 'T/0' was sampled from another prompt"):
        read_generated_samples(tmp_path / "s.jsonl")


# ----------------------------------------------------------------------------- efficiency


def test_pick_faster_needs_speedup_and_no_overlap():
    """Medians: #0 1.05, #2 1.2, #1 2.1. Fastest #0 vs slowest #1: ratio 2.0 >= 1.2 and
    max(#0) = 1.1 < min(#1) = 2.0 -> pair, rejected_score 1.05/2.1 = 0.5. The next pair
    would be #2 with itself: stop. Overlapping runs ([1, 1.5, 1.2] vs [1.4, 2, 2]) give
    nothing although the median ratio is 1.67."""
    (p,) = pick_faster({0: [1.0, 1.1, 1.05], 1: [2.0, 2.1, 2.2], 2: [1.2, 1.3, 1.1]}, k=2, min_speedup=1.2)
    assert (p.chosen, p.rejected, p.chosen_score, p.rejected_score) == (0, 1, 1.0, 0.5)
    assert pick_faster({0: [1, 1.5, 1.2], 1: [1.4, 2, 2]}, k=1, min_speedup=1.2) == []
    assert pick_faster({0: [1.0, 1.0, 1.0], 1: [1.1, 1.1, 1.1]}, k=1, min_speedup=1.2) == []


def test_efficiency_plan_uses_the_tests_the_best_solution_passes():
    """pagerank's best row is 0 (passes all 3 tests); trusted = tests 0, 1, 2; rows
    passing them all: 0 and its duplicate 1 -> after dedupe only row 0: no plan. Make
    row 3 correct as well (a different text): candidates 0 and 3."""
    assert efficiency_plan(task(), get_scorer("pagerank"), PairOptions(), EfficiencyOptions()) == ([], [])
    rows = [ROWS[0], ROWS[1], ROWS[2], [P, P, P]]
    rows_, trusted = efficiency_plan(task(rows), get_scorer("pagerank"), PairOptions(), EfficiencyOptions())
    assert (rows_, trusted) == ([0, 3], [0, 1, 2])


def test_efficiency_plan_times_only_solutions_through_the_prompt_gate():
    """Rows 0/1 (same text) fail the stated test 0 and pass 1, 2; rows 2 and 3 pass 0, 1.
    codet ties the groups at 2 x 2 = 4 and takes the lower row: without the gate the best
    is row 0, its tests 1, 2 are passed by no other distinct solution: no plan. With the
    gate rows 0/1 are out, the best is row 2 and rows 2, 3 are timed on tests 0, 1."""
    t = task([[F, P, P], [F, P, P], [P, P, F], [P, P, F]])
    t.stated = [0]
    assert efficiency_plan(t, get_scorer("codet"), PairOptions(prompt_gate=False), EfficiencyOptions()) == ([], [])
    assert efficiency_plan(t, get_scorer("codet"), PairOptions(), EfficiencyOptions()) == ([2, 3], [0, 1])


def test_timing_harness_prints_per_pass_times():
    """The harness runs as a plain program (here on the host, outside the sandbox): it
    prints `repeats` per-pass times, all positive."""
    prog = timing_program("def add(a, b):\n    return a + b\n", ["assert add(1, 2) == 3"], repeats=3)
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60, check=True)
    times = parse_times(out.stdout)
    assert times is not None and len(times) == 3 and all(0 < t < 0.1 for t in times)
    assert parse_times("noise\n") is None


# ----------------------------------------------------------------------------- audit


def test_audit_counts_precision_and_coverage():
    """Two codet pairs on two tasks out of 4 ranked. Pair 1: chosen correct, rejected
    wrong (precise). Pair 2: chosen wrong, rejected wrong. A third pair has an unknown
    verdict (not judged). precision 1/2, chosen-correct 1/2, rejected-wrong 2/2,
    coverage 3 tasks / 4."""
    recs = [{"task_id": "a", "prompt": "", "chosen": "A+", "rejected": "A-", "scorer": "codet"},
            {"task_id": "b", "prompt": "", "chosen": "B-", "rejected": "B--", "scorer": "codet"},
            {"task_id": "c", "prompt": "", "chosen": "C?", "rejected": "C-", "scorer": "codet"}]
    verdicts = {("a", "A+"): True, ("a", "A-"): False, ("b", "B-"): False, ("b", "B--"): False, ("c", "C-"): False}
    (row,) = audit_records(recs, verdicts, tasks_total=4)
    assert (row.pairs, row.judged, row.unjudged) == (3, 2, 1)
    assert (row.precision, row.chosen_correct_rate, row.rejected_wrong_rate, row.coverage) == (0.5, 0.5, 1.0, 0.75)
    table = format_table([row])
    assert "| codet | correctness | dpo | 3 | 2 | 3/4 | 0.750 | 0.500 | 0.500 | 1.000 |" in table


def test_audit_kto_is_label_accuracy():
    """KTO: desirable correct, desirable wrong, undesirable wrong -> precision 2/3;
    chosen-correct counts desirable correct (1/3 of judged), rejected-wrong undesirable wrong (1/3)."""
    recs = [{"task_id": "a", "prompt": "p", "completion": "x", "label": True, "scorer": "minimax"},
            {"task_id": "a", "prompt": "p", "completion": "y", "label": True, "scorer": "minimax"},
            {"task_id": "a", "prompt": "p", "completion": "z", "label": False, "scorer": "minimax"}]
    (row,) = audit_records(recs, {("a", "x"): True, ("a", "y"): False, ("a", "z"): False})
    assert (row.fmt, row.judged, row.precise, row.chosen_correct, row.rejected_wrong) == ("kto", 3, 2, 1, 1)
    assert row.coverage is None


def test_programs_of_rebuilds_the_program():
    r = {"prompt": "def f():\n", "chosen": "  return 1\n", "rejected": "def f(): return 2\n",
         "chosen_continues_prompt": True, "rejected_continues_prompt": False}
    assert programs_of(r) == [(True, "def f():\n  return 1\n"), (False, "def f(): return 2\n")]
    with pytest.raises(InputError, match="not a DPO pair"):
        programs_of({"prompt": "x"})


def test_audit_scorers_with_the_oracle_row():
    """Verdicts: rows 0, 1 (a + b) correct; rows 2 (a - b), 3 (a * b) wrong. Every
    self-test scorer pairs row 0 with a wrong row (precision 1); the oracle does so by
    construction; all cover the single task."""
    verdicts = {("T/0", SOLS[0]): True, ("T/0", SOLS[2]): False, ("T/0", SOLS[3]): False}
    assert oracle_task(task(), verdicts).matrix.outcomes == [[P], [P], [F], [F]]
    rows = audit_scorers([task()], verdicts, [get_scorer(n) for n in ("codet", "pagerank", "minimax")])
    assert sorted(r.scorer for r in rows) == ["codet", "minimax", "oracle", "pagerank"]
    for r in rows:
        assert (r.pairs, r.precision, r.coverage) == (1, 1.0, 1.0)
