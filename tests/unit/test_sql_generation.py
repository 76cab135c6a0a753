"""The generate stage's language hooks: SQL tasks get SQL prompts and SQL checks, Python
tasks keep theirs; the sandbox gets the SQL databases mounted (no Docker, no model here).

The answers below are model output as Qwen2.5-Coder-0.5B-Instruct wrote it for sqlfix tasks
(the prefilled fence included), plus a chattier answer of the kind larger models write.
"""

from __future__ import annotations

import json

import pytest

from codepref.config import GenerationConfig, SandboxConfig
from codepref.errors import ConfigError, UnknownNameError
from codepref.languages import generation_hooks, get_language, sandbox_for
from codepref.records import Task

QWEN_CHECKS = [  # test-writing answers (prefill "```sql\nSELECT " + completion)
    "```sql\nSELECT 0 != COUNT(*) AS artist_with_no_albums FROM Artist\nUNION ALL\n"
    "SELECT 1 = COUNT(*) AS artist_with_some_albums FROM Artist",
    "```sql\nSELECT 1 FROM products p WHERE p.SupplierID = s.SupplierID AND p.CategoryID = c.CategoryID;",
]
CHATTY_CHECKS = (
    "```sql\nSELECT COUNT(*) = 275 FROM result;\n"
    "SELECT NOT EXISTS (SELECT 1 FROM result WHERE albums < 0);\n"
    "SELECT COUNT(*) = 275 FROM result;  -- every artist, once\n"
    "SELECT (SELECT albums FROM result WHERE Name = 'AC/DC') = 2;\n"
    "SELECT albums FROM result WHERE\n```\n"
    "These checks make sure artists without albums are kept."
)
QWEN_FIX = (  # a solution answer (prefill "```sql\n" + completion)
    "```sql\nSELECT ar.ArtistId, ar.Name, COUNT(*) AS albums\nFROM Artist ar\n"
    "JOIN Album al ON al.ArtistId = ar.ArtistId\nGROUP BY ar.ArtistId, ar.Name\nHAVING COUNT(*) > 0;"
)


@pytest.fixture(scope="module")
def sql_task(shared_data):
    from codepref.tasks import sqlfix

    return sqlfix.load(data_dir=shared_data).tasks[0]


def test_sql_tasks_get_the_sql_prompts(sql_task):
    hooks = generation_hooks(sql_task.language)
    chat = hooks.solution_prompt(sql_task, "chat")
    user = chat.messages[-1]["content"]
    assert "Fix the user's SQL" in user and "```sql" in user and "Python" not in user
    assert sql_task.prompt.strip() in user and chat.prefill == "```sql\n"
    completion = hooks.solution_prompt(sql_task, "completion")
    assert completion.text.endswith("Corrected SQL:\n") and completion.prefill == "```sql\n"
    checks = hooks.test_prompt(sql_task, "chat", 6)
    text = checks.messages[-1]["content"]
    assert "Do not fix the SQL" in text and "write 6 checks" in text and "`result`" in text
    assert checks.prefill == "```sql\nSELECT " and checks.stop == ("\n```",)
    assert hooks.test_prompt(sql_task, "completion", 3).text.endswith("Checks:\n")


def test_python_tasks_keep_the_python_prompts():
    hooks = generation_hooks("python")
    task = Task("t/0", "python", 'def add(a, b):\n    """Add."""\n', entry_point="add")
    assert "Python script" in hooks.solution_prompt(task, "chat").messages[-1]["content"]
    assert hooks.test_prompt(task, "chat", 4).prefill == "```python\nassert add("
    assert hooks.solution_text(task, "completion", "    return a + b\n") == task.prompt + "    return a + b\n"
    found, candidates = hooks.parse_tests(task, "assert add(1, 2) == 3\nassert add(1,2)==3\nassert x == 1\n", set())
    assert found == ["assert add(1, 2) == 3"] and candidates == 3
    assert hooks.test_prompt(Task("t/1", "python", "Write a script."), "chat", 4) is None


def test_sql_answers_give_sql_fixes_and_checks(sql_task):
    hooks = generation_hooks("sql")
    assert hooks.solution_text(sql_task, "chat", QWEN_FIX).startswith("SELECT ar.ArtistId, ar.Name, COUNT(*)")
    assert hooks.solution_text(sql_task, "chat", "The fix:\n```sql\nSELECT 1 AS a\n```\nDone.") == "SELECT 1 AS a;"
    seen: set[str] = set()
    found, candidates = hooks.parse_tests(sql_task, CHATTY_CHECKS, seen)
    assert found == ["SELECT COUNT(*) = 275 FROM result;",
                     "SELECT NOT EXISTS (SELECT 1 FROM result WHERE albums < 0);",
                     "SELECT (SELECT albums FROM result WHERE Name = 'AC/DC') = 2;"]
    assert candidates == 5  # a duplicate and a cut-off query are dropped
    again, _ = hooks.parse_tests(sql_task, "```sql\nSELECT count(*)  =  275 FROM result;\n```", seen)
    assert again == []  # the same check from another answer of the task
    for answer in QWEN_CHECKS:
        checks, _ = hooks.parse_tests(sql_task, answer, set())
        assert len(checks) == 1 and checks[0].startswith("SELECT ") and checks[0].endswith(";")


