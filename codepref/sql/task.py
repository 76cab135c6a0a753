"""The SQL debugging task format (BIRD-CRITIC's fields) and where its databases live.

One task is one JSON object::

    {"instance_id": "sqlfix/chinook/001", "db_id": "chinook",
     "query": "the user's issue, in their words",
     "issue_sql": ["SELECT ... the SQL that misbehaves"],
     "sol_sql": ["SELECT ... the verified fix"],
     "preprocess_sql": [], "clean_up_sql": [],
     "test_cases": [],            # Python test functions; [] = soft EX against sol_sql
     "conditions": {"order": false},
     "category": "join", "efficiency": false, "dialect": "SQLite"}

SQL fields are lists of SQL texts (a plain string is read as a one-element list, as
BIRD-CRITIC's loaders do). ``conditions`` may hold ``order`` (rows compared in order) and
``multiset`` (duplicates count). Extra keys are kept in :attr:`SqlTask.extra`.

Databases: a *database directory* holds ``<db_id>/<file>.sqlite`` (``.sqlite``, ``.sqlite3``
or ``.db``; exactly one per folder) or ``<db_id>.sqlite``. It is given by a flag or the
``CODEPREF_DATA`` variable, pointing either at the directory itself or at a data root
that has it as ``sql/`` (the layout ``sql/chinook/Chinook_Sqlite.sqlite``); without
either, the default data folder (:func:`codepref.tasks.default_data_dir`), where
``codepref data fetch chinook northwind`` puts the databases.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codepref.errors import ConfigError, InputError
from codepref.records import iter_jsonl

LIST_FIELDS = ("issue_sql", "sol_sql", "preprocess_sql", "clean_up_sql", "test_cases")
KNOWN_FIELDS = ("instance_id", "db_id", "query", *LIST_FIELDS, "conditions", "category", "efficiency", "dialect")
CONDITION_KEYS = ("order", "multiset")
DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")
DATA_ENV = "CODEPREF_DATA"


@dataclass(frozen=True)
class SqlTask:
    """One SQL debugging instance (BIRD-CRITIC fields; see the module docstring)."""

    instance_id: str
    db_id: str
    query: str
    issue_sql: list[str]
    sol_sql: list[str]
    preprocess_sql: list[str] = field(default_factory=list)
    clean_up_sql: list[str] = field(default_factory=list)
    test_cases: list[str] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict)
    category: str = ""
    efficiency: bool = False
    dialect: str = "SQLite"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in KNOWN_FIELDS}
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, obj: dict[str, Any], source: str | None = None, line: int | None = None) -> SqlTask:
        """Validate and build a task; :class:`InputError` names the field that is wrong."""
        def bad(msg: str) -> InputError:
            return InputError(msg, source, line)

        if "selected_database" in obj and "db_id" not in obj:
            obj = {**obj, "db_id": obj["selected_database"]}
        for key in ("instance_id", "db_id"):
            if key not in obj:
                raise bad(f"missing field {key!r}")
        iid = obj["instance_id"]
        if isinstance(iid, int) and not isinstance(iid, bool):
            iid = str(iid)
        if not isinstance(iid, str) or not iid:
            raise bad("field 'instance_id' must be a non-empty string")
        if not isinstance(obj["db_id"], str) or not obj["db_id"] or "/" in obj["db_id"] or obj["db_id"].startswith("."):
            raise bad(f"task {iid}: field 'db_id' must be a database name, got {obj['db_id']!r}")
        lists: dict[str, list[str]] = {}
        for key in LIST_FIELDS:
            value = obj.get(key)
            if value is None:
                value = []
            elif isinstance(value, str):
                value = [value] if value.strip() else []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(f"task {iid}: field {key!r} must be a list of strings")
            lists[key] = value
        if not lists["sol_sql"]:
            raise bad(f"task {iid}: field 'sol_sql' is empty (every task needs a verified solution)")
        conditions = obj.get("conditions") or {}
        if not isinstance(conditions, dict):
            raise bad(f"task {iid}: field 'conditions' must be an object")
        for key, value in conditions.items():
            if key in CONDITION_KEYS and not isinstance(value, bool):
                raise bad(f"task {iid}: condition {key!r} must be true or false")
        query = obj.get("query", "")
        if not isinstance(query, str):
            raise bad(f"task {iid}: field 'query' must be a string")
        extra = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS and k != "selected_database"}
        return cls(instance_id=iid, db_id=obj["db_id"], query=query, conditions=conditions,
                   category=str(obj.get("category") or ""), efficiency=bool(obj.get("efficiency", False)),
                   dialect=str(obj.get("dialect") or "SQLite"), extra=extra, **lists)


def read_sql_tasks(path: str | os.PathLike[str]) -> list[SqlTask]:
    """Read and validate a JSONL file of tasks (a codepref header line is skipped).

    Raises:
        InputError: a malformed line, a bad field, or a duplicated ``instance_id``.
    """
    tasks: list[SqlTask] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        task = SqlTask.from_dict(obj, str(path), line)
        if task.instance_id in seen:
            raise InputError(f"duplicate instance_id {task.instance_id!r} (first on line {seen[task.instance_id]})",
                             str(path), line)
        seen[task.instance_id] = line
        tasks.append(task)
    if not tasks:
        raise InputError("no tasks in the file", str(path))
    return tasks


def sql_dir(data: str | os.PathLike[str] | None = None) -> Path:
    """The database directory, from ``data``, else ``$CODEPREF_DATA``, else the default data folder.

    Either may name the directory of databases itself or a data root holding it as ``sql/``.

    Raises:
        ConfigError: the folder does not exist; without ``data`` and ``$CODEPREF_DATA``
            the message names the command that fetches the databases.
    """
    from codepref.tasks import default_data_dir

    root = data if data not in (None, "") else os.environ.get(DATA_ENV)
    if not root:
        default = default_data_dir()
        if not default.is_dir():
            raise ConfigError([f"no database directory: pass --data DIR or set {DATA_ENV} "
                               "(a folder with sql/<db_id>/<file>.sqlite, e.g. sql/chinook/Chinook_Sqlite.sqlite), "
                               f"or run: codepref data fetch chinook northwind (into {default})"])
        root = default
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError([f"database directory {path} does not exist"])
    return path / "sql" if (path / "sql").is_dir() else path


def db_file(directory: Path, db_id: str) -> Path:
    """The database file of ``db_id`` inside ``directory`` (see the module docstring).

    Raises:
        InputError: no such database, or an ambiguous folder.
    """
    folder = directory / db_id
    if folder.is_dir():
        found = sorted(p for p in folder.iterdir() if p.suffix in DB_SUFFIXES and p.is_file())
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InputError(f"database {db_id!r}: {folder} holds several database files "
                             f"({', '.join(p.name for p in found)}); keep one")
    for suffix in DB_SUFFIXES:
        if (directory / f"{db_id}{suffix}").is_file():
            return directory / f"{db_id}{suffix}"
    known = sorted(p.name for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []
    from codepref.tasks import fetch_command
    from codepref.tasks.fetch import DATASETS

    root = directory.parent if directory.name == "sql" else directory
    fetch = f"; run: {fetch_command(db_id, root)}" if db_id in DATASETS else ""
    raise InputError(f"database {db_id!r} not found in {directory} "
                     f"(expected {db_id}/<file>.sqlite; found: {', '.join(known) or 'nothing'}){fetch}")


def db_files(directory: Path, tasks: Iterable[SqlTask]) -> dict[str, Path]:
    """``db_id -> file`` for every database the tasks use (checks all of them up front)."""
    return {db: db_file(directory, db) for db in sorted({t.db_id for t in tasks})}


def schema_sql(path: Path, tables: Iterable[str] | None = None) -> str:
    """The ``CREATE TABLE`` / ``CREATE VIEW`` statements of a database, read-only.

    Reading a schema runs no untrusted SQL, so it happens on the host.
    """
    import sqlite3
    from contextlib import closing

    uri = f"file:{path}?mode=ro&immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'view') AND sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type, name").fetchall()
    wanted = {t.lower() for t in tables} if tables is not None else None
    return "\n".join(sql.strip() + ";" for name, sql in rows if wanted is None or name.lower() in wanted)
