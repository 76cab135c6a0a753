"""The quickstart prompts in the real sandbox: every canonical solution passes all its tests,
and a wrong body (``return None``) fails at least one test of every task, so the tests
discriminate and sampled solutions can be told apart."""

from __future__ import annotations

import pytest

from codepref.records import MatrixJob, Outcome
from codepref.tasks.quickstart import load_quickstart

pytestmark = pytest.mark.docker

WRONG_BODY = "    return None\n"


@pytest.fixture(scope="module")
def matrices(sandbox_pool):
    """One matrix per task: row 0 the canonical solution, row 1 the ``return None`` body."""
    tasks = load_quickstart()
    jobs = [MatrixJob(t.id, t.language, [t.prompt + t.metadata["canonical_solution"], t.prompt + WRONG_BODY],
                      list(t.tests), setup=t.setup, timeout_s=5.0) for t in tasks]
    result = {m.task_id: m for m in sandbox_pool.run_matrices(jobs)}
    assert sorted(result) == sorted(t.id for t in tasks)
    return result


def test_every_canonical_solution_passes_all_its_tests(matrices):
    failing = {task_id: [o.value for o in m.outcomes[0]] for task_id, m in matrices.items()
               if any(o is not Outcome.PASSED for o in m.outcomes[0])}
    assert failing == {}
    assert sum(len(m.outcomes[0]) for m in matrices.values()) >= 5 * len(matrices)


def test_a_wrong_solution_fails_at_least_one_test_of_every_task(matrices):
    not_caught = [task_id for task_id, m in matrices.items()
                  if all(o is Outcome.PASSED for o in m.outcomes[1])]
    assert not_caught == []
    outcomes = {o for m in matrices.values() for o in m.outcomes[1]}
    assert outcomes <= {Outcome.PASSED, Outcome.FAILED, Outcome.ERROR}  # no sandbox trouble hides a result
