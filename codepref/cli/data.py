"""``codepref data list|fetch``: the benchmark data folder (see :mod:`codepref.tasks.fetch`)."""

from __future__ import annotations

import os

import click

_DATA_HELP = "Data folder (default: $CODEPREF_DATA, else $CODEPREF_CACHE/data or ~/.cache/codepref/data)."


@click.group()
def data() -> None:
    """Download, verify and list the benchmark data.

    The data folder is --data DIR, else $CODEPREF_DATA, else `data/` in the codepref cache
    ($CODEPREF_CACHE, default $XDG_CACHE_HOME/codepref or ~/.cache/codepref); `codepref
    evaluate` and `codepref sql` read it from the same places. Every file is pinned by
    SHA-256 and checked after download; Northwind is built from its SQL dumps with sqlite3.

    \b
    Examples:
      codepref data list
      codepref data fetch humaneval+ mbpp+
      codepref data fetch --data ./data --base-url http://127.0.0.1:8000
    """


def _root(data_dir: str | None) -> tuple:
    """The data folder and where it came from (for messages)."""
    from codepref.tasks import DATA_ENV, data_root

    if data_dir:
        return data_root(data_dir), "--data"
    return data_root(), f"${DATA_ENV}" if os.environ.get(DATA_ENV) else "default"


@data.command(name="list")
@click.option("--data", "data_dir", default=None, metavar="DIR", help=_DATA_HELP)
def list_(data_dir: str | None) -> None:
    """Show each dataset, its files, whether they are present and verified, and its fetch command.

    Verifying re-hashes every present file (a few seconds at most). States: verified,
    missing, partial (an interrupted download; fetch resumes it) and changed (present but
    not the pinned content; fetch replaces it).

    \b
    Example:
      codepref data list --data ./data
    """
    from codepref.tasks import fetch_command
    from codepref.tasks.fetch import DATASETS, status

    root, source = _root(data_dir)
    click.echo(f"data folder: {root} ({source})")
    for name in DATASETS.names():
        dataset = DATASETS.get(name)
        click.echo(f"\n{name}  {dataset.description}")
        for s in status(dataset, root):
            detail = f"  ({s.detail})" if s.detail else ""
            click.echo(f"  {s.state:<9} {s.path}{detail}")
        click.echo(f"  {'fetch:':<9} {fetch_command(name, data_dir)}")


@data.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--data", "data_dir", default=None, metavar="DIR", help=_DATA_HELP)
@click.option("--base-url", default=None, envvar="CODEPREF_DATA_URL", metavar="URL",
              help="Fetch every file from URL/<its path in the data folder> (a mirror, e.g. a data folder "
                   "served by `python -m http.server`) instead of upstream; default $CODEPREF_DATA_URL.")
@click.option("--force", is_flag=True, help="Download (and build) again even if present and verified.")
def fetch(names: tuple[str, ...], data_dir: str | None, base_url: str | None, force: bool) -> None:
    """Download and verify datasets NAME... (all of them when none is named).

    An interrupted download resumes where it stopped; files already present and verified
    are skipped. Names: humaneval+, mbpp+, mbpp, humaneval-x, chinook, northwind.

    \b
    Examples:
      codepref data fetch                          # everything, into the default folder
      codepref data fetch humaneval+ mbpp+ --data ./data
      CODEPREF_DATA_URL=http://mirror:8000 codepref data fetch chinook northwind
    """
    from codepref.tasks.fetch import DATASETS, FetchOptions, fetch_dataset

    datasets = [DATASETS.get(n) for n in dict.fromkeys(names)] or [DATASETS.get(n) for n in DATASETS.names()]
    root, source = _root(data_dir)
    bars = _Bars()
    options = FetchOptions(data=root, base_url=base_url or None, force=force, progress=bars)
    try:
        for dataset in datasets:
            for result in fetch_dataset(dataset, options):
                click.echo(f"{result.action:<10}  {dataset.name}: {result.path}")
    finally:
        bars.close()
    click.echo(f"data folder: {root} ({source})")


class _Bars:
    """One tqdm bar (bytes, rate, ETA) per downloading file, on stderr when it is a terminal."""

    def __init__(self):
        self.bars = {}

    def __call__(self, label: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        bar = self.bars.get(label)
        if bar is None:
            bar = self.bars[label] = tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                                          desc=label, dynamic_ncols=True, disable=None, leave=False)
        elif done < bar.n or total != bar.total:  # the server restarted the file
            bar.reset(total=total)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
