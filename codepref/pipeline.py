"""The end-to-end recipe: generate -> execute -> rank -> train -> evaluate, for one or more rounds.

Read :func:`run_pipeline` top to bottom: it is the whole method. Round ``k`` samples from
round ``k-1``'s adapter (on-policy; round 1 from the base model) and trains that adapter
further, against a frozen copy of it as the DPO/KTO reference (``[run] continue_adapter``,
default true; false trains a fresh adapter on the base each round), and evaluation "after"
a round uses that round's adapter. Each stage is one library call:

=========  ===========================================  ==============================
stage      library function                             output in ``RUN/roundK/``
=========  ===========================================  ==============================
generate   :func:`codepref.generation.stage.generate_samples`   ``samples.jsonl``
execute    :func:`codepref.execution.stage.execute_samples`     ``matrices.jsonl``
rank       :func:`codepref.pairs.rank.rank_file`                ``pairs.jsonl``
train      :func:`codepref.training.trainer.train`              ``adapter/``
evaluate   the benchmark's judge (:mod:`codepref.evaluation.benchmarks`)  ``RUN/eval/NAME/BENCH.*``
=========  ===========================================  ==============================

The run directory also holds ``config.json`` (the resolved config), ``config.sha256``,
``log.txt``, ``ledger.json``, ``summary.json`` and the report.

**Skipping, resuming, invalidating.** ``ledger.json`` records, per stage, its *key*:
``key = sha256(stage's config sections + the keys of the stages it reads)``, so a change
anywhere upstream changes every key downstream. A stage whose key matches and whose status
is ``complete`` is skipped; one marked ``started`` is run again and resumes (the stage
outputs are :class:`~codepref.records.ResumableJsonl` files; training resumes from its last
checkpoint). A stage whose key changed is redone: its old outputs are moved to
``RUN/stale/`` and the log says which section or input changed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codepref.errors import ConfigError
from codepref.records import Task, iter_jsonl, write_text_atomic
from codepref.runconfig import RunConfig, config_hash, section_dict
from codepref.training.config import NEW_AT_DEFAULT, SPEED_ONLY

LEDGER = "ledger.json"
#: Settings that change speed, not results: left out of the stage keys, so changing them
#: (e.g. more workers on a rerun) does not redo finished work.
NOT_IN_KEYS = {
    "generate": {"backend_options", "chunk_sequences"},
    "sandbox": {"workers", "batch_size", "retries", "docker"},
    "train": {"threads", "save_steps", "logging_steps", *SPEED_ONLY},
    "evaluate": {"cache"},
}
#: Settings left out of the stage keys while they hold the value given here (their default):
#: added after runs existed, so those runs' finished stages keep their keys; setting one
#: (e.g. naming a protocol) changes the key.
NOT_IN_KEYS_AT_DEFAULT = {"generate": {"protocol": ""}, "evaluate": {"protocol": ""}, "train": NEW_AT_DEFAULT,
                          "rank": {"min_cluster": 1, "consensus": "pass", "sure_rejected": False}}
log = logging.getLogger("codepref.pipeline")


def stage_settings(config: RunConfig, sections: list[str]) -> dict[str, dict[str, Any]]:
    """The settings of ``sections`` that enter a stage's key: each section flat, without
    :data:`NOT_IN_KEYS` and without :data:`NOT_IN_KEYS_AT_DEFAULT` while at their default."""
    return {s: {k: v for k, v in section_dict(getattr(config, s)).items()
                if k not in NOT_IN_KEYS.get(s, ())
                and not (k in NOT_IN_KEYS_AT_DEFAULT.get(s, {}) and v == NOT_IN_KEYS_AT_DEFAULT[s][k])}
            for s in sections}


def model_file_inputs(config: RunConfig) -> dict[str, str]:
    """``{"model_file": TYPE}`` when llama.cpp samples a bare packaged name that runs a variant
    on this CPU (:func:`~codepref.generation.models.default_variant`), else ``{}``: the stages
    that sample (generate, evaluate) key on the file that runs, and runs on the packaged file
    keep the keys they had."""
    from codepref.generation.models import MODELS, default_variant

    gen = config.generate
    if gen.backend != "llamacpp" or gen.model not in MODELS:
        return {}
    variant = default_variant(MODELS.get(gen.model))
    return {"model_file": variant} if variant else {}


# --------------------------------------------------------------------------- the recipe


def run_pipeline(config: RunConfig, run_dir: str | os.PathLike[str], *, display: Display | None = None) -> dict[str, Any]:
    """Run (or resume) every stage of ``config`` in ``run_dir``; return the run summary.

    Raises:
        CodeprefError: whatever a stage raises (bad input, no sandbox, a model that will
            not load); everything finished before stays in ``run_dir``.
    """
    run = Run(Path(run_dir), config, display or Display())
    try:
        return _recipe(run, config)
    finally:
        run.close()


def _recipe(run: Run, config: RunConfig) -> dict[str, Any]:
    """The method: base evaluation, then per round generate -> execute -> rank -> train, then
    evaluation of the adapter. ``run.stage(name, sections, inputs, outputs, work)`` returns the
    stage's key, which the stages after it take as an input."""
    run.display.total = stage_count(config)
    tasks = run.load_tasks()
    run.check_contamination(tasks)
    tasks_key = config_hash([[t.id, t.prompt, t.entry_point, t.tests, t.setup] for t in tasks])

    evals: dict[str, Any] = {}
    if config.evaluate.before:
        evals["before"] = run.evaluate("before", adapter=None, upstream={})

    adapter, train_key = None, ""
    for k in range(1, config.run.rounds + 1):
        r = run.dir / f"round{k}"
        gen = run.stage(f"round{k}.generate", ["generate"],
                        {"tasks": tasks_key, "adapter": train_key, **model_file_inputs(config)},
                        [r / "samples.jsonl"], lambda: run.generate(tasks, r / "samples.jsonl", adapter))
        exe = run.stage(f"round{k}.execute", ["sandbox", "execute"], {"generate": gen},
                        [r / "matrices.jsonl"], lambda: run.execute(tasks, r / "samples.jsonl", r / "matrices.jsonl"))
        rnk = run.stage(f"round{k}.rank", ["rank"], {"execute": exe},
                        [r / "pairs.jsonl"], lambda: run.rank(tasks, r, r / "pairs.jsonl"))
        # Round k > 1 continues round k-1's adapter (its key is an input) unless told not to.
        init = adapter if config.run.continue_adapter else None
        trn = run.stage(f"round{k}.train", ["train"],
                        {"rank": rnk, "model": config.generate.model, **({"init": train_key} if init else {})},
                        [r / "adapter"], lambda: run.train(r / "pairs.jsonl", r / "adapter", init))
        if (r / "adapter" / "adapter_config.json").is_file():  # else no pairs: keep the last adapter
            adapter, train_key = r / "adapter", trn
        if config.run.rounds == k or config.evaluate.every_round:
            evals[f"round{k}"] = run.evaluate(f"round{k}", adapter=adapter, upstream={"train": train_key})
    return run.finish(evals)


