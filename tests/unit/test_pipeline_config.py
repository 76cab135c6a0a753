"""The run config (shipped configs, all-at-once errors, overrides) and the stage ledger's
skip / resume / invalidate rules, driven with small real work functions (no Docker)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from codepref.errors import ConfigError
from codepref.pairs.build import PairOptions
from codepref.pipeline import Display, Run, model_file_inputs, stage_settings
from codepref.runconfig import (SHIPPED, RunConfig, config_hash, load_run_config, section_dict,
                                shipped_config_text)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_is_valid(name):
    config = load_run_config(name)
    assert config.run.name == name
    assert config.rank.format == config.train.method
    assert "[run]" in shipped_config_text(name)


def test_quickstart_is_the_default_and_is_small():
    config = load_run_config(None)
    assert config == load_run_config("quickstart")
    assert config.generate.model == "qwen2.5-coder-0.5b-instruct" and config.generate.backend == "llamacpp"
    assert config.run.tasks == "quickstart" and 0 < config.run.task_limit <= 10
    assert config.train.epochs == 1.0 and config.run.rounds == 1
    assert config.evaluate.benchmarks == ["humaneval"] and 0 < config.evaluate.limit <= 20


def test_a_run_directory_named_like_a_shipped_config_does_not_shadow_it(tmp_path, monkeypatch):
    # `codepref run learn --run-dir learn` from the same folder, run a second time to resume
    (tmp_path / "learn").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_run_config("learn") == load_run_config(str(resources_config("learn")))
    with pytest.raises(ConfigError, match="is a folder"):
        load_run_config(str(tmp_path / "learn"))


def resources_config(name):
    from importlib import resources

    return resources.files("codepref").joinpath("data", "configs", f"{name}.toml")


def test_paper_scale_uses_vllm_and_qlora():
    config = load_run_config("paper-scale")
    assert config.generate.backend == "vllm"
    assert config.train.quantization == "4bit" and config.train.device == "cuda"
    assert config.run.rounds >= 2


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as e:
        RunConfig.from_mapping({
            "bogus": {},
            "generate": {"temprature": 1.0, "n_solutions": -1},
            "train": {"beta": -1.0},
            "evaluate": {"benchmarks": ["nope"], "ks": [0]},
            "rank": {"scorer": "nosuch"},
        })
    problems = e.value.problems
    text = "\n".join(problems)
    assert "unknown section [bogus]" in text
    assert "did you mean 'temperature'" in text
    assert "n_solutions must be >= 0" in text
    assert "[train] beta" in text
    assert "[evaluate] ks" in text
    assert "scorer 'nosuch'" in text
    assert len(problems) >= 6


def test_rank_pair_options_are_written_flat_in_the_rank_section():
    """[rank] holds a PairOptions, but its keys stay flat in the TOML, the overrides and the
    data the stage keys hash; every problem of both is still reported at once."""
    config = load_run_config(None, ["rank.pairs_per_task=3", "rank.concat_tests=true"])
    assert config.rank.pair_options == PairOptions(pairs_per_task=3, concat_tests=True)
    flat = section_dict(config.rank)
    assert flat["pairs_per_task"] == 3 and flat["concat_tests"] is True and "pair_options" not in flat
    with pytest.raises(ConfigError) as e:
        RunConfig.from_mapping({"rank": {"pairs_per_tsk": 2, "min_margin": 3.0, "dedupe": "no", "format": "x",
                                         "pair_options": {}}})
    assert sorted(e.value.problems) == sorted([
        "[rank] unknown key 'pairs_per_tsk' (did you mean 'pairs_per_task'?)",
        "[rank] unknown key 'pair_options' (did you mean 'scorer_options'?)",
        "[rank] dedupe must be bool, got 'no'",
        "[rank] min_margin must be in [0, 1] (scores are normalised), got 3.0",
        "[rank] format must be dpo or kto, got 'x'",
    ])


def test_settings_added_later_enter_stage_keys_only_when_set():
    """A run made before min_cluster / consensus / sure_rejected / nll_weight / protocol existed
    keeps its stage keys:
    at their defaults they are left out of the hashed settings; set, they are in."""
    default = stage_settings(load_run_config(None), ["generate", "rank", "train"])
    assert "min_cluster" not in default["rank"] and "pairs_per_task" in default["rank"]
    assert "nll_weight" not in default["train"] and "protocol" not in default["generate"]
    assert "share_prompt" not in default["train"]  # speed only: never in a key
    assert "consensus" not in default["rank"] and "sure_rejected" not in default["rank"]
    changed = stage_settings(load_run_config(None, ["rank.min_cluster=4", "train.nll_weight=1.0",
                                                    "rank.consensus=behaviour", "rank.sure_rejected=true"]),
                             ["rank", "train"])
    assert changed["rank"]["min_cluster"] == 4 and changed["train"]["nll_weight"] == 1.0
    assert changed["rank"]["consensus"] == "behaviour" and changed["rank"]["sure_rejected"] is True


def test_the_sampling_stages_key_on_the_file_llama_cpp_runs(monkeypatch):
    """On a CPU where the default model's bare name runs its bf16 variant, generate and the
    evaluations key on it; on the packaged file (and with other backends) the keys are those
    runs had before."""
    from codepref.generation import models

    config = load_run_config(None)
    monkeypatch.setattr(models, "_NATIVE_BF16", True)
    assert model_file_inputs(config) == {"model_file": "bf16"}
    assert model_file_inputs(load_run_config(None, ["generate.model=qwen2.5-coder-0.5b-instruct@gguf"])) == {}
    assert model_file_inputs(load_run_config(None, ["generate.backend=hf"])) == {}
    monkeypatch.setattr(models, "_NATIVE_BF16", False)
    assert model_file_inputs(config) == {}


def test_cross_section_rules():
    with pytest.raises(ConfigError) as e:
        RunConfig.from_mapping({"rank": {"format": "kto"}, "generate": {"n_solutions": 1},
                                "evaluate": {"benchmarks": ["nope"]}, "run": {"tasks": "neither"}})
    text = "\n".join(e.value.problems)
    assert "does not match [train] method" in text
    assert "n_solutions must be >= 2" in text
    assert "benchmark 'nope'" in text
    assert "[run] tasks 'neither'" in text


def test_overrides_and_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[run]\nname = "x"\n[generate]\nn_solutions = 5\n')
    config = load_run_config(f, ["generate.temperature=0.2", "evaluate.benchmarks=[]", "run.rounds=2"])
    assert (config.run.name, config.generate.n_solutions, config.generate.temperature) == ("x", 5, 0.2)
    assert config.evaluate.benchmarks == [] and config.run.rounds == 2
    with pytest.raises(ConfigError, match="section.key=value"):
        load_run_config(f, ["rounds=2"])
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "missing.toml")


def test_config_hash_is_canonical():
    a = load_run_config(None).to_dict()
    b = json.loads(json.dumps(a))
    assert config_hash(a) == config_hash(dict(reversed(list(b.items()))))
    changed = load_run_config(None, ["train.beta=0.2"]).to_dict()
    assert config_hash(changed) != config_hash(a)


# --------------------------------------------------------------------------- the ledger


def _run(tmp_path, **overrides):
    config = load_run_config(None, [f"{k}={v}" for k, v in overrides.items()])
    lines: list[str] = []
    return Run(tmp_path / "run", config, Display(echo=lines.append, bars=False)), lines


def _writer(path, calls, text):
    def work():
        calls.append(path.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return f"wrote {path.name}"
    return work


def test_complete_stages_are_skipped_and_changes_invalidate_downstream(tmp_path):
    calls: list[str] = []
    run, lines = _run(tmp_path)
    a, b = run.dir / "a.txt", run.dir / "b.txt"
    ka = run.stage("one", ["generate"], {}, [a], _writer(a, calls, "A"))
    kb = run.stage("two", ["rank"], {"one": ka}, [b], _writer(b, calls, "B"))
    assert calls == ["a.txt", "b.txt"]
    ledger = json.loads((run.dir / "ledger.json").read_text())["stages"]
    assert ledger["one"]["status"] == ledger["two"]["status"] == "complete"

    # Same config: nothing is redone.
    run, lines = _run(tmp_path)
    assert run.stage("one", ["generate"], {}, [a], _writer(a, calls, "A")) == ka
    assert run.stage("two", ["rank"], {"one": ka}, [b], _writer(b, calls, "B")) == kb
    assert calls == ["a.txt", "b.txt"]
    assert any("skipped" in line for line in lines)

    # A downstream change redoes only the downstream stage.
    run, lines = _run(tmp_path, **{"rank.pairs_per_task": 2})
    ka2 = run.stage("one", ["generate"], {}, [a], _writer(a, calls, "A"))
    run.stage("two", ["rank"], {"one": ka2}, [b], _writer(b, calls, "B2"))
    assert calls == ["a.txt", "b.txt", "b.txt"]
    assert any("[rank] changed" in line for line in lines)
    assert list((run.dir / "stale").glob("two-*/b.txt"))[0].read_text() == "B"

    # An upstream change redoes both, and the downstream one says its input changed.
    run, lines = _run(tmp_path, **{"rank.pairs_per_task": 2, "generate.seed": 7})
    ka3 = run.stage("one", ["generate"], {}, [a], _writer(a, calls, "A3"))
    run.stage("two", ["rank"], {"one": ka3}, [b], _writer(b, calls, "B3"))
    assert calls[-2:] == ["a.txt", "b.txt"]
    assert any("[generate] changed" in line for line in lines)
    assert any("input one changed" in line for line in lines)


def test_a_started_stage_runs_again_and_a_missing_output_is_redone(tmp_path):
    calls: list[str] = []
    run, lines = _run(tmp_path)
    a = run.dir / "a.txt"

    def dies():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.stage("one", ["generate"], {}, [a], dies)
    assert json.loads((run.dir / "ledger.json").read_text())["stages"]["one"]["status"] == "started"
    run, lines = _run(tmp_path)
    run.stage("one", ["generate"], {}, [a], _writer(a, calls, "A"))
    assert calls == ["a.txt"] and any("resuming" in line for line in lines)
    a.unlink()
    run, lines = _run(tmp_path)
    run.stage("one", ["generate"], {}, [a], _writer(a, calls, "A"))
    assert calls == ["a.txt", "a.txt"]


def test_run_dir_records_the_resolved_config_and_its_hash(tmp_path):
    run, _ = _run(tmp_path, **{"generate.n_solutions": 3})
    resolved = json.loads((run.dir / "config.json").read_text())
    assert resolved["generate"]["n_solutions"] == 3
    assert (run.dir / "config.sha256").read_text().strip() == config_hash(resolved)
    assert dataclasses.asdict(run.config.generate)["n_solutions"] == 3


def test_speed_settings_do_not_invalidate(tmp_path):
    calls: list[str] = []
    run, _ = _run(tmp_path)
    a = run.dir / "a.txt"
    key = run.stage("one", ["sandbox", "generate"], {}, [a], _writer(a, calls, "A"))
    run, _ = _run(tmp_path, **{"sandbox.workers": 7, "generate.chunk_sequences": 3})
    assert run.stage("one", ["sandbox", "generate"], {}, [a], _writer(a, calls, "A")) == key
    assert calls == ["a.txt"]


def test_stage_count_and_display_positions():
    from codepref.pipeline import stage_count

    quick = load_run_config(None)
    assert stage_count(quick) == 4 + 2 * len(quick.evaluate.benchmarks)
    paper = load_run_config("paper-scale")
    assert stage_count(paper) == 4 * paper.run.rounds + (1 + paper.run.rounds) * len(paper.evaluate.benchmarks)
    lines: list[str] = []
    display = Display(echo=lines.append, bars=False)
    display.total = 2
    display.skip("a")
    display.begin("b")
    assert lines == ["==> [1/2] a: complete, skipped", "==> [2/2] b"]
