"""Training on the tokens the model sampled, not on the tokenizer's split of their text.

TRL's DPOTrainer and KTOTrainer take text: they tokenise ``prompt`` and ``prompt +
completion`` and take the completion's ids from where the two diverge. A sampler picks one
token at a time, and can pick a token and then its continuation where the tokenizer would
have made one merged token (the default model at T = 0.8: ``2115`` followed by the rest of
``64443``). Both spell the same text, but DPO's log-probabilities are of token sequences, so
TRL would score a sequence the model did not sample.

Where the pair file records the sampled ids (``chosen_sampled_ids``/``rejected_sampled_ids``,
KTO ``completion_sampled_ids``; :mod:`codepref.pairs.build`), :func:`use_sampled_ids` runs
after TRL's own preparation and puts them in place of TRL's completion ids, followed by the
EOS token TRL appends, in every row where that is sound:

* the row's prompt ids spell its whole prompt (TRL cut nothing off it at a merge with the
  completion), and
* each recorded id list decodes to exactly the completion text TRL tokenised (which also
  shows they are this tokenizer's ids: a model trained on another vocabulary's samples keeps
  TRL's ids).

Other rows keep TRL's ids. KTO's KL completions (TRL pairs each row with its neighbour's
completion within a batch of ``per_device_train_batch_size``) are rebuilt from the new ids
with the same batches. :func:`with_sampled_ids` makes a TRL trainer class do this.
"""

from __future__ import annotations

import logging
from typing import Any

from codepref.training.data import SAMPLED_IDS

log = logging.getLogger(__name__)

SIDES = {"dpo": ("chosen", "rejected"), "kto": ("completion",)}


def use_sampled_ids(dataset, tokenizer, method: str, batch_size: int) -> tuple[Any, int, int]:
    """Put the recorded sampled ids in place of TRL's completion ids (see the module doc).

    Args:
        dataset: TRL's prepared dataset (``prompt_ids`` and ``chosen_ids``/``rejected_ids``
            or ``completion_ids``, the text columns with TRL's EOS appended, and the
            :data:`~codepref.training.data.SAMPLED_IDS` columns, empty lists where not recorded).
        tokenizer: the tokenizer TRL used.
        method: ``"dpo"`` or ``"kto"``.
        batch_size: TRL's ``per_device_train_batch_size`` (KTO's KL batches).

    Returns:
        ``(dataset without the sampled-id columns, rows that now use sampled ids, of those
        the rows whose ids differ from TRL's)``.
    """
    cols = [c for c in SAMPLED_IDS[method] if c in dataset.column_names]
    if not cols:
        return dataset, 0, 0
    eos_text, eos_id = tokenizer.eos_token, tokenizer.eos_token_id

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def replace(batch: dict[str, list]) -> dict[str, list]:
        used, differ = [], []
        for i in range(len(batch["prompt"])):
            sides = SIDES[method]
            recorded = [batch[f"{side}_sampled_ids"][i] for side in sides]
            ok = (bool(batch["prompt_ids"][i]) and decode(batch["prompt_ids"][i]) == batch["prompt"][i]
                  and all(ids and decode(ids) + eos_text == batch[side][i] for side, ids in zip(sides, recorded)))
            changed = False
            if ok:
                for side, ids in zip(sides, recorded):
                    new = list(ids) + [eos_id]
                    changed |= new != batch[f"{side}_ids"][i]
                    batch[f"{side}_ids"][i] = new
            used.append(ok)
            differ.append(changed)
        if "KL_completion_ids" in batch:  # TRL's rotation within the batch, of the new ids
            batch["KL_completion_ids"] = [batch["completion_ids"][-1]] + batch["completion_ids"][:-1]
        batch["_sampled"], batch["_differ"] = used, differ
        return batch

    out = dataset.map(replace, batched=True, batch_size=batch_size)
    used, differ = sum(out["_sampled"]), sum(out["_differ"])
    return out.remove_columns([*cols, "_sampled", "_differ"]), used, differ


def with_sampled_ids(trainer_class, method: str):
    """``trainer_class`` (TRL's DPOTrainer or KTOTrainer, or a subclass) whose dataset
    preparation ends with :func:`use_sampled_ids`."""

    class SampledIdsTrainer(trainer_class):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            prepared = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            prepared, used, differ = use_sampled_ids(prepared, processing_class, method,
                                                     args.per_device_train_batch_size)
            if used or any(c in dataset.column_names for c in SAMPLED_IDS[method]):
                log.info("%s: %d of %d rows train on the sampled token ids (%d differ from the tokenizer's split)",
                         dataset_name, used, len(prepared), differ)
            return prepared

    SampledIdsTrainer.__name__ = SampledIdsTrainer.__qualname__ = f"SampledIds{trainer_class.__name__}"
    return SampledIdsTrainer
