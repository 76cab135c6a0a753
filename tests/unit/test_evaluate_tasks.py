"""Task loaders: HumanEval(+), MBPP (+, sanitized) and user JSONL files, from the shared data."""

from __future__ import annotations

import functools
import gzip
import json
import re
import shutil

import pytest

from codepref.errors import InputError, UnknownNameError
from codepref.evaluation.run import load_task_set
from codepref.tasks import TASKS, sha256_of


@pytest.fixture(scope="module")
def shared(shared_data):
    """``shared(name)``: the task set ``name`` loaded once from the benchmark data folder."""
    return functools.cache(lambda name: load_task_set(name, data_dir=str(shared_data)))


@pytest.mark.parametrize("name, count, first", [
    ("humaneval", 164, "HumanEval/0"), ("humaneval+", 164, "HumanEval/0"), ("mbpp", 500, "Mbpp/11"),
    ("mbpp-sanitized", 257, "Mbpp/11"), ("mbpp+", 378, "Mbpp/2")])
def test_benchmarks_load_with_version_and_hash(shared, name, count, first):
    ts = shared(name)
    assert len(ts) == count and ts.tasks[0].id == first
    assert ts.sha256 == sha256_of(ts.source) and ts.version != "file"
    assert len({t.id for t in ts}) == count
    for t in ts:
        assert t.entry_point and t.prompt and t.language == "python"
        assert f"def {t.entry_point}" in t.prompt + t.metadata["canonical_solution"]


def test_mbpp_is_the_test_split_and_each_assert_is_a_test(shared, shared_data):
    ts = shared("mbpp")
    rows = [json.loads(x) for x in (shared_data / "mbpp" / "mbpp.jsonl").read_text().splitlines()]
    assert sorted(int(t.id.split("/")[1]) for t in ts) == list(range(11, 511))
    by_id = {f"Mbpp/{r['task_id']}": r for r in rows}
    for t in ts:
        assert [x.split("\n")[-1] for x in t.tests] == by_id[t.id]["test_list"]
        assert by_id[t.id]["test_list"][0].strip() in t.prompt and by_id[t.id]["text"].strip() in t.prompt


def test_mbpp_plus_inputs_are_deserialized_like_evalplus(shared, shared_data, monkeypatch):
    monkeypatch.setenv("MBPP_OVERRIDE_PATH", str(shared_data / "evalplus" / "MbppPlus.jsonl.gz"))
    from evalplus.data.mbpp import mbpp_deserialize_inputs
    from evalplus.data.utils import stream_jsonl

    ours = shared("mbpp+").by_id()
    for row in stream_jsonl(str(shared_data / "evalplus" / "MbppPlus.jsonl.gz")):
        for part in ("base_input", "plus_input"):
            assert ours[row["task_id"]].metadata[part] == mbpp_deserialize_inputs(row["task_id"], row[part])


def test_plus_sets_name_evalplus_special_oracles(shared):
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS, MBPP_OUTPUT_SET_EQ_TASKS

    for t in shared("mbpp+"):
        want = ("set_eq" if t.entry_point in MBPP_OUTPUT_SET_EQ_TASKS else
                "not_none" if t.entry_point in MBPP_OUTPUT_NOT_NONE_TASKS else None)
        if want:
            assert t.metadata["oracle"] == want
    he = shared("humaneval+").by_id()
    assert he["HumanEval/32"].metadata["oracle"] == "find_zero"


def test_data_dir_from_environment_then_the_default_folder(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("CODEPREF_DATA", str(shared_data))
    assert len(load_task_set("mbpp+")) == 378
    monkeypatch.delenv("CODEPREF_DATA")
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path))  # the default folder is $CODEPREF_CACHE/data
    (tmp_path / "data" / "mbpp").mkdir(parents=True)
    shutil.copy(shared_data / "mbpp" / "mbpp.jsonl", tmp_path / "data" / "mbpp")
    assert load_task_set("mbpp").source == str(tmp_path / "data" / "mbpp" / "mbpp.jsonl")


