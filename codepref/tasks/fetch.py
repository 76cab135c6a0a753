"""The benchmark data: a registry of named datasets and a verifying, resuming downloader.

``codepref data fetch NAME`` puts a dataset's files into the data folder (``--data DIR``,
else ``$CODEPREF_DATA``, else :func:`codepref.tasks.default_data_dir`), where the loaders
of :mod:`codepref.tasks` and the SQL database lookup find them:

* ``humaneval+``: ``evalplus/HumanEvalPlus.jsonl.gz`` (EvalPlus release v0.1.10, Apache-2.0)
* ``mbpp+``: ``evalplus/MbppPlus.jsonl.gz`` (EvalPlus release v0.2.0, Apache-2.0)
* ``mbpp``: ``mbpp/mbpp.jsonl`` and ``mbpp/sanitized-mbpp.json`` (google-research, CC BY 4.0)
* ``humaneval-x``: ``humaneval-x/humaneval_{cpp,js,go,java,rust}.jsonl.gz`` (THUDM/CodeGeeX,
  Apache-2.0)
* ``chinook``: ``sql/chinook/Chinook_Sqlite.sqlite`` (lerocha/chinook-database, MIT)
* ``northwind``: ``sql/northwind/northwind.sqlite``, built from the SQL dumps of
  jpwhite3/northwind-SQLite3 (MIT), which are kept as ``sql/northwind/src/*.sql``

Every download is pinned by SHA-256. A ``.gz`` file is pinned by the SHA-256 of its
*decompressed* content: gzip headers carry a timestamp, so a re-compressed copy (a release
asset, a mirror) differs in bytes but not in data. Other files are pinned by their bytes.

One file is downloaded into ``<file>.partial``; a partial left by an interrupted run is
resumed with an HTTP ``Range`` request (a server that answers 200 instead of 206 sends the
whole file, which then replaces the partial). The complete download is verified and renamed
into place (``os.replace``); on a checksum mismatch it is deleted and
:class:`~codepref.errors.ChecksumError` names the file, the expected and the actual hash.
A file already present with the pinned hash is left alone ("up to date").

Northwind is built, not downloaded: its two pinned SQL scripts are run, in order, by
Python's :mod:`sqlite3` (``executescript``) into ``northwind.sqlite.partial``. The bytes of a
sqlite file depend on the sqlite version, so the result is verified by its *content*: the
row count of every table, the number of views, and a SHA-256 over every table's rows
(:func:`sqlite_content_sha256`; the pinned value is that of a database built from the pinned
scripts, equal to the one of the reference copy built with the sqlite3 shell).

Mirrors: with a base URL (``--base-url URL`` or ``$CODEPREF_DATA_URL``) every file is
fetched from ``<URL>/<its path in the data folder>``, Northwind's scripts from
``<URL>/sql/northwind/src/create.sql`` and ``.../update.sql``. Since those scripts are kept
in the data folder, any fetched data folder served over HTTP (``python -m http.server``) is
a complete mirror.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from codepref.errors import ChecksumError, DownloadError
from codepref.hashing import file_sha256
from codepref.registry import Registry

DATA_URL_ENV = "CODEPREF_DATA_URL"
PARTIAL = ".partial"
CHUNK = 1 << 16

#: ``progress(label, done_bytes, total_bytes or None)``, called as a download advances.
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class DataFile:
    """One downloaded file.

    Attributes:
        path: where it lands in the data folder (and where a mirror serves it), with ``/``.
        url: the upstream URL.
        sha256: the pinned SHA-256 (hex): of the decompressed content when ``gunzip``,
            else of the file.
        gunzip: pin the decompressed content (a ``.gz`` file).
    """

    path: str
    url: str
    sha256: str
    gunzip: bool = False


@dataclass(frozen=True)
class SqliteBuild:
    """A sqlite database built by running downloaded SQL scripts in order.

    Attributes:
        path: the database's path in the data folder.
        scripts: the pinned SQL scripts, run in this order.
        rows: the expected row count of every table (the content check names what differs).
        views: the expected number of views.
        content_sha256: :func:`sqlite_content_sha256` of the built database.
    """

    path: str
    scripts: tuple[DataFile, ...]
    rows: dict[str, int]
    views: int
    content_sha256: str


@dataclass(frozen=True)
class Dataset:
    """A named dataset: files to download and/or a database to build."""

    name: str
    description: str
    files: tuple[DataFile, ...] = ()
    build: SqliteBuild | None = None


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch.

    Attributes:
        data: the data folder (created if missing).
        base_url: a mirror's base URL; None: ``$CODEPREF_DATA_URL``, else the upstream URLs.
        force: download (and build) again even when the files are present and verified.
        timeout_s: the socket timeout of one request.
        progress: see :data:`Progress`.
    """

    data: Path
    base_url: str | None = None
    force: bool = False
    timeout_s: float = 60.0
    progress: Progress | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FileStatus:
    """The state of one dataset file in a data folder.

    ``state`` is ``verified``, ``missing``, ``partial`` (an interrupted download; ``detail``
    has its size) or ``changed`` (present, but not the pinned content; ``detail`` says how).
    """

    path: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class FetchResult:
    """What fetching did to one file: ``up to date``, ``fetched`` or ``built``."""

    path: str
    action: str


