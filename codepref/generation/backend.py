"""The one protocol every generation backend implements, and the registry of backends.

A backend turns :class:`Request` s (a prompt, sampling parameters, one seed per wanted
sample) into :class:`Completion` s. Backends live in one module each and register here
lazily, so naming one imports its model library only when it is used::

    gen = open_generator("llamacpp", "qwen2.5-coder-0.5b-instruct")
    outs = gen.generate([Request(spec, SamplingParams(temperature=0.8), seeds=(1, 2, 3))])
    gen.close()

Seeds: sample ``i`` of a request is drawn with ``seeds[i]`` where the backend supports
seeding, so a resumed run asks for exactly the samples that are missing and gets what
an uninterrupted run would have produced (backends that batch across sequences, and
remote servers, only promise this up to floating-point nondeterminism).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from codepref.errors import ConfigError
from codepref.generation.prompts import PromptSpec
from codepref.registry import Registry

#: ``progress(done, total)`` in completions.
GenProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` is greedy decoding (``top_p`` then has no effect).

    Attributes:
        temperature: softmax temperature; logits are divided by it before sampling.
        top_p: nucleus sampling: sample among the smallest set of tokens whose
            probabilities sum to at least ``top_p``.
        max_tokens: most new tokens per completion.
    """

    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512

    def __post_init__(self) -> None:
        problems = []
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            problems.append(f"max_tokens must be >= 1, got {self.max_tokens}")
        if problems:
            raise ConfigError(problems)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    """``len(seeds)`` samples of one prompt.

    Attributes:
        prompt: the prompt (see :class:`~codepref.generation.prompts.PromptSpec`).
        params: sampling parameters.
        seeds: one seed per sample; the number of samples is ``len(seeds)``.
    """

    prompt: PromptSpec
    params: SamplingParams
    seeds: tuple[int, ...] = (0,)

    @property
    def n(self) -> int:
        return len(self.seeds)


