"""Shared fixtures: the shared data folder and a session-wide sandbox pool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# codepref's llamacpp backend sets this before llama.cpp's library loads, but a test that
# imports llama_cpp first (pytest.importorskip) would load it with spinning OpenMP threads,
# many times slower on a busy 2-core machine. Set it for the whole test session.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def find_data() -> tuple[Path | None, str]:
    """The benchmark data folder for tests, or None and why not.

    ``$CODEPREF_DATA`` when set (used as is), else ``../shared/data`` beside the repository,
    else the default folder of ``codepref data fetch`` when it holds every dataset verified.
    """
    from codepref.tasks import DATA_ENV, default_data_dir

    if os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV]).expanduser()
        return (path, "") if path.is_dir() else (None, f"${DATA_ENV}={path} does not exist")
    beside = REPO.parent / "shared" / "data"
    if beside.is_dir():
        return beside, ""
    from codepref.tasks.fetch import DATASETS, is_complete

    default = default_data_dir()
    if default.is_dir() and all(is_complete(DATASETS.get(n), default) for n in DATASETS.names()):
        return default, ""
    return None, f"${DATA_ENV} is not set, {beside} does not exist and {default} is missing or incomplete"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark data folder (see :func:`find_data`); skips the test when there is none."""
    path, why = find_data()
    if path is None:
        pytest.skip(f"benchmark data not found ({why}); run: codepref data fetch "
                    "(or set CODEPREF_DATA to a data folder)")
    return path


@pytest.fixture(scope="session")
def sandbox_pool():
    """One warm pool for all Docker tests (fails, not skips, when Docker is missing)."""
    from codepref.config import SandboxConfig
    from codepref.execution import SandboxPool

    with SandboxPool(SandboxConfig(timeout_s=5.0)) as pool:
        yield pool
