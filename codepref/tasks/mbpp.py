"""MBPP (Austin et al. 2021), its sanitized subset, and MBPP+ (EvalPlus) as task sets.

* ``mbpp``: the 500-problem test split (task ids 11-510) of ``mbpp/mbpp.jsonl``.
* ``mbpp-sanitized``: the hand-verified problems of ``mbpp/sanitized-mbpp.json`` in the same
  test split (257 of its 427).
* ``mbpp+``: MBPP+ v0.2.0 (``evalplus/MbppPlus.jsonl.gz``, 378 problems), judged by
  differential testing against the canonical solution like EvalPlus
  (:mod:`codepref.evaluation.judges`). Its inputs are JSON in the file; EvalPlus turns some
  back into tuples, sets or complex numbers per task, and :func:`deserialize_inputs` does
  exactly the same (the table is EvalPlus's ``mbpp_deserialize_inputs``, Apache-2.0).

Task ids are ``Mbpp/N`` for all three. Prompts follow MBPP+: a docstring with the
description and the first test. For ``mbpp`` and ``mbpp-sanitized`` each reference assert
is its own test (``test_setup_code`` / ``test_imports`` in front of it); a sample passes
when it passes all of them. The challenge tests of MBPP are not used (as usual).
"""

from __future__ import annotations

import ast
import json
import os
import re
import warnings
from typing import Any

from codepref.errors import InputError
from codepref.records import Task
from codepref.tasks import TaskSet, data_file, sha256_of
from codepref.tasks.humaneval import read_jsonl_gz, release_of

TEST_SPLIT = range(11, 511)
#: The commands that fetch the data: MBPP and its sanitized subset from google-research (CC BY 4.0),
#: MBPP+ from the release assets of evalplus/mbppplus_release (Apache-2.0).
MBPP_GET_IT = "codepref data fetch mbpp"
SANITIZED_GET_IT = "codepref data fetch mbpp"
PLUS_GET_IT = "codepref data fetch mbpp+"
KNOWN = {
    "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f": "google-research 30adf0ec",
    "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9": "google-research 30adf0ec",
    "af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63": "v0.2.0",
}
#: MBPP+ by the SHA-256 of its decompressed JSONL (a re-compressed copy has another file hash).
PLUS_CONTENT = {"b54e762755248ca411b523c917fa9f93c07b5ff2966bf60b3917b853926a3dad": "v0.2.0"}

#: EvalPlus's special oracles for MBPP+, keyed by entry point (``evalplus.eval``).
ORACLES = {
    "are_equivalent": "always",  # Mbpp/164
    "sum_div": "or_zero",  # Mbpp/295
    "surface_Area": "surface_area",  # Mbpp/581
    "digit_distance_nums": "digit_distance",  # Mbpp/558
    **{name: "set_eq" for name in ("similar_elements", "find_char_long", "common_in_nested_lists",
                                   "extract_singly", "larg_nnum", "intersection_array", "find_dissimilar",
                                   "Diff")},
    **{name: "not_none" for name in ("check_str", "text_match_three", "text_starta_endb")},
}


def mbpp_prompt(text: str, first_test: str) -> str:
    """The MBPP+ prompt format: a docstring holding the description and one test."""
    return f'"""\n{text.strip()}\n{first_test.strip()}\n"""\n'


def entry_point_of(code: str, test: str) -> str:
    """The function of ``code`` that ``test`` calls first (MBPP records do not name it)."""
    try:
        with warnings.catch_warnings():  # old MBPP code has invalid escape sequences
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    except SyntaxError:
        defined = set(re.findall(r"^def\s+(\w+)", code, flags=re.M))
    for name in re.findall(r"([A-Za-z_]\w*)\s*\(", test):
        if name in defined:
            return name
    return ""


def _mbpp_task(task_id: int, text: str, code: str, tests: list[str], prefix: str) -> Task:
    prefix = prefix.strip()
    return Task(
        id=f"Mbpp/{task_id}", language="python", prompt=mbpp_prompt(text, tests[0]),
        entry_point=entry_point_of(code, tests[0]),
        tests=[f"{prefix}\n{t}" if prefix else t for t in tests],
        metadata={"canonical_solution": code.replace("\r\n", "\n")},
    )