# --------------------------------------------------------------------------- the registry

_EVALPLUS = "https://github.com/evalplus/{repo}/releases/download/{version}/{name}"
_MBPP = "https://github.com/google-research/google-research/raw/30adf0ec5f35f9609c2f1d896005e184195d9146/mbpp/{name}"
_HUMANEVAL_X = ("https://github.com/THUDM/CodeGeeX/raw/2838420b7b4492cf3d16bce5320e26e65960c9e2/"
                "codegeex/benchmark/humaneval-x/{lang}/data/humaneval_{lang}.jsonl.gz")
_CHINOOK = ("https://github.com/lerocha/chinook-database/raw/7f67772503d71ba90f19283c38e93923addb43fa/"
            "ChinookDatabase/DataSources/Chinook_Sqlite.sqlite")
_NORTHWIND = "https://github.com/jpwhite3/northwind-SQLite3/raw/4f56e7f5906dfd23b25244c5bfe8fb5da6402efd/src/{name}"
_HUMANEVAL_X_SHA256 = {
    "cpp": "af420b4b58c1b5e7f4cac9c1257daad7b20b5c77e88d59ccc120e63825f03325",
    "js": "da529500a73fcbc86bc8f6c7855c0f2c0fc7af1c4dc530e26a54bbfd17f97cef",
    "go": "87aba5e8ab3be26aec48a355b77c73790900ebae3731c44ea9e3fdd5ea51f1fe",
    "java": "2157a77a6ff808020adc20142228b4ff698048c0696b33110786400c47c5d79c",
    "rust": "36938439d536c34418b582db82f7bfa5d0331990424fc69b1915c5067634b4e7",
}

DATASETS: Registry[Dataset] = Registry("dataset")
for _dataset in (
    Dataset("humaneval+", "HumanEval+ v0.1.10 (EvalPlus release), Apache-2.0", files=(
        DataFile("evalplus/HumanEvalPlus.jsonl.gz",
                 _EVALPLUS.format(repo="humanevalplus_release", version="v0.1.10", name="HumanEvalPlus.jsonl.gz"),
                 "42526ec0e7d5f3ee0b06d6ced98f8c8bae3d76519151bfb3d36f79010645bd7f", gunzip=True),
    )),
    Dataset("mbpp+", "MBPP+ v0.2.0 (EvalPlus release), Apache-2.0", files=(
        DataFile("evalplus/MbppPlus.jsonl.gz",
                 _EVALPLUS.format(repo="mbppplus_release", version="v0.2.0", name="MbppPlus.jsonl.gz"),
                 "b54e762755248ca411b523c917fa9f93c07b5ff2966bf60b3917b853926a3dad", gunzip=True),
    )),
    # Pinned from reference copies that matched google-research at 30adf0ec in length and in
    # sampled content (not compared byte for byte; sanitized-mbpp.json was re-serialized).
    Dataset("mbpp", "MBPP and its sanitized subset (google-research), CC BY 4.0", files=(
        DataFile("mbpp/mbpp.jsonl", _MBPP.format(name="mbpp.jsonl"),
                 "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f"),
        DataFile("mbpp/sanitized-mbpp.json", _MBPP.format(name="sanitized-mbpp.json"),
                 "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9"),
    )),
    Dataset("humaneval-x", "HumanEval-X in C++, JavaScript, Go, Java, Rust (THUDM/CodeGeeX), Apache-2.0", files=tuple(
        DataFile(f"humaneval-x/humaneval_{lang}.jsonl.gz", _HUMANEVAL_X.format(lang=lang), sha, gunzip=True)
        for lang, sha in _HUMANEVAL_X_SHA256.items()
    )),
    Dataset("chinook", "Chinook sample database, SQLite (lerocha/chinook-database), MIT", files=(
        DataFile("sql/chinook/Chinook_Sqlite.sqlite", _CHINOOK,
                 "7651ba378ac2fcd0dfc3c66fb101f7a7eed3ba39a612ec642b96e20702061f15"),
    )),
    Dataset("northwind", "Northwind sample database, built from jpwhite3/northwind-SQLite3's SQL dumps, MIT",
            build=SqliteBuild(
                path="sql/northwind/northwind.sqlite",
                scripts=(
                    DataFile("sql/northwind/src/create.sql", _NORTHWIND.format(name="create.sql"),
                             "5854b536dea3fe8c586223bf7b47a793727dd44c34fc32537a68a97fec8e2f4b"),
                    DataFile("sql/northwind/src/update.sql", _NORTHWIND.format(name="update.sql"),
                             "59df0f3c88b1878946b712cc6e8a7f37c971c802ff2ed611c59feb72acb39ea6"),
                ),
                rows={"Categories": 8, "CustomerCustomerDemo": 0, "CustomerDemographics": 0, "Customers": 93,
                      "EmployeeTerritories": 49, "Employees": 9, "Order Details": 2155, "Orders": 830,
                      "Products": 77, "Regions": 4, "Shippers": 3, "Suppliers": 29, "Territories": 53},
                views=17,
                content_sha256="ddcfc60e92cec71914d15a48f885f04b45d80427f9c1553a475652c2d2d4a40a",
            )),
):
    DATASETS.register(_dataset.name, _dataset)


