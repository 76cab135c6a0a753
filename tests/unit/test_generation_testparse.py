"""Parsing model-written tests into single independent asserts."""

from __future__ import annotations

from codepref.generation.testparse import candidate_asserts, parse_asserts, prompt_names

PROMPT = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    """
'''


def test_prompt_names_finds_imports_and_functions():
    assert prompt_names(PROMPT) == {"List", "has_close_elements"}
    assert prompt_names("def f(:\n") == set()


def test_fenced_chat_answer_with_prose_and_duplicates():
    text = """Here are some tests:
```python
assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False
assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True
assert has_close_elements([1.0,2.0,3.0],0.5)==False
assert has_close_elements([1.0, 2.0], 0.5 == False
```
These cover typical cases."""
    got = parse_asserts(text, "has_close_elements", known_names=prompt_names(PROMPT))
    # the third is the first reformatted (a duplicate), the fourth is a syntax error
    assert got == [
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",
    ]


def test_multiline_assert_is_joined():
    text = "assert f(\n    [1, 2],\n    3,\n) == [\n    4]\nassert f(0, 0) == []\n"
    assert parse_asserts(text, "f") == ["assert f([1, 2], 3) == [4]", "assert f(0, 0) == []"]


def test_dependent_and_unrelated_asserts_are_dropped():
    text = """def test_f():
    x = [1, 2]
    assert f(x) == 3
    assert f([1, 2]) == 3
assert g(1) == 2
assert True
assert len([f(i) for i in range(3)]) == 3
assert all(map(lambda v: f([v]) == v, [1, 2]))
"""
    got = parse_asserts(text, "f")
    assert got == [
        "assert f([1, 2]) == 3",  # inside a test function but self-contained
        "assert len([f(i) for i in range(3)]) == 3",  # comprehension variable is bound
        "assert all(map(lambda v: f([v]) == v, [1, 2]))",  # lambda argument is bound
    ]


def test_cap_and_shared_seen_across_samples():
    seen: set[str] = set()
    first = parse_asserts("assert f(1) == 1\nassert f(2) == 2\nassert f(3) == 3", "f", limit=2, seen=seen)
    second = parse_asserts("assert f(2) == 2\nassert f(4) == 4", "f", seen=seen)
    assert first == ["assert f(1) == 1", "assert f(2) == 2"]
    assert second == ["assert f(4) == 4"]


def test_candidates_skip_unparseable_tail():
    text = "assert f(1) == 1\nassert f(2 ==\n"
    assert candidate_asserts(text) == ["assert f(1) == 1"]