def load_mbpp(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """The 500 MBPP test problems (task ids 11-510)."""
    file = data_file("mbpp/mbpp.jsonl", path=path, data_dir=data_dir, what="MBPP", get_it=MBPP_GET_IT)
    tasks = []
    for i, row in enumerate(read_jsonl_gz(file)):
        if not {"task_id", "text", "code", "test_list"} <= row.keys():
            raise InputError(f"record {i} lacks task_id/text/code/test_list; is this mbpp.jsonl?", str(file))
        if row["task_id"] in TEST_SPLIT:
            setup = row.get("test_setup_code", "").replace("\r\n", "\n")
            tasks.append(_mbpp_task(row["task_id"], row["text"], row["code"], row["test_list"], setup))
    sha = sha256_of(file)
    return TaskSet("mbpp", KNOWN.get(sha, "file"), sha, str(file), tasks)


def load_mbpp_sanitized(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """The sanitized MBPP problems of the test split (257)."""
    file = data_file("mbpp/sanitized-mbpp.json", path=path, data_dir=data_dir, what="MBPP sanitized",
                     get_it=SANITIZED_GET_IT)
    try:
        rows = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"not a JSON array: {e}", str(file)) from None
    tasks = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not {"task_id", "prompt", "code", "test_list"} <= row.keys():
            raise InputError(f"record {i} lacks task_id/prompt/code/test_list", str(file))
        if row["task_id"] in TEST_SPLIT:
            imports = "\n".join(row.get("test_imports") or [])
            tasks.append(_mbpp_task(row["task_id"], row["prompt"], row["code"], row["test_list"], imports))
    sha = sha256_of(file)
    return TaskSet("mbpp-sanitized", KNOWN.get(sha, "file"), sha, str(file), tasks)


def load_mbpp_plus(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """MBPP+ from ``path``, else ``evalplus/MbppPlus.jsonl.gz`` in the data folder
    (``data_dir``, ``$CODEPREF_DATA`` or the default one; see :func:`codepref.tasks.data_file`)."""
    file = data_file("evalplus/MbppPlus.jsonl.gz", path=path, data_dir=data_dir, what="MBPP+", get_it=PLUS_GET_IT)
    tasks = []
    for i, row in enumerate(read_jsonl_gz(file)):
        keys = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input", "atol")
        missing = [k for k in keys if k not in row]
        if missing:
            raise InputError(f"record {i} lacks {', '.join(missing)}; is this MbppPlus.jsonl.gz?", str(file))
        tid, entry = row["task_id"], row["entry_point"]
        tests = [row["assertion"]] if row.get("assertion") else []
        tasks.append(Task(
            id=tid, language="python", prompt=row["prompt"], entry_point=entry, tests=tests,
            metadata={
                "canonical_solution": row["canonical_solution"],
                "base_input": deserialize_inputs(tid, row["base_input"]),
                "plus_input": deserialize_inputs(tid, row["plus_input"]),
                "atol": float(row["atol"]),
                "oracle": ORACLES.get(entry, ""),
                "contract": row.get("contract", ""),
            },
        ))
    sha = sha256_of(file)
    return TaskSet("mbpp+", release_of(file, sha, KNOWN, PLUS_CONTENT), sha, str(file), tasks)


# ----------------------------------------------------------------------------------------
# EvalPlus v0.3.1 ``evalplus.data.mbpp.mbpp_deserialize_inputs`` (Apache-2.0), as a table.

_TUPLE_ARGS = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
               744, 809}
_TUPLES_IN_LIST_ARGS = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_FIRST_ARG_TUPLES = {75, 413, 444, 753}
_SECOND_ARG_TUPLE = {106, 750}
_FIRST_ARG_TUPLE = {250, 405, 446, 617, 720, 763, 808}
_NESTED_TUPLES = {259, 401, 445}
_ALL_TUPLES = {580, 615, 791}


def _all_tuples(x: Any) -> Any:
    return tuple(_all_tuples(i) for i in x) if isinstance(x, list) else x


def deserialize_inputs(task_id: str, inputs: list) -> list:
    """Restore the Python types of MBPP+ inputs that JSON flattened, as EvalPlus does."""
    n = int(task_id.split("/")[-1])
    if n in _TUPLE_ARGS:
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if n in _TUPLES_IN_LIST_ARGS:
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if n in _FIRST_ARG_TUPLES:
        return [[[tuple(lst) for lst in inp[0]]] + [inp[1]] for inp in inputs]
    if n in _SECOND_ARG_TUPLE:
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in _FIRST_ARG_TUPLE:
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if n in _NESTED_TUPLES:
        out = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in out]
    if n == 278:
        out = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in out]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in _ALL_TUPLES:
        return [_all_tuples(inp) for inp in inputs]
    return inputs
