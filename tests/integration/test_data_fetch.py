"""`codepref data fetch|list` against a local HTTP mirror made from the benchmark data folder.

A ``ThreadingHTTPServer`` on 127.0.0.1 serves a temporary mirror laid out like a data folder:
the plain files as they are, the ``.gz`` files re-compressed with another gzip mtime (other
bytes, same content: their pin is on the decompressed content), and Northwind's
``create.sql``/``update.sql`` generated from the reference database with ``iterdump``, so
the build path really runs. http.server's own handler ignores ``Range``; the one here
answers it (or, when told to, answers 200 instead, or breaks the connection off) and records
every request's ``Range`` header.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import re
import shutil
import socket
import sqlite3
import threading
from contextlib import closing
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.errors import ChecksumError, DownloadError
from codepref.evaluation.run import load_task_set
from codepref.sql.task import db_file, sql_dir
from codepref.tasks.fetch import DATASETS, FetchOptions, FetchResult, fetch, fetch_dataset, is_complete, status

CHINOOK = "sql/chinook/Chinook_Sqlite.sqlite"


class RangeHandler(SimpleHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` support; the server's ``ranges``/``cut_after`` steer it."""

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass

    def do_GET(self):
        server = self.server
        server.seen.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = 0
        if match and server.ranges:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:] if server.cut_after is None else body[start:start + server.cut_after])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def northwind_scripts(db: Path) -> tuple[str, str]:
    """A create script (schema) and an insert script (rows) that rebuild ``db``."""
    with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro&immutable=1", uri=True)) as conn:
        statements = list(conn.iterdump())
    rows = [s for s in statements if s.startswith(("INSERT INTO", "DELETE FROM"))]
    schema = [s for s in statements if s not in rows]
    return "\n".join(schema) + "\n", "BEGIN TRANSACTION;\n" + "\n".join(rows) + "\nCOMMIT;\n"


def build_mirror(data: Path, mirror: Path) -> None:
    for name in DATASETS.names():
        for spec in DATASETS.get(name).files:
            (mirror / spec.path).parent.mkdir(parents=True, exist_ok=True)
            if spec.gunzip:  # another gzip of the same content (mtime 1 in the header)
                content = gzip.decompress((data / spec.path).read_bytes())
                (mirror / spec.path).write_bytes(gzip.compress(content, compresslevel=6, mtime=1))
            else:
                shutil.copyfile(data / spec.path, mirror / spec.path)
    build = DATASETS.get("northwind").build
    create, update = northwind_scripts(data / build.path)
    (mirror / build.scripts[0].path).parent.mkdir(parents=True)
    (mirror / build.scripts[0].path).write_text(create, encoding="utf-8")
    (mirror / build.scripts[1].path).write_text(update, encoding="utf-8")


def mirrored_northwind(mirror: Path):
    """Northwind with its scripts pinned to the mirror's generated ones (the upstream pins
    belong to jpwhite3's files); the built database's content pin is unchanged."""
    northwind = DATASETS.get("northwind")
    scripts = tuple(dataclasses.replace(s, sha256=sha256((mirror / s.path).read_bytes()))
                    for s in northwind.build.scripts)
    return dataclasses.replace(northwind, build=dataclasses.replace(northwind.build, scripts=scripts))


@pytest.fixture(scope="module")
def served(shared_data, tmp_path_factory):
    """(base URL, server, mirror folder) of a mirror of the benchmark data on 127.0.0.1."""
    mirror = tmp_path_factory.mktemp("mirror")
    build_mirror(shared_data, mirror)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(mirror)))
    server.seen, server.ranges, server.cut_after = [], True, None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server, mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server(served):
    url, srv, mirror = served
    srv.seen.clear()
    srv.ranges, srv.cut_after = True, None
    return url, srv, mirror


def test_library_fetches_verifies_and_builds_then_does_nothing(server, shared_data, tmp_path):
    url, srv, mirror = server
    data = tmp_path / "data"
    progress = []
    options = FetchOptions(data=data, base_url=url, progress=lambda *a: progress.append(a))
    results = fetch([n for n in DATASETS.names() if n != "northwind"], options)
    assert len(results) == 10 and {r.action for r in results} == {"fetched"}
    built = fetch_dataset(mirrored_northwind(mirror), options)
    assert built == [FetchResult("sql/northwind/northwind.sqlite", "built")]
    for name in DATASETS.names():
        assert is_complete(DATASETS.get(name), data), name
    assert not list(data.rglob("*.partial"))
    size = (mirror / CHINOOK).stat().st_size
    assert (CHINOOK, size, size) in progress  # bytes done, total
    # the .gz files are other bytes than the reference copies, with the same content
    plus = "evalplus/HumanEvalPlus.jsonl.gz"
    assert (data / plus).read_bytes() != (shared_data / plus).read_bytes()
    assert load_task_set("humaneval+", data_dir=str(data)).version == "v0.1.10"
    assert db_file(sql_dir(data), "northwind") == data / "sql" / "northwind" / "northwind.sqlite"
    assert all(p.state == "verified" for p in status(DATASETS.get("northwind"), data))

    srv.seen.clear()
    again = fetch([], options)  # the real northwind entry too: its database passes the content check
    assert len(again) == 11 and {r.action for r in again} == {"up to date"} and srv.seen == []


