"""Generation: sampling candidate solutions and self-generated tests from a model.

* :mod:`codepref.generation.models` — packaged models (PyPI-shipped GGUFs), the cache, and
  :func:`~codepref.generation.models.gguf_path` / :func:`~codepref.generation.models.safetensors_dir`
  (the fp32 copy training loads).
* :mod:`codepref.generation.backend` — the :class:`~codepref.generation.backend.Generator`
  protocol and the :data:`~codepref.generation.backend.GENERATORS` registry of backends:
  ``llamacpp``, ``torch`` (codepref's own decoder), ``hf`` (transformers), ``openai`` (any
  OpenAI-compatible server), ``vllm`` (GPU), one module each; ``auto``
  (:func:`~codepref.generation.backend.default_backend`) picks torch or llama.cpp on a CPU.
* :mod:`codepref.generation.prompts` — every prompt template (solutions and tests).
* :mod:`codepref.generation.protocols` — named evaluation protocols (``chat``,
  ``completion``, ``qwen-coder``, ``evalplus-instruct``): prompt, stops, max tokens, extraction.
* :mod:`codepref.generation.testparse` — model output -> single independent asserts.
* :mod:`codepref.generation.extract` — code out of chat answers, EvalPlus-style sanitising.
* :mod:`codepref.generation.stage` — tasks -> samples JSONL (resumable), used by
  ``codepref generate`` (:mod:`codepref.tasks.source` resolves ``--tasks``).

Importing this package imports no model library.
"""
