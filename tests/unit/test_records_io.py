import json

import pytest

from codepref.errors import InputError, OutputMismatchError
from codepref.records import (
    ExecResult,
    Outcome,
    PassMatrix,
    ResumableJsonl,
    iter_jsonl,
    make_header,
    read_header,
)


def _write(path, lines):
    path.write_bytes(b"".join(lines))


def test_iter_jsonl_names_bad_lines(tmp_path):
    p = tmp_path / "in.jsonl"
    _write(p, [b'{"a": 1}\n', b"\n", b'{"a": \n'])
    with pytest.raises(InputError, match=r"in.jsonl:3: malformed JSON"):
        list(iter_jsonl(p))
    _write(p, [b'{"a": 1}\n', b'{"a": "\xff"}\n'])
    with pytest.raises(InputError, match=r":2: not valid UTF-8"):
        list(iter_jsonl(p))
    _write(p, [b"[1, 2]\n"])
    with pytest.raises(InputError, match=r":1: expected a JSON object, got list"):
        list(iter_jsonl(p))
    with pytest.raises(InputError, match="file not found"):
        list(iter_jsonl(tmp_path / "missing.jsonl"))


def test_resumable_output_appends_resumes_and_renames(tmp_path):
    out = tmp_path / "out.jsonl"
    header = make_header("exec_results", {"timeout_s": 1})
    w = ResumableJsonl(out, header, key=lambda r: r["id"])
    assert w.open() == set()
    w.append({"id": "a"})
    w.append({"id": "b"})
    w.close()  # interrupted: only the .partial file exists
    assert not out.exists() and w.partial.exists()
    with open(w.partial, "a") as fh:  # a kill in the middle of a line
        fh.write('{"id": "c", "trunc')
    w2 = ResumableJsonl(out, header, key=lambda r: r["id"])
    assert w2.open() == {"a", "b"}
    w2.append({"id": "c"})
    w2.finalize()
    assert [o["id"] for _, o in iter_jsonl(out)] == ["a", "b", "c"]
    assert read_header(out)["settings_hash"] == header["settings_hash"]
    assert not w2.partial.exists()
    # A finished file is reopened for more work without losing anything.
    w3 = ResumableJsonl(out, header, key=lambda r: r["id"])
    assert w3.open() == {"a", "b", "c"}
    w3.finalize()
    assert len(list(iter_jsonl(out))) == 3


def test_resumable_output_refuses_other_settings(tmp_path):
    out = tmp_path / "out.jsonl"
    w = ResumableJsonl(out, make_header("exec_results", {"timeout_s": 1}), key=lambda r: r["id"])
    w.open()
    w.finalize()
    other = ResumableJsonl(out, make_header("exec_results", {"timeout_s": 2}), key=lambda r: r["id"])
    with pytest.raises(OutputMismatchError, match="other settings"):
        other.open()


def test_matrix_and_result_round_trip():
    m = PassMatrix("t", [[Outcome.PASSED, Outcome.SANDBOX_ERROR], [Outcome.FAILED, Outcome.TIMEOUT]],
                   [[0.1, 0.0], [0.2, 1.0]])
    d = json.loads(json.dumps(m.to_dict()))
    back = PassMatrix.from_dict(d)
    assert back == m and back.shape == (2, 2)
    assert back.passed().tolist() == [[True, False], [False, False]]
    assert back.valid().tolist() == [[True, False], [True, True]]
    r = ExecResult("x", Outcome.OOM, -9, 0.5, "", "")
    assert r.to_dict()["outcome"] == "oom"
