"""A cache of finished model evaluations: an identical evaluation is computed once.

An experiment evaluates the same base model "before" every time; only its "after" changes.
:func:`evaluate_cached` keys an evaluation by everything that decides its samples and
verdicts, and on a hit copies the stored samples, results and summary into place instead of
sampling and judging again. The key (:func:`evaluation_key`) is the sha256 of:

* the **model file**: a packaged model's pinned sha256 (a variant's from its stamp, also the
  bf16 variant that the bare name runs on CPUs with native bf16), the sha256 of a ``.gguf`` file or of
  every file of a model folder (remembered by path, size and modification time in
  ``evals/file-sha256.json``, so a 0.5 GB file is not re-read each time); the path itself is
  not part of it;
* the **backend** and its options, the **protocol** and prompt style and every **decoding
  setting** (samples per task, temperature, top_p, max_tokens, seed: the generate stage's
  settings, :func:`codepref.generation.stage.settings_of`);
* the **benchmark**, its task set's name, version and sha256, and the task ``limit``;
* the **judge settings** (time limits and factors), the sandbox image and limits, the k of
  pass@k and the reference-time cache switch;
* the **code version**: codepref's version and the sha256 of the source that makes, reads
  and judges samples (the generation, languages, tasks, execution and evaluation packages
  and the sandbox fork-server), so a change to a prompt or a judge never reuses old verdicts;
* the **CPU** that samples, for the backends that run here (``llamacpp``, ``torch``, ``hf``): its
  architecture, name, family and model numbers and feature flags (:func:`cpu_identity`).
  The same greedy evaluation differs on another CPU (llama.cpp's kernels round differently:
  2 of 164 HumanEval+ answers between two machines), so a cache folder shared by several
  machines (a shared home directory) never gives one machine's "before" to another's
  "after". The summary of such an evaluation names the CPU as ``sampled_on``.

What is not cached (the evaluation runs as usual, and says why): a trained adapter (a
``lora``/``adapter`` backend option: every round's adapter is new), a model named only by a
hub id or a served name (nothing local to hash), a samples file given by the user, and a
benchmark not judged by its tests (``sqlfix``: its verdicts also depend on the databases).

Entries live in ``<cache>/evals/<key>/`` (the codepref cache:
:func:`codepref.config.cache_dir`): ``samples.jsonl``, ``results.jsonl``,
``summary.json`` and ``key.json`` (what the key was made of). A finished evaluation is
written to a temporary folder and renamed into place, so an entry is complete or absent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codepref.hashing import file_sha256, json_sha256
from codepref.records import write_text_atomic

#: Bumped when the layout of an entry changes.
FORMAT = 1
#: An entry's files, and where each goes for an evaluation: samples, results, summary.
FILES = ("samples.jsonl", "results.jsonl", "summary.json")
#: Backend options that point at a trained adapter (such evaluations are not cached).
ADAPTER_OPTIONS = ("lora", "adapter")
#: Packages (and single modules) whose source decides what an evaluation samples and how it is judged.
CODE_PACKAGES = ("codepref.generation", "codepref.languages", "codepref.tasks", "codepref.execution",
                 "codepref.evaluation", "codepref_sandbox")
CODE_MODULES = ("codepref/config.py", "codepref/records.py", "codepref/samples.py", "codepref/hashing.py")
HASHES_FILE = "file-sha256.json"


def cache_root() -> Path:
    """``<codepref cache>/evals``."""
    from codepref.config import cache_dir

    return cache_dir() / "evals"


# ----------------------------------------------------------------------------- the key


def remembered_sha256(path: Path) -> str:
    """sha256 of a file, remembered by (real path, size, mtime) in ``evals/file-sha256.json``."""
    real = Path(path).resolve()
    st = real.stat()
    memo_path = cache_root() / HASHES_FILE
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    stamp = f"{st.st_size}:{st.st_mtime_ns}"
    entry = memo.get(str(real))
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        return entry["sha256"]
    digest = file_sha256(real)
    memo[str(real)] = {"stamp": stamp, "sha256": digest}
    memo_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(memo_path, json.dumps(memo, indent=1, sort_keys=True) + "\n")
    return digest


def model_identity(model: str, backend: str = "llamacpp") -> dict[str, Any] | None:
    """What the model's weights are, by content; None when nothing local can be hashed.

    A packaged name's variant (``NAME@TYPE``, or the bare name's on this CPU) is a GGUF file
    for llama.cpp; the other backends load the safetensors copy made from the packaged file,
    so for them the packaged file is the identity.

    Raises:
        ModelError: a local model path that does not exist.
    """
    from codepref.generation.models import resolve

    ref = resolve(model)
    if ref.kind == "packaged" and ref.variant and backend == "llamacpp":  # made on first use: by its stamp
        from codepref.generation.quantize import variant_stamp

        ref.gguf(fetch_missing=True)
        stamp = variant_stamp(ref.packaged.name, ref.variant)
        return {"packaged": ref.packaged.name, "variant": ref.variant, "sha256": stamp["sha256"]}
    if ref.kind == "packaged":  # the bare name running the packaged file, or NAME@gguf
        return {"packaged": ref.packaged.name, "sha256": ref.packaged.sha256}
    if ref.kind == "gguf":
        return {"gguf_sha256": remembered_sha256(Path(ref.spec))}
    if ref.kind == "dir":
        root = Path(ref.spec)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        return {"folder": {str(p.relative_to(root)): remembered_sha256(p) for p in files}}
    return None


#: Backends that sample on the machine that evaluates (a served model runs elsewhere, unknown).
LOCAL_BACKENDS = ("llamacpp", "torch", "hf")


def cpu_identity() -> dict[str, str]:
    """This machine's CPU as far as it decides numerics: architecture, model name, family and
    model numbers (one name can cover two generations, e.g. "AMD EPYC") and the sha256 of its
    sorted feature flags (``/proc/cpuinfo``; empty where unreadable)."""
    import platform

    from codepref.generation.models import cpu_fields

    cpu = cpu_fields()  # one read of /proc/cpuinfo for all
    return {"arch": platform.machine(), "name": cpu.get("model name") or platform.processor(),
            "family": cpu.get("cpu family", ""), "model": cpu.get("model", ""),
            "flags_sha256": json_sha256(sorted(set(cpu.get("flags", "").split())))}


def code_version() -> dict[str, str]:
    """codepref's version and the sha256 of the source in :data:`CODE_PACKAGES` and
    :data:`CODE_MODULES` (file names and bytes, in sorted order)."""
    import importlib

    import codepref

    root = Path(codepref.__file__).parent
    files: dict[str, str] = {}
    for name in CODE_PACKAGES:
        folder = Path(importlib.import_module(name).__file__).parent
        for p in sorted(folder.glob("*.py")):
            files[f"{name}/{p.name}"] = file_sha256(p)
    for rel in CODE_MODULES:
        files[rel] = file_sha256(root.parent / rel)
    return {"codepref": codepref.__version__, "source_sha256": json_sha256(files)}


def evaluation_key(settings, judge) -> tuple[str | None, dict[str, Any] | str]:
    """The cache key of an evaluation, with what it was made of; or None and why it is not cached.

    Args:
        settings: the :class:`~codepref.evaluation.benchmarks.EvalSettings`.
        judge: its benchmark's judge.

    Raises:
        CodeprefError: the task set or the model cannot be found (as the evaluation would).
    """
    from codepref.evaluation.benchmarks import TestsJudge
    from codepref.evaluation.judges import EVAL_MEMORY_MB
    from codepref.generation.stage import settings_of
    from codepref.tasks.source import load_task_set

    gen = settings.generation
    if gen is None or settings.samples is not None:
        return None, "the samples are given, not sampled"
    if not isinstance(judge, TestsJudge):
        return None, f"{settings.benchmark} is not judged by its tests alone"
    if any(gen.backend_options.get(k) for k in ADAPTER_OPTIONS):
        return None, "a trained adapter is evaluated"
    model = model_identity(gen.model, gen.backend)
    if model is None:
        return None, f"{gen.model!r} is not a local model file or a packaged model"
    task_set = load_task_set(settings.benchmark, path=settings.tasks_path, data_dir=settings.data)
    tasks = task_set.tasks[:settings.limit] if settings.limit else task_set.tasks
    header = task_set.header()
    if not header.get("sha256"):  # a loader that records no file hash: hash the tasks themselves
        header["content_sha256"] = json_sha256([dataclasses.asdict(t) for t in tasks])
    sandbox = settings.sandbox
    parts = {
        "format": FORMAT,
        "code": code_version(),
        "model": model,
        "generation": {**{k: v for k, v in settings_of(gen).items() if k != "model"},
                       "backend_options": gen.backend_options},
        "benchmark": settings.benchmark,
        "task_set": header,
        "limit": settings.limit or 0,
        "judge": dataclasses.asdict(settings.judge),
        "sandbox": ({k: getattr(sandbox, k) for k in ("image", "memory_mb", "cpus", "pids_limit")}
                    if sandbox is not None else {"default_memory_mb": EVAL_MEMORY_MB}),
        "ks": list(settings.ks),
        "reference_cache": settings.cache,
        "allow_empty": settings.allow_empty,
    }
    if gen.backend in LOCAL_BACKENDS:
        parts["cpu"] = cpu_identity()
    return json_sha256(parts), parts


# ----------------------------------------------------------------------------- reuse and store


def destinations(settings, judge) -> tuple[Path, Path, Path]:
    """Where the evaluation writes its samples, results and summary."""
    from codepref.evaluation.run import summary_beside

    results = Path(settings.results_path)
    summary = Path(settings.summary_path) if settings.summary_path else summary_beside(results)
    return judge.samples_path(results), results, summary


def restore(key: str, settings, judge) -> dict[str, Any] | None:
    """Copy entry ``key`` into the evaluation's places and return its summary; None if absent."""
    entry = cache_root() / key
    if not all((entry / f).is_file() for f in FILES):
        return None
    samples, results, summary_path = destinations(settings, judge)
    for name, dest in zip(FILES[:2], (samples, results)):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".cached")
        shutil.copyfile(entry / name, tmp)
        os.replace(tmp, dest)
        dest.with_name(dest.name + ".partial").unlink(missing_ok=True)  # an interrupted earlier try
    summary = json.loads((entry / "summary.json").read_text())
    summary.update(samples_file=str(samples), results_file=str(results), eval_cache={"key": key, "reused": True})
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    summary["summary_file"] = str(summary_path)
    return summary


