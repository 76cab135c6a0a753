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
