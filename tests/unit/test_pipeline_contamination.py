"""The pipeline stops before any work when its training prompts overlap its benchmarks."""

from __future__ import annotations

import pytest

from codepref.errors import ContaminationError
from codepref.pipeline import run_pipeline
from codepref.runconfig import load_run_config


def _config(shared_data, tasks: str, *extra: str):
    return load_run_config(None, [f"run.tasks={tasks}", f"run.data_dir={shared_data}",
                                  "evaluate.benchmarks=[\"mbpp+\"]", *extra])


def test_training_on_the_mbpp_test_split_while_evaluating_mbpp_plus_is_refused(shared_data, tmp_path):
    # MBPP+ draws its tasks from MBPP's test split: the same ids (Mbpp/N) and texts.
    with pytest.raises(ContaminationError) as err:
        run_pipeline(_config(shared_data, "mbpp"), tmp_path / "run")
    assert "Mbpp/" in str(err.value)
    # Nothing ran: no stage wrote an output.
    assert not list((tmp_path / "run").glob("round1/*"))


def test_the_override_lets_such_a_run_start(shared_data, tmp_path, monkeypatch):
    # With the override the guard only reports; the run goes on to its first stage, which we
    # stop at once (no model is loaded in this unit test).
    from codepref import pipeline

    def stop(self, name, adapter, upstream):
        raise RuntimeError("stopped at the first stage")

    monkeypatch.setattr(pipeline.Run, "evaluate", stop)
    with pytest.raises(RuntimeError, match="first stage"):
        run_pipeline(_config(shared_data, "mbpp", "run.allow_contamination=true"), tmp_path / "run")


def test_mbpp_train_is_clean_against_the_benchmarks_it_is_meant_for(shared_data):
    from codepref.evaluation.run import load_task_set
    from codepref.tasks.contamination import guard

    train = load_task_set("mbpp-train", data_dir=str(shared_data))
    benchmarks = [load_task_set(b, data_dir=str(shared_data)) for b in ("humaneval+", "mbpp+")]
    assert guard(train, benchmarks) == []
