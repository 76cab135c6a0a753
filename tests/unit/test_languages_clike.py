"""C++ and JavaScript languages without Docker: assembly, answer reading, test parsing,
HumanEval-X tasks, the image a language needs, and plugin entry points."""

from __future__ import annotations

import json
import sys
import types

import pytest

from codepref.languages import clike, get_language, image_for, sandbox_for
from codepref.records import Task


def _task(language: str, prompt: str, entry: str, example: str = "") -> Task:
    return Task("T/0", language, prompt, entry, metadata={"example_test": example})


def test_close_body_cuts_where_the_function_closes_and_ignores_literals_and_comments():
    assert clike.close_body('  if (a) { return "}"; } // }\n  return 1;\n}\nint main(){}') == \
        '  if (a) { return "}"; } // }\n  return 1;\n}'
    assert clike.close_body("  return 1;") == "  return 1;\n}"


def test_statements_are_complete_balanced_and_collapsed():
    text = 'assert (f({1, 2},   "a  b") // c\n  == 3);\nassert(g(1\nconsole.assert(f(2) === 1)'
    assert clike.statements(text, ("assert", "console.assert")) == [
        'assert (f({1, 2}, "a  b") == 3);', "console.assert(f(2) === 1);"]
    assert clike.count_heads(text, ("assert", "console.assert")) == 3


def test_remove_main_keeps_the_rest():
    code = "#include<x>\nint f(){ return 1; }\nint main(int argc, char **argv) {\n  assert(f() == 1);\n}\n"
    assert clike.remove_function(code, "main") == "#include<x>\nint f(){ return 1; }\n"


def test_cpp_parse_tests_keeps_new_asserts_of_the_entry_point():
    task = _task("cpp", "int add(int a, int b){\n", "add")
    seen: set[str] = set()
    answer = "```cpp\nassert (add(1, 2) == 3);\nassert(add(1,2)==3);\nassert (other(1) == 2);\nassert (add(0, 0) == 0);\n"
    tests, candidates = get_language("cpp").generation.parse_tests(task, answer, seen)
    assert tests == ["assert (add(1, 2) == 3);", "assert(add(1,2)==3);", "assert (add(0, 0) == 0);"]
    assert candidates == 4
    again, _ = get_language("cpp").generation.parse_tests(task, answer, seen)
    assert again == []


def test_cpp_braced_list_comparisons_are_typed_as_the_left_side():
    from codepref.languages.cpp import typed_braces

    task = _task("cpp", "vector<int> f(vector<int> v){\n", "f")
    answer = "assert (f({1, 2}) == {2, 1});\nassert (f({}) != {});\nassert (f({3}).size() == 1);\n"
    tests, _ = get_language("cpp").generation.parse_tests(task, answer, set())
    assert tests == ["assert (f({1, 2}) == std::decay<decltype(f({1, 2}))>::type{2, 1});",
                     "assert (f({}) != std::decay<decltype(f({}))>::type{});",
                     "assert (f({3}).size() == 1);"]
    for unchanged in ("assert (f(1) == {1} && g());", "assert (x);", 'assert (f("}") == 1);'):
        assert typed_braces(unchanged) == unchanged


def test_cpp_stated_tests_leave_out_asserts_needing_the_examples_helpers():
    example = ("#undef NDEBUG\n#include<assert.h>\nbool issame(vector<int> a, vector<int> b){ return a == b; }\n"
               "int main(){\n    assert (issame(f({1}), {1}));\n    assert (f({}).size() == 0);\n}\n")
    assert get_language("cpp").generation.prompt_tests(_task("cpp", "", "f", example)) == ["assert (f({}).size() == 0);"]


def test_cpp_solution_text_completion_and_chat():
    hooks = get_language("cpp").generation
    task = _task("cpp", "#include<vector>\nusing namespace std;\nint add(int a, int b){\n", "add")
    assert hooks.solution_text(task, "completion", "    return a + b;\n}\nint main(){}") == task.prompt + "    return a + b;\n}"
    answer = "```cpp\nint add(int a, int b){ return a + b; }\nint main(){ return add(1, 2); }\n```"
    assert hooks.solution_text(task, "chat", answer) == \
        "#include<vector>\nusing namespace std;\nint add(int a, int b){ return a + b; }\n"


