"""The contamination guard: same id, same normalised text, a shared 13-word run; and the real sets."""

from __future__ import annotations

import pytest

from codepref.errors import ContaminationError, InputError
from codepref.evaluation.run import load_task_set
from codepref.records import Task
from codepref.tasks import TaskSet
from codepref.tasks.contamination import (NGRAM, check_overlap, description, family, guard, ngrams, normalise,
                                          words)

LONG = ("Write a function that returns the number of distinct vowels in a lower case string, "
        "ignoring every character that is not a letter of the English alphabet.")


def task(tid: str, prompt: str) -> Task:
    return Task(id=tid, language="python", prompt=prompt)


def bench(name: str, *tasks: Task) -> TaskSet:
    return TaskSet(name, "test", "", "memory", list(tasks))


def pairs(overlaps) -> list[tuple[str, str, str]]:
    return [(o.train_id, o.benchmark_id, o.why) for o in overlaps]


def test_normalising_drops_quotes_case_punctuation_and_spacing():
    a = '"""\nWrite a function to find the shared elements.\nassert f((3, 4), (5, 4)) == {4}\n"""\n'
    b = "'''write a FUNCTION to find   the shared elements assert f( (3,4),(5,4) )=={4}'''"
    assert normalise(a) == normalise(b) == "write a function to find the shared elements assert f 3 4 5 4 4"
    assert words("Mbpp's x_y-z") == ["mbpp", "s", "x_y", "z"]
    assert description('"""\nSum a list.\nassert f([1]) == 1\n"""') == '"""\nSum a list.\n"""'
    assert description(">>> f(1)\n  Sum.\n") == "  Sum."
    assert family("Mbpp/601") == "Mbpp" and family("HumanEval/3") == "HumanEval"
    assert family("7") is None and family("/7") is None


def test_same_id_in_the_same_family():
    train = [task("Mbpp/5", "Write a function to sort a list."), task("5", "Something else entirely.")]
    found = check_overlap(train, [bench("mbpp+", task("Mbpp/5", "Count the vowels.")), bench("n", task("5", "x"))])
    assert pairs(found) == [("Mbpp/5", "Mbpp/5", "same_id")]
    assert found[0].benchmark == "mbpp+" and found[0].detail == "Mbpp/5"


def test_same_text_with_other_whitespace_case_and_quotes():
    mine = task("mine/1", "WRITE a function to   reverse a string!\n\n")
    theirs = task("HumanEval/9", '"""\nWrite a function to reverse a string.\n"""\n')
    found = check_overlap([mine], [bench("humaneval", theirs)])
    assert pairs(found) == [("mine/1", "HumanEval/9", "same_text")] and found[0].detail == "prompt"


def test_same_description_with_other_example_tests():
    mine = task("Mbpp/704", '"""\nWrite a function to calculate the harmonic sum of n-1.\n'
                            'assert harmonic_sum(10)==2.9289682539682538\n"""\n')
    theirs = task("Mbpp/248", '"""\nWrite a function to calculate the harmonic sum of n-1.\n'
                              'assert harmonic_sum(7) == 2.5928571428571425\n"""\n')
    found = check_overlap([mine], [bench("mbpp", theirs)])
    assert pairs(found) == [("Mbpp/704", "Mbpp/248", "same_text")] and found[0].detail == "description"


def test_a_paraphrase_sharing_13_words_is_flagged_and_12_are_not():
    ws = LONG.split()
    theirs = task("HumanEval/1", LONG)
    # the first 13 words kept, the rest reworded: one shared 13-gram
    para13 = task("p/13", " ".join(ws[:13]) + " but skip digits, spaces and punctuation marks entirely please.")
    para12 = task("p/12", " ".join(ws[:12]) + " but skip digits, spaces and punctuation marks entirely please.")
    found = check_overlap([para13, para12], [bench("humaneval", theirs)])
    assert pairs(found) == [("p/13", "HumanEval/1", "ngram")]
    assert found[0].detail == normalise(" ".join(ws[:13]))
    assert len(words(found[0].detail)) == NGRAM


def test_runs_of_numbers_only_are_example_data_not_overlap():
    nums = " ".join(str(i) for i in range(1, 20))
    a = task("a/1", f"Write a function to add up a list. assert add([{nums}]) == 190")
    b = task("b/1", f"Write a function to find the largest element. assert big([{nums}]) == 19")
    assert ngrams(words(nums)) == []
    assert check_overlap([a], [bench("b", b)]) == []


def test_a_clean_set_and_several_benchmarks():
    train = [task("t/1", LONG), task("t/2", "Return the square of x.")]
    benches = [bench("humaneval", task("HumanEval/0", "Check if any two numbers are closer than a threshold.")),
               ("mine", [task("m/0", "Return the cube of x.")])]
    assert check_overlap(train, benches) == []
    found = check_overlap(TaskSet("train", "v", "", "mem", train), [*benches, bench("b", task("b/7", LONG))])
    assert pairs(found) == [("t/1", "b/7", "same_text")]


def test_guard_raises_a_typed_error_naming_the_first_ten():
    train = [task(f"Mbpp/{i}", f"problem {i}") for i in range(12)]
    benchmark = bench("mbpp+", *[task(f"Mbpp/{i}", f"another {i}") for i in range(12)])
    with pytest.raises(ContaminationError) as e:
        guard(train, [benchmark])
    err = e.value
    assert isinstance(err, InputError) and err.exit_code == 2 and len(err.overlaps) == 12
    text = str(err)
    assert "12 training task(s)" in text and "Mbpp/9 ~ mbpp+ Mbpp/9 (same_id" in text
    assert "Mbpp/10 ~" not in text and "... and 2 more" in text and "allow_contamination" in text
    assert len(guard(train, [benchmark], allow=True)) == 12
    assert guard([task("x/1", "Return the square of x.")], [benchmark]) == []


def test_the_quickstart_prompts_do_not_overlap_the_benchmarks(shared_data):
    """The quickstart trains on its built-in prompts and evaluates on HumanEval 0-9."""
    quickstart = load_task_set("quickstart")
    benchmarks = [load_task_set(n, data_dir=str(shared_data)) for n in ("humaneval+", "mbpp+", "mbpp", "mbpp-sanitized")]
    assert check_overlap(quickstart, benchmarks) == []
    assert check_overlap(quickstart, benchmarks[:1], n=8) == []  # not even an 8-word run with HumanEval


def test_mbpp_train_is_clean_against_humaneval_plus_and_mbpp_plus(shared_data):
    train = load_task_set("mbpp-train", data_dir=str(shared_data))
    benchmarks = [load_task_set(n, data_dir=str(shared_data)) for n in ("humaneval+", "mbpp+")]
    assert guard(train, benchmarks) == []
    # and the MBPP test split: training on it against MBPP+ is refused
    with pytest.raises(ContaminationError):
        guard(load_task_set("mbpp", data_dir=str(shared_data)), benchmarks)
