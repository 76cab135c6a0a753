"""Extraction of SQL fixes and SQL checks from real-looking, messy model output."""

from codepref.sql.extract import extract_sql, extract_sql_tests, is_complete_query


def test_last_sql_block_wins_over_the_quoted_broken_query():
    text = ("Your query:\n```sql\nSELECT * FROM t WHERE a = NULL;\n```\nThe problem is `= NULL`. Use this:\n"
            "```sql\n-- fixed\nSELECT *\nFROM t\nWHERE a IS NULL;\n```\nThis works because ...")
    assert extract_sql(text) == "-- fixed\nSELECT *\nFROM t\nWHERE a IS NULL;"


def test_unterminated_block_and_other_languages():
    text = "```python\nprint(1)\n```\n```sqlite\nSELECT 1;\nSELECT 2"
    assert extract_sql(text) == "SELECT 1;\nSELECT 2;"


def test_bare_sql_followed_by_prose():
    text = "Here is the fix:\nSELECT a,\n       b\nFROM t;\n\nThe join was wrong because the key differs."
    assert extract_sql(text) == "SELECT a,\n       b\nFROM t;"
    assert extract_sql("I cannot help with that.") == ""


def test_prefilled_answer_is_a_block():
    assert extract_sql("```sql\n" + "UPDATE t SET x = 1 WHERE id = 2") == "UPDATE t SET x = 1 WHERE id = 2;"


def test_tests_are_complete_distinct_queries():
    text = ("```sql\nSELECT COUNT(*) = 3 FROM result;\nselect   count(*) = 3 from result;\n"
            "SELECT NOT EXISTS (SELECT 1 FROM result WHERE total < 0);\nSELECT (broken FROM result;\n"
            "DELETE FROM result;\nSELECT MIN(total) >= 0 FROM result\n```")
    assert extract_sql_tests(text) == ["SELECT COUNT(*) = 3 FROM result;",
                                       "SELECT NOT EXISTS (SELECT 1 FROM result WHERE total < 0);",
                                       "SELECT MIN(total) >= 0 FROM result;"]
    assert extract_sql_tests(text, limit=1) == ["SELECT COUNT(*) = 3 FROM result;"]


def test_is_complete_query():
    assert is_complete_query("WITH x AS (SELECT 1 AS a) SELECT a = 1 FROM x")
    assert not is_complete_query("SELECT 1; SELECT 2")
    assert not is_complete_query("SELECT 'unterminated")


def test_nul_characters_in_model_output():
    assert extract_sql("```sql\nSELECT 1;\x00\x00\nSELECT 2\n```") == "SELECT 1;\nSELECT 2;"
    assert extract_sql_tests("SELECT 1 = 1;\x00") == ["SELECT 1 = 1;"]


def test_predictions_are_cut_at_the_first_stop_string():
    from codepref.sql.predict import _until_stop

    assert _until_stop("SELECT 1;\n```\nmore text\n```", ("\n```",)) == "SELECT 1;"
    assert _until_stop("SELECT 1;", ("\n```",)) == "SELECT 1;"
