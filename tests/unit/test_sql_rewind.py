"""SQL-Rewind's mutation operators and seed reading (execution is in tests/integration)."""

import json

import pytest

from codepref.errors import InputError
from codepref.sql.rewind import OPERATORS, Seed, mutants, read_seeds


def flat(sql: str) -> str:
    return " ".join(sql.split())


def variants(sql: str, op: str) -> list[str]:
    _, found, _ = mutants(Seed("s", "db", sql), [op])
    return [flat(m.sql) for m in found]


@pytest.mark.parametrize("op, sql, expected", [
    ("join_type", "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id", "SELECT a.x FROM a JOIN b ON a.id = b.id"),
    ("join_type", "SELECT a.x FROM a JOIN b ON a.id = b.id", "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id"),
    ("drop_predicate", "SELECT x FROM t WHERE a > 1 AND b < 2", "SELECT x FROM t WHERE b < 2"),
    ("drop_predicate", "SELECT x FROM t WHERE a > 1", "SELECT x FROM t"),
    ("comparison", "SELECT x FROM t WHERE a > 1", "SELECT x FROM t WHERE a >= 1"),
    ("aggregate", "SELECT SUM(x) FROM t", "SELECT AVG(x) FROM t"),
    ("aggregate", "SELECT COUNT(x) FROM t", "SELECT COUNT(*) FROM t"),
    ("limit", "SELECT x FROM t ORDER BY x LIMIT 5", "SELECT x FROM t ORDER BY x LIMIT 4"),
    ("null_unsafe", "SELECT x FROM t WHERE a IS NULL", "SELECT x FROM t WHERE a = NULL"),
    ("null_unsafe", "SELECT x FROM t WHERE a IS NOT NULL", "SELECT x FROM t WHERE a <> NULL"),
    ("null_unsafe", "SELECT COALESCE(a, 0) FROM t", "SELECT a FROM t"),
    ("int_division", "SELECT a * 1.0 / b FROM t", "SELECT a * 1 / b FROM t"),
    ("int_division", "SELECT CAST(a AS REAL) / b FROM t", "SELECT a / b FROM t"),
    ("distinct", "SELECT DISTINCT a FROM t", "SELECT a FROM t"),
    ("distinct", "SELECT COUNT(DISTINCT a) FROM t", "SELECT COUNT(a) FROM t"),
    ("order", "SELECT a FROM t ORDER BY a DESC LIMIT 3", "SELECT a FROM t ORDER BY a ASC LIMIT 3"),
    ("order", "SELECT a FROM t ORDER BY a DESC LIMIT 3", "SELECT a FROM t LIMIT 3"),
    ("group_by", "SELECT a, b, COUNT(*) FROM t GROUP BY a, b", "SELECT a, b, COUNT(*) FROM t GROUP BY b"),
    ("date_format", "SELECT strftime('%Y-%m', d) FROM t", "SELECT STRFTIME('%m', d) FROM t"),
    ("logic", "SELECT x FROM t WHERE a = 1 OR b = 2", "SELECT x FROM t WHERE a = 1 AND b = 2"),
    ("union", "SELECT a FROM t UNION SELECT a FROM u", "SELECT a FROM t UNION ALL SELECT a FROM u"),
])
def test_each_operator(op, sql, expected):
    assert expected in variants(sql, op)


def test_join_conditions_are_not_turned_into_inequalities():
    assert variants("SELECT a.x FROM a JOIN b ON a.id = b.id", "comparison") == []


def test_mutants_are_distinct_from_the_seed_and_each_other():
    seed = Seed("s", "db", "SELECT g, COUNT(DISTINCT x) FROM t LEFT JOIN u ON t.id = u.id "
                           "WHERE a IS NOT NULL AND b > 2 GROUP BY g HAVING COUNT(*) >= 3 ORDER BY 2 DESC LIMIT 5")
    base, found, counts = mutants(seed)
    sqls = [m.sql for m in found]
    assert base not in sqls and len(set(sqls)) == len(sqls) == counts["candidates"] - counts["duplicates"]
    assert {m.operator for m in found} >= {"join_type", "drop_predicate", "comparison", "limit", "null_unsafe",
                                           "distinct", "order"}
    assert set(OPERATORS) >= {m.operator for m in found}


def test_unparsable_seed_gives_no_mutants():
    base, found, counts = mutants(Seed("s", "db", "SELEC FROM WHERE ((("))
    assert (base, found) == ("", []) and counts["seed_unparsable"] == 1


def test_read_seeds_from_seed_and_task_files(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps({"id": "a", "db_id": "chinook", "sql": "SELECT 1;", "question": "q"}) + "\n")
    assert read_seeds(p) == [Seed("a", "chinook", "SELECT 1", "q", {})]
    p.write_text(json.dumps({"instance_id": "t", "db_id": "x", "sol_sql": ["SELECT 2"], "query": "why"}) + "\n"
                 + json.dumps({"instance_id": "u", "db_id": "x", "sol_sql": ["UPDATE t SET a = 1"],
                               "test_cases": ["def test_case(*a): pass"]}) + "\n")
    assert read_seeds(p) == [Seed("t", "x", "SELECT 2", "why", {})]
    p.write_text(json.dumps({"id": "a", "sql": "SELECT 1"}) + "\n")
    with pytest.raises(InputError, match="missing 'db_id'"):
        read_seeds(p)