def test_cpp_assemble_tests_selects_the_test_by_argument():
    program = get_language("cpp").assemble_tests("int f(){ return 1; }", ["assert(f() == 1);", "assert(f() == 2);"])
    assert "case 0: codepref_test_0(); return 0;" in program and "case 1: codepref_test_1(); return 0;" in program
    assert program.count("#include<vector>") == 1  # the helper includes the solution lacks


def test_javascript_hooks():
    hooks = get_language("javascript").generation
    task = _task("javascript", "const add = (a, b) => {\n", "add",
                 "const testAdd = () => {\n  console.assert(add(1, 2) === 3)\n}\ntestAdd()\n")
    assert hooks.prompt_tests(task) == ["console.assert(add(1, 2) === 3);"]
    tests, n = hooks.parse_tests(task, "assert.deepStrictEqual(add(1, 2), 3);\nassert(add(0,0) === 0)\nfoo(add(1))", set())
    assert tests == ["assert.deepStrictEqual(add(1, 2), 3);", "assert(add(0,0) === 0);"] and n == 2
    assert hooks.solution_text(task, "completion", "  return a + b\n}\nconsole.log(add(1, 2))") == \
        task.prompt + "  return a + b\n}"
    program = get_language("javascript").assemble("const add = (a, b) => a + b", "console.assert(add(1, 2) === 4);")
    assert "throw new assert.AssertionError" in program


def test_humaneval_x_tasks(shared_data):
    from codepref.tasks.source import load_task_set

    for name, language in (("humaneval-x-cpp", "cpp"), ("humaneval-x-js", "javascript")):
        tasks = load_task_set(name, data_dir=str(shared_data)).tasks
        assert len(tasks) == 164
        assert {t.language for t in tasks} == {language}
        assert all(t.entry_point and t.entry_point in t.prompt and len(t.tests) == 1 for t in tasks)
    assert load_task_set("humaneval-x-cpp", data_dir=str(shared_data)).tasks[0].entry_point == "has_close_elements"


def test_humaneval_x_samples_read_generation_lines(tmp_path):
    from codepref.evaluation.samples import read_samples

    task = _task("cpp", "int f(){\n", "f")
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"task_id": "T/0", "generation": "return 1;}"}) + "\n" +
                    json.dumps({"task_id": "T/0", "generation": "return 2;}"}) + "\n")
    refs = read_samples(path, {"T/0": task})["T/0"]
    assert [r.program for r in refs] == ["int f(){\nreturn 1;}", "int f(){\nreturn 2;}"]


def test_image_for_names_an_image_per_language_set():
    assert image_for("codepref-sandbox:latest", ["python", "sql"]) == ("codepref-sandbox:latest", ())
    assert image_for("codepref-sandbox:latest", ["cpp", "python"]) == ("codepref-sandbox-cpp:latest",
                                                                         ("g++", "libboost-dev", "libssl-dev"))
    assert image_for("codepref-sandbox:latest", ["javascript", "cpp"])[0] == "codepref-sandbox-cpp-javascript:latest"
    assert image_for("codepref-sandbox-cpp:latest", ["cpp"])[0] == "codepref-sandbox-cpp:latest"
    from codepref.config import SandboxConfig

    assert sandbox_for(SandboxConfig(), ["javascript"]).image == "codepref-sandbox-javascript:latest"


def test_registry_reads_plugins_from_entry_points(monkeypatch):
    """A plugin's entry point becomes a registry name; a built-in name wins over a plugin's."""
    from importlib import metadata

    from codepref.registry import Registry

    module = types.ModuleType("codepref_fake_plugin")
    module.THING = object()
    monkeypatch.setitem(sys.modules, "codepref_fake_plugin", module)
    points = [metadata.EntryPoint("fake", "codepref_fake_plugin:THING", "codepref.test"),
              metadata.EntryPoint("builtin", "codepref_fake_plugin:THING", "codepref.test")]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [p for p in points if p.group == group])
    reg: Registry = Registry("thing", group="codepref.test")
    reg.register("builtin", "codepref.languages:LANGUAGES")
    assert reg.get("builtin") is not module.THING
    assert reg.get("fake") is module.THING
    assert reg.names() == ["builtin", "fake"]
    assert reg.origin("builtin") == "built-in" and reg.origin("fake").startswith("plugin")
    assert "builtin" in reg.shadowed()
    with pytest.raises(Exception, match="unknown thing 'nope'"):
        reg.get("nope")