# --------------------------------------------------------------------------- checking


def _actual_sha256(path: Path, spec: DataFile) -> str:
    """The hash to compare with ``spec.sha256``, or a short reason it cannot be computed."""
    try:
        return file_sha256(path, gunzip=spec.gunzip)
    except (OSError, EOFError, zlib.error) as e:
        return f"unreadable ({'not a complete gzip file: ' if spec.gunzip else ''}{e})"


def sqlite_content_sha256(path: Path) -> str:
    """SHA-256 over the rows of every table of a sqlite database, independent of the file format.

    Tables in name order; for each, its name and a line per row (the ``repr`` of the row
    tuple, lines sorted). The value depends only on the data, not on the sqlite version
    that wrote the file.
    """
    h = hashlib.sha256()
    with closing(_connect_ro(path)) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for name in names:
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{_quoted(name)}"'))
            h.update(f"{name}\n".encode())
            for row in rows:
                h.update(row.encode() + b"\n")
    return h.hexdigest()


def check_sqlite(path: Path, build: SqliteBuild) -> list[str]:
    """What differs between the database at ``path`` and the expected content ([] = none)."""
    try:
        with closing(_connect_ro(path)) as conn:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                return ["integrity_check failed"]
            tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            problems = [f"table {t!r} missing" for t in build.rows if t not in tables]
            for table, expected in build.rows.items():
                if table in tables:
                    got = conn.execute(f'SELECT COUNT(*) FROM "{_quoted(table)}"').fetchone()[0]
                    if got != expected:
                        problems.append(f"{table}: {got} rows, expected {expected}")
            views = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'view'").fetchone()[0]
            if views != build.views:
                problems.append(f"{views} views, expected {build.views}")
        if not problems:
            got = sqlite_content_sha256(path)
            if got != build.content_sha256:
                problems.append(f"content sha256 {got}, expected {build.content_sha256}")
    except sqlite3.Error as e:
        return [f"not a readable sqlite database ({e})"]
    return problems


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def _quoted(name: str) -> str:
    return name.replace('"', '""')


def status(dataset: Dataset, data: Path) -> list[FileStatus]:
    """The state of each of the dataset's files in the data folder ``data`` (hashes them)."""
    out = []
    for spec in dataset.files:
        out.append(_file_status(data, spec.path, lambda p, s=spec: _file_problem(p, s)))
    if dataset.build:
        build = dataset.build
        out.append(_file_status(data, build.path, lambda p: "; ".join(check_sqlite(p, build))))
    return out


def _file_status(data: Path, relative: str, problem: Callable[[Path], str]) -> FileStatus:
    path = data / relative
    if path.is_file():
        why = problem(path)
        return FileStatus(relative, "changed", why) if why else FileStatus(relative, "verified")
    partial = _partial(path)
    if partial.is_file():
        return FileStatus(relative, "partial", f"{partial.stat().st_size} bytes")
    return FileStatus(relative, "missing")


def _file_problem(path: Path, spec: DataFile) -> str:
    got = _actual_sha256(path, spec)
    if got == spec.sha256:
        return ""
    return f"sha256{' of the content' if spec.gunzip else ''} {got}, expected {spec.sha256}"


def is_complete(dataset: Dataset, data: Path) -> bool:
    """True when every file of the dataset is in ``data`` and verified."""
    return all(s.state == "verified" for s in status(dataset, data))


# --------------------------------------------------------------------------- fetching


def fetch(names: Iterable[str], options: FetchOptions) -> list[FetchResult]:
    """Fetch the named datasets (all of them when ``names`` is empty) into ``options.data``.

    Stops at the first error; what was fetched before it stays, and a rerun resumes.

    Raises:
        UnknownNameError: a name that is not in :data:`DATASETS`.
        DownloadError: a download or build failed (:class:`ChecksumError` on a wrong hash).
    """
    datasets = [DATASETS.get(n) for n in dict.fromkeys(names)] or [DATASETS.get(n) for n in DATASETS.names()]
    results: list[FetchResult] = []
    for dataset in datasets:
        results += fetch_dataset(dataset, options)
    return results


