"""transformers backend: batched ``generate`` on any device, with an optional LoRA adapter.

All samples of all requests are flattened, sorted by prompt length (less padding) and
generated ``batch_size`` at a time with left padding. A batch shares torch's random
generator, seeded with the seed of its first sample: runs are reproducible for the same
batch composition, but a sample's text is not a function of its own seed alone (unlike
``llamacpp`` and ``vllm``).

Log-probabilities: a logits processor placed first sees each step's logits before the
sampling warpers (temperature, top-p) and records ``log_softmax(logits)[token]`` of the
token chosen at the previous step; the sum over a sequence's tokens (through its end
token) is :attr:`Completion.logprob`.
"""

from __future__ import annotations

from collections.abc import Sequence

from codepref.generation.backend import Completion, GenProgress, Request
from codepref.generation.models import ModelError, resolve
from codepref.generation.prompts import PromptSpec

_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>")


def end_token_ids(tok) -> set[int]:
    """The ids that end a generation for a transformers tokenizer ``tok``: its EOS token and
    the chat models' end-of-turn tokens it knows (:data:`_END_TOKENS`)."""
    vocab = tok.get_vocab()
    ends = {tok.eos_token_id} | {vocab[t] for t in _END_TOKENS if t in vocab}
    return {i for i in ends if i is not None}


def render_with_template(tok, prompt: PromptSpec, owner: str) -> str:
    """``prompt`` as one string for a transformers tokenizer ``tok``: a completion prompt's
    text, or its messages through the tokenizer's chat template; then the prefill.

    Raises:
        ModelError: chat messages and a tokenizer without a chat template (``owner`` names
            the generator in the message).
    """
    if prompt.text is not None:
        return prompt.text + prompt.prefill
    if not tok.chat_template:
        raise ModelError(f"{owner} has no chat template; use the completion prompt style")
    return tok.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True) + prompt.prefill


