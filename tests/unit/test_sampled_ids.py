"""Training scores the token ids the model sampled (codepref.training.sampled_ids).

TRL's own dataset preparation runs (DPOTrainer's and KTOTrainer's ``_prepare_dataset``, which
need no model) with the offline tiny tokenizer; the sampled ids of one completion are a
split of its text that the tokenizer would not make, as a sampler can produce.
"""

from __future__ import annotations

import pytest

pytest.importorskip("trl", reason="needs codepref[train]")

PROMPT = "def f(x):\n"
TEXTS = ["return x + 1\n", "return x - 1\n", "return 2 * x\n"]


@pytest.fixture(scope="module")
def tok():
    from codepref.training.tiny import build_tokenizer

    return build_tokenizer()


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def other_split(tok, text: str) -> list[int]:
    """Ids that spell ``text`` but are not the tokenizer's split of it."""
    canonical = ids(tok, text)
    for k in range(1, len(text)):
        alt = ids(tok, text[:k]) + ids(tok, text[k:])
        if alt != canonical:
            assert tok.decode(alt) == text
            return alt
    raise AssertionError("every split tokenises canonically")


def prepared(trainer_class, method, tok, rows, tmp_path, **attrs):
    import datasets
    from trl import DPOConfig, KTOConfig

    from codepref.training.sampled_ids import with_sampled_ids

    cls = with_sampled_ids(trainer_class, method)
    trainer = cls.__new__(cls)  # only the dataset preparation is exercised: no model
    trainer._tokenizer = tok
    for k, v in attrs.items():
        setattr(trainer, k, v)
    config = DPOConfig if method == "dpo" else KTOConfig
    args = config(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True, per_device_train_batch_size=2)
    datasets.disable_progress_bars()
    return list(trainer._prepare_dataset(datasets.Dataset.from_list(rows), tok, args, "train"))


def test_dpo_rows_score_the_sampled_split_where_it_spells_the_text(tok, tmp_path):
    """Row 0: its sampled ids (another split of the chosen text) replace TRL's, EOS appended.
    Row 1: none recorded: TRL's ids. Row 2: ids of another text: TRL's ids (the check that
    the ids are this tokenizer's and this text's). The sampled-id columns are gone."""
    from trl import DPOTrainer

    eos = tok.eos_token_id
    alt = other_split(tok, TEXTS[0])
    rows = [{"prompt": PROMPT, "chosen": TEXTS[0], "rejected": TEXTS[1],
             "chosen_sampled_ids": alt, "rejected_sampled_ids": ids(tok, TEXTS[1])},
            {"prompt": PROMPT, "chosen": TEXTS[0], "rejected": TEXTS[1],
             "chosen_sampled_ids": [], "rejected_sampled_ids": []},
            {"prompt": PROMPT, "chosen": TEXTS[0], "rejected": TEXTS[1],
             "chosen_sampled_ids": ids(tok, TEXTS[2]), "rejected_sampled_ids": ids(tok, TEXTS[1])}]
    out = prepared(DPOTrainer, "dpo", tok, rows, tmp_path)
    assert [r["prompt_ids"] for r in out] == [ids(tok, PROMPT)] * 3
    assert (out[0]["chosen_ids"], out[0]["rejected_ids"]) == (alt + [eos], ids(tok, TEXTS[1]) + [eos])
    for r in out[1:]:
        assert (r["chosen_ids"], r["rejected_ids"]) == (ids(tok, TEXTS[0]) + [eos], ids(tok, TEXTS[1]) + [eos])
    assert not any(k.endswith("sampled_ids") or k.startswith("_") for k in out[0])


def test_a_prompt_that_trl_cut_keeps_trls_ids(tok, tmp_path):
    """Where the prompt's last token merges with the completion's first (the tiny tokenizer
    joins a newline to the indentation after it), TRL moves that token into the completion;
    the sampled ids (which start after the prompt) would not fit, so TRL's ids stay."""
    from trl import DPOTrainer

    prompt, chosen, rejected = "def f(x):\n", "    " + TEXTS[0], "    " + TEXTS[1]
    assert ids(tok, prompt + chosen)[:len(ids(tok, prompt))] != ids(tok, prompt)
    rows = [{"prompt": prompt, "chosen": chosen, "rejected": rejected,
             "chosen_sampled_ids": other_split(tok, chosen), "rejected_sampled_ids": ids(tok, rejected)}]
    (ours,) = prepared(DPOTrainer, "dpo", tok, rows, tmp_path)
    whole = ids(tok, prompt + chosen + tok.eos_token)
    assert ours["prompt_ids"] + ours["chosen_ids"] == whole and ours["prompt_ids"] != ids(tok, prompt)


def test_without_sampled_ids_the_preparation_is_trls(tok, tmp_path):
    """Pair files without sampled ids (samples from elsewhere) are prepared exactly as TRL does."""
    from trl import DPOTrainer

    rows = [{"prompt": PROMPT, "chosen": TEXTS[0], "rejected": TEXTS[1]}]
    ours = prepared(DPOTrainer, "dpo", tok, rows, tmp_path)
    import datasets
    from trl import DPOConfig

    plain = DPOTrainer.__new__(DPOTrainer)
    plain._tokenizer = tok
    args = DPOConfig(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True)
    assert ours == list(plain._prepare_dataset(datasets.Dataset.from_list(rows), tok, args, "train"))


def test_kto_completions_and_their_kl_partners_use_the_sampled_ids(tok, tmp_path):
    """Three samples in batches of two: KTO's KL completion of each row is its batch
    neighbour's completion (TRL's rotation), rebuilt from the sampled ids."""
    from trl import KTOTrainer

    eos = tok.eos_token_id
    alt = other_split(tok, TEXTS[0])
    rows = [{"prompt": PROMPT, "completion": TEXTS[0], "label": True, "completion_sampled_ids": alt},
            {"prompt": PROMPT, "completion": TEXTS[1], "label": False, "completion_sampled_ids": ids(tok, TEXTS[1])},
            {"prompt": PROMPT, "completion": TEXTS[2], "label": False, "completion_sampled_ids": []}]
    out = prepared(KTOTrainer, "kto", tok, rows, tmp_path, calculate_KL=True, desirable_weight=1.0,
                   undesirable_weight=1.0)
    want = [alt + [eos], ids(tok, TEXTS[1]) + [eos], ids(tok, TEXTS[2]) + [eos]]
    assert [r["completion_ids"] for r in out] == want
    assert [r["KL_completion_ids"] for r in out] == [want[1], want[0], want[2]]