def test_the_build_scripts_and_the_built_content_are_pinned(server, tmp_path):
    url, srv, mirror = server
    data = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"sql/northwind/src/create.sql: checksum mismatch: expected 5854b536"):
        fetch(["northwind"], FetchOptions(data=data, base_url=url))  # generated, not jpwhite3's, scripts
    assert not (data / "sql" / "northwind" / "src" / "create.sql").exists()
    # scripts that build other rows: the content check names what differs and keeps nothing
    other = mirror / "other"
    for spec in DATASETS.get("northwind").build.scripts:
        (other / spec.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / spec.path, other / spec.path)
    update = other / "sql" / "northwind" / "src" / "update.sql"
    update.write_text(update.read_text() + "DELETE FROM Shippers WHERE ShipperID = 3;\n")
    with pytest.raises(ChecksumError, match=r"northwind.sqlite: checksum mismatch: .*Shippers: 2 rows, expected 3"):
        fetch_dataset(mirrored_northwind(other), FetchOptions(data=data, base_url=f"{url}/other"))
    assert not list((data / "sql" / "northwind").glob("northwind.sqlite*"))


def test_cli_list_and_fetch_with_the_default_folder_and_a_mirror(server, tmp_path, monkeypatch):
    url, srv, mirror = server
    monkeypatch.delenv("CODEPREF_DATA", raising=False)
    monkeypatch.delenv("CODEPREF_DATA_URL", raising=False)
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "cache"))
    default = tmp_path / "cache" / "data"
    runner = CliRunner()
    r = runner.invoke(main, ["data", "list"])
    assert r.exit_code == 0, r.output
    assert f"data folder: {default} (default)" in r.output
    assert "  missing   evalplus/HumanEvalPlus.jsonl.gz" in r.output
    assert "  fetch:    codepref data fetch humaneval+\n" in r.output

    r = runner.invoke(main, ["data", "fetch", "humaneval+", "chinook", "--base-url", url])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["fetched     humaneval+: evalplus/HumanEvalPlus.jsonl.gz",
                                     f"fetched     chinook: {CHINOOK}", f"data folder: {default} (default)"]
    r = runner.invoke(main, ["data", "list"])
    assert "  verified  evalplus/HumanEvalPlus.jsonl.gz\n  fetch:    codepref data fetch humaneval+" in r.output
    assert f"  verified  {CHINOOK}" in r.output and "  missing   mbpp/mbpp.jsonl" in r.output
    r = runner.invoke(main, ["data", "fetch", "chinook", "--base-url", url])
    assert r.exit_code == 0 and r.output.startswith(f"up to date  chinook: {CHINOOK}\n")

    # the mirror from $CODEPREF_DATA_URL, another folder from --data; list names it in the command
    other = tmp_path / "other"
    r = CliRunner(env={"CODEPREF_DATA_URL": url}).invoke(main, ["data", "fetch", "mbpp", "--data", str(other)])
    assert r.exit_code == 0, r.output
    assert (other / "mbpp" / "sanitized-mbpp.json").is_file() and f"data folder: {other} (--data)" in r.output
    # a half-downloaded file shows as partial
    (other / CHINOOK).parent.mkdir(parents=True)
    (other / f"{CHINOOK}.partial").write_bytes(b"x" * 10)
    r = runner.invoke(main, ["data", "list", "--data", str(other)])
    assert "  verified  mbpp/mbpp.jsonl" in r.output and f"  partial   {CHINOOK}  (10 bytes)" in r.output
    assert f"  fetch:    codepref data fetch chinook --data {other}" in r.output

    r = runner.invoke(main, ["data", "fetch", "humaneval"])
    assert r.exit_code == 2 and "unknown dataset 'humaneval'" in r.output and "did you mean" in r.output


def test_cli_help_has_examples():
    assert "data" in CliRunner().invoke(main, ["--help"]).output
    for args in (["data"], ["data", "fetch"], ["data", "list"]):
        r = CliRunner().invoke(main, [*args, "--help"])
        assert r.exit_code == 0 and "Example" in r.output and "codepref data" in r.output, args
    assert "--base-url" in CliRunner().invoke(main, ["data", "fetch", "--help"]).output


