"""``codepref languages list``: the languages codepref can run, built-in and from plugins."""

from __future__ import annotations

import click


@click.group()
def languages() -> None:
    """Programming languages: built-in ones and those installed plugins add (entry points in
    the ``codepref.languages`` group; see docs/adding-a-language.md)."""


@languages.command(name="list")
def list_() -> None:
    """One line per language: name, where it comes from, its sandbox image, whether codepref
    can prompt for it, and whether it is compiled."""
    from codepref.config import SandboxConfig
    from codepref.errors import UnknownNameError
    from codepref.languages import LANGUAGES, image_for

    base = SandboxConfig().image
    rows = [("language", "from", "image", "prompts", "build")]
    for name in LANGUAGES.names():
        try:
            language = LANGUAGES.get(name)
            image, _ = image_for(base, [name])
            rows.append((name, LANGUAGES.origin(name), image, "yes" if language.generation else "no",
                         "yes" if language.build else "no"))
        except (UnknownNameError, ImportError) as e:
            rows.append((name, "broken plugin", str(e)[:60], "-", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for name, plugin in sorted(LANGUAGES.shadowed().items()):
        click.echo(f"note: {plugin} also defines {name!r}; the built-in one is used", err=True)