def test_missing_data_names_the_fetch_command(monkeypatch, tmp_path):
    monkeypatch.delenv("CODEPREF_DATA", raising=False)
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "cache"))
    default = tmp_path / "cache" / "data" / "evalplus" / "HumanEvalPlus.jsonl.gz"
    with pytest.raises(InputError, match=re.escape(f"HumanEval+: {default} not found; "
                                                   "run: codepref data fetch humaneval+ (or point --data / "
                                                   "CODEPREF_DATA at a folder holding evalplus/")):
        load_task_set("humaneval+")
    with pytest.raises(InputError, match=re.escape(f"run: codepref data fetch mbpp+ --data {tmp_path} ")):
        load_task_set("mbpp+", data_dir=str(tmp_path))
    with pytest.raises(InputError, match=re.escape("mbpp.jsonl not found; run: codepref data fetch mbpp --data")):
        load_task_set("mbpp", data_dir=str(tmp_path))
    with pytest.raises(InputError, match="sanitized-mbpp.json not found; run: codepref data fetch mbpp --data"):
        load_task_set("mbpp-sanitized", data_dir=str(tmp_path))


def test_a_recompressed_plus_file_is_still_its_release(shared_data, tmp_path):
    """A release asset or a mirror's copy is another gzip of the same JSONL: the loaders know
    the release by the decompressed content's SHA-256 (the pin of `codepref data fetch`)."""
    for name, relative in (("humaneval+", "evalplus/HumanEvalPlus.jsonl.gz"), ("mbpp+", "evalplus/MbppPlus.jsonl.gz")):
        content = gzip.decompress((shared_data / relative).read_bytes())
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(gzip.compress(content, mtime=1))
        ts = load_task_set(name, data_dir=str(tmp_path))
        assert ts.sha256 == sha256_of(tmp_path / relative) != sha256_of(shared_data / relative)
        assert ts.version == load_task_set(name, data_dir=str(shared_data)).version != "file"


def test_unknown_task_set_suggests_names():
    with pytest.raises(UnknownNameError, match="did you mean 'humaneval\\+'"):
        TASKS.get("humaneval++")


def test_jsonl_tasks(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"task_id": "a", "prompt": "def f(x):\n", "entry_point": "f", "tests": "assert f(1) == 1",
                             "difficulty": "easy"}) + "\n")
    ts = load_task_set("jsonl", path=str(f))
    assert ts.tasks[0].tests == ["assert f(1) == 1"] and ts.tasks[0].metadata == {"difficulty": "easy"}
    f.write_text('{"task_id": "a", "prompt": "p"}\n{"task_id": "a", "prompt": "q"}\n')
    with pytest.raises(InputError, match="duplicate task_id 'a'"):
        load_task_set("jsonl", path=str(f))
    f.write_text('{"task_id": "a", "prompt": "p", "tests": [1]}\n')
    with pytest.raises(InputError, match="tests"):
        load_task_set("jsonl", path=str(f))
    with pytest.raises(InputError, match="needs a file"):
        load_task_set("jsonl")


def test_jsonl_tasks_written_from_task_records_load_back(tmp_path):
    """A file of dataclasses.asdict(Task) lines (what `codepref sql tasks` writes) loads
    back with the same metadata, not nested one level deeper."""
    import dataclasses

    from codepref.records import Task

    task = Task(id="t/1", language="sql", prompt="fix it", tests=["SELECT 1;"], setup="-- codepref-db: x.sqlite",
                metadata={"category": "join", "sql_task": {"conditions": {"order": True}}})
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps(dataclasses.asdict(task)) + "\n")
    (loaded,) = load_task_set("jsonl", path=str(f)).tasks
    assert loaded == task
    f.write_text(json.dumps({"id": "t/1", "prompt": "p", "metadata": [1]}) + "\n")
    with pytest.raises(InputError, match="'metadata' must be an object"):
        load_task_set("jsonl", path=str(f))