# --------------------------------------------------------------------------- the run


class Run:
    """A run directory: the ledger, the log, and one method per stage."""

    def __init__(self, run_dir: Path, config: RunConfig, display: Display):
        self.dir = run_dir
        self.config = config
        self.display = display
        self.started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        resolved = config.to_dict()
        write_text_atomic(self.dir / "config.json", json.dumps(resolved, indent=2, sort_keys=True) + "\n")
        write_text_atomic(self.dir / "config.sha256", config_hash(resolved) + "\n")
        self._log_handler = _attach_log(self.dir / "log.txt")
        self.ledger = Ledger(self.dir / LEDGER)
        self.timings: dict[str, float] = {}
        log.info("run %s in %s, config sha256 %s", config.run.name, self.dir, config_hash(resolved)[:12])

    # ----------------------------------------------------------------- ledger

    def stage(self, name: str, sections: list[str], inputs: dict[str, str], outputs: list[Path],
              work: Callable[[], Any]) -> str:
        """Run ``work`` unless the ledger says ``name`` is complete with the same key; return the key."""
        parts = {"sections": stage_settings(self.config, sections), "inputs": inputs}
        key = config_hash(parts)
        old = self.ledger.get(name)
        if old and old["key"] == key and old["status"] == "complete" and all(p.exists() for p in outputs):
            self.display.skip(name)
            log.info("%s: complete, skipped", name)
            self.timings[name] = old.get("wall_s", 0.0)
            return key
        if old and old["key"] != key:
            why = _what_changed(old.get("parts", {}), parts)
            self.display.note(f"{name}: {why} since the last run; redoing it (old outputs moved to stale/)")
            log.warning("%s: %s; redoing", name, why)
            self._move_stale(name, outputs)
        elif old and old["status"] == "started":
            self.display.note(f"{name}: resuming unfinished work")
            log.info("%s: resuming", name)
        self.ledger.set(name, {"key": key, "status": "started", "parts": parts})
        t0 = time.monotonic()
        self.display.begin(name)
        note = work()
        wall = round(time.monotonic() - t0, 2)
        self.ledger.set(name, {"key": key, "status": "complete", "parts": parts, "wall_s": wall,
                               "outputs": [str(p.relative_to(self.dir)) for p in outputs],
                               "note": note if isinstance(note, str) else ""})
        self.timings[name] = wall
        self.display.end(name, wall, note if isinstance(note, str) else "")
        log.info("%s: done in %.1f s %s", name, wall, note or "")
        return key

    def _move_stale(self, name: str, outputs: list[Path]) -> None:
        stale = self.dir / "stale" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        for p in outputs:
            for q in (p, p.with_name(p.name + ".partial")):
                if q.exists():
                    stale.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(q), str(stale / q.name))

    # ----------------------------------------------------------------- stages

    def load_tasks(self) -> list[Task]:
        from codepref.tasks.source import load_tasks

        run = self.config.run
        if run.data_dir:
            os.environ.setdefault("CODEPREF_DATA", run.data_dir)
        tasks, _ = load_tasks(run.tasks)
        tasks = tasks[run.task_offset:]
        if run.task_limit:
            tasks = tasks[:run.task_limit]
        if not tasks:
            raise ConfigError([f"[run] no tasks left from {run.tasks!r} after task_offset/task_limit"])
        log.info("%d training tasks from %s", len(tasks), run.tasks)
        return tasks

    def check_contamination(self, tasks: list[Task]) -> None:
        """Stop before any work when the training prompts overlap a benchmark the run
        evaluates on (same task id, same text, or a shared 13-word run; see
        :mod:`codepref.tasks.contamination`), unless ``[run] allow_contamination``."""
        from codepref.tasks.contamination import describe, guard
        from codepref.tasks.source import load_task_set

        benchmarks = [load_task_set(b, data_dir=self.config.run.data_dir or None)
                      for b in self.config.evaluate.benchmarks]
        if not benchmarks:
            return
        overlaps = guard(tasks, benchmarks, allow=self.config.run.allow_contamination)
        if overlaps:  # only reached when allowed
            self.display.note(f"training prompts overlap the benchmarks ({len(overlaps)}; allowed by "
                              f"[run] allow_contamination):\n{describe(overlaps, limit=3)}")

    def generation_config(self, adapter: Path | None, **changes):
        """``[generate]`` with the adapter of the previous round as a backend option."""
        gen = dataclasses.replace(self.config.generate, **changes)
        if adapter is None:
            return gen
        return dataclasses.replace(gen, backend_options={**gen.backend_options, **adapter_options(gen, adapter)})

    def generate(self, tasks: list[Task], out: Path, adapter: Path | None) -> str:
        from codepref.generation.stage import generate_samples

        out.parent.mkdir(parents=True, exist_ok=True)
        counts = generate_samples(tasks, out, self.generation_config(adapter), progress=self.display.bar("completions"),
                                  extra_header={"tasks": self.config.run.tasks,
                                                "adapter": str(adapter) if adapter else None},
                                  cluster=self.config.cluster)
        return f"{counts['solution']} solutions, {counts['test']} tests written"

    def sandbox_config(self, tasks: list[Task] | None = None, **changes):
        """``[sandbox]`` (with ``changes``) plus what the tasks' languages need (SQL: the databases)."""
        sandbox = dataclasses.replace(self.config.sandbox, **changes)
        if tasks:
            from codepref.languages import sandbox_for

            sandbox = sandbox_for(sandbox, {t.language for t in tasks}, self.config.run.data_dir or None)
        return sandbox

    def execute(self, tasks: list[Task], samples: Path, out: Path) -> str:
        from codepref.execution.stage import execute_samples

        counts = execute_samples(samples, out, self.sandbox_config(tasks), tasks={t.id: t for t in tasks},
                                 cell_timeout_s=self.config.execute.cell_timeout_s, progress=self.display.bar("cells"),
                                 cluster=self.config.cluster)
        return ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no cells to run"

    def rank(self, tasks: list[Task], round_dir: Path, out: Path) -> str:
        from codepref.pairs.rank import rank_file

        rk = self.config.rank
        result = rank_file(round_dir / "samples.jsonl", round_dir / "matrices.jsonl", out, scorer=rk.scorer,
                           scorer_options=rk.scorer_options, fmt=rk.format, options=rk.pair_options,
                           prompts={t.id: t.prompt for t in tasks}, config=self.sandbox_config(tasks),
                           progress=self.display.bar("behaviour runs"))
        return result.summary()

    def train(self, pairs: Path, out: Path, init: Path | None = None) -> str:
        """Train the round's adapter into ``out`` (continuing the adapter ``init`` when given)."""
        n = count_records(pairs)
        if n == 0:
            log.warning("%s has no records: nothing to train on; the next stages use the previous model", pairs)
            out.mkdir(parents=True, exist_ok=True)
            (out / "NO_PAIRS").write_text("no training records: no adapter was trained in this round\n")
            return "no pairs: training skipped"
        from codepref.training.trainer import train

        from codepref.training.trainer import RUN_FILE

        # An interrupted run (its train_config.json is there) continues from its last checkpoint.
        result = train(pairs, self.config.generate.model, out, self.config.train,
                       resume=(out / RUN_FILE).is_file(), progress=self.display.bar("steps"),
                       ref_progress=self._reference_bar, fetch_progress=self._convert_note, init_adapter=init)
        if self.config.generate.backend == "llamacpp":
            adapter_options(self.config.generate, out)  # the GGUF copy llama.cpp samples with
        last = result.last
        return f"{n} records, {result.steps} steps" + (f", last loss {last['loss']:.4f}" if "loss" in last else "")

    def _convert_note(self, phase: str, done: int, total: int) -> None:
        if phase == "convert" and done == 0:
            self.display.note("converting the model to safetensors for training, once (kept in the cache)")

    def _reference_bar(self, done: int, total: int):
        self.display.note(f"reference log-probs of {total} pairs, once (kept in the cache for runs on these pairs)")
        return self.display.bar("pairs")(done, total)

    def evaluate(self, name: str, adapter: Path | None, upstream: dict[str, str]) -> dict[str, Any]:
        """Evaluate the model of ``name`` (the base, or a round's adapter) on every benchmark."""
        from codepref.evaluation.benchmarks import get_benchmark

        out: dict[str, Any] = {}
        for bench in self.config.evaluate.benchmarks:
            judge = get_benchmark(bench)
            d = self.dir / "eval" / name
            results = d / f"{bench}.results.jsonl"
            summary_file = d / f"{bench}.summary.json"
            work = functools.partial(self._evaluate_benchmark, bench, judge, adapter, results, summary_file)
            sections = ["evaluate"]
            inputs = {**upstream, "model": self.config.generate.model, "backend": self.config.generate.backend,
                      "prompt_style": self.config.generate.prompt_style, "seed": str(self.config.generate.seed),
                      **model_file_inputs(self.config)}
            protocol = self.config.evaluation_protocol()
            if protocol:  # "" (auto) is left out: the keys of runs made before protocols stay the same
                inputs["protocol"] = protocol
            self.stage(f"eval.{name}.{bench}", sections, inputs, [summary_file, results, judge.samples_path(results)],
                       work)
            out[bench] = json.loads(summary_file.read_text())
        return out

    def _evaluate_benchmark(self, bench: str, judge, adapter: Path | None, results: Path, summary_file: Path) -> str:
        """pass@k of one benchmark through its registered judge: ``[evaluate]`` ``n_samples``
        samples per task (or the one a judge like sqlfix scores) at its temperature and
        max_tokens, under :meth:`~codepref.runconfig.RunConfig.evaluation_protocol`, from
        ``[generate]``'s model and the adapter; judged in ``[sandbox]`` with
        ``[evaluate] memory_mb`` where the judge needs more memory than the sandbox default.
        An identical evaluation made before (by any run) is reused from the evaluation cache
        unless ``[evaluate] cache = false`` (:mod:`codepref.evaluation.cache`)."""
        from codepref.evaluation.benchmarks import EvalSettings
        from codepref.evaluation.judges import JudgeSettings

        ev = self.config.evaluate
        n = ev.n_samples
        if judge.samples_per_task is not None and n != judge.samples_per_task:
            self.display.note(f"{bench} scores {judge.samples_per_task} sample(s) per task; [evaluate] n_samples = "
                              f"{n} applies to the other benchmarks only")
            n = judge.samples_per_task
        generation = self.generation_config(adapter, n_solutions=n, n_tests=0, test_samples=0,
                                            temperature=ev.temperature, max_tokens=ev.max_tokens,
                                            prompt_style="auto", protocol=self.config.evaluation_protocol())
        sandbox = (self.sandbox_config(memory_mb=ev.memory_mb) if judge.sandbox_memory_mb is not None
                   else self.sandbox_config())
        settings = EvalSettings(benchmark=bench, generation=generation, limit=ev.limit or None, results_path=results,
                                summary_path=summary_file, data=self.config.run.data_dir or None, sandbox=sandbox,
                                judge=JudgeSettings(test_timeout_s=judge.test_timeout_s), ks=tuple(ev.ks),
                                cluster=self.config.cluster)
        results.parent.mkdir(parents=True, exist_ok=True)
        from codepref.evaluation.cache import evaluate_cached

        def note(text: str) -> None:
            self.display.note(text)
            log.info("%s: %s", bench, text)

        summary = evaluate_cached(judge, settings, progress=lambda unit: self.display.bar(unit), use_cache=ev.cache,
                                  note=note)
        return _pass_text(summary) + ("; reused from the evaluation cache"
                                      if summary.get("eval_cache", {}).get("reused") else "")

    # ----------------------------------------------------------------- the end

    def finish(self, evals: dict[str, Any]) -> dict[str, Any]:
        summary = {
            "name": self.config.run.name,
            "config_sha256": (self.dir / "config.sha256").read_text().strip(),
            "rounds": self.config.run.rounds,
            "pairs": {f"round{k}": count_records(self.dir / f"round{k}" / "pairs.jsonl")
                      for k in range(1, self.config.run.rounds + 1)},
            "pass_at_k": {name: {b: s["pass_at_k"].get(b, {}) for b, s in benches.items()}
                          for name, benches in evals.items()},
            "comparison": self.comparisons(),
            "wall_s": self.timings,
            "total_wall_s": round(time.monotonic() - self.started, 1),
        }
        write_text_atomic(self.dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        try:
            from codepref.report import write_report

            write_report(self.dir)
        except ImportError as e:  # matplotlib missing: the run itself is complete
            self.display.note(f"report skipped ({e}); pip install 'codepref[report]' and run `codepref report`")
        self.display.summary(summary)
        return summary

    def comparisons(self) -> dict[str, Any]:
        """``before`` versus each evaluated round, as :func:`codepref.report.comparison_summary`
        gives it (``{"roundK": {"pooled": {...}, "<bench>": {...}}}``); empty without a
        ``before`` evaluation. One that cannot be paired is noted and left out."""
        from codepref.report import comparison_summary, read_comparisons

        comparisons, problems = read_comparisons(self.dir)
        for problem in problems:
            self.display.note(f"before/after comparison skipped: {problem}")
            log.warning("before/after comparison skipped: %s", problem)
        return {name: comparison_summary(c) for name, (c, _) in comparisons.items()}

    def close(self) -> None:
        """Detach the run's log file."""
        logging.getLogger("codepref").removeHandler(self._log_handler)
        self._log_handler.close()


# --------------------------------------------------------------------------- helpers


def stage_count(config: RunConfig) -> int:
    """Stages in a run: 4 per round, plus one per benchmark for each evaluated model."""
    ev = config.evaluate
    models = int(ev.before) + (config.run.rounds if ev.every_round else 1)
    return 4 * config.run.rounds + models * len(ev.benchmarks)


def adapter_options(gen, adapter: Path) -> dict[str, str]:
    """The backend option that makes ``gen``'s backend sample from ``adapter``
    (:func:`codepref.lora_gguf.adapter_backend_options`: llama.cpp gets a GGUF copy made once
    as ``adapter/adapter.gguf``; ``hf`` and ``vllm`` take the folder).

    Raises:
        ConfigError: a backend that cannot apply an adapter (``openai``).
    """
    from codepref.lora_gguf import adapter_backend_options

    try:
        return adapter_backend_options(gen.backend, gen.model, adapter)
    except ConfigError:
        raise ConfigError([f"[generate] backend {gen.backend!r} cannot sample from a trained adapter; "
                           "use llamacpp, torch, hf or vllm (or rounds = 1 and no evaluation after training)"]) from None


def count_records(path: Path) -> int:
    """Records (lines after the header) in a finished JSONL, 0 if it does not exist."""
    if not Path(path).is_file():
        return 0
    return sum(1 for _ in iter_jsonl(path))


def _pass_text(summary: dict[str, Any]) -> str:
    scores = summary["pass_at_k"].get(summary["benchmark"], {})
    return ", ".join(f"{k} {v:.3f}" for k, v in scores.items()) + f" on {summary['tasks']} tasks"


def _what_changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = [f"[{s}]" for s in new.get("sections", {}) if old.get("sections", {}).get(s) != new["sections"][s]]
    changed += [f"input {i}" for i in new.get("inputs", {}) if old.get("inputs", {}).get(i) != new["inputs"][i]]
    return (" and ".join(changed) or "its settings") + " changed"


def _attach_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("codepref")
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


@dataclass
class Ledger:
    """``ledger.json``: stage name -> {key, status, parts, wall_s, outputs, note}; saved atomically."""

    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.path.is_file():
            self.stages = json.loads(self.path.read_text()).get("stages", {})

    def get(self, name: str) -> dict[str, Any] | None:
        return self.stages.get(name)

    def set(self, name: str, entry: dict[str, Any]) -> None:
        self.stages[name] = entry
        write_text_atomic(self.path, json.dumps({"stages": self.stages}, indent=2) + "\n")


class Display:
    """One progress display across stages: a line per stage, a tqdm bar (with its ETA) while a
    stage works (on a terminal; elsewhere a progress line every ``line_every_s``), and the end
    summary. ``echo`` defaults to stderr; ``bars=False`` hides both."""

    def __init__(self, echo: Callable[[str], None] | None = None, bars: bool = True, line_every_s: float = 60.0):
        import sys

        self.echo = echo or (lambda s: print(s, file=sys.stderr, flush=True))
        self.bars = bars
        self.line_every_s = line_every_s
        self.current = ""
        self.total = 0
        self.index = 0

    def _pos(self) -> str:
        self.index += 1
        return f"[{self.index}/{self.total}] " if self.total else ""

    def begin(self, name: str) -> None:
        self.current = name
        self.echo(f"==> {self._pos()}{name}")

    def end(self, name: str, wall: float, note: str) -> None:
        self.echo(f"    {name} done in {_fmt_s(wall)}" + (f": {note}" if note else ""))

    def skip(self, name: str) -> None:
        self.echo(f"==> {self._pos()}{name}: complete, skipped")

    def note(self, text: str) -> None:
        """``text`` indented under the current stage (every line of it)."""
        self.echo("\n".join(f"    {line}" for line in text.splitlines()))

    def bar(self, unit: str):
        """A ``progress(done, total) -> tick(n)`` factory labelled with the current stage."""

        def start(done: int, total: int):
            if not self.bars:
                return lambda n: None
            from codepref.progress import line_progress, terminal

            if not terminal():  # a log file: a plain line a minute instead of a bar it cannot draw
                return line_progress(self.echo, f"    {self.current}", unit, done, total, self.line_every_s)
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, unit=unit, desc=f"    {self.current}", dynamic_ncols=True,
                       leave=False, disable=None)
            return bar.update

        return start

    def summary(self, s: dict[str, Any]) -> None:
        lines = [f"run {s['name']} finished in {_fmt_s(s['total_wall_s'])}"]
        lines.append("  pairs made: " + ", ".join(f"{r} {n}" for r, n in s["pairs"].items()))
        before = s["pass_at_k"].get("before", {})
        last = [n for n in s["pass_at_k"] if n != "before"]
        after = s["pass_at_k"].get(last[-1], {}) if last else {}
        compared = s.get("comparison", {}).get(last[-1], {}) if last else {}
        for bench in sorted(set(before) | set(after)):
            b, a = before.get(bench, {}).get("pass@1"), after.get(bench, {}).get("pass@1")
            fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            c = compared.get(bench)
            stats = (f" (delta {c['delta']:+.3f}, 95% CI [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
                     + (f", McNemar p {c['mcnemar_p']:.3g}" if c["mcnemar_p"] is not None else "") + ")") if c else ""
            lines.append(f"  {bench} pass@1: {fmt(b)} -> {fmt(a)}{stats}")
        pooled = compared.get("pooled")
        if pooled and len(compared) > 2:
            lines.append(f"  pooled pass@1: {pooled['before']:.3f} -> {pooled['after']:.3f} (delta "
                         f"{pooled['delta']:+.3f}, 95% CI [{pooled['ci_low']:+.3f}, {pooled['ci_high']:+.3f}])")
        lines.append("  wall time: " + ", ".join(f"{n} {_fmt_s(w)}" for n, w in s["wall_s"].items()))
        self.echo("\n".join(lines))


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 90 else f"{seconds / 60:.1f}min"


__all__ = ["run_pipeline", "Run", "Ledger", "Display", "adapter_options", "count_records"]
