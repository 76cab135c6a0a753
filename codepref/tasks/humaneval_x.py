"""HumanEval-X (THUDM/CodeGeeX, Apache-2.0) in C++ and JavaScript as task sets.

* ``humaneval-x-cpp``: ``DATA/humaneval-x/humaneval_cpp.jsonl.gz``, 164 tasks ``CPP/0`` ...
* ``humaneval-x-js``: ``DATA/humaneval-x/humaneval_js.jsonl.gz``, 164 tasks ``JavaScript/0`` ...

Each :class:`~codepref.records.Task` has the language (``cpp``, ``javascript``), the prompt
(the description comment, includes and the signature up to its opening brace), the entry
point (read from the ``declaration``), the hidden test program in ``tests`` (one program:
``main`` with the asserts for C++, a test function and its call for JavaScript), and in
``metadata`` the ``canonical_solution``, the ``declaration`` and the ``example_test`` (the
prompt's examples as a test program; the languages' ``prompt_tests`` read it).

How a sample is judged (the upstream rules) is :mod:`codepref.evaluation.humaneval_x`'s.
Files come from the data folder (``--data``, ``$CODEPREF_DATA``), fetched by
``codepref data fetch humaneval-x``.
"""

from __future__ import annotations

import os

from codepref.errors import InputError
from codepref.records import Task
from codepref.tasks import TaskSet, data_file, sha256_of
from codepref.tasks.humaneval import read_jsonl_gz

GET_IT = "codepref data fetch humaneval-x"
#: The CodeGeeX commit the files are pinned to (``codepref.tasks.fetch``).
VERSION = "codegeex-2838420"
#: set name -> (file suffix, codepref language, task id prefix)
SETS = {"humaneval-x-cpp": ("cpp", "cpp", "CPP/"), "humaneval-x-js": ("js", "javascript", "JavaScript/")}


def load(name: str, path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """The HumanEval-X set ``name`` (a key of :data:`SETS`).

    Raises:
        InputError: the file is missing (the message says how to fetch it) or a record is
            not a HumanEval-X task of that language.
    """
    suffix, language, prefix = SETS[name]
    file = data_file(f"humaneval-x/humaneval_{suffix}.jsonl.gz", path=path, data_dir=data_dir,
                     what=f"HumanEval-X ({language})", get_it=GET_IT)
    entry = _entry_point_reader(language)
    tasks = []
    for row in read_jsonl_gz(file):
        task_id = row.get("task_id", "")
        if not str(task_id).startswith(prefix) or not all(isinstance(row.get(k), str) for k in
                                                          ("prompt", "test", "declaration")):
            raise InputError(f"not a HumanEval-X {language} task: {str(task_id)[:40]!r}", str(file))
        tasks.append(Task(
            id=task_id, language=language, prompt=row["prompt"], entry_point=entry(row["declaration"]),
            tests=[row["test"]],
            metadata={"canonical_solution": row.get("canonical_solution", ""), "declaration": row["declaration"],
                      "example_test": row.get("example_test", "")}))
    return TaskSet(name, VERSION, sha256_of(file), str(file), tasks)


def _entry_point_reader(language: str):
    if language == "cpp":
        from codepref.languages.cpp import entry_point
    else:
        from codepref.languages.javascript import entry_point
    return entry_point


def load_cpp(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """``humaneval-x-cpp`` (see the module docstring)."""
    return load("humaneval-x-cpp", path, data_dir=data_dir)


def load_js(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """``humaneval-x-js`` (see the module docstring)."""
    return load("humaneval-x-js", path, data_dir=data_dir)
