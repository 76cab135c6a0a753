"""DPO/KTO mechanics on a tiny random-initialised Qwen2 (CPU, seconds per run).

The model is built offline from a config (codepref.training.tiny); what is checked is the
machinery, not model quality: the DPO loss falls and the reward accuracy rises on a fixed
pair set, only the LoRA weights move, the saved adapter reloads to the same logits, a crash
resumes from its checkpoint to the same result, merging gives the same logits, and KTO runs
on unpaired data.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from codepref.errors import InputError
from codepref.records import iter_jsonl
from codepref.training import TrainConfig, load_adapter, merge, train
from codepref.training.data import load_rows
from codepref.training.trainer import reference_cache_file
from codepref.training.tiny import build_random_model

FUNCS = [("add", "+", "-"), ("mul", "*", "+"), ("sub", "-", "*"), ("div", "/", "%"), ("mod", "%", "//"),
         ("pow", "**", "*")]


def _pairs(path):
    with open(path, "w") as fh:
        for name, good, bad in FUNCS:
            prompt = f"Write {name}(a, b).\n"
            fh.write(json.dumps({"prompt": prompt, "chosen": f"def {name}(a, b):\n    return a {good} b\n",
                                 "rejected": f"def {name}(a, b):\n    return a {bad} b\n", "task_id": name,
                                 "scorer": "codet", "chosen_score": 2.0, "rejected_score": 0.0, "why": "x"}) + "\n")
    return path


def _labelled(path):
    with open(path, "w") as fh:
        for name, good, bad in FUNCS:
            for op, label in ((good, True), (bad, False)):
                fh.write(json.dumps({"prompt": f"Write {name}(a, b).\n", "label": label,
                                     "completion": f"def {name}(a, b):\n    return a {op} b\n"}) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_random_model(tmp_path_factory.mktemp("tiny"), "tiny", seed=0))


def _metrics(out):
    return [obj for _, obj in iter_jsonl(out / "metrics.jsonl")]


class _Spy:
    """A TrainerCallback that snapshots the weights at the start and keeps the final model."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Spy(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kw):
                self.before = {n: p.detach().clone() for n, p in model.named_parameters()}

            def on_train_end(self, args, state, control, model=None, **kw):
                self.model = model

        return Spy()


CFG = dict(learning_rate=1e-2, grad_accum=1, batch_size=2, max_steps=6, save_steps=2, lora_r=4, lora_alpha=8)


@pytest.fixture(scope="module")
def dpo_run(tiny, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dpo")
    spy = _Spy()
    ticks = []

    def progress(done, total):
        ticks.append((done, total))
        return lambda n: ticks.append(n)

    result = train(_pairs(tmp / "pairs.jsonl"), tiny, tmp / "out", TrainConfig(**CFG), progress=progress,
                   callbacks=(spy,))
    return tmp, result, spy, ticks


def test_dpo_loss_falls_and_reward_accuracy_rises(dpo_run):
    tmp, result, _, ticks = dpo_run
    rows = _metrics(tmp / "out")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6] and result.steps == 6
    first, last = rows[0], rows[-1]
    # Step 1: the adapter starts as a no-op (B = 0), so policy == reference and loss = ln 2.
    # Equal only up to float rounding: the cached reference pass and the training forward run
    # different GEMM shapes, and on some CPUs (AVX-512) a reward comes out 4e-7 instead of 0,
    # so step 1's reward accuracy is 0 or 0.5 by rounding alone; the margin is ~0 either way.
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5) and abs(first["rewards/margins"]) < 1e-4
    assert last["loss"] < first["loss"] - 0.01
    assert min(r["rewards/accuracies"] for r in rows[-2:]) > 0.0
    assert last["rewards/margins"] > 0 and last["rewards/chosen"] > last["rewards/rejected"]
    assert ticks == [(0, 6), 1, 1, 1, 1, 1, 1]
    run = json.loads((tmp / "out" / "train_config.json").read_text())
    assert run["status"] == "complete" and run["config"]["device"] == "cpu"
    assert run["config"]["quantization"] == "none" and run["pairs"]["rows"] == len(FUNCS)
    assert sorted(p.name for p in (tmp / "out").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "train_config.json"]


