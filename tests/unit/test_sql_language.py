"""The `sql` language: registered, and matrix cells assembled into sqlite3 scripts."""

from codepref.languages import get_language
from codepref.sql.script import DB_DIRECTIVE, db_directive


def test_registered_and_runs_through_the_cli():
    sql = get_language("sql")
    assert sql.filename == "program.sql" and not sql.inproc_python
    assert "sqlite3 -safe -bail" in sql.argv[-1] and "{file}" in sql.argv[-1]


def test_assemble_keeps_directive_first_and_wraps_last_query():
    lang = get_language("sql")
    solution = db_directive("chinook/Chinook_Sqlite.sqlite") + "\nINSERT INTO t VALUES (1);\nSELECT a FROM t;"
    script = lang.assemble(solution, "SELECT COUNT(*) = 1 FROM result;")
    lines = script.splitlines()
    assert lines[0] == f"{DB_DIRECTIVE} chinook/Chinook_Sqlite.sqlite"
    assert "INSERT INTO t VALUES (1);" in lines
    assert "CREATE TEMP TABLE result AS SELECT a FROM t;" in lines
    assert lines[-1] == "INSERT INTO codepref_check VALUES ((SELECT COUNT(*) = 1 FROM result));"


def test_assemble_dml_solution_and_no_test():
    lang = get_language("sql")
    script = lang.assemble("UPDATE t SET a = 2", "SELECT a = 2 FROM t")
    assert script.startswith("UPDATE t SET a = 2;\nCREATE TEMP TABLE codepref_check")
    assert lang.assemble("SELECT 1;", "") == "SELECT 1;\n"
