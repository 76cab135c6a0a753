"""The task format, database lookup, the shipped sqlfix set and its pipeline form."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from codepref.errors import ConfigError, InputError
from codepref.sql import rewind_seeds_path, sqlfix_path
from codepref.sql.task import SqlTask, db_file, read_sql_tasks, schema_sql, sql_dir
from codepref.tasks import sqlfix

CATEGORIES = {"join", "group_by", "null", "int_division", "dates", "order_limit", "distinct",
              "correlated_subquery", "window", "cte", "dml"}


def write(path: Path, *objs) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    return path


def test_from_dict_accepts_bird_variants():
    t = SqlTask.from_dict({"instance_id": 7, "selected_database": "chinook", "query": "q",
                           "issue_sql": "SELECT 1", "sol_sql": ["SELECT 2"], "test_cases": None,
                           "conditions": {"order": True}, "efficiency": False, "note": "kept"})
    assert t.instance_id == "7" and t.db_id == "chinook" and t.issue_sql == ["SELECT 1"]
    assert t.test_cases == [] and t.extra == {"note": "kept"} and t.to_dict()["note"] == "kept"


@pytest.mark.parametrize("obj, message", [
    ({"db_id": "x", "sol_sql": ["SELECT 1"]}, "missing field 'instance_id'"),
    ({"instance_id": "a", "db_id": "../x", "sol_sql": ["SELECT 1"]}, "must be a database name"),
    ({"instance_id": "a", "db_id": "x", "sol_sql": []}, "'sol_sql' is empty"),
    ({"instance_id": "a", "db_id": "x", "sol_sql": [1]}, "'sol_sql' must be a list of strings"),
    ({"instance_id": "a", "db_id": "x", "sol_sql": ["S"], "conditions": {"order": "yes"}}, "must be true or false"),
])
def test_from_dict_errors(obj, message):
    with pytest.raises(InputError, match=message):
        SqlTask.from_dict(obj, "f.jsonl", 3)


def test_read_sql_tasks_rejects_duplicates_and_empty(tmp_path):
    t = {"instance_id": "a", "db_id": "x", "sol_sql": ["SELECT 1"]}
    with pytest.raises(InputError, match="duplicate instance_id 'a' .first on line 1."):
        read_sql_tasks(write(tmp_path / "t.jsonl", t, t))
    with pytest.raises(InputError, match="no tasks"):
        read_sql_tasks(write(tmp_path / "e.jsonl"))


def test_sql_dir_from_flag_env_default_and_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("CODEPREF_DATA", raising=False)
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="CODEPREF_DATA.*run: codepref data fetch chinook northwind"):
        sql_dir(None)
    (tmp_path / "cache" / "data" / "sql").mkdir(parents=True)
    assert sql_dir(None) == tmp_path / "cache" / "data" / "sql"  # the default folder of `codepref data fetch`
    (tmp_path / "sql" / "shop").mkdir(parents=True)
    assert sql_dir(tmp_path) == tmp_path / "sql"
    monkeypatch.setenv("CODEPREF_DATA", str(tmp_path / "sql"))
    assert sql_dir(None) == tmp_path / "sql"
    with pytest.raises(ConfigError, match="does not exist"):
        sql_dir(tmp_path / "nope")


def test_db_file_lookup(tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "shop.db").write_bytes(b"")
    (tmp_path / "flat.sqlite").write_bytes(b"")
    assert db_file(tmp_path, "shop").name == "shop.db"
    assert db_file(tmp_path, "flat").name == "flat.sqlite"
    (tmp_path / "shop" / "other.sqlite").write_bytes(b"")
    with pytest.raises(InputError, match="several database files"):
        db_file(tmp_path, "shop")
    with pytest.raises(InputError, match="database 'zoo' not found .* found: shop"):
        db_file(tmp_path, "zoo")
    (tmp_path / "sql").mkdir()
    fetch = f"; run: codepref data fetch chinook --data {tmp_path}"
    with pytest.raises(InputError, match=f"not found .*{re.escape(fetch)}$"):
        db_file(tmp_path / "sql", "chinook")


def test_shipped_sqlfix_set_covers_every_category():
    tasks = read_sql_tasks(sqlfix_path())
    counts = Counter(t.category for t in tasks)
    assert len(tasks) >= 60 and set(counts) == CATEGORIES and min(counts.values()) >= 5
    assert {t.db_id for t in tasks} == {"chinook", "northwind"}
    for t in tasks:
        assert t.query and t.issue_sql and t.sol_sql and t.issue_sql != t.sol_sql
        assert (t.category == "dml") == bool(t.test_cases)
    assert sum(1 for _ in open(rewind_seeds_path(), encoding="utf-8")) >= 100


def test_sqlfix_is_registered():
    from codepref.tasks import TASKS

    assert TASKS.get("sqlfix") is sqlfix.load


def test_sqlfix_as_pipeline_tasks(shared_data):
    task_set = sqlfix.load(data_dir=shared_data)
    assert task_set.name == "sqlfix" and len(task_set.sha256) == 64
    tasks = task_set.tasks
    assert len(tasks) == len(read_sql_tasks(sqlfix_path()))
    t = tasks[0]
    assert t.language == "sql" and t.setup.startswith("-- codepref-db: ")
    meta = t.metadata["sql_task"]
    assert meta["issue_sql"][0].strip().rstrip(";") in t.prompt
    assert meta["sol_sql"][0] not in t.prompt and "CREATE TABLE" in t.prompt
    assert all(bool(x.tests) == (x.metadata["category"] != "dml") for x in tasks)


def test_schema_sql_filters_tables(shared_data):
    path = db_file(sql_dir(shared_data), "chinook")
    text = schema_sql(path, ["genre"])
    assert text.startswith("CREATE TABLE [Genre]") and "Track" not in text
