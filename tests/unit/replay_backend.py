"""A generation backend for tests of the generate stage's plumbing: it answers every request
with one recorded text and keeps the prompts it was sent (no model is loaded)."""

from __future__ import annotations

from codepref.generation.backend import Completion


class Replay:
    """Answers every request with ``text`` and records the prompts it got."""

    prefill_chat = True

    def __init__(self, text: str, chat_default: bool = True):
        self.id = "replay:recorded"
        self.text = text
        self.chat_default = chat_default
        self.prompts = []

    def generate(self, requests, progress=None):
        self.prompts += [r.prompt for r in requests]
        return [[Completion(self.text, 10, 5, None, "stop") for _ in r.seeds] for r in requests]

    def close(self) -> None:
        pass