class HFGenerator:
    """Batched transformers generation.

    Args:
        model: a packaged model name (its safetensors copy is made once from the GGUF), a
            local transformers folder, or a Hugging Face id.
        batch_size: sequences per ``generate`` call.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU: bf16 is far slower on CPUs),
            ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        adapter: a peft LoRA adapter folder applied on top of the model.
        logprobs: record per-token log-probabilities.
    """

    prefill_chat = True

    def __init__(self, model: str, *, batch_size: int = 8, device: str = "auto", dtype: str = "auto",
                 adapter: str | None = None, logprobs: bool = True):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise ModelError(f"the hf backend needs torch and transformers ({e}); install codepref[hf]") from None
        ref = resolve(model)
        self.id = f"hf:{model}" + (f"+{adapter}" if adapter else "")
        self.chat_default = ref.chat
        self.batch_size = max(1, int(batch_size))
        # two batches per chunk of the generate stage: busy, and results written every few tasks
        self.busy_sequences = 2 * self.batch_size
        self.logprobs = logprobs
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if dtype == "auto":
            dtype = "bfloat16" if self.device.type == "cuda" else "float32"
        path = ref.transformers_path(fetch_missing=True)
        from codepref.quiet import quiet_libraries

        quiet_libraries()  # e.g. transformers' per-file "Loading weights" bars: noise in a run's log
        try:
            self.tok = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        except (OSError, ValueError) as e:
            raise ModelError(f"transformers cannot load {model!r}: {str(e).splitlines()[0]}") from None
        if adapter:
            try:
                from peft import PeftModel
            except ImportError as e:
                raise ModelError(f"a LoRA adapter needs peft ({e})") from None
            try:
                self.model = PeftModel.from_pretrained(self.model, adapter)
            except (OSError, ValueError) as e:
                raise ModelError(f"peft cannot load the adapter {adapter}: {str(e).splitlines()[0]}") from None
        self.model.to(self.device).eval()
        self.tok.padding_side = "left"
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.end_ids = sorted(end_token_ids(self.tok))

    def render(self, prompt: PromptSpec) -> str:
        """The prompt as one string: the chat template applied to messages, plus the prefill."""
        return render_with_template(self.tok, prompt, self.id)

    def generate(self, requests: Sequence[Request], progress: GenProgress | None = None) -> list[list[Completion]]:
        """All samples, ``batch_size`` at a time, shortest prompts first."""
        texts = [self.render(r.prompt) for r in requests]
        lengths = [len(self.tok(t, add_special_tokens=False).input_ids) for t in texts]
        groups: dict = {}  # a batch shares sampling parameters
        for i, r in enumerate(requests):
            groups.setdefault(r.params, []).extend((i, j) for j in range(r.n))
        results: list[list[Completion | None]] = [[None] * r.n for r in requests]
        total = sum(r.n for r in requests)
        done = 0
        for items in groups.values():
            items.sort(key=lambda ij: lengths[ij[0]])
            for start in range(0, len(items), self.batch_size):
                batch = items[start:start + self.batch_size]
                for (i, j), c in zip(batch, self._generate_batch(requests, texts, batch)):
                    results[i][j] = c
                done += len(batch)
                if progress:
                    progress(done, total)
        return [list(r) for r in results]  # type: ignore[arg-type]

    def _generate_batch(self, requests, texts, batch) -> list[Completion]:
        import torch

        first = requests[batch[0][0]]
        p = first.params
        stops = sorted({s for i, _ in batch for s in requests[i].prompt.stop})
        enc = self.tok([texts[i] for i, _ in batch], return_tensors="pt", padding=True,
                       add_special_tokens=False).to(self.device)
        torch.manual_seed(first.seeds[batch[0][1]])
        recorder = _LogprobRecorder() if self.logprobs else None
        kwargs = dict(max_new_tokens=p.max_tokens, eos_token_id=self.end_ids, pad_token_id=self.tok.pad_token_id,
                      repetition_penalty=1.0, top_k=None)
        if p.temperature > 0:
            kwargs.update(do_sample=True, temperature=p.temperature, top_p=p.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None)
        if stops:
            kwargs.update(stop_strings=stops, tokenizer=self.tok)
        if recorder is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([recorder])
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        prompt_len = enc["input_ids"].shape[1]
        gen = out[:, prompt_len:]
        step_lp = recorder.finish(gen) if recorder is not None else None
        stop_ids = set(self.end_ids)
        completions = []
        for row, (i, _) in enumerate(batch):
            ids = gen[row].tolist()
            n = len(ids)
            finish = "length"
            for k, t in enumerate(ids):
                if t in stop_ids:
                    n, finish = k + 1, "stop"
                    break
                if t == self.tok.pad_token_id:
                    n, finish = k, "stop"
                    break
            text = self.tok.decode(ids[:n], skip_special_tokens=True)
            cut = min((x for x in (text.find(s) for s in requests[i].prompt.stop) if x >= 0), default=-1)
            if cut >= 0:
                text, finish = text[:cut], "stop"
            completions.append(Completion(
                text=text,
                prompt_tokens=int(enc["attention_mask"][row].sum()),
                completion_tokens=n,
                logprob=float(step_lp[row, :n].sum()) if step_lp is not None else None,
                finish_reason=finish,
            ))
        return completions

    def close(self) -> None:
        """Drop the model (and free CUDA memory)."""
        import torch

        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class _LogprobRecorder:
    """A logits processor recording log p(chosen token) per step (see the module docstring)."""

    def __init__(self):
        self.prev = None
        self.picked = []

    def __call__(self, input_ids, scores):
        import torch

        if self.prev is not None:
            self.picked.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, gen):
        """Per-step log-probs, shape (batch, generated tokens)."""
        import torch

        if self.prev is not None and gen.shape[1] > len(self.picked):
            self.picked.append(self.prev.gather(1, gen[:, len(self.picked):len(self.picked) + 1]).squeeze(1))
        if not self.picked:
            return torch.zeros(gen.shape[0], 0)
        return torch.stack(self.picked, dim=1).cpu()
