"""Reading sample files: formats, MBPP id aliases, and every bad input as one clear error."""

from __future__ import annotations

import json

import pytest

from codepref.errors import InputError
from codepref.evaluation.samples import read_samples
from codepref.records import Task

TASKS = {
    "HumanEval/0": Task("HumanEval/0", "python", "def f(x):\n", "f", ["assert f(1) == 1"]),
    "Mbpp/11": Task("Mbpp/11", "python", '"""\nDo it.\n"""\n', "g", ["assert g() == 1"]),
}


def write(tmp_path, *lines, raw: bytes | None = None):
    f = tmp_path / "s.jsonl"
    if raw is not None:
        f.write_bytes(raw)
    else:
        f.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return f


def test_formats_and_order(tmp_path):
    f = write(tmp_path,
              {"task_id": "HumanEval/0", "completion": "    return x\n"},
              {"task_id": "HumanEval/0", "solution": "def f(x):\n    return 1\n", "completion": "ignored"},
              {"task_id": "HumanEval/0", "kind": "test", "index": 0, "text": "assert f(2) == 2"},
              {"task_id": "HumanEval/0", "kind": "solution", "index": 0, "text": "def f(x): return 0"},
              {"task_id": 11, "solution": "def g(): return 1"},
              {"task_id": "11", "completion": "def g(): return 2"})
    got = read_samples(f, TASKS)
    assert [s.program for s in got["HumanEval/0"]] == [
        "def f(x):\n    return x\n", "def f(x):\n    return 1\n", "def f(x): return 0"]
    assert [s.index for s in got["HumanEval/0"]] == [0, 1, 2]
    assert [s.line for s in got["HumanEval/0"]] == [1, 2, 4]
    assert [s.program for s in got["Mbpp/11"]] == ["def g(): return 1", TASKS["Mbpp/11"].prompt + "def g(): return 2"]


@pytest.mark.parametrize("lines, message", [
    ([{"task_id": "HumanEval/1", "completion": "x"}], "unknown task_id 'HumanEval/1'.*did you mean 'HumanEval/0'"),
    ([{"completion": "x"}], "missing field 'task_id'"),
    ([{"task_id": "HumanEval/0"}], "needs a 'completion'"),
    ([{"task_id": "HumanEval/0", "completion": ["x"]}], "must be a string"),
    ([{"task_id": "HumanEval/0", "completion": "  \n"}], "empty completion"),
    ([{"task_id": "HumanEval/0", "completion": "x", "completion_id": 0},
      {"task_id": "HumanEval/0", "completion": "y", "completion_id": 0}], "duplicate sample .* index 0 .*line 1"),
    (["[1, 2]"], "expected a JSON object"),
    (["{oops"], "malformed JSON"),
    ([], "no samples"),
])
def test_bad_input_is_one_clear_error(tmp_path, lines, message):
    with pytest.raises(InputError, match=message) as e:
        read_samples(write(tmp_path, *lines), TASKS)
    assert str(e.value).startswith(str(tmp_path / "s.jsonl"))


def test_non_utf8_and_empty_allowed(tmp_path):
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_samples(write(tmp_path, raw=b'{"task_id": "HumanEval/0", "completion": "\xff"}\n'), TASKS)
    f = write(tmp_path, {"task_id": "HumanEval/0", "completion": ""})
    assert read_samples(f, TASKS, allow_empty=True)["HumanEval/0"][0].program == "def f(x):\n"


def test_oversized_program(tmp_path):
    f = write(tmp_path, {"task_id": "HumanEval/0", "completion": "x" * 100})
    with pytest.raises(InputError, match="over the 50-byte limit"):
        read_samples(f, TASKS, max_code_bytes=50)
