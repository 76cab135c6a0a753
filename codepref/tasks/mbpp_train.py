"""Training prompts disjoint from every benchmark: the ``mbpp-train`` and ``mbpp-dev`` task sets.

MBPP+ v0.2.0 draws its 378 problems from sanitized MBPP across *all* of MBPP's splits (ids
2-809), so no MBPP split is free of it. The candidates here are MBPP's few-shot, validation
and train problems (task ids 1-10 and 511-974: 474) minus every id MBPP+ uses (154 of them):
320 problems, none in MBPP's test split (11-510) and none in MBPP+.

Some of those 320 restate a benchmark problem under another id (MBPP 928 is Mbpp/427 word
for word; MBPP 649 is Mbpp/170 with the same example). Every candidate that
:func:`codepref.tasks.contamination.check_overlap` finds overlapping MBPP+ or MBPP's test
split (same normalised text, or a shared 13-word run) is dropped: 21 of them with the
releases in :data:`codepref.tasks.mbpp.KNOWN`. HumanEval is checked by the tests, not here
(its data ships in another package): nothing of it overlaps.

The split is made once over the 320 candidates, before dropping, so it depends only on the
ids and :data:`SPLIT_SEED`: candidates are sorted by ``sha256(f"{seed}:{task_id}")`` and the
first :data:`DEV_SIZE` (60) are ``mbpp-dev``, the rest ``mbpp-train``; dropped problems are
then removed from either side. Last, a dev problem that restates a training problem (the
same checks, dev against train: MBPP 883 shares a 13-word run with 817) leaves the dev side,
so a dev score measures generalisation: 241 train and 57 dev remain. The seed, the sizes and
the numbers dropped are in the task set's ``version``, which every output header records.

Tasks look like the MBPP+ prompts (:func:`codepref.tasks.mbpp.mbpp_prompt`: the description
and the first MBPP assert, which the prompt gate uses) with ids ``Mbpp/N``. All their MBPP
asserts are the hidden ``tests``: ``codepref audit`` and a dev-set score read them; the
generate and rank stages never do (they see the prompt, and the tests stated in it).

Loading reads ``mbpp/mbpp.jsonl`` (``path`` overrides it) and ``evalplus/MbppPlus.jsonl.gz``
from the data folder; the task set's sha256 covers both files in that order.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from codepref.errors import InputError
from codepref.records import Task
from codepref.tasks import TaskSet, data_file, sha256_of
from codepref.tasks.contamination import Overlap, check_overlap
from codepref.tasks.humaneval import read_jsonl_gz
from codepref.tasks.mbpp import KNOWN, MBPP_GET_IT, PLUS_GET_IT, TEST_SPLIT, _mbpp_task, load_mbpp, load_mbpp_plus

#: The seed of the train/dev split; changing it makes other task sets (and other headers).
SPLIT_SEED = 0
#: Candidates that go to ``mbpp-dev`` (before dropping overlaps).
DEV_SIZE = 60
#: MBPP's splits other than test (upstream README): few-shot prompts, validation, train.
SPLITS = {"few-shot": range(1, 11), "validation": range(511, 601), "train": range(601, 975)}


def mbpp_split(task_id: int) -> str | None:
    """The MBPP split of a numeric task id (``test`` for 11-510), or None outside 1-974."""
    if task_id in TEST_SPLIT:
        return "test"
    return next((name for name, ids in SPLITS.items() if task_id in ids), None)


def candidate_ids(mbpp_ids: list[int], plus_ids: set[int]) -> list[int]:
    """MBPP ids outside the test split and not used by MBPP+, in ascending order."""
    return sorted(i for i in set(mbpp_ids) if mbpp_split(i) not in (None, "test") and i not in plus_ids)


def split_ids(ids: list[int], seed: int = SPLIT_SEED, dev_size: int = DEV_SIZE) -> tuple[list[int], list[int]]:
    """``(train, dev)``, each ascending: the ``dev_size`` ids first by ``sha256(f"{seed}:Mbpp/{id}")`` are dev."""
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:Mbpp/{i}".encode()).hexdigest())
    dev = set(ranked[:dev_size])
    return sorted(i for i in ids if i not in dev), sorted(dev)


@dataclass(frozen=True)
class Split:
    """The split of one pair of data files.

    Attributes:
        candidates: the 320 candidate ids (ascending).
        train, dev: the final ids of each set (overlaps removed), ascending.
        dropped: the overlaps with a benchmark that removed candidates (several per id
            possible).
        tasks: id -> Task for every kept candidate.
        sha256: over mbpp.jsonl then MbppPlus.jsonl.gz.
        source: the two files.
        version: the string recorded in the task sets' headers.
        dev_near_train: the overlaps of a dev candidate with a training problem, which
            removed it from the dev side (``train_id`` is the dev problem here).
    """

    candidates: list[int]
    train: list[int]
    dev: list[int]
    dropped: list[Overlap]
    tasks: dict[int, Task] = field(repr=False)
    sha256: str
    source: str
    version: str
    dev_near_train: list[Overlap] = field(default_factory=list)


def _number(task_id: str) -> int:
    return int(task_id.split("/")[-1])


def build_split(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> Split:
    """Read both files, pick the candidates, split them and drop the overlapping ones.

    Raises:
        InputError: a file is missing (the message says where to get it) or malformed.
    """
    mbpp_file = data_file("mbpp/mbpp.jsonl", path=path, data_dir=data_dir, what="MBPP", get_it=MBPP_GET_IT)
    plus_file = data_file("evalplus/MbppPlus.jsonl.gz", path=None, data_dir=data_dir, what="MBPP+",
                          get_it=PLUS_GET_IT)
    rows = {}
    for i, row in enumerate(read_jsonl_gz(mbpp_file)):
        if not {"task_id", "text", "code", "test_list"} <= row.keys() or not isinstance(row["task_id"], int):
            raise InputError(f"record {i} lacks task_id/text/code/test_list; is this mbpp.jsonl?", str(mbpp_file))
        rows[row["task_id"]] = row
    plus = load_mbpp_plus(plus_file)
    test_split = load_mbpp(mbpp_file)
    candidates = candidate_ids(list(rows), {_number(t.id) for t in plus})
    tasks = {}
    for i in candidates:
        row = rows[i]
        if not row["test_list"]:
            raise InputError(f"task {i} has no tests", str(mbpp_file))
        task = _mbpp_task(i, row["text"], row["code"], row["test_list"], row.get("test_setup_code", "").replace("\r\n", "\n"))
        task.metadata["mbpp_split"] = mbpp_split(i)
        tasks[i] = task
    dropped = check_overlap([tasks[i] for i in candidates], [plus, test_split])
    gone = {_number(o.train_id) for o in dropped}
    train, dev = split_ids(candidates)
    train = [i for i in train if i not in gone]
    dev = [i for i in dev if i not in gone]
    # A dev problem that restates a training problem (MBPP has near-duplicates across its own
    # splits) would score recall of training data, not generalisation: it leaves the dev side.
    near = check_overlap([tasks[i] for i in dev], [("mbpp-train", [tasks[i] for i in train])])
    near_gone = {_number(o.train_id) for o in near}
    dev = [i for i in dev if i not in near_gone]
    for i in gone | near_gone:
        del tasks[i]
    for name, ids in (("train", train), ("dev", dev)):
        for i in ids:
            tasks[i].metadata["split"] = name
    mbpp_sha, plus_sha = sha256_of(mbpp_file), sha256_of(plus_file)
    version = (f"split seed={SPLIT_SEED} candidates={len(candidates)} dev={len(dev)} train={len(train)} "
               f"dropped={len(gone)} dev_near_train={len(near_gone)}; mbpp={KNOWN.get(mbpp_sha, 'file')}; "
               f"mbpp+={KNOWN.get(plus_sha, 'file')}")
    return Split(candidates, train, dev, dropped, tasks, sha256_of(mbpp_file, plus_file),
                 f"{mbpp_file} + {plus_file}", version, near)


def _load(name: str, which: str, path, data_dir) -> TaskSet:
    split = build_split(path, data_dir=data_dir)
    ids = split.train if which == "train" else split.dev
    return TaskSet(name, split.version, split.sha256, split.source, [split.tasks[i] for i in ids])


def load_mbpp_train(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """``mbpp-train``: the training side of the split (``path``: another mbpp.jsonl)."""
    return _load("mbpp-train", "train", path, data_dir)


def load_mbpp_dev(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """``mbpp-dev``: the held-out side of the split, for a dev-set score (``path``: another mbpp.jsonl)."""
    return _load("mbpp-dev", "dev", path, data_dir)
