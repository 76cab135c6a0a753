"""Shared fixtures: the shared data folder and a session-wide sandbox pool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark data folder: $CODEPREF_DATA, else ../shared/data beside the repo."""
    path = Path(os.environ.get("CODEPREF_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"benchmark data not found at {path}; set CODEPREF_DATA")
    return path


@pytest.fixture(scope="session")
def sandbox_pool():
    """One warm pool for all Docker tests (fails, not skips, when Docker is missing)."""
    from codepref.config import SandboxConfig
    from codepref.execution import SandboxPool

    with SandboxPool(SandboxConfig(timeout_s=5.0)) as pool:
        yield pool
