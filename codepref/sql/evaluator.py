"""The BIRD-CRITIC-style evaluator of one SQL debugging instance; runs inside the sandbox.

Standard library only. The program sent to the sandbox is :mod:`codepref.sql.compare`
followed by this file (see :func:`codepref.sql.runner.evaluator_program`); it reads one
JSON request on stdin and prints one JSON verdict on stdout. The same functions run on
the host in unit tests.

Request (``evaluate_request``)::

    {"task": {instance_id, db_id, issue_sql, sol_sql, preprocess_sql, clean_up_sql,
              test_cases, conditions, ...},
     "pred_sqls": [...] | null,      # null: gold mode, the prediction is sol_sql
     "db_path": "/data/sql/chinook/Chinook_Sqlite.sqlite",
     "query_timeout_s": 5.0, "max_rows": 100000, "check_issue": true,
     "only_issue": false}             # true: phase 1 only (SQL-Rewind probes)

What happens, as in BIRD-CRITIC's SQLite evaluator:

1. a fresh copy of the database in the program's private directory; ``preprocess_sql``;
2. phase 1: ``issue_sql`` is run and judged by the test cases; it must *fail* (an
   execution error, a timeout or a failed test). If it passes, the task is broken and the
   verdict is ``failed`` with ``issue_sql_passed_unexpectedly``;
3. phase 2 on another fresh copy: ``preprocess_sql``, the prediction, then every test case
   (default: soft EX against ``sol_sql``, see :mod:`codepref.sql.compare`);
4. ``clean_up_sql``.

Test cases are Python source defining ``test_case(pred_sqls, sol_sqls, db_path, conn,
conditions)`` with BIRD-CRITIC's helpers in scope (``execute_queries``,
``perform_query_on_sqlite_databases``, ``ex_base``, ``remove_distinct``, ``remove_comments``,
``remove_round``, ``preprocess_results``, ``check_sql_function_usage``) plus two for
UPDATE/DELETE/DDL tasks: ``gold_query(sql)`` runs a check query on a fresh copy where
``preprocess_sql`` + ``sol_sql`` were applied, and ``ex_state(check_sqls, conn, conditions)``
returns 1 when every check query gives the same (soft-compared) rows on ``conn`` as on
that gold copy.

Limits per query: a wall-clock deadline enforced with a SQLite progress handler
(interrupt), at most ``max_rows`` rows fetched, a heap limit, a database size limit, and
an authorizer that refuses ATTACH/DETACH and PRAGMAs that would lift those limits, so
hostile SQL (an endless recursive CTE, a huge cross join, ATTACH of another file) ends as
an error or a timeout of that query.
"""

import json
import os
import shutil
import sqlite3
import sys
import time
import traceback

try:  # on the host; in the sandbox compare.py is pasted above this file
    from codepref.sql.compare import (  # sandbox: inlined
        check_sql_function_usage, preprocess_results, remove_comments, remove_distinct, remove_round,
        results_match, soft_sql, split_statements,
    )
except ImportError:  # pragma: no cover - the sandbox program has these names already
    pass

HEAP_LIMIT = 192 * 1024 * 1024
DB_LIMIT = 48 * 1024 * 1024
MESSAGE_CAP = 600


class QueryTimeout(Exception):
    """A query ran past its deadline and was interrupted."""


class QueryError(Exception):
    """A query failed (SQLite error, too many rows, refused by the authorizer)."""


LIMIT_PRAGMAS = {"hard_heap_limit", "soft_heap_limit", "max_page_count", "temp_store", "temp_store_directory",
                 "data_store_directory", "mmap_size"}


