"""Languages: how to turn a solution and a test into a program, and how to run it.

Each language is one frozen :class:`Language` in :data:`LANGUAGES`. The executor knows
nothing language-specific: it writes ``assemble(solution, test)`` to ``filename`` in the
container and runs ``argv`` (``{file}`` is that file's path). A language with
``inproc_python=True`` may instead be run inside a fresh fork of the sandbox server's own
Python interpreter, which skips an interpreter start per program; the result is the same.

Adding SQL or a compiled language is a new module with one ``Language`` and one
``LANGUAGES.register`` line below; e.g. a compiled language can use
``argv=("sh", "-c", "g++ -O1 -o {dir}/a.out {file} && {dir}/a.out")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codepref.registry import Registry


def concatenate(solution: str, test: str) -> str:
    """The default assembly: the solution, a blank line, then the test."""
    return f"{solution.rstrip()}\n\n{test.rstrip()}\n"


@dataclass(frozen=True)
class Language:
    """One programming language the sandbox can run.

    Attributes:
        name: the registry name ("python", "sql" ...).
        filename: the name the program file gets inside the container.
        argv: the command that runs it; ``{file}`` is the program's path, ``{dir}`` the
            program's private working directory.
        assemble: ``(solution, test) -> program`` for matrix cells.
        inproc_python: the program is Python and may run in a fork of the server.
    """

    name: str
    filename: str
    argv: tuple[str, ...]
    assemble: Callable[[str, str], str] = concatenate
    inproc_python: bool = False


LANGUAGES: Registry[Language] = Registry("language")
LANGUAGES.register("python", "codepref.languages.python:PYTHON")
LANGUAGES.register("sql", "codepref.languages.sql:SQL")


def get_language(name: str) -> Language:
    """The registered language called ``name`` (UnknownNameError with suggestions if none)."""
    return LANGUAGES.get(name)
