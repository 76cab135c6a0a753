"""The evaluator's logic, run on the host against the sample databases (the sandbox runs
the same code; see tests/integration/test_sql_sandbox.py)."""

import time

import pytest

from codepref.sql.evaluator import DEFAULT_TEST_CASE, Database, QueryError, QueryTimeout, evaluate_request
from codepref.sql.runner import evaluator_program
from codepref.sql.task import db_file, sql_dir


@pytest.fixture(scope="module")
def chinook(shared_data) -> str:
    return str(db_file(sql_dir(shared_data), "chinook"))


TASK = {
    "instance_id": "t/1", "db_id": "chinook",
    "issue_sql": ["SELECT ar.Name, COUNT(*) FROM Artist ar JOIN Album al ON al.ArtistId = ar.ArtistId "
                  "GROUP BY ar.ArtistId"],
    "sol_sql": ["SELECT ar.Name, COUNT(al.AlbumId) FROM Artist ar LEFT JOIN Album al ON al.ArtistId = ar.ArtistId "
                "GROUP BY ar.ArtistId"],
}


def judge(chinook, tmp_path, pred, task=TASK, **kw):
    request = {"task": task, "pred_sqls": pred, "db_path": chinook, "query_timeout_s": 1.0, **kw}
    return evaluate_request(request, str(tmp_path))


def test_gold_passes_and_issue_fails(chinook, tmp_path):
    v = judge(chinook, tmp_path, None)
    assert v["status"] == "success" and v["mode"] == "gold"
    assert v["issue"]["assertion_error"] and not v["issue_sql_passed_unexpectedly"]
    assert list(tmp_path.iterdir()) == []  # every copy was removed


def test_equivalent_fix_with_other_formatting_passes(chinook, tmp_path):
    pred = ["-- fixed\nSELECT DISTINCT ar.Name, ROUND(COUNT(al.AlbumId), 0) FROM Artist AS ar "
            "LEFT OUTER JOIN Album AS al USING (ArtistId) GROUP BY ar.ArtistId;"]
    assert judge(chinook, tmp_path, pred)["status"] == "success"


def test_wrong_prediction_and_error_prediction_fail(chinook, tmp_path):
    v = judge(chinook, tmp_path, ["SELECT Name, 1 FROM Artist"])
    assert v["status"] == "failed" and v["assertion_error"] and v["failed_test_cases"] == ["test_1"]
    v = judge(chinook, tmp_path, ["SELECT nope FROM Artist"])
    assert v["status"] == "failed" and v["execution_error"] and "no such column" in v["error_message"]
    v = judge(chinook, tmp_path, [])
    assert v["status"] == "failed" and v["error_message"] == "empty prediction"


def test_issue_sql_that_passes_fails_the_task(chinook, tmp_path):
    broken = {**TASK, "issue_sql": TASK["sol_sql"]}
    v = judge(chinook, tmp_path, None, task=broken)
    assert v["issue_sql_passed_unexpectedly"] and v["status"] == "failed"


def test_state_test_case_for_update(chinook, tmp_path):
    test = ("def test_case(pred_sqls, sol_sqls, db_path, conn, conditions):\n"
            "    assert ex_state(['SELECT GenreId, Name FROM Genre'], conn) == 1\n")
    task = {"instance_id": "t/2", "db_id": "chinook",
            "issue_sql": ["UPDATE Genre SET Name = upper(Name)"],
            "sol_sql": ["UPDATE Genre SET Name = upper(Name) WHERE GenreId = 1"],
            "preprocess_sql": ["INSERT INTO Genre (GenreId, Name) VALUES (99, 'Polka')"],
            "clean_up_sql": ["DELETE FROM Genre WHERE GenreId = 99"],
            "test_cases": [test]}
    assert judge(chinook, tmp_path, None, task=task)["status"] == "success"
    same = judge(chinook, tmp_path, ["UPDATE Genre SET Name = upper(Name) WHERE Name = 'Rock'"], task=task)
    assert same["status"] == "success"
    v = judge(chinook, tmp_path, ["UPDATE Genre SET Name = upper(Name) WHERE GenreId = 99"], task=task)
    assert v["status"] == "failed" and v["assertion_error"]


def test_order_condition(chinook, tmp_path):
    task = {"instance_id": "t/3", "db_id": "chinook", "conditions": {"order": True},
            "issue_sql": ["SELECT GenreId FROM Genre ORDER BY GenreId"],
            "sol_sql": ["SELECT GenreId FROM Genre ORDER BY GenreId DESC"]}
    assert judge(chinook, tmp_path, None, task=task)["status"] == "success"
    unordered = {**task, "conditions": {}}
    assert judge(chinook, tmp_path, None, task=unordered)["issue_sql_passed_unexpectedly"]


@pytest.mark.parametrize("sql, kind", [
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r", QueryTimeout),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x FROM r", QueryError),
    ("SELECT count(*) FROM Track a, Track b, Track c", QueryTimeout),
    ("ATTACH DATABASE 'other.sqlite' AS other", QueryError),
    ("PRAGMA max_page_count = 1000000000", QueryError),
    ("PRAGMA hard_heap_limit = 0", QueryError),
])
def test_hostile_sql_is_stopped_by_the_limits(chinook, tmp_path, sql, kind):
    db = Database(chinook, str(tmp_path), query_timeout_s=1.0, max_rows=10_000)
    t0 = time.monotonic()
    with pytest.raises(kind):
        db.run([sql])
    assert time.monotonic() - t0 < 5
    assert db.run(["SELECT COUNT(*) FROM Genre"]) == [(25,)]  # the connection still works
    db.close()
    assert not (tmp_path / "other.sqlite").exists()


def test_default_test_case_and_program_compile():
    compile(DEFAULT_TEST_CASE, "t", "exec")
    program = evaluator_program()
    compile(program, "program.py", "exec")
    assert "from codepref" not in program and program.rstrip().endswith("main()")