def _authorize(action, arg1, arg2, dbname, source):
    """Refuse ATTACH/DETACH (other files) and changing the limits set by :class:`Database`."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and (arg1 or "").lower() in LIMIT_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class Database:
    """A private, fresh copy of one database with per-query limits.

    Args:
        source: the read-only database file (bind-mounted into the sandbox).
        workdir: where copies are made.
        query_timeout_s: wall-clock limit of each statement.
        max_rows: a statement returning more rows than this fails.
    """

    _copies = 0

    def __init__(self, source, workdir, query_timeout_s, max_rows):
        Database._copies += 1
        self.path = os.path.join(workdir, f"db{Database._copies}.sqlite")
        shutil.copyfile(source, self.path)
        os.chmod(self.path, 0o600)
        self.query_timeout_s = query_timeout_s
        self.max_rows = max_rows
        self.deadline = None
        self.timed_out = False
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        for pragma in (f"PRAGMA hard_heap_limit={HEAP_LIMIT}", f"PRAGMA soft_heap_limit={HEAP_LIMIT // 2}",
                       f"PRAGMA max_page_count={DB_LIMIT // page_size}", "PRAGMA temp_store=MEMORY",
                       "PRAGMA trusted_schema=OFF"):
            self.conn.execute(pragma)
        self.conn.set_authorizer(_authorize)
        self.conn.set_progress_handler(self._progress, 10000)

    def _progress(self):
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            return 1
        return 0

    def query(self, sql):
        """Run one statement; return its rows (``[]`` for statements without a result).

        Raises:
            QueryTimeout: past ``query_timeout_s``.
            QueryError: any SQLite error, or more than ``max_rows`` rows.
        """
        self.timed_out = False
        self.deadline = time.monotonic() + self.query_timeout_s
        try:
            cur = self.conn.execute(sql)
            if cur.description is None:
                return []
            rows = []
            while True:
                chunk = cur.fetchmany(1000)
                if not chunk:
                    break
                rows.extend(chunk)
                if len(rows) > self.max_rows:
                    cur.close()
                    raise QueryError(f"the result has more than {self.max_rows} rows")
            return rows
        except (sqlite3.Error, MemoryError, OverflowError, ValueError) as e:
            if self.timed_out:
                raise QueryTimeout(f"query timed out after {self.query_timeout_s:g} s") from None
            if isinstance(e, MemoryError):
                raise QueryError("out of memory (the query went over the heap limit)") from None
            raise QueryError(f"{type(e).__name__}: {e}") from None
        finally:
            self.deadline = None

    def run(self, sqls):
        """Run a list of SQL texts (each may hold several statements); rows of the last one."""
        rows = []
        for text in sqls:
            for statement in split_statements(text):
                rows = self.query(statement)
        return rows

    def close(self):
        try:
            if self.conn.in_transaction:
                self.conn.rollback()
        except sqlite3.Error:
            pass
        self.conn.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _cap(text):
    text = str(text)
    return text if len(text) <= MESSAGE_CAP else text[:MESSAGE_CAP] + "..."


class Instance:
    """One task being judged: knows the source database and how to make fresh copies."""

    def __init__(self, task, source, workdir, query_timeout_s, max_rows):
        self.task = task
        self.source = source
        self.workdir = workdir
        self.query_timeout_s = query_timeout_s
        self.max_rows = max_rows
        self.conditions = task.get("conditions") or {}
        self._by_conn = {}
        self._gold = None

    def fresh(self):
        """A fresh copy with ``preprocess_sql`` applied."""
        db = Database(self.source, self.workdir, self.query_timeout_s, self.max_rows)
        db.run(_as_list(self.task.get("preprocess_sql")))
        self._by_conn[id(db.conn)] = db
        return db

    def db_of(self, conn):
        return self._by_conn.get(id(conn))

    def gold_db(self):
        """A fresh copy with ``preprocess_sql`` and ``sol_sql`` applied (made once)."""
        if self._gold is None:
            self._gold = self.fresh()
            self._gold.run(_as_list(self.task.get("sol_sql")))
        return self._gold

    def close(self):
        for db in self._by_conn.values():
            try:
                db.close()
            except sqlite3.Error:
                pass
        self._by_conn.clear()
        self._gold = None

    # ---- BIRD-CRITIC's test-case helpers, bound to this instance

    def execute_queries(self, queries, db_path=None, conn=None, logger=None, section_title="",
                        is_solution=True, return_error=False):
        """BIRD-CRITIC's helper: ``(rows of the last query, error flag, timeout flag[, message])``."""
        db = self.db_of(conn) if conn is not None else None
        if db is None:
            db = self.fresh()
        try:
            rows, err, to, msg = db.run(_as_list(queries)), False, False, ""
        except QueryTimeout as e:
            rows, err, to, msg = [], False, True, str(e)
        except QueryError as e:
            rows, err, to, msg = [], True, False, str(e)
        return (rows, err, to, msg) if return_error else (rows, err, to)

    def perform_query_on_sqlite_databases(self, query, db_path=None, conn=None):
        """BIRD-CRITIC's helper: ``(rows, conn)``; raises on error."""
        db = self.db_of(conn) if conn is not None else None
        if db is None:
            db = self.fresh()
        return db.run([query]), db.conn

    def ex_base(self, pred_sqls, sol_sqls, db_path=None, conn=None, conditions=None):
        """1 if predicted and gold SQL give the same rows on ``conn`` (soft EX), else 0."""
        if not pred_sqls or not sol_sqls:
            return 0
        pred, perr, pto = self.execute_queries(pred_sqls, db_path, conn)
        gold, gerr, gto = self.execute_queries(sol_sqls, db_path, conn)
        if perr or pto or gerr or gto:
            return 0
        return int(results_match(pred, gold, conditions if conditions is not None else self.conditions))

    def gold_query(self, sql):
        """Rows of ``sql`` on the gold copy (preprocess + sol_sql applied)."""
        return self.gold_db().run([sql])

    def ex_state(self, check_sqls, conn, conditions=None):
        """1 if every check query gives the same rows on ``conn`` as on the gold copy.

        Unlike soft EX, empty results on both sides agree (a DELETE may empty a table).
        """
        db = self.db_of(conn)
        conditions = conditions if conditions is not None else self.conditions
        for sql in _as_list(check_sqls):
            got = db.run([sql])
            want = self.gold_query(sql)
            if not got and not want:
                continue
            if not results_match(got, want, conditions):
                return 0
        return 1

    def namespace(self):
        return {
            "execute_queries": self.execute_queries,
            "perform_query_on_sqlite_databases": self.perform_query_on_sqlite_databases,
            "ex_base": self.ex_base,
            "gold_query": self.gold_query,
            "ex_state": self.ex_state,
            "remove_distinct": remove_distinct,
            "remove_comments": remove_comments,
            "remove_round": remove_round,
            "preprocess_results": preprocess_results,
            "check_sql_function_usage": check_sql_function_usage,
            "soft_sql": soft_sql,
            "results_match": results_match,
        }

    # ---- the phases

    def run_phase(self, sqls, test_cases):
        """Run ``sqls`` on a fresh copy, then every test case. Returns a verdict dict."""
        out = {"execution_error": False, "timeout_error": False, "assertion_error": False,
               "passed_test_cases": 0, "failed_test_cases": [], "error_message": ""}
        db = self.fresh()
        try:
            try:
                rows = db.run(sqls)
            except QueryTimeout as e:
                out.update(timeout_error=True, error_message=_cap(e))
                return out
            except QueryError as e:
                out.update(execution_error=True, error_message=_cap(e))
                return out
            out["n_rows"] = len(rows)
            messages = []
            for i, code in enumerate(test_cases, start=1):
                ok, message = self.run_test_case(code, sqls, db, rows)
                if ok:
                    out["passed_test_cases"] += 1
                else:
                    out["failed_test_cases"].append(f"test_{i}")
                    messages.append(f"test_{i}: {message}")
            if out["failed_test_cases"]:
                out["assertion_error"] = True
                out["error_message"] = _cap("; ".join(messages))
            return out
        finally:
            try:
                db.run(_as_list(self.task.get("clean_up_sql")))
            except (QueryError, QueryTimeout):
                pass
            db.close()

    def run_test_case(self, code, pred_sqls, db, rows):
        env = self.namespace()
        env["pred_query_result"] = rows
        try:
            exec(compile("import datetime\nfrom datetime import date\n" + code, "test_case.py", "exec"), env)
            result = env["test_case"](list(pred_sqls), _as_list(self.task.get("sol_sql")), db.path, db.conn,
                                      self.conditions)
            if result is not None and result is not True and result != 1:
                return False, f"test_case returned {result!r}"
            return True, ""
        except AssertionError as e:
            return False, _cap(f"assertion failed: {e}" if str(e) else "assertion failed")
        except QueryTimeout as e:
            return False, _cap(e)
        except Exception as e:  # noqa: BLE001 - a test case failing in any way fails the task
            return False, _cap(f"{type(e).__name__}: {e}")


