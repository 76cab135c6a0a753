"""The ``codepref`` command line: a thin layer over the library.

Each command lives in its own small module and calls one library function. Library errors
(:class:`~codepref.errors.CodeprefError`) become a one-line ``error: ...`` on stderr and the
error's exit code. Command modules import heavy libraries inside their functions only, so
``codepref --help`` stays fast and never imports torch.
"""

from __future__ import annotations

import sys

import click

from codepref import __version__
from codepref.errors import CodeprefError


class _Group(click.Group):
    """A click group that reports CodeprefError as one clean line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CodeprefError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="codepref")
def main() -> None:
    """codepref: improve a code LLM with execution-verified, self-generated preference data.

    The pipeline samples solutions and tests from a model, runs every solution x test in
    Docker sandboxes, ranks solutions from the pass matrices, builds DPO/KTO data, trains a
    LoRA adapter and evaluates it; each stage is its own command below.

    Start with `codepref sandbox build --offline` (drop --offline where a registry is
    reachable), `codepref sandbox check`, then `codepref quickstart`.
    """


def _register() -> None:
    from codepref.cli.sandbox import sandbox

    main.add_command(sandbox)

    from codepref.cli.merge import merge
    from codepref.cli.train import train

    main.add_command(train)
    main.add_command(merge)

    from codepref.cli.generate import generate
    from codepref.cli.models import models

    main.add_command(models)
    main.add_command(generate)

    from codepref.cli.audit import audit
    from codepref.cli.execute import execute
    from codepref.cli.rank import rank

    main.add_command(execute)
    main.add_command(rank)
    main.add_command(audit)

    from codepref.cli.sql import sql

    main.add_command(sql)

    from codepref.cli.data import data
    from codepref.cli.languages import languages

    main.add_command(data)
    main.add_command(languages)

    from codepref.cli.evaluate import evaluate

    main.add_command(evaluate)

    from codepref.cli.compare import compare

    main.add_command(compare)

    from codepref.cli.report import report
    from codepref.cli.run import quickstart, run

    main.add_command(run)
    main.add_command(quickstart)
    main.add_command(report)


_register()
