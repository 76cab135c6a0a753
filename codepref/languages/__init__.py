"""Languages: how to run a solution with a test, and how to ask a model for both.

Each language is one frozen :class:`Language` in :data:`LANGUAGES`; the registry is the one
place a language is plugged in. The executor knows nothing language-specific: it writes
``assemble(solution, test)`` to ``filename`` in the container and runs ``argv`` (``{file}``
is that file's path). A language with ``inproc_python=True`` may instead be run inside a
fresh fork of the sandbox server's own Python interpreter, which skips an interpreter start
per program; the result is the same. ``sandbox`` adds what the language's programs need
from the container (SQL: the read-only database mount), see :func:`sandbox_for`.

The generate stage knows nothing language-specific either: it asks the language's
:class:`GenerationHooks` for the solution and test prompts and for how to read the model's
answers (Python: functions and asserts; SQL: a fixed query and result checks).

A compiled language (C++) names a ``build`` command: the sandbox runs it once per program
(and once per *solution* of a matrix, with every test compiled in and selected by the
program's first argument, ``assemble_tests``), then runs ``argv`` on what it built. A build
that fails makes the program (or the whole matrix row) ``failed`` without running it, with the
compiler's message in stderr. A language whose programs need more than the Python/SQL image
lists its Debian ``packages`` and runs in an image of its own (:func:`image_for`).

Adding a language is a new module with one ``Language`` and one ``LANGUAGES.register`` line
below, or, from outside codepref, an entry point in the ``codepref.languages`` group of an
installed package (see ``docs/adding-a-language.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from codepref.registry import Registry

if TYPE_CHECKING:
    from codepref.config import SandboxConfig
    from codepref.generation.prompts import PromptSpec
    from codepref.records import Task


def concatenate(solution: str, test: str) -> str:
    """The default assembly: the solution, a blank line, then the test."""
    return f"{solution.rstrip()}\n\n{test.rstrip()}\n"


@dataclass(frozen=True)
class GenerationHooks:
    """How the generate stage asks a model for one language's samples and reads the answers.

    Attributes:
        solution_prompt: ``(task, style) -> PromptSpec`` asking for one solution; ``style``
            is ``completion`` or ``chat`` (see :mod:`codepref.generation.prompts`).
        test_prompt: ``(task, style, count) -> PromptSpec | None`` asking for up to ``count``
            tests without showing a solution; None when the task cannot have
            self-generated tests (a Python task without an entry point).
        solution_text: ``(task, style, answer) -> str``: the solution's program text from the
            model's whole answer (the prefill, if sent, plus the completion).
        parse_tests: ``(task, answer, seen) -> (tests, candidates)``: the valid, independent
            tests in one answer that are not in ``seen`` (normalised tests already kept for
            the task; the new ones are added to it), in order, and how many test-like
            statements the answer held in all (for the dropped-tests count).
        solution_tests: optional ``(task, solutions) -> tests`` derived from the task's own
            sampled solutions (never from a reference): SQL turns each candidate query into
            the check "the fix returns the same rows", so the pass matrix records which
            candidates agree on their result (self-consistency; CodeT's dual agreement
            with execution results as tests). Weak models write few useful checks of
            their own; these give the scorers a signal anyway.
        prompt_tests: optional ``task -> tests`` the task's prompt states itself (Python:
            docstring examples and asserts). They are facts of the task, not the model's
            guesses: the pair builder never chooses a solution failing one.
    """

    solution_prompt: Callable[[Task, str], PromptSpec]
    test_prompt: Callable[[Task, str, int], PromptSpec | None]
    solution_text: Callable[[Task, str, str], str]
    parse_tests: Callable[[Task, str, set[str]], tuple[list[str], int]]
    solution_tests: Callable[[Task, list[str]], list[str]] | None = None
    prompt_tests: Callable[[Task], list[str]] | None = None


@dataclass(frozen=True)
class Language:
    """One programming language the sandbox can run and the generate stage can prompt for.

    Attributes:
        name: the registry name ("python", "sql" ...).
        filename: the name the program file gets inside the container.
        argv: the command that runs it; ``{file}`` is the program's path, ``{dir}`` the
            program's private working directory.
        assemble: ``(solution, test) -> program`` for matrix cells.
        inproc_python: the program is Python and may run in a fork of the server.
        generation: prompts and answer parsing for the generate stage; None if codepref
            cannot sample this language (its samples can still be executed).
        sandbox: ``(config, data_dir) -> config`` adding what the programs need from the
            container (mounts ...); ``data_dir`` is the data root (None: ``$CODEPREF_DATA``).
        build: the command that compiles the program before ``argv`` runs it (empty: none).
            Placeholders: ``{file}`` the source, ``{dir}`` the build's private directory
            (write the output there). ``argv`` then names the output as ``{bin}/...``: the
            server copies the build directory to a root-owned, read-only ``{bin}``.
        build_timeout_s: CPU (and 5x wall-clock) seconds a build may take.
        assemble_tests: ``(solution, tests) -> program`` holding every test, running test
            ``j`` when started with the argument ``j`` (exit 0: passed). With ``build``,
            a matrix compiles each solution once with all its tests (N compiles for N x M
            cells) and runs every cell as its own process; without it, each cell is
            ``assemble(solution, test)`` built and run on its own.
        skip_test_arg: with ``assemble_tests``: a build argument (``{j}``: the test index)
            that leaves test ``j`` out, for tests marked ``codepref-test-begin J`` ...
            ``codepref-test-end J`` in the assembled program; a row whose build fails only
            inside tests is built again without them, and they fail alone (empty: the row
            fails as a whole).
        packages: Debian packages the programs need beyond the base image (python3,
            sqlite3); non-empty: the language runs in its own image (:func:`image_for`).
    """

    name: str
    filename: str
    argv: tuple[str, ...]
    assemble: Callable[[str, str], str] = concatenate
    inproc_python: bool = False
    generation: GenerationHooks | None = None
    sandbox: Callable[[SandboxConfig, str | None], SandboxConfig] | None = None
    build: tuple[str, ...] = ()
    build_timeout_s: float = 30.0
    assemble_tests: Callable[[str, list[str]], str] | None = None
    skip_test_arg: str = ""
    packages: tuple[str, ...] = ()


LANGUAGES: Registry[Language] = Registry("language", group="codepref.languages")
LANGUAGES.register("python", "codepref.languages.python:PYTHON")
LANGUAGES.register("sql", "codepref.languages.sql:SQL")
LANGUAGES.register("javascript", "codepref.languages.javascript:JAVASCRIPT")
LANGUAGES.register("cpp", "codepref.languages.cpp:CPP")


def get_language(name: str) -> Language:
    """The registered language called ``name`` (UnknownNameError with suggestions if none)."""
    return LANGUAGES.get(name)


def generation_hooks(name: str) -> GenerationHooks:
    """The generate stage's hooks of language ``name``.

    Raises:
        UnknownNameError: no such language. InputError: the language has no prompts.
    """
    from codepref.errors import InputError

    hooks = get_language(name).generation
    if hooks is None:
        raise InputError(f"codepref cannot generate {name} samples (the language has no prompts)")
    return hooks


def image_for(base: str, languages: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """The image programs of ``languages`` run in, and the Debian packages it adds to ``base``.

    Languages without ``packages`` run in ``base`` itself (``codepref-sandbox:latest``); the
    others in ``BASE-NAME[-NAME...]`` with the same version, e.g.
    ``codepref-sandbox-cpp:latest``, ``codepref-sandbox-cpp-javascript:latest`` for a run
    mixing both, holding the union of their packages. A ``base`` already named for those
    languages is returned as is.

    Raises:
        UnknownNameError: an unknown language.
    """
    needing = sorted(n for n in set(languages) if get_language(n).packages)
    if not needing:
        return base, ()
    packages = tuple(sorted({p for n in needing for p in get_language(n).packages}))
    name, sep, version = base.rpartition(":")
    if not sep or not name or "/" in version:
        name, version = base, "latest"
    suffix = "-" + "-".join(needing)
    if name.endswith(suffix):
        return base, packages
    return f"{name}{suffix}:{version}", packages


def sandbox_for(config: SandboxConfig, languages: Iterable[str], data_dir: str | None = None) -> SandboxConfig:
    """``config`` with what the programs of every named language need: their image
    (:func:`image_for`) and what their ``sandbox`` hooks add (e.g. SQL's databases).

    Raises:
        UnknownNameError: an unknown language; ConfigError: a language's data is missing
            (SQL without a database directory).
    """
    names = sorted(set(languages))
    image, _ = image_for(config.image, names)
    if image != config.image:
        config = replace(config, image=image)
    for name in names:
        hook = get_language(name).sandbox
        if hook is not None:
            config = hook(config, data_dir)
    return config