DEFAULT_TEST_CASE = """
def test_case(pred_sqls, sol_sqls, db_path, conn, conditions):
    pred_sqls = soft_sql(pred_sqls, conditions)
    sol_sqls = soft_sql(sol_sqls, conditions)
    result = ex_base(pred_sqls, sol_sqls, db_path, conn, conditions)
    assert result == 1, "the result differs from the expected result (soft EX)"
    return result
"""


def _as_list(value):
    """BIRD-CRITIC fields are lists of SQL texts; a single string (or null) is accepted too."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [v for v in value if isinstance(v, str) and v.strip()]


def evaluate_request(request, workdir="."):
    """Judge one prediction (or the gold SQL) for one task; return the verdict dict."""
    start = time.monotonic()
    task = request["task"]
    gold_mode = request.get("pred_sqls") is None
    pred_sqls = _as_list(task.get("sol_sql")) if gold_mode else _as_list(request.get("pred_sqls"))
    inst = Instance(task, request["db_path"], workdir, float(request.get("query_timeout_s", 5.0)),
                    int(request.get("max_rows", 100000)))
    test_cases = _as_list(task.get("test_cases")) or [DEFAULT_TEST_CASE]
    verdict = {"instance_id": task.get("instance_id"), "mode": "gold" if gold_mode else "pred",
               "total_test_cases": len(test_cases)}
    issue_passed = False
    if request.get("check_issue", True) and _as_list(task.get("issue_sql")):
        p1 = inst.run_phase(_as_list(task.get("issue_sql")), test_cases)
        issue_passed = not (p1["execution_error"] or p1["timeout_error"] or p1["assertion_error"])
        verdict["issue"] = {"execution_error": p1["execution_error"], "timeout_error": p1["timeout_error"],
                            "assertion_error": p1["assertion_error"], "n_rows": p1.get("n_rows"),
                            "error_message": p1["error_message"]}
    verdict["issue_sql_passed_unexpectedly"] = issue_passed
    if request.get("only_issue"):
        inst.close()
        verdict.update(status="failed" if issue_passed else "success", execution_error=False, timeout_error=False,
                       assertion_error=False, error_message="", duration_s=round(time.monotonic() - start, 4))
        return verdict
    if not pred_sqls:
        p2 = {"execution_error": True, "timeout_error": False, "assertion_error": False, "passed_test_cases": 0,
              "failed_test_cases": [], "error_message": "empty prediction"}
    else:
        p2 = inst.run_phase(pred_sqls, test_cases)
    verdict.update(p2)
    inst.close()
    ok = not (p2["execution_error"] or p2["timeout_error"] or p2["assertion_error"] or issue_passed)
    verdict["status"] = "success" if ok else "failed"
    verdict["duration_s"] = round(time.monotonic() - start, 4)
    return verdict


def main():
    """Sandbox entry point: a JSON request on stdin -> one JSON verdict line on stdout."""
    request = json.loads(sys.stdin.read())
    try:
        verdict = evaluate_request(request, os.getcwd())
    except Exception as e:  # noqa: BLE001 - report, never crash without a verdict
        verdict = {"instance_id": request.get("task", {}).get("instance_id"), "status": "failed",
                   "execution_error": True, "timeout_error": False, "assertion_error": False,
                   "error_message": _cap(f"evaluator error: {type(e).__name__}: {e}"),
                   "traceback": _cap(traceback.format_exc())}
    sys.stdout.write(json.dumps(verdict, default=str) + "\n")
    sys.stdout.flush()