def store(key: str, parts: dict[str, Any], settings, judge, summary: dict[str, Any]) -> None:
    """Keep a finished evaluation as entry ``key`` (written aside, then renamed into place)."""
    root = cache_root()
    if (root / key).is_dir():
        return
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", dir=root))
    try:
        for name, src in zip(FILES, destinations(settings, judge)):
            shutil.copyfile(src, tmp / name)
        kept = {k: v for k, v in summary.items() if k != "summary_file"}
        (tmp / "summary.json").write_text(json.dumps(kept, indent=2) + "\n")
        (tmp / "key.json").write_text(json.dumps({"key": key, **parts}, indent=2, default=str) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, root / key)
        except OSError:  # another process stored the same evaluation first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def evaluate_cached(judge, settings, *, progress=None, use_cache: bool = True,
                    note: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """``judge.evaluate(settings)``, or the stored result of an identical evaluation.

    On a hit nothing is sampled or judged: the stored files are copied into place and
    ``note`` says ``reused cached evaluation KEY``. On a miss the evaluation runs as usual
    and its finished files are stored. ``settings.results_path`` must be set when a model is
    sampled (it always is for ``--model`` and the pipeline).

    Args:
        judge: the benchmark's judge; settings: the evaluation's
            :class:`~codepref.evaluation.benchmarks.EvalSettings`.
        progress: passed to the judge.
        use_cache: False to neither read nor write the cache.
        note: receives one line about the cache (hit, stored, or why not cached).
    """
    if not use_cache or settings.results_path is None or settings.generation is None:
        return judge.evaluate(settings, progress=progress)  # nothing to reuse for a given samples file
    key, parts = evaluation_key(settings, judge)
    if key is None:
        note(f"evaluation not cached: {parts}")
        return judge.evaluate(settings, progress=progress)
    summary = restore(key, settings, judge)
    if summary is not None:
        note(f"reused cached evaluation {key[:16]} ({cache_root() / key})")
        return summary
    summary = judge.evaluate(settings, progress=progress)
    summary["eval_cache"] = {"key": key, "reused": False}
    if "cpu" in parts:  # sampled here: the machine is part of what the answers are
        summary["sampled_on"] = parts["cpu"]
    summary_path = destinations(settings, judge)[2]
    write_text_atomic(summary_path, json.dumps({k: v for k, v in summary.items() if k != "summary_file"},
                                               indent=2) + "\n")
    store(key, parts, settings, judge, summary)
    note(f"stored evaluation {key[:16]} in the evaluation cache")
    return summary


__all__ = ["cache_root", "code_version", "evaluate_cached", "evaluation_key", "model_identity", "restore", "store"]
