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

    Start with `codepref sandbox build --offline` (or without --offline where a registry
    is reachable) and `codepref sandbox check`.
    """


def _register() -> None:
    from codepref.cli.sandbox import sandbox

    main.add_command(sandbox)


_register()
