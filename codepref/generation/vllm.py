"""vLLM backend (CUDA GPUs), written to vLLM's documented offline API.

``vllm.LLM`` loads the model once; :meth:`VLLMGenerator.generate` submits one prompt per
sample, each with its own ``vllm.SamplingParams(seed=...)``, in a single ``LLM.generate``
call so vLLM batches everything (continuous batching, shared prefixes). A LoRA adapter
goes through ``vllm.lora.request.LoRARequest`` (the LLM is created with ``enable_lora``).
``SamplingParams(logprobs=0)`` returns the sampled token's log-probability, summed in
``CompletionOutput.cumulative_logprob``. Chat prompts are rendered with the model's
tokenizer (``apply_chat_template``) plus the prefill, so they behave as in ``hf``.

vllm is imported only when this backend is used (it is not installable on CPU-only
machines); codepref's CPU CI does not run it.
"""

from __future__ import annotations

from collections.abc import Sequence

from codepref.generation.backend import Completion, GenProgress, Request
from codepref.generation.models import ModelError, resolve
from codepref.generation.prompts import PromptSpec


class VLLMGenerator:
    """Generation with vLLM.

    Args:
        model: a packaged model name (its safetensors copy), a local folder or a HF id.
        adapter: a peft LoRA adapter folder.
        max_lora_rank: the largest LoRA rank vLLM reserves room for.
        gpu_memory_utilization: share of GPU memory vLLM may take.
        max_model_len: context length (default: the model's).
        dtype: ``"auto"``, ``"bfloat16"``, ``"float16"`` ...
        logprobs: return the sampled tokens' log-probabilities.
    """

    prefill_chat = True

    def __init__(self, model: str, *, adapter: str | None = None, max_lora_rank: int = 64,
                 gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 dtype: str = "auto", logprobs: bool = True):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ModelError(f"the vllm backend needs vllm on a CUDA machine ({e}); install codepref[gpu]") from None
        ref = resolve(model)
        self.id = f"vllm:{model}" + (f"+{adapter}" if adapter else "")
        self.chat_default = ref.chat
        self.logprobs = logprobs
        kwargs = dict(model=ref.transformers_path(fetch_missing=True), dtype=dtype,
                      gpu_memory_utilization=gpu_memory_utilization)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if adapter:
            kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank)
        try:
            self.llm = LLM(**kwargs)
        except Exception as e:  # noqa: BLE001 - vLLM raises many kinds on a bad model
            raise ModelError(f"vLLM cannot load {model!r}: {str(e).splitlines()[0] if str(e) else e!r}") from None
        self.lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, adapter)
        self.tok = self.llm.get_tokenizer()

    def render(self, prompt: PromptSpec) -> str:
        """The prompt as one string: the chat template applied to messages, plus the prefill."""
        if prompt.text is not None:
            return prompt.text + prompt.prefill
        return self.tok.apply_chat_template(list(prompt.messages), tokenize=False,
                                            add_generation_prompt=True) + prompt.prefill

    def generate(self, requests: Sequence[Request], progress: GenProgress | None = None) -> list[list[Completion]]:
        """Every sample as its own prompt in one ``LLM.generate`` call."""
        from vllm import SamplingParams

        items = [(i, j) for i, r in enumerate(requests) for j in range(r.n)]
        texts = [self.render(r.prompt) for r in requests]
        params = [SamplingParams(n=1, temperature=requests[i].params.temperature,
                                 top_p=requests[i].params.top_p if requests[i].params.temperature > 0 else 1.0,
                                 max_tokens=requests[i].params.max_tokens, stop=list(requests[i].prompt.stop),
                                 seed=requests[i].seeds[j], logprobs=0 if self.logprobs else None)
                  for i, j in items]
        outs = self.llm.generate([texts[i] for i, _ in items], params, lora_request=self.lora, use_tqdm=False)
        results: list[list[Completion | None]] = [[None] * r.n for r in requests]
        for (i, j), out in zip(items, outs):
            c = out.outputs[0]
            results[i][j] = Completion(
                text=c.text,
                prompt_tokens=len(out.prompt_token_ids or []),
                completion_tokens=len(c.token_ids),
                logprob=c.cumulative_logprob if self.logprobs else None,
                finish_reason="length" if c.finish_reason == "length" else "stop",
            )
        if progress:
            progress(len(items), len(items))
        return [list(r) for r in results]  # type: ignore[arg-type]

    def close(self) -> None:
        """Drop the engine."""
        self.llm = None