def test_only_lora_weights_change(dpo_run):
    _, _, spy, _ = dpo_run
    after = dict(spy.model.named_parameters())
    lora = [n for n in after if "lora_" in n]
    base = [n for n in after if "lora_" not in n]
    assert lora and base
    assert all(not torch.equal(spy.before[n], after[n]) for n in lora if "lora_B" in n)
    assert all(torch.equal(spy.before[n], after[n]) for n in base)
    assert all(not after[n].requires_grad for n in base)


def test_saved_adapter_reloads_with_identical_logits(dpo_run, tiny):
    tmp, _, spy, _ = dpo_run
    ids = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])
    spy.model.eval()
    with torch.no_grad():
        want = spy.model(input_ids=ids).logits
        with spy.model.disable_adapter():
            base_logits = spy.model(input_ids=ids).logits
    reloaded, _ = load_adapter(tmp / "out")
    with torch.no_grad():
        got = reloaded(input_ids=ids).logits
    assert torch.equal(got, want)
    assert not torch.allclose(want, base_logits)  # the adapter does change the model


def test_merge_gives_the_same_logits_and_checks_the_base(dpo_run, tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    tmp, _, spy, _ = dpo_run
    out = merge(tmp / "out", tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    ids = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, spy.model(input_ids=ids).logits, atol=1e-5)
    other = build_random_model(tmp_path / "other", "tiny", num_hidden_layers=3)
    with pytest.raises(InputError, match=r"trained on another model .*num_hidden_layers 2 != 3"):
        merge(tmp / "out", tmp_path / "merged2", str(other))
    with pytest.raises(InputError, match="already exists and is not empty"):
        merge(tmp / "out", out)


def test_rerun_skips_and_changed_settings_are_refused(dpo_run, tiny, tmp_path):
    from codepref.errors import OutputMismatchError

    tmp, result, _, _ = dpo_run
    again = train(tmp / "pairs.jsonl", tiny, tmp / "out", TrainConfig(**CFG))
    assert again.skipped and again.steps == result.steps
    with pytest.raises(OutputMismatchError, match="other settings"):
        train(tmp / "pairs.jsonl", tiny, tmp / "out", TrainConfig(**{**CFG, "beta": 0.2}))
    other = build_random_model(tmp_path / "other", "tiny", num_hidden_layers=3)
    with pytest.raises(InputError, match=r"run in .* was trained on another model .*num_hidden_layers 2 != 3"):
        train(tmp / "pairs.jsonl", str(other), tmp / "out", TrainConfig(**CFG), resume=True)


def test_interrupted_run_resumes_to_the_same_adapter(dpo_run, tiny, tmp_path):
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    tmp, _, _, _ = dpo_run

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise RuntimeError("simulated crash")

    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tmp / "pairs.jsonl", tiny, out, TrainConfig(**CFG), callbacks=(Crash(),))
    assert (out / "checkpoints" / "checkpoint-2").is_dir() and not (out / "adapter_model.safetensors").exists()
    with pytest.raises(InputError, match="pass --resume"):
        train(tmp / "pairs.jsonl", tiny, out, TrainConfig(**CFG))
    result = train(tmp / "pairs.jsonl", tiny, out, TrainConfig(**CFG), resume=True)
    assert result.steps == 6
    assert [r["step"] for r in _metrics(out)] == [1, 2, 3, 4, 5, 6]
    run = json.loads((out / "train_config.json").read_text())
    assert run["result"]["resumed_from"] == "checkpoint-2" and not (out / "checkpoints").exists()
    straight = load_file(tmp / "out" / "adapter_model.safetensors")
    resumed = load_file(out / "adapter_model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.allclose(straight[k], resumed[k], atol=1e-6) for k in straight)


def test_continued_adapter_starts_from_itself_and_is_the_reference(dpo_run, tiny, tmp_path):
    """``init_adapter`` (the pipeline's round k > 1): training starts from that adapter's
    weights, and the reference is that adapter, not the base. So at step 1 policy ==
    reference: loss ln 2 and margin ~0, although the adapter already prefers the chosen
    answers (against the base, the first run ended with a clear margin). Only the trained
    adapter is saved (TRL's frozen "ref" copy is not), and the reference cache and the
    settings hash know which adapter was continued."""
    from safetensors.torch import load_file

    from codepref.errors import OutputMismatchError

    tmp, _, _, _ = dpo_run
    init = tmp / "out"
    first_margin = _metrics(init)[-1]["rewards/margins"]
    spy = _Spy()
    out = tmp_path / "round2"
    cfg = TrainConfig(**{**CFG, "max_steps": 2})
    result = train(tmp / "pairs.jsonl", tiny, out, cfg, callbacks=(spy,), init_adapter=init)
    assert result.steps == 2
    rows = _metrics(out)
    assert rows[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert abs(rows[0]["rewards/margins"]) < min(1e-3, first_margin / 10)

    start = load_file(init / "adapter_model.safetensors")
    before = {n.replace(".default.", "."): w for n, w in spy.before.items() if ".default." in n}
    assert before.keys() == start.keys()
    assert all(torch.equal(before[k], start[k]) for k in start)
    saved = load_file(out / "adapter_model.safetensors")
    assert saved.keys() == start.keys()
    assert any(not torch.allclose(saved[k], start[k]) for k in start)
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "train_config.json"]

    run = json.loads((out / "train_config.json").read_text())
    assert run["init_adapter"]["path"] == str(init) and len(run["init_adapter"]["sha256"]) == 64
    rows_in = load_rows(tmp / "pairs.jsonl", "dpo").rows
    resolved = cfg.resolve(cuda_available=False)
    with_init = reference_cache_file(resolved, tiny, rows_in, run["init_adapter"]["sha256"])
    assert with_init.is_file() and with_init != reference_cache_file(resolved, tiny, rows_in)
    # The same folder without the init adapter is another run.
    with pytest.raises(OutputMismatchError, match="other settings"):
        train(tmp / "pairs.jsonl", tiny, out, cfg)


def test_init_adapter_must_fit_the_config_and_the_model(dpo_run, tiny, tmp_path):
    from codepref.errors import ConfigError

    tmp, _, _, _ = dpo_run
    with pytest.raises(ConfigError, match="lora_r 8 != the init adapter's r 4"):
        train(tmp / "pairs.jsonl", tiny, tmp_path / "a", TrainConfig(**{**CFG, "lora_r": 8}), init_adapter=tmp / "out")
    with pytest.raises(InputError, match="not a LoRA adapter folder"):
        train(tmp / "pairs.jsonl", tiny, tmp_path / "b", TrainConfig(**CFG), init_adapter=tmp_path)
    other = build_random_model(tmp_path / "other", "tiny", num_hidden_layers=3)
    with pytest.raises(InputError, match=r"init adapter .* was trained on another model"):
        train(tmp / "pairs.jsonl", str(other), tmp_path / "c", TrainConfig(**CFG), init_adapter=tmp / "out")


def test_kto_runs_on_unpaired_data(tiny, tmp_path):
    cfg = TrainConfig(method="kto", learning_rate=1e-2, grad_accum=1, batch_size=4, max_steps=3, lora_r=4)
    result = train(_labelled(tmp_path / "kto.jsonl"), tiny, tmp_path / "out", cfg)
    rows = _metrics(tmp_path / "out")
    assert result.steps == 3 and [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and "kl" in r for r in rows)
    # Step 1: policy == reference, so every reward r and the KL estimate z0 are 0 and each
    # sample's loss is 1 - sigmoid(beta * 0) = 0.5.
    assert rows[0]["loss"] == pytest.approx(0.5, abs=1e-6)
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "out" / "adapter_model.safetensors")
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in weights.items())
    run = json.loads((tmp_path / "out" / "train_config.json").read_text())
    assert run["config"]["loss_type"] == "kto" and (tmp_path / "out" / "adapter_model.safetensors").is_file()
    with pytest.raises(InputError, match="use --method kto"):
        train(tmp_path / "kto.jsonl", tiny, tmp_path / "out2", TrainConfig())