def fetch_dataset(dataset: Dataset, options: FetchOptions) -> list[FetchResult]:
    """Fetch one dataset; see the module docstring. Returns what happened to each file."""
    results = [_fetch_file(spec, options) for spec in dataset.files]
    if dataset.build:
        results.append(_build_sqlite(dataset.build, options))
    return results


def source_url(spec: DataFile, base_url: str | None) -> str:
    """Where ``spec`` is downloaded from: ``<base>/<path>`` for a mirror, else upstream."""
    base = base_url if base_url is not None else os.environ.get(DATA_URL_ENV) or None
    if not base:
        return spec.url
    return base.rstrip("/") + "/" + urllib.parse.quote(spec.path)


def _fetch_file(spec: DataFile, options: FetchOptions) -> FetchResult:
    dest = options.data / spec.path
    if not options.force and dest.is_file() and _actual_sha256(dest, spec) == spec.sha256:
        return FetchResult(spec.path, "up to date")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(dest)
    if options.force:
        partial.unlink(missing_ok=True)
    download(source_url(spec, options.base_url), partial, label=spec.path, timeout_s=options.timeout_s,
             progress=options.progress)
    got = _actual_sha256(partial, spec)
    if got != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumError(spec.path, spec.sha256, got)
    os.replace(partial, dest)
    return FetchResult(spec.path, "fetched")


def _build_sqlite(build: SqliteBuild, options: FetchOptions) -> FetchResult:
    dest = options.data / build.path
    if not options.force and dest.is_file() and not check_sqlite(dest, build):
        return FetchResult(build.path, "up to date")
    for script in build.scripts:
        _fetch_file(script, options)
    partial = _partial(dest)
    _remove_db(partial)
    try:
        with closing(sqlite3.connect(partial)) as conn:
            # A throw-away file: no journal, no fsync. No ATTACH: a script writes this file only.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            for script in build.scripts:
                path = options.data / script.path
                try:
                    conn.executescript(path.read_text(encoding="utf-8-sig"))
                except (sqlite3.Error, UnicodeDecodeError) as e:
                    raise DownloadError(f"{build.path}: running {script.path} failed: {e}") from None
            conn.commit()
    except BaseException:
        _remove_db(partial)
        raise
    problems = check_sqlite(partial, build)
    if problems:
        _remove_db(partial)
        raise ChecksumError(build.path, "the pinned content", "; ".join(problems))
    os.replace(partial, dest)
    return FetchResult(build.path, "built")


def _remove_db(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-journal")):
        p.unlink(missing_ok=True)


def _partial(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(\d+|\*)")


def download(url: str, partial: Path, *, label: str, timeout_s: float = 60.0,
             progress: Progress | None = None) -> None:
    """Download ``url`` into the file ``partial``, resuming what it already holds.

    A non-empty ``partial`` is continued with ``Range: bytes=N-``. The server may answer 206
    (the rest is appended), 200 (it ignored the range: the whole file is written anew) or
    416 (the range is past the end: the partial is dropped and the download starts over).
    Nothing is verified here; the caller checks the hash and renames.

    Raises:
        DownloadError: an HTTP error status, an unreachable host, or a connection that ended
            before ``Content-Length`` bytes (the partial is kept; a rerun resumes it).
    """
    for _ in range(2):
        start = partial.stat().st_size if partial.is_file() else 0
        headers = {"User-Agent": "codepref-data-fetch", "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 416 and start:
                partial.unlink()
                continue
            raise DownloadError(f"{label}: {url} answered HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(f"{label}: cannot download {url}: {reason}") from None
        with response:
            if start and response.status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != start:
                    partial.unlink()  # not the range asked for: start over without one
                    continue
                done, mode = start, "ab"
            else:
                done, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = done + int(length) if length and length.isdigit() else None
            with open(partial, mode) as out:
                if progress:
                    progress(label, done, total)
                try:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(label, done, total)
                except (OSError, http.client.HTTPException) as e:
                    raise DownloadError(f"{label}: the download from {url} broke off after {done} bytes ({e}); "
                                        "run the same command again to resume") from None
            if total is not None and done < total:
                raise DownloadError(f"{label}: the connection to {url} ended after {done} of {total} bytes; "
                                    "run the same command again to resume")
        return
    raise DownloadError(f"{label}: {url} did not honour the range request twice; giving up")


__all__ = ["DATASETS", "DATA_URL_ENV", "DataFile", "Dataset", "FetchOptions", "FetchResult", "FileStatus",
           "SqliteBuild", "check_sqlite", "download", "fetch", "fetch_dataset", "file_sha256", "is_complete",
           "source_url", "sqlite_content_sha256", "status"]
