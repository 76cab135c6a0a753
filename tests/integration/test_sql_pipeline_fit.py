"""SQL tasks through generate -> execute -> rank: fixes and model-style checks as a pass matrix.

The model's part is played by written answers (fenced SQL with prose, as models write them);
extraction, the `sql` language's matrix cells in the sandbox and a registered scorer are real.
"""

import sqlite3
from contextlib import closing

import numpy as np
import pytest

from codepref.config import SandboxConfig
from codepref.execution import SandboxPool
from codepref.records import MatrixJob
from codepref.scoring import get_scorer
from codepref.sql.extract import extract_sql, extract_sql_tests
from codepref.sql.runner import sql_sandbox_config
from codepref.sql.task import db_file, sql_dir
from codepref.tasks import sqlfix

pytestmark = pytest.mark.docker


def rows_of(directory, db_id: str, sql: str) -> int:
    with closing(sqlite3.connect(f"file:{db_file(directory, db_id)}?mode=ro", uri=True)) as conn:
        return len(conn.execute(sql).fetchall())


def test_codet_prefers_the_fix_that_agrees_with_the_checks(shared_data):
    directory = sql_dir(shared_data)
    tasks = {t.id: t for t in sqlfix.load(data_dir=shared_data)}
    jobs = []
    for tid in ("sqlfix/chinook/001", "sqlfix/northwind/002", "sqlfix/chinook/007"):
        task = tasks[tid]
        raw = task.metadata["sql_task"]
        gold, issue = raw["sol_sql"][0], raw["issue_sql"][0]
        answers = [f"The problem is the join.\n```sql\n{gold}\n```\nThis keeps every row.",
                   f"```sql\n{issue}\n```",
                   "```sql\nSELECT 1 AS wrong;\n```"]
        solutions = [extract_sql(a) for a in answers]
        n = rows_of(directory, raw["db_id"], gold)
        checks = extract_sql_tests(f"```sql\nSELECT COUNT(*) = {n} FROM result;\n"
                                   "SELECT COUNT(*) > 0 FROM result;\nSELECT COUNT(*) > 0 FROM result;\n```")
        assert len(checks) == 2
        jobs.append(MatrixJob(tid, "sql", solutions, checks + task.tests, task.setup))
    with SandboxPool(sql_sandbox_config(SandboxConfig(workers=2), directory)) as pool:
        matrices = list(pool.run_matrices(jobs))
    scorer = get_scorer("codet")
    for m in matrices:
        passed = m.passed()
        assert passed[0].all(), m.task_id  # the fix passes every check and the hidden test
        assert not passed[1, -1] and not passed[2, 0] and not passed[2, -1], m.task_id
        scores = scorer.score(m)
        assert int(np.nanargmax(scores)) == 0, (m.task_id, scores)
