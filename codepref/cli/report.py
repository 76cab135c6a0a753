"""``codepref report RUN_DIR``: (re)write report.md and report.html of a run."""

from __future__ import annotations

import click


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def report(run_dir):
    """Write RUN_DIR/report.md and report.html with plots (pass@k before/after, pass-matrix
    heatmaps, pair and scorer statistics, training curves). Needs matplotlib (codepref[report])."""
    from codepref.report import write_report

    md, html = write_report(run_dir)
    click.echo(md)
    click.echo(html)