@dataclass(frozen=True)
class Completion:
    """One sampled continuation.

    Attributes:
        text: the generated text only (without the prompt or prefill; stop string cut off).
        prompt_tokens: tokens in the rendered prompt (including the prefill).
        completion_tokens: tokens generated.
        logprob: sum over generated tokens of log p(token | prefix) under the model's
            unmodified distribution (temperature 1, no top-p); None if not available.
        finish_reason: ``"stop"`` (end of sequence or stop string) or ``"length"``.
        token_ids: the model's token ids of ``text`` as sampled (an end-of-generation token
            left out; where a stop string was cut inside a token, the text left of that token
            re-tokenised), so a trainer can score exactly the tokens the model produced even
            where the sampler took a split of the text that the tokenizer would not make;
            None where the backend does not report them or they do not spell ``text``
            exactly (a sample ending inside a UTF-8 character).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    logprob: float | None = None
    finish_reason: str = "stop"
    token_ids: tuple[int, ...] | None = None


@runtime_checkable
class Generator(Protocol):
    """What the generate stage needs from a backend.

    Attributes:
        id: ``"BACKEND:MODEL"``, written into every sample.
        prefill_chat: True if the backend writes ``PromptSpec.prefill`` after a rendered chat
            prompt (the answer is then ``prefill + text``); False if it sends chat messages
            as they are (the answer is ``text``). Completion-style prompts are always sent
            as ``text + prefill``.
        chat_default: whether the model is best prompted in the chat style.

    Optional: ``busy_sequences``, how many sequences per ``generate`` call keep a slow
    backend busy; the generate stage then sends (and writes) smaller chunks than
    ``GenerationConfig.chunk_sequences`` (:func:`codepref.generation.stage.chunk_size`);
    ``min_chunk_sequences``, how many a call needs so that the backend's batch stays full
    for most of it (the generate stage then sends at least that many).
    """

    id: str
    prefill_chat: bool
    chat_default: bool

    def generate(self, requests: Sequence[Request], progress: GenProgress | None = None) -> list[list[Completion]]:
        """For each request, ``request.n`` completions (in seed order)."""
        ...

    def close(self) -> None:
        """Free the model (memory, server connections)."""
        ...


GENERATORS: Registry[Callable[..., Generator]] = Registry("backend")
GENERATORS.register("llamacpp", "codepref.generation.llamacpp:LlamaCppGenerator")
GENERATORS.register("hf", "codepref.generation.hf:HFGenerator")
GENERATORS.register("torch", "codepref.generation.torchgen:TorchGenerator")
GENERATORS.register("openai", "codepref.generation.openai:OpenAIGenerator")
GENERATORS.register("vllm", "codepref.generation.vllm:VLLMGenerator")


#: The backend name that stands for the fastest measured local backend for the model here.
AUTO = "auto"


def default_backend(model: str) -> str:
    """The backend :data:`AUTO` (the default) stands for with ``model`` on this machine.

    ``torch`` (codepref's own decoder, :mod:`codepref.generation.torchgen`) for a packaged
    name whose :attr:`~codepref.generation.models.PackagedModel.cpu_backend` says so, on a
    CPU with native bf16 dot products, with torch and transformers installed; else
    ``llamacpp``. The choice is made without importing either, so a config can be read
    without them."""
    from importlib.util import find_spec

    from codepref.generation.models import MODELS, native_bf16

    if model in MODELS:
        chosen = MODELS.get(model).cpu_backend
        if chosen and native_bf16() and all(find_spec(m) for m in ("torch", "transformers")):
            return chosen
    return "llamacpp"


def concrete_backend(backend: str, model: str) -> str:
    """``backend``, with :data:`AUTO` replaced by :func:`default_backend` for ``model``."""
    return default_backend(model) if backend == AUTO else backend


def describe(gen: Generator) -> dict[str, Any]:
    """What a generator open in another process (a worker of
    :class:`~codepref.generation.pool.ProcessPoolGenerator`, a Ray actor) reports about itself,
    so that its stand-in here can say the same (:func:`mirror`)."""
    return {"id": gen.id, "prefill_chat": gen.prefill_chat, "chat_default": gen.chat_default,
            "render": hasattr(gen, "render"), "busy_sequences": getattr(gen, "busy_sequences", None),
            "min_chunk_sequences": getattr(gen, "min_chunk_sequences", None)}


def mirror(proxy: Any, info: dict[str, Any]) -> None:
    """Give ``proxy`` the ``id``, ``prefill_chat`` and ``chat_default`` that :func:`describe`
    reported, and take its ``render`` away where the backend has none."""
    proxy.id = info["id"]
    proxy.prefill_chat = info["prefill_chat"]
    proxy.chat_default = info["chat_default"]
    if not info["render"]:
        proxy.render = None


def chat_default(backend: str, model: str, options: dict[str, Any]) -> bool:
    """What a backend's ``chat_default`` will be for ``model``, without loading anything.

    The ``openai`` backend takes it from its ``chat`` option (default true: a served name
    says nothing about the model); the others from the model (packaged models record it,
    any other model is taken for an instruct model), as their constructors do.

    Raises:
        ModelError: a local model path that does not exist.
    """
    if backend == "openai":
        return bool(options.get("chat", True))
    from codepref.generation.models import resolve

    return resolve(model).chat


def open_generator(backend: str, model: str, **options: Any) -> Generator:
    """Load ``model`` with ``backend`` (a registered name, or :data:`AUTO`: see
    :func:`default_backend`); ``options`` are the backend's keyword arguments.

    One option every backend takes: ``processes``, by default the backend's
    ``default_processes()`` where it has one (llama.cpp: 2 on a machine with 2 or more
    cores), else 1. With ``processes > 1`` the backend runs in that many local worker
    processes that share each call's requests
    (:class:`~codepref.generation.pool.ProcessPoolGenerator`; each worker gets
    ``cores // processes`` threads where the backend takes ``n_threads``).

    Raises:
        UnknownNameError: no such backend.
        ConfigError: options the backend does not take (all listed at once), a bad ``processes``.
        ModelError: the model cannot be found or loaded.
    """
    backend = concrete_backend(backend, model)
    factory = GENERATORS.get(backend)
    processes = options.pop("processes", None)
    if processes is None:
        processes = factory.default_processes() if hasattr(factory, "default_processes") else 1
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ConfigError([f"option processes must be a whole number >= 1, got {processes!r}"])
    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            known = ", ".join(["processes", *(p for p in params if p != "model")])
            # options written for llama.cpp meet the torch backend where auto chose it
            why = (f"; the default backend (auto) runs {model} with {backend} on this CPU, name the backend "
                   "llamacpp for llama.cpp's options" if backend != "llamacpp" and default_backend(model) == backend
                   else "")
            raise ConfigError([f"backend {backend!r} takes no option {k!r} (options: {known}){why}" for k in unknown])
    if processes > 1:
        from codepref.generation.pool import ProcessPoolGenerator

        return ProcessPoolGenerator(backend, model, options, processes, takes_threads="n_threads" in params)
    return factory(model, **options)
