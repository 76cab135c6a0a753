"""The error hierarchy of codepref.

The library raises these; the CLI turns any :class:`CodeprefError` into a one-line message
on stderr and its ``exit_code``. Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations


class CodeprefError(Exception):
    """Base class of every error codepref raises on purpose."""

    exit_code = 1


class InputError(CodeprefError):
    """Bad user input: a malformed record, a missing field, an unknown id.

    Args:
        message: what is wrong.
        source: the file the input came from, if any.
        line: the 1-based line number in ``source``, if any.
    """

    exit_code = 2

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)


class ContaminationError(InputError):
    """Training tasks that overlap an evaluation benchmark (same id, same text or a long
    shared n-gram; :mod:`codepref.tasks.contamination`). ``overlaps`` lists every one."""

    def __init__(self, message: str, overlaps: list):
        self.overlaps = list(overlaps)
        super().__init__(message)


class ConfigError(CodeprefError):
    """An invalid configuration. ``problems`` lists every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"invalid configuration: {self.problems[0]}"
        else:
            text = "invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class UnknownNameError(CodeprefError, KeyError):
    """A name that is not in a registry (language, task set, scorer ...)."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text.
        return str(self.args[0])


class SandboxError(CodeprefError):
    """The sandbox could not run (no Docker engine, no image, a container that will not start)."""

    exit_code = 3


class EngineUnavailableError(SandboxError):
    """No Docker engine answers at the address in use (DOCKER_HOST, the local socket, or a URL)."""


class ClusterError(CodeprefError):
    """The cluster cannot run the work: no reachable Ray cluster, the ``ray`` extra missing,
    no node offering the sandbox resource, or a sandbox node without a usable Docker engine."""

    exit_code = 3


class OutputMismatchError(CodeprefError):
    """An output file exists but was written by a different configuration or input."""

    exit_code = 2


class DownloadError(CodeprefError):
    """Data that could not be downloaded or built: a network error, an HTTP error status, a
    connection that ended early (a rerun resumes), or a build that failed."""

    exit_code = 4


class ChecksumError(DownloadError):
    """Downloaded data whose SHA-256 (or content check) is not the pinned one; nothing of it is kept.

    Args:
        path: the file (relative path in the data folder).
        expected: the pinned value.
        got: what the download has.
    """

    def __init__(self, path: str, expected: str, got: str):
        self.path = path
        self.expected = expected
        self.got = got
        super().__init__(f"{path}: checksum mismatch: expected {expected}, got {got}; the download was "
                         "discarded (a wrong mirror or a changed upstream file)")
