"""Training settings and input checks: everything that must fail before any model loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.config import from_mapping
from codepref.errors import ConfigError, InputError
from codepref.training.config import DEFAULT_TARGETS, TrainConfig
from codepref.training.data import load_rows


def _write(path, lines, header=True):
    with open(path, "w") as fh:
        if header:
            fh.write(json.dumps({"_header": {"kind": "pairs"}}) + "\n")
        for obj in lines:
            fh.write(json.dumps(obj) + "\n")
    return path


PAIR = {"prompt": "p", "chosen": "good", "rejected": "bad", "task_id": "t1", "scorer": "codet",
        "chosen_score": 3.0, "rejected_score": 1.0, "why": "passes more tests"}
LABELLED = {"prompt": "p", "completion": "c", "label": True, "task_id": "t1", "scorer": "codet", "score": 1.0}


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as info:
        from_mapping(TrainConfig, {"method": "kto", "loss_type": "sigmoid", "beta": 0, "batch_size": 1,
                                   "lora_targets": ["lm_head"], "label_smoothing": 0.5, "devise": "cpu"})
    problems = info.value.problems
    assert any("unknown key 'devise'" in p and "did you mean 'device'" in p for p in problems)
    assert any("loss_type for kto must be one of kto" in p for p in problems)
    assert any("beta must be > 0" in p for p in problems)
    assert any("batch_size must be >= 2 for kto" in p for p in problems)
    assert any("lm_head" in p for p in problems)
    assert any("label_smoothing" in p for p in problems)
    assert len(problems) == 6


def test_micro_batch_must_divide_the_batch():
    with pytest.raises(ConfigError, match=r"micro_batch \(2\) must divide batch_size \(3\)"):
        TrainConfig(batch_size=3, micro_batch=2)
    with pytest.raises(ConfigError, match="micro_batch must be >= 2 for kto"):
        TrainConfig(method="kto", batch_size=4, micro_batch=1)
    with pytest.raises(ConfigError, match="micro_batch must be >= 0"):
        TrainConfig(micro_batch=-1)


def test_config_resolves_auto_fields_per_device():
    cfg = from_mapping(TrainConfig, {"lora_targets": ["q_proj", "v_proj"], "lora_alpha": 16})
    assert cfg.lora_targets == ("q_proj", "v_proj") and cfg.lora_alpha == 16.0
    cpu = TrainConfig().resolve(cuda_available=False)
    assert (cpu.device, cpu.quantization, cpu.compute_dtype) == ("cpu", "none", "float32")
    assert cpu.gradient_checkpointing is False and cpu.optimizer == "adamw_torch" and cpu.loss_type == "sigmoid"
    assert cpu.micro_batch == 1 and cpu.precompute_ref is True  # DPO on CPU: one pair per pass, cached reference
    gpu = TrainConfig(method="kto").resolve(cuda_available=True)
    assert (gpu.device, gpu.quantization, gpu.compute_dtype) == ("cuda", "4bit", "bfloat16")
    assert gpu.gradient_checkpointing is True and gpu.optimizer == "paged_adamw_32bit" and gpu.loss_type == "kto"
    assert gpu.micro_batch == gpu.batch_size and gpu.precompute_ref is False
    kto_cpu = TrainConfig(method="kto", batch_size=4).resolve(cuda_available=False)
    assert kto_cpu.micro_batch == 4 and kto_cpu.precompute_ref is False
    assert TrainConfig(micro_batch=2, precompute_ref=False).resolve(cuda_available=False).micro_batch == 2
    forced = TrainConfig(device="cpu", quantization="4bit", gradient_checkpointing=True).resolve(cuda_available=True)
    assert (forced.device, forced.quantization, forced.gradient_checkpointing) == ("cpu", "4bit", True)
    with pytest.raises(ConfigError, match="no CUDA device"):
        TrainConfig(device="cuda").resolve(cuda_available=False)
    assert TrainConfig().to_dict()["lora_targets"] == list(DEFAULT_TARGETS)


def test_every_field_is_documented():
    import dataclasses

    doc = TrainConfig.__doc__
    for f in dataclasses.fields(TrainConfig):
        assert f"    {f.name}:" in doc, f"TrainConfig.{f.name} is not documented"


def test_pairs_are_reduced_to_trl_columns(tmp_path):
    data = load_rows(_write(tmp_path / "p.jsonl", [PAIR, {**PAIR, "prompt": "q"}]), "dpo")
    assert data.rows == [{"prompt": "p", "chosen": "good", "rejected": "bad"},
                         {"prompt": "q", "chosen": "good", "rejected": "bad"}]
    assert len(data.sha256) == 64
    kto = load_rows(_write(tmp_path / "k.jsonl", [LABELLED, {**LABELLED, "label": False}]), "kto")
    assert kto.rows[1] == {"prompt": "p", "completion": "c", "label": False} and kto.n_positive == 1


def test_sampled_ids_are_passed_on_in_every_row_once_one_has_them(tmp_path):
    data = load_rows(_write(tmp_path / "p.jsonl", [{**PAIR, "chosen_sampled_ids": [1, 2], "rejected_sampled_ids": [3]},
                                                   PAIR]), "dpo")
    assert data.rows == [{"prompt": "p", "chosen": "good", "rejected": "bad", "chosen_sampled_ids": [1, 2],
                          "rejected_sampled_ids": [3]},
                         {"prompt": "p", "chosen": "good", "rejected": "bad", "chosen_sampled_ids": [],
                          "rejected_sampled_ids": []}]
    kto = load_rows(_write(tmp_path / "k.jsonl", [LABELLED, {**LABELLED, "completion_sampled_ids": [5]}]), "kto")
    assert [r["completion_sampled_ids"] for r in kto.rows] == [[], [5]]


@pytest.mark.parametrize(
    "lines, method, message",
    [
        ([PAIR, {"prompt": "p", "chosen": "x"}], "dpo", r"p.jsonl:3: missing column\(s\) rejected for dpo"),
        ([LABELLED], "dpo", r"p.jsonl:2: .*this is a KTO line: use --method kto"),
        ([PAIR], "kto", r"p.jsonl:2: .*this is a DPO line: use --method dpo"),
        ([{**LABELLED, "label": 1}], "kto", r"'label' must be true or false"),
        ([{**PAIR, "chosen": "  "}], "dpo", r"'chosen' is empty"),
        ([{**PAIR, "rejected": ["x"]}], "dpo", r"'rejected' must be a string"),
        ([], "dpo", r"p.jsonl: no pairs to train on"),
        ([{**PAIR, "chosen_sampled_ids": [1, True]}], "dpo", r"p.jsonl:2: 'chosen_sampled_ids' must be a list of integers"),
    ],
)
def test_bad_pair_files_are_named_with_their_line(tmp_path, lines, method, message):
    path = _write(tmp_path / "p.jsonl", lines)
    with pytest.raises(InputError, match=message):
        load_rows(path, method)


def test_cli_rejects_bad_input_before_loading_anything(tmp_path):
    runner = CliRunner()
    empty = _write(tmp_path / "empty.jsonl", [])
    r = runner.invoke(main, ["train", "--pairs", str(empty), "--model", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "error:" in r.output and "no pairs to train on" in r.output
    pairs = _write(tmp_path / "p.jsonl", [PAIR])
    r = runner.invoke(main, ["train", "--pairs", str(pairs), "--model", str(tmp_path / "nope"),
                             "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "model folder not found" in r.output
    r = runner.invoke(main, ["train", "--pairs", str(pairs), "--model", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "not a Hugging Face model folder" in r.output
    r = runner.invoke(main, ["train", "--pairs", str(pairs), "--out", str(tmp_path / "o"), "--set", "beta=-1",
                             "--set", "lora_rank=4"])
    assert r.exit_code == 2 and "beta must be > 0" in r.output and "did you mean 'lora_r'" in r.output
    r = runner.invoke(main, ["train", "--pairs", str(pairs), "--out", str(tmp_path / "o"), "--resume"])
    assert r.exit_code == 2 and "nothing to resume" in r.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    r = runner.invoke(main, ["train", "--pairs", str(pairs), "--out", str(tmp_path / "full")])
    assert r.exit_code == 2 and "holds no codepref training run" in r.output
    r = runner.invoke(main, ["merge", "--adapter", str(tmp_path), "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "not a LoRA adapter folder" in r.output


def test_help_and_import_do_not_import_torch():
    code = ("import sys, codepref.training, codepref.training.config, codepref.training.data\n"
            "from click.testing import CliRunner\nfrom codepref.cli import main\n"
            "for args in (['--help'], ['train', '--help'], ['merge', '--help']):\n"
            "    assert CliRunner().invoke(main, args).exit_code == 0\n"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'bitsandbytes') if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rpo_nll_weight_is_checked_and_becomes_trls_sft_loss():
    from codepref.training.trainer import trl_args

    with pytest.raises(ConfigError, match="nll_weight must be >= 0"):
        TrainConfig(nll_weight=-1)
    with pytest.raises(ConfigError, match="for dpo only"):
        TrainConfig(method="kto", nll_weight=1.0)
    rpo = trl_args(TrainConfig(nll_weight=0.5).resolve(cuda_available=False), "out")
    assert rpo.loss_type == ["sigmoid", "sft"] and rpo.loss_weights == [1.0, 0.5]
    plain = trl_args(TrainConfig().resolve(cuda_available=False), "out")
    assert plain.loss_type == ["sigmoid"] and plain.loss_weights is None


def test_run_identity_leaves_out_speed_settings_and_new_defaults():
    """A training run's settings hash covers what it learns: not share_prompt (speed only), and
    not nll_weight while it is 0 (runs made before it existed keep their hash)."""
    base = TrainConfig().resolve(cuda_available=False)
    assert base.share_prompt is True and TrainConfig(method="kto", batch_size=2).resolve(False).share_prompt is False
    ident = base.identity()
    assert "share_prompt" not in ident and "nll_weight" not in ident and ident["beta"] == 0.1
    import dataclasses

    assert dataclasses.replace(base, share_prompt=False).identity() == ident
    assert TrainConfig(nll_weight=1.0).identity()["nll_weight"] == 1.0
