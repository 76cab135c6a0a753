"""Options and helpers shared by several commands."""

from __future__ import annotations

import functools

import click


def sandbox_options(fn):
    """Add --workers/--timeout/--memory/--image and pass a SandboxConfig as ``config``."""

    @click.option("--workers", type=int, default=None, help="Warm containers (default: one per core).")
    @click.option("--timeout", "timeout_s", type=float, default=None, help="Default seconds per program (10).")
    @click.option("--memory", "memory_mb", type=int, default=None, help="Memory limit per container in MB (512).")
    @click.option("--image", default=None, help="Sandbox image (codepref-sandbox:latest).")
    @functools.wraps(fn)
    def wrapper(*args, workers, timeout_s, memory_mb, image, **kwargs):
        from codepref.config import SandboxConfig, from_mapping

        values = {"workers": workers, "timeout_s": timeout_s, "memory_mb": memory_mb, "image": image}
        config = from_mapping(SandboxConfig, {k: v for k, v in values.items() if v is not None})
        return fn(*args, config=config, **kwargs)

    return wrapper


def cluster_option_for(work: str):
    """A decorator adding ``--cluster-address ADDR``, passing a :class:`~codepref.config.ClusterConfig`
    (or None) as ``cluster``: given, ``work`` runs on actors of that Ray cluster (sandbox work
    on ``codepref_sandbox`` nodes, sampling on ``codepref_generator`` nodes); left out, here."""

    def decorate(fn):
        @click.option("--cluster-address", default=None, metavar="ADDR",
                      help=f"Run {work} on the Ray cluster at ADDR (auto, HOST:PORT or ray://HOST:PORT; "
                           "needs the ray extra; docs/scaling.md). Default: this machine.")
        @functools.wraps(fn)
        def wrapper(*args, cluster_address, **kwargs):
            cluster = None
            if cluster_address:
                from codepref.config import ClusterConfig

                cluster = ClusterConfig(backend="ray", address=cluster_address, generate=True)
            return fn(*args, cluster=cluster, **kwargs)

        return wrapper

    return decorate


#: ``--cluster-address`` for the sandbox work (nodes offering ``codepref_sandbox``).
cluster_option = cluster_option_for("the sandbox work (on nodes offering codepref_sandbox)")


DATA_HELP = ("Benchmark data folder (default: $CODEPREF_DATA, else the user cache folder that "
             "`codepref data fetch` fills).")


def data_option(fn):
    """Add ``--data DIR`` (the benchmark data folder, also read from ``$CODEPREF_DATA``), passed as ``data``.

    The one name and help of the data-folder flag across commands (``evaluate``, ``sql ...``).
    None means the loaders' default: ``$CODEPREF_DATA`` (click reads it here already), else
    the user cache folder.
    """
    return click.option("--data", "data", type=click.Path(file_okay=False), default=None, envvar="CODEPREF_DATA",
                        metavar="DIR", help=DATA_HELP)(fn)


def tqdm_progress(unit: str):
    """A ``progress(done, total) -> tick(n)`` factory drawing a tqdm bar on stderr (a plain
    progress line a minute when stderr is not a terminal)."""

    def start(done: int, total: int):
        from codepref.progress import line_progress, terminal

        if not terminal():
            return line_progress(lambda text: click.echo(text, err=True), "progress", unit, done, total)
        from tqdm import tqdm

        bar = tqdm(total=total, initial=done, unit=unit, dynamic_ncols=True, disable=None, leave=False)
        return bar.update

    return start