def test_a_corrupted_file_is_a_checksum_error_and_nothing_is_kept(server, tmp_path):
    url, srv, mirror = server
    data = tmp_path / "data"
    bad = mirror / "bad"
    (bad / "mbpp").mkdir(parents=True)
    body = bytearray((mirror / "mbpp" / "mbpp.jsonl").read_bytes())
    body[1000] ^= 1
    (bad / "mbpp" / "mbpp.jsonl").write_bytes(body)
    expected = DATASETS.get("mbpp").files[0].sha256
    with pytest.raises(ChecksumError) as e:
        fetch(["mbpp"], FetchOptions(data=data, base_url=f"{url}/bad"))
    assert (e.value.path, e.value.expected, e.value.got) == ("mbpp/mbpp.jsonl", expected, sha256(body))
    assert f"expected {expected}, got {sha256(body)}" in str(e.value)
    assert list(data.rglob("*")) == [data / "mbpp"]  # neither the file nor a partial

    # a .gz whose content changed: the decompressed content's hash is reported
    (bad / "evalplus").mkdir()
    content = bytearray(gzip.decompress((mirror / "evalplus" / "MbppPlus.jsonl.gz").read_bytes()))
    content[50] ^= 1
    (bad / "evalplus" / "MbppPlus.jsonl.gz").write_bytes(gzip.compress(content))
    with pytest.raises(ChecksumError, match=f"got {sha256(content)}"):
        fetch(["mbpp+"], FetchOptions(data=data, base_url=f"{url}/bad"))
    assert not (data / "evalplus" / "MbppPlus.jsonl.gz").exists()

    # --force over a verified file: the failed download loses nothing; the CLI says it in one line
    fetch(["mbpp"], FetchOptions(data=data, base_url=url))
    r = CliRunner().invoke(main, ["data", "fetch", "mbpp", "--force", "--data", str(data), "--base-url", f"{url}/bad"])
    assert r.exit_code == 4
    assert r.output.splitlines()[-1] == (f"error: mbpp/mbpp.jsonl: checksum mismatch: expected {expected}, got "
                                         f"{sha256(body)}; the download was discarded (a wrong mirror or a changed "
                                         "upstream file)")
    assert is_complete(DATASETS.get("mbpp"), data) and not list(data.rglob("*.partial"))


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    url, srv, mirror = server
    data = tmp_path / "data"
    src = (mirror / CHINOOK).read_bytes()
    partial = data / f"{CHINOOK}.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(src[:300_000])
    progress = []
    options = FetchOptions(data=data, base_url=url, progress=lambda *a: progress.append(a))
    assert fetch(["chinook"], options) == [FetchResult(CHINOOK, "fetched")]
    assert srv.seen == [(f"/{CHINOOK}", "bytes=300000-")]
    assert progress[0] == (CHINOOK, 300_000, len(src)) and progress[-1] == (CHINOOK, len(src), len(src))
    assert (data / CHINOOK).read_bytes() == src and not partial.exists()

    # a server that ignores Range (200): the whole file replaces the partial
    (data / CHINOOK).unlink()
    partial.write_bytes(src[:300_000])
    srv.seen.clear()
    srv.ranges = False
    assert fetch(["chinook"], options) == [FetchResult(CHINOOK, "fetched")]
    assert srv.seen == [(f"/{CHINOOK}", "bytes=300000-")] and (data / CHINOOK).read_bytes() == src

    # a partial longer than the file (416): dropped, downloaded again from the start
    (data / CHINOOK).unlink()
    partial.write_bytes(src + b"extra")
    srv.seen.clear()
    srv.ranges = True
    assert fetch(["chinook"], options) == [FetchResult(CHINOOK, "fetched")]
    assert srv.seen == [(f"/{CHINOOK}", f"bytes={len(src) + 5}-"), (f"/{CHINOOK}", None)]
    assert (data / CHINOOK).read_bytes() == src

    # a partial holding other bytes: the resumed file fails its check and is dropped; a rerun works
    (data / CHINOOK).unlink()
    partial.write_bytes(b"\0" * 1000)
    with pytest.raises(ChecksumError):
        fetch(["chinook"], options)
    assert not partial.exists() and not (data / CHINOOK).exists()
    assert fetch(["chinook"], options) == [FetchResult(CHINOOK, "fetched")]


def test_a_broken_connection_keeps_the_partial_and_a_rerun_resumes(server, tmp_path):
    url, srv, mirror = server
    data = tmp_path / "data"
    srv.cut_after = 200_000
    with pytest.raises(DownloadError, match="ended after 200000 of 1007616 bytes; run the same command again"):
        fetch(["chinook"], FetchOptions(data=data, base_url=url))
    partial = data / f"{CHINOOK}.partial"
    assert partial.stat().st_size == 200_000 and not (data / CHINOOK).exists()
    srv.cut_after = None
    srv.seen.clear()
    assert fetch(["chinook"], FetchOptions(data=data, base_url=url)) == [FetchResult(CHINOOK, "fetched")]
    assert srv.seen == [(f"/{CHINOOK}", "bytes=200000-")] and is_complete(DATASETS.get("chinook"), data)


def test_http_errors_and_unreachable_hosts_are_download_errors(server, tmp_path):
    url, srv, mirror = server
    with pytest.raises(DownloadError, match=r"chinook/Chinook_Sqlite.sqlite: .*/nowhere/sql/.* answered HTTP 404"):
        fetch(["chinook"], FetchOptions(data=tmp_path, base_url=f"{url}/nowhere"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening, then closed: the connection is refused
    with pytest.raises(DownloadError, match="cannot download http://127.0.0.1"):
        fetch(["chinook"], FetchOptions(data=tmp_path, base_url=f"http://127.0.0.1:{port}", timeout_s=5))
    assert not list(tmp_path.rglob("*.sqlite*"))
