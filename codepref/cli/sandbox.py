"""``codepref sandbox build|check|exec|matrix``: the Docker sandbox on its own."""

from __future__ import annotations

import click

from codepref.cli.common import sandbox_options, tqdm_progress


@click.group()
def sandbox() -> None:
    """Build, check and use the Docker sandbox that runs generated code.

    Programs run in warm, locked-down containers (no network, read-only root, memory, pid
    and CPU limits, unprivileged uid, wall-clock timeouts). Outcomes: passed (exit 0),
    failed (assertion or nonzero exit), error (crash), timeout, oom, sandbox_error (the
    sandbox failed; never counted as a test failure).
    """


@sandbox.command()
@click.option("--offline", is_flag=True, help="Make the base image with debootstrap (no registry needed; root).")
@click.option("--base-image", default=None, help="Build on this image instead (default python:3.12-slim).")
@click.option("--mirror", default=None, help="Debian mirror for --offline (default: from apt's sources).")
@click.option("--image", default=None, help="Tag to build (default codepref-sandbox:latest).")
@click.option("--language", "languages", multiple=True, metavar="NAME",
              help="Build the image these languages run in instead (e.g. cpp -> codepref-sandbox-cpp:latest, "
                   "javascript); repeat the option for one image holding several.")
@click.option("--force", is_flag=True, help="Rebuild even if the image exists.")
def build(offline: bool, base_image: str | None, mirror: str | None, image: str | None, languages: tuple[str, ...],
          force: bool) -> None:
    """Build the sandbox image from Dockerfile.sandbox (reuses images that exist).

    Python and SQL run in the base image; languages that need more (C++: g++ and
    libssl-dev, JavaScript: nodejs) in an image of their own, built with --language NAME.
    """
    from codepref.config import SandboxConfig
    from codepref.execution.image import build_image
    from codepref.languages import get_language, image_for

    tag, packages = image_for(image or SandboxConfig().image, languages)
    variant = "-".join(sorted(n for n in set(languages) if get_language(n).packages))
    build_image(tag, offline=offline, base_image=base_image, mirror=mirror, force=force, packages=packages,
                variant=variant, log=lambda m: click.echo(m, err=True))
    click.echo(tag)


@sandbox.command()
@sandbox_options
def check(config) -> None:
    """Run a self-test: expected outcomes for good, failing, hanging and hostile programs."""
    from codepref.execution.selftest import run_selftest

    ok = run_selftest(config, echo=click.echo)
    raise SystemExit(0 if ok else 1)


@sandbox.command(name="exec")
@click.option("--in", "in_path", required=True, type=click.Path(dir_okay=False),
              help='JSONL, one program a line: {"id","language","code","timeout_s"?,"stdin"?}.')
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help='JSONL results: {"id","outcome","exit_code","duration_s","stdout","stderr"}.')
@sandbox_options
def exec_(in_path: str, out_path: str, config) -> None:
    """Run programs in the sandbox; a rerun resumes where an interrupted one stopped."""
    from codepref.execution.jobs import exec_file

    counts = exec_file(in_path, out_path, config, progress=tqdm_progress("programs"))
    click.echo(_summary(counts), err=True)


@sandbox.command()
@click.option("--in", "in_path", required=True, type=click.Path(dir_okay=False),
              help='JSONL, one task a line: {"task_id","language","solutions":[..],"tests":[..],"setup"?}.')
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help='JSONL: {"task_id","outcomes":[[per test] per solution],"durations":[[..]]}.')
@sandbox_options
def matrix(in_path: str, out_path: str, config) -> None:
    """Run every solution against every test of each task (solutions load once, tests fork)."""
    from codepref.execution.jobs import matrix_file

    counts = matrix_file(in_path, out_path, config, progress=tqdm_progress("cells"))
    click.echo(_summary(counts), err=True)


def _summary(counts) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return f"ran {total}: {parts}" if total else "nothing to run: the output is complete"