def test_cpu_lm_head_scores_only_completions_and_matches_full_logits(tiny):
    """The fused LM head on CPU (prompt positions skipped) equals log_softmax of full logits."""
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from codepref.training.trainer import score_only_completions_on_cpu

    score_only_completions_on_cpu()
    model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    with torch.no_grad():
        ids = torch.randint(0, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
        full = torch.log_softmax(model(input_ids=ids).logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        add_fused_lm_head(model)
        labels = ids.masked_fill(torch.arange(12) < 5, -100)  # a 5-token prompt
        labels[1, -3:] = -100  # and padding
        fused = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
    mask = labels[:, 1:] != -100
    assert torch.allclose(fused[mask], full[mask], atol=1e-5)
    assert torch.equal(fused[~mask], torch.zeros_like(fused[~mask]))


def test_cli_train_and_merge(tiny, tmp_path):
    from click.testing import CliRunner

    from codepref.cli import main

    pairs = _pairs(tmp_path / "pairs.jsonl")
    args = ["train", "--pairs", str(pairs), "--model", tiny, "--out", str(tmp_path / "out"), "--max-steps", "2",
            "--lr", "1e-2", "--set", "grad_accum=1", "--set", "lora_r=4"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "trained 2 steps; last step: loss" in r.output and r.output.strip().endswith(str(tmp_path / "out"))
    run = json.loads((tmp_path / "out" / "train_config.json").read_text())
    assert run["config"]["lora_r"] == 4 and run["config"]["learning_rate"] == 1e-2
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "already holds this finished run (2 steps)" in r.output
    r = CliRunner().invoke(main, ["merge", "--adapter", str(tmp_path / "out"), "--out", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "merged" / "config.json").is_file() and (tmp_path / "merged" / "model.safetensors").is_file()
    other = build_random_model(tmp_path / "other", "tiny", hidden_size=32)
    r = CliRunner().invoke(main, ["merge", "--adapter", str(tmp_path / "out"), "--out", str(tmp_path / "m2"),
                                  "--model", str(other)])
    assert r.exit_code == 2 and "error:" in r.output and "hidden_size 64 != 32" in r.output
    assert not (tmp_path / "m2").exists()


def test_cpu_defaults_train_the_same_as_plain_trl_batches(dpo_run, tiny, tmp_path):
    # The default run (CPU: one pair per forward pass, reference log-probs precomputed, each
    # pair packed with its prompt computed once) and TRL's plain way (both pairs in one padded
    # pass of two rows each, a reference forward every step) take the same steps.
    tmp, _, _, _ = dpo_run
    run = json.loads((tmp / "out" / "train_config.json").read_text())
    assert run["config"]["micro_batch"] == 1 and run["config"]["precompute_ref"] is True
    assert run["config"]["share_prompt"] is True
    train(tmp / "pairs.jsonl", tiny, tmp_path / "out",
          TrainConfig(**CFG, precompute_ref=False, micro_batch=2, share_prompt=False))
    want = [r["loss"] for r in _metrics(tmp / "out")]
    got = [r["loss"] for r in _metrics(tmp_path / "out")]
    assert got == pytest.approx(want, abs=1e-5)


def test_reference_log_probs_are_computed_once_per_pairs_and_model(dpo_run, tiny, tmp_path):
    tmp, _, _, _ = dpo_run
    rows = load_rows(tmp / "pairs.jsonl", "dpo").rows
    cfg = TrainConfig(**CFG).resolve(cuda_available=False)
    cache = reference_cache_file(cfg, tiny, rows)
    assert cache.is_file()  # written by dpo_run
    ref = json.loads(cache.read_text())
    assert len(ref["chosen"]) == len(ref["rejected"]) == len(rows)
    assert all(isinstance(x, float) and x < 0 for x in ref["chosen"] + ref["rejected"])
    # Another beta and learning rate on the same pairs and model: the same key, no reference pass.
    other = dataclasses.replace(cfg, beta=0.3, learning_rate=5e-3)
    assert reference_cache_file(other, tiny, rows) == cache
    seen = []
    train(tmp / "pairs.jsonl", tiny, tmp_path / "out", TrainConfig(**{**CFG, "beta": 0.3, "learning_rate": 5e-3}),
          ref_progress=lambda done, total: seen.append((done, total)) or (lambda n: None))
    assert seen == [] and (tmp_path / "out" / "adapter_model.safetensors").is_file()
    # Other rows or another max_length: another key.
    assert reference_cache_file(cfg, tiny, rows[:-1]) != cache
    assert reference_cache_file(dataclasses.replace(cfg, max_length=cfg.max_length - 1), tiny, rows) != cache
    # A missing cache file is computed again, with progress over the pairs.
    cache.unlink()
    train(tmp / "pairs.jsonl", tiny, tmp_path / "again", TrainConfig(**CFG),
          ref_progress=lambda done, total: seen.append((done, total)) or (lambda n: seen.append(n)))
    assert seen[0] == (0, len(rows)) and sum(seen[1:]) == len(rows) and cache.is_file()
    again = json.loads(cache.read_text())
    assert again["chosen"] == pytest.approx(ref["chosen"], abs=1e-5)
    assert again["rejected"] == pytest.approx(ref["rejected"], abs=1e-5)




def test_rpo_adds_the_chosen_answers_mean_nll(tiny, tmp_path):
    """RPO (``nll_weight``): step 1's loss is ln 2 (policy == reference) plus alpha times the
    chosen answers' mean per-token NLL; for a random-initialised model that NLL is about
    ln(vocabulary), and it scales with alpha."""
    from transformers import AutoConfig

    pairs = _pairs(tmp_path / "pairs.jsonl")
    one = dict(learning_rate=1e-2, grad_accum=1, batch_size=len(FUNCS), max_steps=1, lora_r=4)
    first = {}
    for alpha in (0.0, 1.0, 2.0):
        train(pairs, tiny, tmp_path / f"a{alpha}", TrainConfig(**one, nll_weight=alpha))
        first[alpha] = _metrics(tmp_path / f"a{alpha}")[0]["loss"]
        run = json.loads((tmp_path / f"a{alpha}" / "train_config.json").read_text())
        assert run["config"]["nll_weight"] == alpha
    nll = first[1.0] - math.log(2)
    assert first[0.0] == pytest.approx(math.log(2), abs=1e-5)
    assert first[2.0] - math.log(2) == pytest.approx(2 * nll, rel=1e-4)
    vocab = AutoConfig.from_pretrained(tiny).vocab_size
    assert 0.5 * math.log(vocab) < nll < 1.5 * math.log(vocab)


def test_packed_pairs_give_the_two_row_log_probs_and_gradients(tiny, tmp_path, monkeypatch):
    """The shared-prompt forward (one packed row per pair) against TRL's two-row forward, on a
    batch of 3 pairs (padding) whose answers share their first tokens, with a non-zero adapter."""
    from codepref.training.shared_prefix import pack_pairs, share_prompt_forward
    from codepref.training.trainer import build_trainer, load_base

    cfg = TrainConfig(**CFG, share_prompt=False).resolve(cuda_available=False)
    model, tokenizer = load_base(tiny, cfg)
    rows = load_rows(_pairs(tmp_path / "pairs.jsonl"), "dpo").rows
    trainer = build_trainer(cfg, model, tokenizer, rows, str(tmp_path / "ckpt"))
    peft_model = trainer.model
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in (0, 3, 5)])
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    kwargs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels,
                  fused_lm_head=True, use_cache=False)
    weights = torch.randn(labels[:, 1:].shape, generator=gen)

    def run():
        peft_model.zero_grad()
        out = peft_model(**kwargs)
        (out.log_probs * weights).sum().backward()
        grads = {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.grad is not None}
        return out, grads

    plain, plain_grads = run()
    import codepref.training.shared_prefix as shared_prefix

    packs = []
    monkeypatch.setattr(shared_prefix, "pack_pairs", lambda *a: packs.append(a) or pack_pairs(*a))
    share_prompt_forward(peft_model.get_base_model())
    shared, shared_grads = run()
    assert len(packs) == 1
    mask = labels[:, 1:] != -100
    assert mask.sum() > 0 and torch.equal(shared.label_mask, mask)
    assert torch.allclose(shared.log_probs[mask], plain.log_probs[mask], atol=1e-5)
    assert torch.equal(shared.log_probs[~mask], torch.zeros_like(shared.log_probs[~mask]))
    assert torch.allclose(shared.entropy[mask], plain.entropy[mask], atol=1e-4)
    assert torch.equal(shared.is_top1[mask], plain.is_top1[mask])
    assert plain_grads.keys() == shared_grads.keys() and any("lora_A" in n for n in plain_grads)
    for n in plain_grads:
        assert torch.allclose(shared_grads[n], plain_grads[n], atol=1e-5, rtol=1e-4), n
    # the packing: a pair's answers share their first tokens, so each packed row is shorter than
    # its two rows together by the prompt and that shared start (less the repeated token)
    packed = pack_pairs(batch["input_ids"], batch["attention_mask"], labels, torch.float32)
    lengths = batch["attention_mask"].sum(dim=1)
    prompt = int((batch["completion_mask"][0] == 0).sum())
    for i in range(3):
        n = int((packed.position_ids[i] > 0).sum()) + 1
        assert n < int(lengths[i] + lengths[3 + i]) - prompt


def test_pairs_with_sampled_ids_train_on_them(tiny, tmp_path, caplog):
    """DPO and KTO files whose records carry the sampled ids (here another split of each
    chosen text than the tokenizer's, as a sampler can take) train to the end, and every row
    trains on those ids (codepref.training.sampled_ids; the replacement itself is unit-tested)."""
    import logging

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)

    def ids(text):
        return tok(text, add_special_tokens=False)["input_ids"]

    def other_split(text):
        return next(alt for k in range(1, len(text)) if (alt := ids(text[:k]) + ids(text[k:])) != ids(text))

    pairs, labelled = [], []
    for name, good, bad in FUNCS:
        prompt, chosen, rejected = f"Write {name}(a, b).\n", f"def {name}(a, b): return a {good} b\n", \
            f"def {name}(a, b): return a {bad} b\n"
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected,
                      "chosen_sampled_ids": other_split(chosen), "rejected_sampled_ids": ids(rejected)})
        labelled += [{"prompt": prompt, "completion": chosen, "label": True, "completion_sampled_ids": other_split(chosen)},
                     {"prompt": prompt, "completion": rejected, "label": False, "completion_sampled_ids": ids(rejected)}]
    for name, rows in (("dpo.jsonl", pairs), ("kto.jsonl", labelled)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    caplog.set_level(logging.INFO, logger="codepref.training.sampled_ids")
    dpo = train(tmp_path / "dpo.jsonl", tiny, tmp_path / "dpo", TrainConfig(**{**CFG, "max_steps": 2}))
    kto = train(tmp_path / "kto.jsonl", tiny, tmp_path / "kto",
                TrainConfig(method="kto", learning_rate=1e-2, grad_accum=1, batch_size=4, max_steps=2, lora_r=4))
    assert dpo.steps == 2 and kto.steps == 2
    said = [r.getMessage() for r in caplog.records if r.name == "codepref.training.sampled_ids"]
    assert said == [f"train: {len(pairs)} of {len(pairs)} rows train on the sampled token ids "
                    f"({len(pairs)} differ from the tokenizer's split)",
                    f"train: {len(labelled)} of {len(labelled)} rows train on the sampled token ids "
                    f"({len(pairs)} differ from the tokenizer's split)"]
