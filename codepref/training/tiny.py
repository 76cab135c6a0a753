"""Random-initialised models and an offline tokenizer, for mechanics tests and benchmarks.

No model hub is needed: the tokenizer is a byte-level BPE trained in memory on a few lines of
code (so it can encode any text), and the model is built from a Qwen2 config with random
weights. Two sizes are known:

* ``"tiny"``: 2 layers, hidden size 64, the tokenizer's own vocabulary (~300 tokens): a few
  hundred thousand parameters, for CPU tests that train in seconds.
* ``"0.5b"``: the shape of Qwen2.5-0.5B (24 layers, hidden 896, MLP 4864, 14 heads with 2
  key/value heads, 151,936-token vocabulary, tied embeddings): ~494M parameters. Throughput
  and memory do not depend on weight values, so this stands in for the real model where its
  weights cannot travel (the GPU smoke benchmark). Token ids beyond the small tokenizer's
  vocabulary are simply never produced by it.

Nothing here is used by the training pipeline itself.
"""

from __future__ import annotations

import os
from pathlib import Path

EOS = "<|endoftext|>"

_CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def sub(a, b):\n    return a - b\n",
    "def is_even(n):\n    return n % 2 == 0\n",
    "assert add(1, 2) == 3\nassert sub(3, 1) == 2\n",
    "for i in range(10):\n    print(i)\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n",
    "Write a function that returns the sum of a list of numbers.\n",
    "import math\nx = [1, 2, 3]\nprint(sum(x), len(x), max(x), min(x))\n",
    "if x is None:\n    raise ValueError('x must not be None')\nelse:\n    pass\n",
]

SHAPES: dict[str, dict] = {
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    ),
    "0.5b": dict(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
    ),
}


def build_tokenizer(vocab_size: int = 320):
    """A byte-level BPE tokenizer trained offline on a built-in code snippet corpus.

    Args:
        vocab_size: target vocabulary size (256 byte symbols + merges + the EOS token).

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` whose EOS (and pad) token is ``<|endoftext|>``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def build_random_model(out_dir: str | os.PathLike[str], shape: str = "tiny", *, seed: int = 0, **overrides) -> Path:
    """Write a random-initialised Qwen2 causal LM and its tokenizer to ``out_dir``.

    Args:
        out_dir: destination folder (created); gets ``config.json``, ``model.safetensors``
            and the tokenizer files, i.e. a plain Hugging Face model directory.
        shape: a key of :data:`SHAPES` (``"tiny"`` or ``"0.5b"``).
        seed: torch seed for the weights, so the same call gives the same model.
        overrides: ``Qwen2Config`` fields that replace the shape's (e.g. ``num_hidden_layers=3``).

    Returns:
        ``out_dir`` as a Path.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    kwargs = {**SHAPES[shape], **overrides}
    kwargs.setdefault("vocab_size", len(tokenizer))
    config = Qwen2Config(
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
        **kwargs,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
