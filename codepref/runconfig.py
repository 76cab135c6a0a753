"""The configuration of a whole ``codepref run``: one TOML section per stage.

A run config is a TOML file with these sections (every key optional; defaults in each
dataclass's docstring)::

    [run]       RunSection        rounds, task set, how many tasks
    [generate]  GenerationConfig  model, backend, N solutions, M tests, sampling
    [sandbox]   SandboxConfig     containers, memory, time limits
    [execute]   ExecuteSection    time limit per solution x test cell
    [rank]      RankSection       scorer, DPO/KTO, pair options
    [train]     TrainConfig       DPO/KTO + LoRA settings
    [evaluate]  EvaluateSection   benchmarks, subset size, samples per task
    [cluster]   ClusterConfig     where sandbox work runs: this machine or a Ray cluster

:func:`load_run_config` reads the file (or the embedded quickstart), applies
``section.key=value`` overrides, and checks *every* section before raising one
:class:`~codepref.errors.ConfigError` that lists all problems. :func:`config_hash` is the
sha256 of the resolved config's canonical JSON (sorted keys); :func:`section_dict` gives
one section as plain JSON-able data, which is what the pipeline's stage keys hash.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import typing
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from codepref.config import ClusterConfig, GenerationConfig, SandboxConfig, from_mapping, load_toml, parse_overrides
from codepref.errors import ConfigError
from codepref.hashing import json_sha256
from codepref.pairs.build import PairOptions
from codepref.training.config import TrainConfig

#: The shipped configs (``codepref/data/configs/NAME.toml``).
SHIPPED = ("quickstart", "paper-scale", "sql", "learn", "cpp", "javascript")


@dataclass(frozen=True)
class RunSection:
    """What the run trains on, and for how many rounds.

    Attributes:
        name: a label for the run (reports, summary).
        rounds: iterations of generate -> execute -> rank -> train; round k samples from
            round k-1's adapter (on-policy). Default 1.
        continue_adapter: round k > 1 trains round k-1's adapter further, against a frozen
            copy of it as the reference (iterative DPO; default true); false trains a fresh
            adapter on the base model each round, against the base.
        tasks: the training prompts: a task-set name (``quickstart``, ``mbpp`` ...) or a
            JSONL file of prompts. Default ``quickstart`` (ships inside the package).
        task_limit: use only the first ``task_limit`` tasks (0 = all). Default 0.
        task_offset: skip this many tasks first (e.g. to hold some out). Default 0.
        data_dir: the benchmark data folder (default ``$CODEPREF_DATA``).
        allow_contamination: train even when the training prompts overlap a benchmark the
            run evaluates on (a run that fits the benchmark on purpose, like sql.toml).
            Default false: the run stops before any work and names the overlapping tasks.
    """

    name: str = "run"
    rounds: int = 1
    continue_adapter: bool = True
    tasks: str = "quickstart"
    task_limit: int = 0
    task_offset: int = 0
    data_dir: str = ""
    allow_contamination: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.rounds < 1:
            problems.append(f"rounds must be >= 1, got {self.rounds}")
        if self.task_limit < 0:
            problems.append(f"task_limit must be >= 0 (0 = all), got {self.task_limit}")
        if self.task_offset < 0:
            problems.append(f"task_offset must be >= 0, got {self.task_offset}")
        if not self.tasks:
            problems.append("tasks must name a task set or a prompts file")
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class ExecuteSection:
    """How the pass matrices are run (the sandbox itself is ``[sandbox]``).

    Attributes:
        cell_timeout_s: wall-clock seconds per solution x test cell. Default 5.0.
    """

    cell_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.cell_timeout_s <= 0:
            raise ConfigError([f"cell_timeout_s must be > 0, got {self.cell_timeout_s}"])


@dataclass(frozen=True)
class RankSection:
    """How solutions are scored and turned into training records.

    Attributes:
        scorer: a scorer name (``codet``, ``pagerank``, ``minimax``). Default ``pagerank``.
        scorer_options: keyword options of the scorer (e.g. ``{damping = 0.85}``).
        format: ``dpo`` (pairs) or ``kto`` (labelled samples); must match ``[train] method``.
        pair_options: how picks become records (:class:`~codepref.pairs.build.PairOptions`).
            Its fields are written straight in ``[rank]`` (``pairs_per_task = 1``,
            ``min_margin``, ``skip_uniform``, ``dedupe``, ``concat_tests``,
            ``prompt_gate``, ``min_cluster``, ``consensus``, ``sure_rejected``), not as a
            sub-table; defaults are PairOptions'.
    """

    scorer: str = "pagerank"
    scorer_options: dict = field(default_factory=dict)
    format: str = "dpo"
    pair_options: PairOptions = field(default_factory=PairOptions)

    def __post_init__(self) -> None:
        if self.format not in ("dpo", "kto"):
            raise ConfigError([f"format must be dpo or kto, got {self.format!r}"])


@dataclass(frozen=True)
class EvaluateSection:
    """Before/after evaluation on benchmarks (with the base model, then each round's adapter).

    Attributes:
        benchmarks: task-set names with hidden tests (``humaneval``, ``humaneval+``, ``mbpp+``
            ...), or ``sqlfix`` (one fix per task at ``temperature``, its success rate reported
            as pass@1; see :mod:`codepref.sql.benchmark`); empty for no evaluation.
            Default ``["humaneval"]``.
        limit: evaluate on the first ``limit`` tasks of each benchmark (0 = all). Default 0.
        n_samples: samples per task (n of pass@k; sqlfix always takes one). Default 1.
        temperature: sampling temperature (0 = greedy). Default 0.0.
        max_tokens: most new tokens per sample. Default: the evaluation protocol's (512 for
            chat and completion, 2048 for qwen-coder, 768 for evalplus-instruct).
        ks: the k of pass@k (a k above ``n_samples`` is not reported). Default ``[1]``.
        before: evaluate the base model too. Default true.
        every_round: evaluate after every round (else only after the last). Default false.
        memory_mb: sandbox memory per container for evaluating code benchmarks (sqlfix
            uses ``[sandbox]``'s). Default 4096.
        protocol: the evaluation protocol (:mod:`codepref.generation.protocols`, e.g.
            ``qwen-coder``). Default ``""``: ``[generate]``'s protocol or prompt style, so a
            run is evaluated with the prompts it trained on (``auto`` when that is ``auto``;
            see :meth:`RunConfig.evaluation_protocol`).
        cache: reuse an identical earlier evaluation of the same model file, protocol,
            decoding and judge settings and task set from the evaluation cache, and store
            new ones there (:mod:`codepref.evaluation.cache`; the base model's "before" is
            then computed once across runs). Default true.
    """

    benchmarks: list[str] = field(default_factory=lambda: ["humaneval"])
    limit: int = 0
    n_samples: int = 1
    temperature: float = 0.0
    max_tokens: int = 512
    ks: list[int] = field(default_factory=lambda: [1])
    before: bool = True
    every_round: bool = False
    memory_mb: int = 4096
    protocol: str = ""
    cache: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.limit < 0:
            problems.append(f"limit must be >= 0 (0 = all), got {self.limit}")
        if self.n_samples < 1:
            problems.append(f"n_samples must be >= 1, got {self.n_samples}")
        if self.max_tokens < 1:
            problems.append(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0, got {self.temperature}")
        if not self.ks or any(k < 1 for k in self.ks):
            problems.append(f"ks must be a non-empty list of k >= 1, got {self.ks}")
        if self.memory_mb < 64:
            problems.append(f"memory_mb must be >= 64, got {self.memory_mb}")
        from codepref.generation.protocols import protocol_problems

        problems.extend(protocol_problems(self.protocol, "auto"))
        if problems:
            raise ConfigError(problems)


#: section name -> dataclass, in pipeline order.
SECTIONS: dict[str, type] = {
    "run": RunSection,
    "generate": GenerationConfig,
    "sandbox": SandboxConfig,
    "execute": ExecuteSection,
    "rank": RankSection,
    "train": TrainConfig,
    "evaluate": EvaluateSection,
    "cluster": ClusterConfig,
}


@dataclass(frozen=True)
class RunConfig:
    """Every stage's settings; build it with :meth:`from_mapping` or :func:`load_run_config`."""

    run: RunSection = field(default_factory=RunSection)
    generate: GenerationConfig = field(default_factory=GenerationConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    execute: ExecuteSection = field(default_factory=ExecuteSection)
    rank: RankSection = field(default_factory=RankSection)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> RunConfig:
        """Build and check every section, then the cross-section rules; one error for all.

        Raises:
            ConfigError: listing unknown sections, unknown keys, wrong types, out-of-range
                values of every section, and cross-section conflicts.
        """
        problems: list[str] = []
        built: dict[str, Any] = {}
        for name, value in values.items():
            if name not in SECTIONS:
                close = difflib.get_close_matches(name, SECTIONS, n=1)
                hint = f" (did you mean [{close[0]}]?)" if close else ""
                problems.append(f"unknown section [{name}]{hint}")
            elif not isinstance(value, dict):
                problems.append(f"[{name}] must be a table of key = value, got {value!r}")
        for name, section in SECTIONS.items():
            raw = values.get(name, {})
            if not isinstance(raw, dict):
                continue
            try:
                built[name] = section_from_mapping(section, raw, where=f"[{name}] ")
            except ConfigError as e:
                problems.extend(e.problems)
        problems.extend(_cross_checks(built))
        if problems:
            raise ConfigError(problems)
        return cls(**_protocol_max_tokens(values, built))

    def evaluation_protocol(self) -> str:
        """The protocol the evaluate stage samples with: ``[evaluate] protocol``, else
        ``[generate]``'s protocol or prompt style; ``""`` for ``auto`` (chat for instruct
        models), as generation then uses.

        A run evaluates with the prompts it generated (and so trained) with unless told
        otherwise: a packaged model's recorded protocol, which ``codepref evaluate`` uses
        for a model alone, is not taken here, since ``auto`` generation does not use it.
        """
        from codepref.generation.protocols import requested_protocol

        if self.evaluate.protocol:
            return self.evaluate.protocol
        return requested_protocol(self.generate.protocol, self.generate.prompt_style)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain JSON-able data, section by section."""
        return {name: section_dict(getattr(self, name)) for name in SECTIONS}


def _protocol_max_tokens(values: dict[str, Any], built: dict[str, Any]) -> dict[str, Any]:
    """``max_tokens`` of ``[generate]`` and ``[evaluate]`` where the file leaves it out: the
    default of the section's protocol (``[evaluate]``: :meth:`RunConfig.evaluation_protocol`),
    so a named protocol brings its own length; 512 otherwise, as always."""
    from codepref.generation.protocols import default_max_tokens

    gen, ev = built["generate"], built["evaluate"]
    if "max_tokens" not in values.get("generate", {}) and gen.protocol:
        built["generate"] = gen = dataclasses.replace(gen, max_tokens=default_max_tokens(gen.protocol))
    if "max_tokens" not in values.get("evaluate", {}):
        protocol = RunConfig(generate=gen, evaluate=ev).evaluation_protocol()
        built["evaluate"] = dataclasses.replace(ev, max_tokens=default_max_tokens(protocol))
    return built


def _cross_checks(built: dict[str, Any]) -> list[str]:
    """Rules between sections, checked on every section that was valid on its own."""
    b = {name: built.get(name) for name in SECTIONS}
    problems = []
    if b["rank"] and b["train"] and b["rank"].format != b["train"].method:
        problems.append(f"[rank] format {b['rank'].format!r} does not match [train] method {b['train'].method!r}")
    from codepref.scoring import SCORERS

    if b["rank"] and b["rank"].scorer not in SCORERS.names():
        problems.append(f"[rank] scorer {b['rank'].scorer!r} is not one of {', '.join(SCORERS.names())}")
    from codepref.tasks import TASKS

    tasks = b["run"].tasks if b["run"] else ""
    if b["run"] and tasks not in TASKS.names() and not tasks.endswith(".jsonl"):
        problems.append(f"[run] tasks {tasks!r} is neither a task set ({', '.join(TASKS.names())}) "
                        "nor a .jsonl prompts file")
    for bench in b["evaluate"].benchmarks if b["evaluate"] else []:
        if bench not in TASKS.names():
            problems.append(f"[evaluate] benchmark {bench!r} is not a task set ({', '.join(TASKS.names())})")
    if b["generate"] and b["generate"].n_solutions < 2:
        problems.append(f"[generate] n_solutions must be >= 2 to make pairs, got {b['generate'].n_solutions}")
    return problems


def _nested(cls: type) -> dict[str, type]:
    """The fields of a section that hold a settings dataclass (``[rank]``'s ``pair_options``).

    Their fields are written flat in the section (``[rank] pairs_per_task = 2``), as they
    always were, so TOML files, ``--set rank.pairs_per_task=2`` and stage keys stay the same.
    """
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def section_from_mapping(cls: type, values: dict[str, Any], *, where: str = "") -> Any:
    """:func:`~codepref.config.from_mapping` for a section, nested settings read from its flat keys.

    Every problem is reported at once: unknown keys (with a "did you mean" over the flat
    keys), wrong types and the checks of the section and of each nested settings object.

    Raises:
        ConfigError: listing all problems, each prefixed with ``where``.
    """
    nested = _nested(cls)
    if not nested:
        return from_mapping(cls, values, where=where)
    owner = {f.name: name for name, sub in nested.items() for f in dataclasses.fields(sub)}
    keys = [f.name for f in dataclasses.fields(cls) if f.name not in nested] + list(owner)
    problems = []
    for key in values:
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            problems.append(f"{where}unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    built = {}
    for name, sub in nested.items():
        try:
            built[name] = from_mapping(sub, {k: v for k, v in values.items() if owner.get(k) == name}, where=where)
        except ConfigError as e:
            problems.extend(e.problems)
    try:
        section = from_mapping(cls, {k: v for k, v in values.items() if k in keys and k not in owner}, where=where)
    except ConfigError as e:
        problems.extend(e.problems)
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(section, **built)


def section_dict(section: Any) -> dict[str, Any]:
    """One section as JSON-able data (tuples become lists), nested settings flattened into it.

    The flat form is what the TOML holds, what ``config.json`` shows and what the
    pipeline's stage keys hash (see :func:`_nested`).
    """
    data = json.loads(json.dumps(dataclasses.asdict(section), default=list))
    for name in _nested(type(section)):
        data.update(data.pop(name))
    return data


def config_hash(data: Any) -> str:
    """sha256 (hex) of ``data``'s canonical JSON: sorted keys, no whitespace."""
    return json_sha256(data)


def shipped_config_text(name: str) -> str:
    """The text of a shipped config (``quickstart``, ``paper-scale``, ``sql``, ``learn``)."""
    if name not in SHIPPED:
        raise ConfigError([f"no shipped config {name!r}; shipped: {', '.join(SHIPPED)}"])
    return resources.files("codepref").joinpath("data", "configs", f"{name}.toml").read_text()


def load_run_config(path: str | os.PathLike[str] | None = None, overrides: list[str] = ()) -> RunConfig:
    """Read a run config (default: the embedded quickstart) and apply ``section.key=value``.

    Args:
        path: a TOML file, or the name of a shipped config; None for the quickstart.
        overrides: ``section.key=value`` strings (values parsed as TOML scalars).

    Raises:
        ConfigError: an unreadable file, malformed overrides, or any invalid setting (all
            listed at once).
    """
    import tomllib

    # A shipped name wins unless a *file* of that name is there: a run directory called
    # "learn" in the working directory must not shadow the shipped learn config.
    if path is None or (str(path) in SHIPPED and not os.path.isfile(path)):
        values = tomllib.loads(shipped_config_text(str(path) if path else "quickstart"))
    else:
        values = load_toml(path)
    problems = []
    for key, value in parse_overrides(list(overrides)).items():
        section, dot, name = key.partition(".")
        if not dot or not name:
            problems.append(f"override {key!r} must be section.key=value")
            continue
        values.setdefault(section, {})
        if isinstance(values[section], dict):
            values[section][name] = value
    if problems:
        raise ConfigError(problems)
    return RunConfig.from_mapping(values)


__all__ = ["RunConfig", "RunSection", "ExecuteSection", "RankSection", "EvaluateSection", "SECTIONS",
           "load_run_config", "config_hash", "section_dict", "shipped_config_text", "SHIPPED"]