def test_sql_checks_assemble_into_scripts_on_the_task_database(sql_task):
    hooks = generation_hooks("sql")
    fix = hooks.solution_text(sql_task, "chat", QWEN_FIX)
    check = hooks.parse_tests(sql_task, CHATTY_CHECKS, set())[0][0]
    script = get_language("sql").assemble(f"{sql_task.setup}\n{fix}", check)
    lines = script.splitlines()
    assert lines[0] == "-- codepref-db: chinook/Chinook_Sqlite.sqlite"
    assert "CREATE TEMP TABLE result AS SELECT ar.ArtistId" in script
    assert lines[-1] == "INSERT INTO codepref_check VALUES ((SELECT COUNT(*) = 275 FROM result));"


def test_sandbox_for_mounts_the_databases_for_sql_only(shared_data, monkeypatch, tmp_path):
    base = SandboxConfig(workers=1)
    assert sandbox_for(base, ["python"]) == base
    sql = sandbox_for(base, ["python", "sql"], str(shared_data))
    assert sql.mounts == (f"{(shared_data / 'sql').resolve()}:/data/sql",)
    assert sandbox_for(sql, ["sql"], str(shared_data)) == sql
    monkeypatch.delenv("CODEPREF_DATA", raising=False)
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path))  # no default data folder either
    with pytest.raises(ConfigError, match="no database directory"):
        sandbox_for(base, ["sql"])


def test_unknown_language_fails_before_any_model_loads(tmp_path):
    from codepref.generation.stage import generate_samples

    config = GenerationConfig(model="no-such-model")
    with pytest.raises(UnknownNameError, match="unknown language 'sqll'; did you mean 'sql'"):
        generate_samples([Task("t/0", "sqll", "x")], tmp_path / "s.jsonl", config)


def test_samples_header_of_codepref_generate_names_its_task_set(tmp_path):
    from codepref.tasks.source import samples_task_set

    path = tmp_path / "s.jsonl"
    for tasks, expected in (({"name": "sqlfix", "version": "1.0", "sha256": "x", "tasks": 66}, "sqlfix"),
                            ({"name": "jsonl", "version": "file", "sha256": "x", "tasks": 2}, None),
                            ("humaneval", "humaneval"), ({"name": "quickstart"}, "quickstart")):
        path.write_text(json.dumps({"_header": {"kind": "samples", "tasks": tasks}}) + "\n")
        assert samples_task_set(path) == expected


def test_agreement_checks_one_per_distinct_single_query(sql_task):
    """Each distinct fix that is one query becomes "result has the same rows as it"; a
    repeated fix, a two-statement fix and an UPDATE give none."""
    hooks = generation_hooks("sql")
    q1 = "SELECT Name FROM Artist;"
    q2 = "-- all of them\nWITH a AS (SELECT Name FROM Artist) SELECT * FROM a"
    checks = hooks.solution_tests(sql_task, [q1, q1, q2, "SELECT 1; SELECT 2;", "UPDATE Artist SET Name = 'x'"])
    assert checks == [
        "SELECT NOT EXISTS (SELECT * FROM result EXCEPT SELECT * FROM (SELECT Name FROM Artist)) AND "
        "NOT EXISTS (SELECT * FROM (SELECT Name FROM Artist) EXCEPT SELECT * FROM result);",
        "SELECT NOT EXISTS (SELECT * FROM result EXCEPT SELECT * FROM (WITH a AS (SELECT Name FROM Artist) "
        "SELECT * FROM a)) AND NOT EXISTS (SELECT * FROM (WITH a AS (SELECT Name FROM Artist) SELECT * FROM a) "
        "EXCEPT SELECT * FROM result);",
    ]
    ordered = Task(id="t", language="sql", prompt="p", metadata={"sql_task": {"conditions": {"order": True}}})
    assert "ROW_NUMBER() OVER ()" in hooks.solution_tests(ordered, [q1])[0]


def test_test_records_share_the_cap_between_derived_and_model_checks(sql_task):
    """n_tests = 4: derived checks take ceil(4/2) = 2 slots first, the model's checks the
    next 2; with fewer model checks, more derived ones fill the room."""
    from collections import Counter

    from codepref.generation.backend import Completion, Request, SamplingParams
    from codepref.generation.stage import _test_records

    class Gen:
        id, prefill_chat = "test", True

    hooks = generation_hooks("sql")
    spec = hooks.test_prompt(sql_task, "chat", 4)
    sols = [f"SELECT {i} AS x" for i in range(4)]
    many = Completion(text="COUNT(*) = 1 FROM result;\nSELECT COUNT(*) = 2 FROM result;\n"
                           "SELECT COUNT(*) = 3 FROM result;\n```", prompt_tokens=1, completion_tokens=1)
    config = GenerationConfig(n_tests=4, test_samples=1)
    counts = Counter()
    recs = list(_test_records(sql_task, spec, Request(spec, SamplingParams(), (0,)), [many], Gen(), config, counts,
                              sols))
    assert [r["index"] for r in recs] == [0, 1, 2, 3]
    assert [r["params"].get("source") for r in recs] == ["solution", "solution", None, None]
    assert recs[2]["text"] == "SELECT COUNT(*) = 1 FROM result;"
    assert counts["derived_tests"] == 2 and counts["test"] == 4

    one = Completion(text="COUNT(*) = 1 FROM result;\n```", prompt_tokens=1, completion_tokens=1)
    counts = Counter()
    recs = list(_test_records(sql_task, spec, Request(spec, SamplingParams(), (0,)), [one], Gen(), config, counts,
                              sols))
    assert [r["params"].get("source") for r in recs] == ["solution", "solution", None, "solution"]
    assert "(SELECT 2 AS x)" in recs[3]["text"] and counts["derived_tests"] == 3
