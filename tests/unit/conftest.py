"""Unit tests see the same model files on every machine: the default model's bare name names
the packaged GGUF, not the bf16 variant it runs on CPUs with native bf16
(:func:`codepref.generation.models.default_variant`); tests of that rule set the CPU flag
themselves."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _packaged_file_everywhere(monkeypatch):
    from codepref.generation import models

    monkeypatch.setattr(models, "_NATIVE_BF16", False)
