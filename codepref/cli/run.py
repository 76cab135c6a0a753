"""``codepref run [CONFIG.toml]`` and ``codepref quickstart``: the whole pipeline."""

from __future__ import annotations

import click

SET_HELP = "Override a setting: section.key=value (repeatable), e.g. --set generate.n_solutions=8."


def _default_run_dir(name: str) -> str:
    import time

    return f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _run(config_path, overrides, run_dir, dry_run, cluster_address=None) -> None:
    from codepref.pipeline import Display, run_pipeline
    from codepref.runconfig import config_hash, load_run_config

    overrides = list(overrides)
    if cluster_address:  # the same as the three --set lines
        overrides += ["cluster.backend=ray", f"cluster.address={cluster_address!r}", "cluster.generate=true"]
    config = load_run_config(config_path, overrides)
    run_dir = run_dir or _default_run_dir(config.run.name)
    if dry_run:
        import json

        click.echo(json.dumps(config.to_dict(), indent=2, sort_keys=True))
        click.echo(f"config sha256 {config_hash(config.to_dict())}; would run in {run_dir}", err=True)
        return
    click.echo(f"run directory: {run_dir}", err=True)
    run_pipeline(config, run_dir, display=Display(echo=lambda s: click.echo(s, err=True)))
    click.echo(run_dir)


@click.command("run")
@click.argument("config", required=False)
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help=SET_HELP)
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="The run directory (default runs/NAME-TIMESTAMP). Rerun with the same one to resume.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and its hash; run nothing.")
@click.option("--cluster-address", default=None, metavar="ADDR",
              help="Sample on the generator nodes and run the sandbox work on the sandbox nodes of the Ray "
                   "cluster at ADDR (auto, HOST:PORT or ray://HOST:PORT; needs the ray extra; docs/scaling.md): "
                   "the same as --set cluster.backend=ray --set cluster.address=ADDR --set cluster.generate=true. "
                   "Training runs here.")
def run(config, overrides, run_dir, dry_run, cluster_address):
    """Run generate -> execute -> rank -> train -> evaluate, for one or more rounds.

    CONFIG is a TOML file with [run] [generate] [sandbox] [execute] [rank] [train] [evaluate]
    [cluster] sections, or the name of a shipped config (quickstart, learn, paper-scale, sql,
    cpp, javascript). Without it the embedded quickstart runs. Every problem of the config is
    reported at once.

    Rerunning with the same --run-dir skips finished stages, resumes a half-written one, and
    redoes the stages downstream of a changed setting (saying so). Where the work runs
    ([cluster], --cluster-address) is not a setting of any stage: a run started here can be
    finished on a cluster.
    """
    _run(config, overrides, run_dir, dry_run, cluster_address)


@click.command("quickstart")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help=SET_HELP)
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help="The run directory.")
def quickstart(overrides, run_dir):
    """The embedded quickstart: 8 built-in prompts, the default 0.5B model, one DPO epoch,
    before/after on 10 HumanEval tasks (3-6 minutes on 2 CPU cores, model download included)."""
    _run(None, overrides, run_dir, False)
