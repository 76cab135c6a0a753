"""OpenAI-compatible server backend: ``vllm serve``, llama.cpp's server, TGI, SGLang ...

Completion-style prompts go to ``POST {base_url}/completions`` (prompt + prefill); chat
prompts go to ``POST {base_url}/chat/completions`` as messages (no prefill: servers do
not continue a partial assistant message the same way, so the answer is the reply as is).
One HTTP request per sample (``n=1`` with that sample's ``seed``), ``concurrency`` at a
time; connection errors, 429 and 5xx answers are retried with exponential backoff
(0.5 s, 1 s, 2 s ...). Standard library only (urllib + threads).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from codepref.generation.backend import Completion, GenProgress, Request
from codepref.generation.models import ModelError

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIGenerator:
    """Sampling through an OpenAI-compatible HTTP API.

    Args:
        model: the served model name (as in the server's ``/v1/models``).
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1`` (default: ``$OPENAI_BASE_URL``,
            else that address).
        api_key: bearer token (default: ``$OPENAI_API_KEY``, else none).
        concurrency: requests in flight at once.
        retries: retries per request after a connection error, 429 or 5xx.
        timeout_s: seconds per HTTP request.
        logprobs: ask the server for token log-probabilities.
        chat: whether the model is best prompted in chat style (instruct models).
    """

    prefill_chat = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 concurrency: int = 8, retries: int = 4, timeout_s: float = 600.0,
                 logprobs: bool = True, chat: bool = True):
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1").rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = max(1, int(concurrency))
        self.retries = max(0, int(retries))
        self.timeout_s = timeout_s
        self.logprobs = logprobs
        self.chat_default = chat
        self.id = f"openai:{model}@{self.base_url}"
        self._check_model()

    def _check_model(self) -> None:
        served = [m.get("id") for m in self._call("GET", "/models").get("data", [])]
        if served and self.model not in served:
            raise ModelError(f"the server at {self.base_url} does not serve {self.model!r} "
                             f"(it serves: {', '.join(map(str, served))})")

    def generate(self, requests: Sequence[Request], progress: GenProgress | None = None) -> list[list[Completion]]:
        """One HTTP request per sample, ``concurrency`` in flight."""
        items = [(i, j) for i, r in enumerate(requests) for j in range(r.n)]
        results: list[list[Completion | None]] = [[None] * r.n for r in requests]
        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(self._one, requests[i], j): (i, j) for i, j in items}
            for done, fut in enumerate(_as_completed(futures), start=1):
                i, j = futures[fut]
                results[i][j] = fut.result()
                if progress:
                    progress(done, len(items))
        return [list(r) for r in results]  # type: ignore[arg-type]

    def _one(self, req: Request, j: int) -> Completion:
        p = req.params
        body: dict[str, Any] = {
            "model": self.model, "n": 1, "temperature": p.temperature, "top_p": p.top_p,
            "max_tokens": p.max_tokens, "seed": req.seeds[j],
        }
        if req.prompt.stop:
            body["stop"] = list(req.prompt.stop)
        if req.prompt.text is not None:
            body["prompt"] = req.prompt.text + req.prompt.prefill
            if self.logprobs:
                body["logprobs"] = 1
            out = self._call("POST", "/completions", body)
            choice = out["choices"][0]
            text = choice.get("text") or ""
            lp = _sum_logprobs((choice.get("logprobs") or {}).get("token_logprobs"))
        else:
            body["messages"] = list(req.prompt.messages)
            if self.logprobs:
                body["logprobs"] = True
            out = self._call("POST", "/chat/completions", body)
            choice = out["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
            content = (choice.get("logprobs") or {}).get("content") or []
            lp = _sum_logprobs([c.get("logprob") for c in content]) if content else None
        for s in req.prompt.stop:  # servers differ on whether the stop string is returned
            k = text.find(s)
            if k >= 0:
                text = text[:k]
        usage = out.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            logprob=lp,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base_url + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(0.5 * 2 ** (attempt - 1))
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                if e.code not in _RETRY_STATUS:
                    raise ModelError(f"{method} {url} answered {e.code}: {detail}") from None
                last = f"HTTP {e.code}: {detail}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                last = str(getattr(e, "reason", e))
            except json.JSONDecodeError as e:
                raise ModelError(f"{method} {url} answered with invalid JSON: {e}") from None
        raise ModelError(f"cannot reach the model server at {self.base_url} ({last}) "
                         f"after {self.retries + 1} tries")

    def close(self) -> None:
        """Nothing to free: connections are not kept."""


def _sum_logprobs(values) -> float | None:
    if not values:
        return None
    vals = [v for v in values if v is not None]
    return float(sum(vals)) if vals else None


def _as_completed(futures):
    from concurrent.futures import as_completed

    return as_completed(futures)
