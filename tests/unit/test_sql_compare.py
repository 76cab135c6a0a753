"""Soft EX pieces: SQL clean-up that respects quotes, statement splitting, value normalising."""

from codepref.sql.compare import (
    normalize_value, remove_comments, remove_distinct, remove_round, results_match, segments, soft_sql,
    split_statements,
)


def test_segments_keep_quotes_and_comments_apart():
    kinds = [k for k, _ in segments("SELECT 'a;--b', \"x\" -- c\n/* d */ FROM [t;u]")]
    assert kinds == ["code", "string", "code", "string", "code", "comment", "code", "comment", "code", "string"]
    assert "".join(t for _, t in segments("SELECT 'it''s' FROM t")) == "SELECT 'it''s' FROM t"


def test_remove_comments_leaves_quoted_dashes():
    assert remove_comments(["SELECT '--x' -- gone\n/* gone */ FROM t"]) == ["SELECT '--x' \n  FROM t"]


def test_remove_distinct_only_after_select():
    out = remove_distinct(["SELECT DISTINCT a, COUNT(DISTINCT b), 'select distinct' FROM t"])
    assert out == ["SELECT a, COUNT(DISTINCT b), 'select distinct' FROM t"]


def test_remove_round_nested_and_quoted():
    out = remove_round(["SELECT ROUND(ROUND(a, 2) * 1.0 / 3, 1), 'round(x)', round ( y ) FROM t"])
    assert out == ["SELECT ((a) * 1.0 / 3), 'round(x)', (y) FROM t"]


def test_split_statements_keeps_triggers_and_strings_whole():
    sql = "SELECT ';'; CREATE TRIGGER g AFTER INSERT ON a BEGIN UPDATE b SET x = 1; END; -- tail\nSELECT 2"
    assert split_statements(sql) == ["SELECT ';'", "CREATE TRIGGER g AFTER INSERT ON a BEGIN UPDATE b SET x = 1; END",
                                      "-- tail\nSELECT 2"]
    assert split_statements("  ;; -- only a comment\n") == []
    assert split_statements("SELECT 1;\x00SELECT 2") == ["SELECT 1", "\x00SELECT 2"]


def test_normalize_value_rounds_and_cuts_dates():
    assert normalize_value(1.005 + 1e-9) == 1.01
    assert normalize_value(-0.001) == 0.0
    assert normalize_value("2024-08-31 00:00:00") == "2024-08-31"
    assert normalize_value("2024-08-31T10:20") == "2024-08-31"
    assert normalize_value("2024-08") == "2024-08"
    assert normalize_value(b"\x01\xff") == "01ff"
    assert normalize_value(True) == 1


def test_results_match_set_order_multiset():
    assert results_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")])
    assert not results_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], {"order": True})
    assert results_match([(1,), (1,)], [(1,)])  # sets: duplicates do not count
    assert not results_match([(1,), (1,)], [(1,)], {"multiset": True})
    assert results_match([(3.333333,)], [(10 / 3,)])
    assert results_match([(5,)], [(5.0,)])
    assert not results_match([], [])  # an empty result never matches (BIRD-CRITIC)


def test_soft_sql_keeps_distinct_for_multiset():
    assert soft_sql(["SELECT DISTINCT ROUND(a, 1) FROM t -- c"]) == ["SELECT (a) FROM t"]
    assert soft_sql(["SELECT DISTINCT a FROM t"], {"multiset": True}) == ["SELECT DISTINCT a FROM t"]
