"""Reading pair files for training, checked before anything heavy is loaded.

A DPO file has one :class:`~codepref.records.Pair` a line (TRL's ``prompt/chosen/rejected``
columns plus codepref's ``task_id, scorer, chosen_score, rejected_score, why``); a KTO
file one :class:`~codepref.records.Labelled` a line (``prompt/completion/label`` plus
``task_id, scorer, score``). Only TRL's columns are passed on: TRL would otherwise try to
treat extra fields as model inputs.

The columns are plain strings (TRL's *standard* format), and that is what keeps training on
the text the model was sampled with: the rank stage writes the exact rendered prompt (chat
template and prefill already applied) and the sampled continuation
(:mod:`codepref.pairs.build`). For strings, TRL 1.16's DPOTrainer and KTOTrainer apply no
chat template; they append the tokenizer's EOS to each completion, tokenise ``prompt`` and
``prompt + completion`` with the tokenizer's own settings (Qwen2.5 and SmolLM2 add no BOS),
and take the completion tokens from where the two diverge. So ``prompt`` tokenises to the
sampler's prompt tokens, and ``prompt + chosen`` to those plus the tokenizer's split of the
sampled text and that EOS. Conversational rows (lists of messages) would be templated a
second time; :func:`load_rows` refuses them.

The tokenizer's split of a sampled text is not always the sampler's: sampling at T = 0.8 can
pick a token and then its continuation where the tokenizer has one merged token (seen in
one of 20 short samples of the default model). So, besides TRL's columns, the token ids the
model sampled for each completion are passed on where the file records them
(:data:`SAMPLED_IDS`), and codepref's trainers put them in place of the tokenizer's split
(:mod:`codepref.training.sampled_ids`; checked on a real model in
tests/integration/test_onpolicy_tokens.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from codepref.errors import InputError
from codepref.hashing import file_sha256
from codepref.records import is_int_list, iter_jsonl

COLUMNS = {"dpo": ("prompt", "chosen", "rejected"), "kto": ("prompt", "completion", "label")}
#: The token ids the model sampled for each completion column, where the pair file records
#: them (on-policy samples from a backend that reports ids; see codepref.training.sampled_ids).
SAMPLED_IDS = {"dpo": ("chosen_sampled_ids", "rejected_sampled_ids"), "kto": ("completion_sampled_ids",)}


@dataclass(frozen=True)
class TrainData:
    """The rows to train on, reduced to TRL's columns.

    Attributes:
        rows: one dict per pair/sample with exactly the method's columns.
        sha256: hash of the file's bytes (part of the run's settings, so a resumed run
            refuses a changed file).
        path: the file read.
    """

    rows: list[dict]
    sha256: str
    path: str

    @property
    def n_positive(self) -> int:
        """KTO: samples labelled desirable (0 for DPO)."""
        return sum(1 for r in self.rows if r.get("label") is True)


def load_rows(path: str | os.PathLike[str], method: str) -> TrainData:
    """Read and check a pair (DPO) or labelled-sample (KTO) JSONL file.

    Args:
        path: the JSONL file (a codepref header line is skipped).
        method: ``"dpo"`` or ``"kto"``.

    Raises:
        InputError: naming the file and line, for a missing column, a wrong type, an empty
            completion, a file of the other method's format, or a file with no rows.
    """
    want = COLUMNS[method]
    other = COLUMNS["kto" if method == "dpo" else "dpo"]
    name = str(path)
    rows: list[dict] = []
    for lineno, obj in iter_jsonl(path):
        missing = [c for c in want if c not in obj]
        if missing:
            hint = ""
            if all(c in obj for c in other):
                hint = f" (this is a {'KTO' if method == 'dpo' else 'DPO'} line: use --method {'kto' if method == 'dpo' else 'dpo'})"
            raise InputError(f"missing column(s) {', '.join(missing)} for {method}{hint}", name, lineno)
        for col in want:
            value = obj[col]
            if col == "label":
                if not isinstance(value, bool):
                    raise InputError(f"'label' must be true or false, got {value!r}", name, lineno)
            elif not isinstance(value, str):
                raise InputError(f"'{col}' must be a string, got {type(value).__name__}", name, lineno)
            elif col != "prompt" and not value.strip():
                raise InputError(f"'{col}' is empty", name, lineno)
        row = {c: obj[c] for c in want}
        for col in SAMPLED_IDS[method]:
            ids = obj.get(col)
            if ids is not None:
                if not is_int_list(ids):
                    raise InputError(f"'{col}' must be a list of integers", name, lineno)
                row[col] = ids
        rows.append(row)
    if not rows:
        raise InputError(f"no {'pairs' if method == 'dpo' else 'samples'} to train on", name)
    for col in SAMPLED_IDS[method]:  # one table: every row has the column, empty where not recorded
        if any(col in r for r in rows):
            for r in rows:
                r.setdefault(col, [])
    return TrainData(rows=rows, sha256=file_sha256(path), path=name)
