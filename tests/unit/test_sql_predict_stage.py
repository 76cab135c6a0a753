"""``codepref.sql.predict`` goes through the generate stage: the same prompts as the ``sql``
language's hooks (and as before, schema + issue + SQL), the predictions file's format, a
closing fence that a backend let through, resume, the working file removed (no model, no
Docker: a backend that replays one recorded answer)."""

from __future__ import annotations

from codepref.records import iter_jsonl, read_header
from replay_backend import Replay

# A solution answer after the prefilled fence, with more text and a second block after the
# closing fence (what a backend that ignored the stop string would return).
ANSWER = "SELECT 1;\n```\nThis fixes it. Or:\n```sql\nSELECT 2;\n```"


def test_predictions_come_from_the_generate_stage_and_resume(tmp_path, shared_data):
    from codepref.sql import sqlfix_path
    from codepref.sql.predict import predict_sql, work_file
    from codepref.sql.prompts import fix_prompt, problem_text
    from codepref.sql.task import db_file, read_sql_tasks, sql_dir

    directory = sql_dir(shared_data)
    tasks = read_sql_tasks(sqlfix_path())[:3]
    out = tmp_path / "preds.jsonl"
    gen = Replay(ANSWER)
    assert predict_sql(tasks[:2], directory, out, model="m", generator=gen) == 2
    assert gen.prompts == [fix_prompt(problem_text(t, db_file(directory, t.db_id)), "chat") for t in tasks[:2]]
    rows = [obj for _, obj in iter_jsonl(out)]
    assert [r["instance_id"] for r in rows] == [t.instance_id for t in tasks[:2]]
    assert rows[0]["completion"] == "```sql\nSELECT 1;" and rows[0]["pred_sqls"] == ["SELECT 1;"]
    assert rows[0]["generator"] == "replay:recorded" and rows[0]["finish_reason"] == "stop"
    assert rows[0]["params"]["temperature"] == 0.0 and rows[0]["params"]["max_tokens"] == 512
    assert read_header(out)["kind"] == "sql_predictions" and not work_file(out).exists()

    again = Replay("SELECT 3;")
    assert predict_sql(tasks[:2], directory, out, model="m", generator=again) == 0 and again.prompts == []
    assert predict_sql(tasks, directory, out, model="m", generator=again) == 1 and len(again.prompts) == 1
    rows = [obj for _, obj in iter_jsonl(out)]
    assert [r["pred_sqls"] for r in rows] == [["SELECT 1;"], ["SELECT 1;"], ["SELECT 3;"]]


def test_an_answer_without_sql_predicts_nothing():
    from codepref.sql.predict import prediction

    sample = {"task_id": "t", "raw": "```sql\n\n```\nI cannot fix this.", "generator": "g",
              "params": {"finish_reason": "stop"}}
    assert prediction(sample)["pred_sqls"] == [] and prediction(sample)["completion"] == "```sql\n"
