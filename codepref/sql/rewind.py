"""SQL-Rewind: new SQL debugging tasks made by putting bugs into verified SQL.

Following the SQL-Rewind idea of SWE-SQL (Six-Gym), each *seed* (a query whose result is
known to be right) is parsed with sqlglot, and each mutation operator rewrites one node of
its syntax tree into a typical bug. A mutant becomes a task (``issue_sql`` = mutant,
``sol_sql`` = seed) only if

1. its SQL (rendered for SQLite) parses again,
2. it runs without error or timeout on a fresh copy of the database (in the sandbox), and
3. its result differs from the seed's under soft EX (the same comparison the evaluator uses,
   so the new task's ``issue_sql`` fails phase 1 by construction).

A seed is used only if sqlglot's rendering of the unchanged tree gives the seed's result
(the round trip keeps its meaning) and that result is not empty.

Operators (``OPERATORS``): ``join_type`` (LEFT <-> INNER), ``drop_predicate`` (one
conjunct, or the whole WHERE), ``comparison`` (> <-> >=, < <-> <=, = <-> <>),
``aggregate`` (SUM <-> AVG, MIN <-> MAX, COUNT(x) -> COUNT(*)), ``limit`` (LIMIT/OFFSET
off by one), ``null_unsafe`` (IS NULL -> = NULL, IS NOT NULL -> <> NULL, COALESCE(x, d) -> x),
``int_division`` (x * 1.0 -> x * 1, CAST(x AS REAL) -> x), ``distinct`` (drop DISTINCT),
``order`` (flip ASC/DESC, drop ORDER BY before LIMIT), ``group_by`` (drop a grouping
column), ``date_format`` (strftime '%Y-%m' -> '%m', '%Y' -> '%y'), ``logic`` (AND <-> OR in WHERE/HAVING)
and ``union`` (UNION -> UNION ALL).

Seeds file (JSONL): ``{"id", "db_id", "sql", "question"?, "conditions"?}``; a task file is
accepted too (its ``sol_sql`` are the seeds, its ``query`` the question).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import CodeprefError, InputError
from codepref.progress import Progress, Tick
from codepref.records import ResumableJsonl, iter_jsonl, make_header
from codepref.sql.runner import SqlJob, run_sql_jobs
from codepref.sql.task import SqlTask

Action = tuple[str, Callable[[Any], None]]
STAT_KEYS = ("candidates", "unparsable", "duplicates", "seed_verified", "executed", "run_failed", "unchanged",
             "survived", "kept")


def _sqlglot():
    try:
        import sqlglot
        from sqlglot import exp
    except ImportError:
        raise CodeprefError("SQL-Rewind needs sqlglot: pip install 'codepref[sql]'") from None
    return sqlglot, exp


@dataclass(frozen=True)
class Seed:
    """A verified query to mutate."""

    id: str
    db_id: str
    sql: str
    question: str = ""
    conditions: dict[str, Any] = field(default_factory=dict)


def read_seeds(path: str | os.PathLike[str]) -> list[Seed]:
    """Seeds from a seeds file or a task file (see the module docstring).

    Raises:
        InputError: a line without ``db_id`` or SQL, or a duplicated id.
    """
    src = str(path)
    seeds: list[Seed] = []
    seen: set[str] = set()
    for line, obj in iter_jsonl(path):
        if "sol_sql" in obj and "sql" not in obj:
            task = SqlTask.from_dict(obj, src, line)
            if task.test_cases or len(task.sol_sql) != 1:
                continue  # DML/DDL tasks judged by test functions are not seeds
            sid, db, sql, question, cond = task.instance_id, task.db_id, task.sol_sql[0], task.query, task.conditions
        else:
            sid = str(obj.get("id", f"line{line}"))
            db, sql = obj.get("db_id"), obj.get("sql")
            question, cond = obj.get("question", ""), obj.get("conditions") or {}
            if not isinstance(db, str) or not db:
                raise InputError("missing 'db_id'", src, line)
            if not isinstance(sql, str) or not sql.strip():
                raise InputError("missing 'sql' (the verified query)", src, line)
            if not isinstance(question, str) or not isinstance(cond, dict):
                raise InputError("'question' must be a string and 'conditions' an object", src, line)
        if sid in seen:
            raise InputError(f"duplicate seed id {sid!r}", src, line)
        seen.add(sid)
        seeds.append(Seed(sid, db, sql.strip().rstrip(";"), question, cond))
    if not seeds:
        raise InputError("no seed queries in the file", src)
    return seeds


# --------------------------------------------------------------------------- operators


def _in_clause(node, exp, joins: bool = True) -> bool:
    """True for nodes inside a WHERE, HAVING or (with ``joins``) JOIN ... ON condition."""
    child, p = node, node.parent
    while p is not None:
        if isinstance(p, (exp.Where, exp.Having)):
            return True
        if isinstance(p, exp.Join):
            return joins and child is p.args.get("on")
        if isinstance(p, (exp.Select, exp.Subquery)):
            return False
        child, p = p, p.parent
    return False


def op_join_type(node, exp) -> list[Action]:
    if not isinstance(node, exp.Join) or not (node.args.get("on") or node.args.get("using")):
        return []
    side = (node.args.get("side") or "").upper()
    kind = (node.args.get("kind") or "").upper()
    if side == "LEFT":
        return [("LEFT JOIN -> INNER JOIN", lambda n: (n.set("side", None), n.set("kind", None)))]
    if not side and kind in ("", "INNER"):
        return [("INNER JOIN -> LEFT JOIN", lambda n: (n.set("side", "LEFT"), n.set("kind", None)))]
    return []


def op_drop_predicate(node, exp) -> list[Action]:
    if isinstance(node, exp.And) and _in_clause(node, exp):
        return [(f"drop condition {node.this.sql(dialect='sqlite')[:60]}", lambda n: n.replace(n.expression)),
                (f"drop condition {node.expression.sql(dialect='sqlite')[:60]}", lambda n: n.replace(n.this))]
    if isinstance(node, exp.Where) and not isinstance(node.this, (exp.And, exp.Or)):
        return [("drop the WHERE clause", lambda n: n.pop())]
    return []


_CMP_SWAP = {"GT": "GTE", "GTE": "GT", "LT": "LTE", "LTE": "LT", "EQ": "NEQ", "NEQ": "EQ"}
_CMP_TEXT = {"GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "EQ": "=", "NEQ": "<>"}


def op_comparison(node, exp) -> list[Action]:
    name = type(node).__name__
    if name not in _CMP_SWAP or not _in_clause(node, exp, joins=False):
        return []
    if any(isinstance(side, exp.Null) for side in (node.this, node.expression)):
        return []
    new = getattr(exp, _CMP_SWAP[name])
    return [(f"{_CMP_TEXT[name]} -> {_CMP_TEXT[_CMP_SWAP[name]]}",
             lambda n: n.replace(new(this=n.this, expression=n.expression)))]


_AGG_SWAP = {"Sum": "Avg", "Avg": "Sum", "Min": "Max", "Max": "Min"}


def op_aggregate(node, exp) -> list[Action]:
    name = type(node).__name__
    if name in _AGG_SWAP:
        new = getattr(exp, _AGG_SWAP[name])
        return [(f"{name.upper()} -> {_AGG_SWAP[name].upper()}", lambda n: n.replace(new(this=n.this)))]
    if isinstance(node, exp.Count) and node.this is not None and not isinstance(node.this, (exp.Star, exp.Distinct)):
        return [("COUNT(x) -> COUNT(*)", lambda n: n.set("this", exp.Star()))]
    return []


def op_limit(node, exp) -> list[Action]:
    if not isinstance(node, (exp.Limit, exp.Offset)):
        return []
    lit = node.expression
    if not isinstance(lit, exp.Literal) or lit.is_string or not lit.this.isdigit():
        return []
    n, word = int(lit.this), "LIMIT" if isinstance(node, exp.Limit) else "OFFSET"
    out = [(f"{word} {n} -> {n + 1}", lambda m: m.set("expression", exp.Literal.number(n + 1)))]
    if n > (1 if word == "LIMIT" else 0):
        out.append((f"{word} {n} -> {n - 1}", lambda m: m.set("expression", exp.Literal.number(n - 1))))
    return out


def op_null_unsafe(node, exp) -> list[Action]:
    if isinstance(node, exp.Not) and isinstance(node.this, exp.Is) and isinstance(node.this.expression, exp.Null):
        return [("IS NOT NULL -> <> NULL", lambda n: n.replace(exp.NEQ(this=n.this.this, expression=exp.Null())))]
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null) and not isinstance(node.parent, exp.Not):
        return [("IS NULL -> = NULL", lambda n: n.replace(exp.EQ(this=n.this, expression=exp.Null())))]
    if isinstance(node, exp.Coalesce) and node.this is not None and len(node.expressions) == 1:
        return [("COALESCE(x, d) -> x", lambda n: n.replace(n.this))]
    return []


def _float_one_literals(operand, exp) -> list:
    """Integer-valued float literals (``1.0``, ``100.0``) in a division operand or its product."""
    while isinstance(operand, exp.Paren):
        operand = operand.this
    if isinstance(operand, exp.Literal):
        found = [operand]
    elif isinstance(operand, exp.Mul):
        found = list(operand.find_all(exp.Literal))
    else:
        found = []
    return [x for x in found if not x.is_string and "." in x.this and float(x.this).is_integer()]


def op_int_division(node, exp) -> list[Action]:
    if not isinstance(node, exp.Div):
        return []

    def to_integer(index: int) -> Callable[[Any], None]:
        def apply(n) -> None:
            lit = list(n.walk())[index]
            lit.replace(exp.Literal.number(int(float(lit.this))))
        return apply

    out: list[Action] = []
    for side in ("this", "expression"):
        operand = node.args.get(side)
        for lit in _float_one_literals(operand, exp):
            index = next(i for i, x in enumerate(node.walk()) if x is lit)
            out.append((f"{lit.this} -> {int(float(lit.this))} (integer division)", to_integer(index)))
        if isinstance(operand, exp.Cast) and operand.to.this in (exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE):
            out.append(("CAST(x AS REAL) -> x (integer division)",
                        lambda n, side=side: n.args[side].replace(n.args[side].this)))
    return out


def op_distinct(node, exp) -> list[Action]:
    if isinstance(node, exp.Select) and node.args.get("distinct"):
        return [("drop DISTINCT", lambda n: n.set("distinct", None))]
    if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct) and len(node.this.expressions) == 1:
        return [("COUNT(DISTINCT x) -> COUNT(x)", lambda n: n.set("this", n.this.expressions[0]))]
    return []


def op_order(node, exp) -> list[Action]:
    if isinstance(node, exp.Ordered):
        desc = bool(node.args.get("desc"))
        # SQLite's default NULL order follows the direction (first for ASC, last for DESC).
        return [("ORDER BY ... DESC -> ASC" if desc else "ORDER BY ... ASC -> DESC",
                 lambda n: (n.set("desc", not desc), n.set("nulls_first", desc)))]
    if isinstance(node, exp.Order) and isinstance(node.parent, exp.Select) and node.parent.args.get("limit"):
        return [("drop ORDER BY before LIMIT", lambda n: n.pop())]
    return []


def op_group_by(node, exp) -> list[Action]:
    if not isinstance(node, exp.Group) or len(node.expressions) < 2:
        return []
    return [(f"drop GROUP BY {e.sql(dialect='sqlite')[:40]}", lambda n, k=k: n.expressions[k].pop())
            for k, e in enumerate(node.expressions)]


_DATE_SWAP = {"%Y-%m": "%m", "%Y-%m-%d": "%m-%d", "%Y": "%y", "%m": "%M", "%w": "%W"}


def op_date_format(node, exp) -> list[Action]:
    if isinstance(node, exp.Literal) and node.is_string and isinstance(node.parent, exp.TimeToStr) \
            and node.this in _DATE_SWAP:
        new = _DATE_SWAP[node.this]
        return [(f"strftime '{node.this}' -> '{new}'", lambda n: n.replace(exp.Literal.string(new)))]
    return []


def op_logic(node, exp) -> list[Action]:
    if isinstance(node, exp.And) and _in_clause(node, exp, joins=False):
        return [("AND -> OR", lambda n: n.replace(exp.Paren(this=exp.Or(this=n.this, expression=n.expression))))]
    if isinstance(node, exp.Or) and _in_clause(node, exp, joins=False):
        return [("OR -> AND", lambda n: n.replace(exp.And(this=n.this, expression=n.expression)))]
    return []


def op_union(node, exp) -> list[Action]:
    if isinstance(node, exp.Union) and node.args.get("distinct"):
        return [("UNION -> UNION ALL", lambda n: n.set("distinct", False))]
    return []


OPERATORS: dict[str, Callable] = {
    "join_type": op_join_type, "drop_predicate": op_drop_predicate, "comparison": op_comparison,
    "aggregate": op_aggregate, "limit": op_limit, "null_unsafe": op_null_unsafe,
    "int_division": op_int_division, "distinct": op_distinct, "order": op_order, "group_by": op_group_by,
    "date_format": op_date_format, "logic": op_logic, "union": op_union,
}


@dataclass(frozen=True)
class Mutant:
    """One candidate bug: which operator, what it changed, and the rendered SQL."""

    seed_id: str
    operator: str
    description: str
    sql: str


def _operator_names(operators: Iterable[str] | None) -> list[str]:
    names = list(operators) if operators is not None else list(OPERATORS)
    unknown = [n for n in names if n not in OPERATORS]
    if unknown:
        raise InputError(f"unknown rewind operator(s) {', '.join(unknown)} (known: {', '.join(OPERATORS)})")
    return names


def render(tree) -> str:
    """SQLite SQL of a syntax tree, pretty-printed (the form shown to a model)."""
    return tree.sql(dialect="sqlite", pretty=True)


def mutants(seed: Seed, operators: Iterable[str] | None = None) -> tuple[str, list[Mutant], Counter]:
    """Every single-node mutation of ``seed``'s syntax tree.

    Returns:
        ``(round-trip SQL of the unchanged tree, distinct mutants, counts)``; the counts
        hold ``candidates`` (mutants made), ``unparsable`` (rendered SQL that sqlglot
        cannot read back) and ``duplicates`` (same SQL as the seed or another mutant).
    """
    sqlglot, exp = _sqlglot()
    counts: Counter = Counter()
    try:
        tree = sqlglot.parse_one(seed.sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        counts["seed_unparsable"] += 1
        return "", [], counts
    base = render(tree)
    seen = {base}
    out: list[Mutant] = []
    names = list(operators) if operators is not None else list(OPERATORS)
    nodes = list(tree.walk())
    for name in names:
        op = OPERATORS[name]
        for i, node in enumerate(nodes):
            for description, apply in op(node, exp):
                copy = tree.copy()
                target = list(copy.walk())[i]
                try:
                    apply(target)
                    sql = render(copy)
                except Exception:  # noqa: BLE001 - a rewrite sqlglot cannot render is skipped
                    counts["unrenderable"] += 1
                    continue
                counts["candidates"] += 1
                try:
                    sqlglot.parse_one(sql, read="sqlite")
                except sqlglot.errors.SqlglotError:
                    counts["unparsable"] += 1
                    continue
                if sql in seen:
                    counts["duplicates"] += 1
                    continue
                seen.add(sql)
                out.append(Mutant(seed.id, name, description, sql))
    return base, out, counts


# --------------------------------------------------------------------------- tasks


def _symptom(issue: dict[str, Any], gold_rows: int | None) -> str:
    got = issue.get("n_rows")
    if got is not None and gold_rows is not None and got != gold_rows:
        if got == 0:
            return "it returns no rows at all."
        return f"it returns {got} row{'s' if got != 1 else ''}, but I expected {gold_rows}."
    return "the numbers or rows it returns are not the ones I expect."


def issue_text(seed: Seed, issue: dict[str, Any], gold_rows: int | None) -> str:
    """A user-style issue for a surviving mutant: what they want and what goes wrong."""
    want = seed.question.strip() or "I have a query that should return the right data for my report."
    symptom = _symptom(issue, gold_rows)
    return f"{want}\nMy query runs without errors, but the result is wrong: {symptom} What is wrong with it?"


def _probe(seed: Seed, key: str, issue_sql: str) -> SqlJob:
    task = SqlTask(instance_id=key, db_id=seed.db_id, query="", issue_sql=[issue_sql], sol_sql=[seed.sql],
                   conditions=dict(seed.conditions))
    return SqlJob(key, task, None)


def rewind(
    seeds: list[Seed],
    directory: Path,
    *,
    per_seed: int = 3,
    max_candidates: int = 24,
    rng_seed: int = 0,
    operators: Iterable[str] | None = None,
    pool=None,
    config: SandboxConfig | None = None,
    query_timeout_s: float = 5.0,
    progress: Tick | None = None,
) -> Iterator[tuple[Seed, list[SqlTask], Counter]]:
    """Make debug tasks from seeds; yield ``(seed, kept tasks, counts)`` per seed.

    Args:
        seeds: verified queries.
        directory: the database directory.
        per_seed: tasks kept per seed at most (chosen round-robin over operators, so a
            seed's tasks show different bugs).
        max_candidates: mutants executed per seed at most (a seeded random sample).
        rng_seed: seed of that sample and of the choice among survivors.
        operators: operator names to use (default: all of ``OPERATORS``).
        pool, config, query_timeout_s: the sandbox (see :func:`codepref.sql.runner.run_sql_jobs`).
        progress: called with 1 per executed probe (the seed's round trip and each mutant).

    The counts per seed: ``candidates``, ``unparsable``, ``duplicates``, ``executed``,
    ``run_failed`` (error or timeout), ``unchanged`` (same result as the seed),
    ``survived`` (ran and changed the result), ``kept``, and ``seed_verified`` (0/1).
    """
    names = _operator_names(operators)
    plans: list[tuple[Seed, str, list[Mutant], Counter]] = []
    jobs: list[SqlJob] = []
    for seed in seeds:
        base, found, counts = mutants(seed, names)
        rng = random.Random(f"{rng_seed}:{seed.id}")
        rng.shuffle(found)
        found = found[:max_candidates]
        plans.append((seed, base, found, counts))
        if base:
            jobs.append(_probe(seed, f"{seed.id}\x00base", base))
            jobs += [_probe(seed, f"{seed.id}\x00{k}", m.sql) for k, m in enumerate(found)]
    verdicts: dict[str, dict[str, Any]] = {}
    for job, verdict in run_sql_jobs(jobs, directory, pool=pool, config=config, query_timeout_s=query_timeout_s,
                                     only_issue=True, progress=progress):
        verdicts[job.key] = verdict
    for seed, base, found, counts in plans:
        counts["seed_verified"] = 0
        base_v = verdicts.get(f"{seed.id}\x00base")
        if not base_v or not base_v.get("issue_sql_passed_unexpectedly"):
            yield seed, [], counts  # the round trip changed the result, or the seed fails/is empty
            continue
        counts["seed_verified"] = 1
        gold_rows = base_v.get("issue", {}).get("n_rows")
        survivors: dict[str, list[tuple[Mutant, dict[str, Any]]]] = {}
        for k, m in enumerate(found):
            issue = verdicts[f"{seed.id}\x00{k}"].get("issue") or {}
            counts["executed"] += 1
            if issue.get("execution_error") or issue.get("timeout_error"):
                counts["run_failed"] += 1
            elif not issue.get("assertion_error"):
                counts["unchanged"] += 1
            else:
                counts["survived"] += 1
                counts[f"survived:{m.operator}"] += 1
                survivors.setdefault(m.operator, []).append((m, issue))
        kept: list[SqlTask] = []
        order = [op for op in names if op in survivors]
        while len(kept) < per_seed and any(survivors.values()):
            for op in order:
                if survivors[op] and len(kept) < per_seed:
                    m, issue = survivors[op].pop(0)
                    kept.append(SqlTask(
                        instance_id=f"rewind/{seed.id}/{m.operator}-{len(kept) + 1}", db_id=seed.db_id,
                        query=issue_text(seed, issue, gold_rows), issue_sql=[m.sql], sol_sql=[seed.sql],
                        conditions=dict(seed.conditions), category=m.operator,
                        extra={"source": "rewind", "seed_id": seed.id, "mutation": m.description}))
        counts["kept"] = len(kept)
        yield seed, kept, counts


def rewind_file(
    seeds_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    directory: Path,
    *,
    per_seed: int = 3,
    max_candidates: int = 24,
    rng_seed: int = 0,
    operators: Iterable[str] | None = None,
    config: SandboxConfig | None = None,
    query_timeout_s: float = 5.0,
    chunk: int = 10,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``codepref sql rewind``: seeds file -> task file (resumable); returns the statistics.

    Seeds are processed ``chunk`` at a time and each chunk's tasks are appended when it is
    done; a rerun skips seeds that already have tasks in the output.

    The statistics: totals of the per-seed counts of :func:`rewind`,
    ``survived_by_operator``, and ``survived_per_100_seeds`` = 100 x survived / seeds run
    and ``kept_per_100_seeds`` = 100 x tasks in the output / seeds.
    """
    from codepref.sql import file_version
    from codepref.sql.runner import sql_sandbox_config

    names = _operator_names(operators)
    _sqlglot()
    seeds = read_seeds(seeds_path)
    settings = {"seeds": file_version(Path(seeds_path)), "per_seed": per_seed, "max_candidates": max_candidates,
                "rng_seed": rng_seed, "operators": names, "query_timeout_s": query_timeout_s}
    out = ResumableJsonl(out_path, make_header("sql_tasks", settings, source="rewind"),
                         key=lambda r: r["instance_id"])
    done_keys = out.open()
    done_seeds = {obj.get("seed_id") for _, obj in iter_jsonl(out.partial) if obj.get("instance_id") in done_keys}
    todo = [s for s in seeds if s.id not in done_seeds]
    totals: Counter = Counter({k: 0 for k in STAT_KEYS})
    totals["seeds"] = len(seeds)
    totals["kept"] = len(done_keys)
    totals["resumed_seeds"] = len(seeds) - len(todo)
    tick = progress(0, len(todo)) if progress else None
    try:
        from codepref.execution import SandboxPool

        with SandboxPool(sql_sandbox_config(config, directory)) as pool:
            for start in range(0, len(todo), chunk):
                part = todo[start:start + chunk]
                for seed, tasks, counts in rewind(part, directory, per_seed=per_seed, max_candidates=max_candidates,
                                                  rng_seed=rng_seed, operators=names, pool=pool,
                                                  query_timeout_s=query_timeout_s):
                    for t in tasks:
                        out.append(t.to_dict())
                    totals.update(counts)
                if tick:
                    tick(len(part))
        out.finalize()
    finally:
        out.close()
    stats: dict[str, Any] = {k: v for k, v in totals.items() if ":" not in k}
    stats["survived_by_operator"] = {k.split(":", 1)[1]: v for k, v in sorted(totals.items()) if ":" in k}
    n = max(1, len(todo))
    stats["survived_per_100_seeds"] = round(100.0 * totals["survived"] / n, 1)
    stats["kept_per_100_seeds"] = round(100.0 * totals["kept"] / max(1, len(seeds)), 1)
    return stats
