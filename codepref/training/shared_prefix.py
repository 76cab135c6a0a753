"""DPO with the prompt computed once per pair: chosen and rejected packed into one sequence.

TRL's DPO forward runs a pair as two rows, ``prompt + chosen`` and ``prompt + rejected``,
so the prompt's tokens go through the network twice. With the qwen-coder prompt (~190
tokens) and answers of ~100 tokens, that is a third of a step's tokens. Here each pair is
one packed row instead::

    prompt+shared | chosen tail | r[k-1] | rejected tail
    positions 0 .. len_c-1      | k-1    | k .. len_r-1

where ``k`` is the length of the longest common token prefix of the two rows (the prompt,
and the first answer tokens when both answers start alike). A float 4D attention mask keeps
the two answers apart: a chosen token sees the tokens before it; a token of the rejected
branch sees the shared prefix ``[0, k-1)`` and the rejected branch up to itself, never the
chosen tail. Position ids restart at ``k-1`` for the rejected branch, so every token has the
same context and position as in its own row, and the same hidden state. The last shared
token ``r[k-1]`` is repeated at the head of the rejected branch because its hidden state must
predict two different next tokens (``c[k]`` and ``r[k]``) and the fused LM head takes one
label per position; the repeat costs one token.

The packed row goes through TRL's own fused LM head (``shift_labels``: one label per packed
position), and every per-token output (log-probs, entropy, mean logit, top-1 flag) is put
back into the two-row layout TRL's loss expects, so the DPO, RPO and metric code downstream
is TRL's, unchanged, and the gradients are those of the two-row forward (the shared prefix
receives the sum of both rows' gradients, as it does there).
``tests/integration/test_training_tiny.py`` checks log-probs and gradients against the
two-row forward.

:func:`share_prompt_forward` wraps the forward that TRL's ``add_fused_lm_head`` installed on
the base model; calls without ``fused_lm_head=True`` (generation, anything else) pass through.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

#: The per-token fields of TRL's ``FusedCausalLMOutput`` that are unpacked.
PER_TOKEN = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


@dataclass
class Packed:
    """Packed rows of ``B`` pairs and the map back to the ``2B`` two-row layout.

    Attributes:
        input_ids, position_ids: ``(B, Lp)``.
        attention_mask: ``(B, 1, Lp, Lp)`` float, 0 where a query may attend, the dtype's
            minimum elsewhere.
        shift_labels: ``(B, Lp)``: the token each packed position predicts, or -100.
        src: ``(pair, packed position)`` index tensors of the scored positions.
        dst: ``(row, position)`` index tensors of the same positions in the two-row layout
            (``row`` in ``0..2B-1``, ``position`` in ``0..L-2``).
    """

    input_ids: Any
    position_ids: Any
    attention_mask: Any
    shift_labels: Any
    src: tuple[Any, Any]
    dst: tuple[Any, Any]


def pack_pairs(input_ids, attention_mask, labels, dtype) -> Packed:
    """Pack TRL's ``[chosen rows; rejected rows]`` batch (right-padded) into one row per pair.

    Args:
        input_ids, attention_mask, labels: ``(2B, L)`` as TRL's DPO collator and loss build
            them (``labels`` is -100 on prompt and padding positions).
        dtype: the dtype of the float attention mask (the model's compute dtype).
    """
    import torch

    b = input_ids.size(0) // 2
    lengths = attention_mask.sum(dim=1).tolist()
    ids_rows = input_ids.tolist()
    lab_rows = labels.tolist()
    rows = []
    for i in range(b):
        c, r = ids_rows[i][: lengths[i]], ids_rows[b + i][: lengths[b + i]]
        lc, lr = lab_rows[i][: lengths[i]], lab_rows[b + i][: lengths[b + i]]
        k = 0
        while k < min(len(c), len(r)) and c[k] == r[k]:
            k += 1
        k = max(k, 1)  # both rows start with the same prompt; k >= 1 keeps the repeat well defined
        # the chosen row as it is: position p predicts c[p + 1]
        ids = list(c)
        pos = list(range(len(c)))
        lab = [lc[p + 1] for p in range(len(c) - 1)] + [-100]
        src = [(p, i, p) for p in range(len(c) - 1) if lc[p + 1] != -100]  # (packed pos, row, position)
        # the rejected row's shared positions are the chosen row's (same tokens, same context)
        src += [(p, b + i, p) for p in range(min(k - 1, len(r) - 1)) if lr[p + 1] != -100]
        # the rejected branch: r[k-1] again, then r[k:]; packed position q holds r[k-1+j]
        head = len(ids)
        for j, tok in enumerate(r[k - 1:]):
            p = k - 1 + j  # its position in the rejected row
            ids.append(tok)
            pos.append(p)
            nxt = lr[p + 1] if p + 1 < len(r) else -100
            lab.append(nxt)
            if nxt != -100:
                src.append((head + j, b + i, p))
        rows.append((ids, pos, lab, src, head, k))
    lp = max(len(x[0]) for x in rows)
    min_value = torch.finfo(dtype).min
    out_ids = torch.zeros((b, lp), dtype=input_ids.dtype)
    out_pos = torch.zeros((b, lp), dtype=torch.long)
    out_lab = torch.full((b, lp), -100, dtype=labels.dtype)
    allowed = torch.zeros((b, lp, lp), dtype=torch.bool)
    src_pair, src_pos, dst_row, dst_pos = [], [], [], []
    for i, (ids, pos, lab, src, head, k) in enumerate(rows):
        n = len(ids)
        out_ids[i, :n] = torch.tensor(ids)
        out_pos[i, :n] = torch.tensor(pos)
        out_lab[i, :n] = torch.tensor(lab)
        causal = torch.ones((n, n), dtype=torch.bool).tril()
        causal[head:, k - 1:head] = False  # the rejected branch never sees the chosen tail
        allowed[i, :n, :n] = causal
        allowed[i, n:, n:] = torch.eye(lp - n, dtype=torch.bool)  # padding attends to itself (no empty rows)
        for q, row, p in src:
            src_pair.append(i)
            src_pos.append(q)
            dst_row.append(row)
            dst_pos.append(p)
    mask = torch.zeros((b, 1, lp, lp), dtype=dtype).masked_fill(~allowed[:, None], min_value)
    device = input_ids.device
    as_index = functools.partial(torch.tensor, dtype=torch.long, device=device)
    return Packed(out_ids.to(device), out_pos.to(device), mask.to(device), out_lab.to(device),
                  (as_index(src_pair), as_index(src_pos)), (as_index(dst_row), as_index(dst_pos)))


def unpack(packed_values, packed: Packed, shape: tuple[int, int]):
    """A packed per-token tensor ``(B, Lp)`` in the two-row layout ``shape`` (zeros elsewhere)."""
    values = packed_values[packed.src]
    return packed_values.new_zeros(shape).index_put(packed.dst, values)


def share_prompt_forward(model) -> None:
    """Wrap ``model.forward`` (already patched by TRL's ``add_fused_lm_head``) so that
    ``fused_lm_head=True`` calls on DPO's two-row batches run packed (see the module docstring).

    Idempotent. Calls that are not such a batch (no ``labels``, pre-shifted labels, an odd
    number of rows, a 4D mask, input embeddings) go to the wrapped forward unchanged.
    """
    inner = model.forward
    if getattr(inner, "_codepref_shared_prefix", False):
        return

    def forward(*args, fused_lm_head=False, labels=None, **kwargs):
        input_ids, attention_mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
        plain = (not fused_lm_head or args or labels is None or input_ids is None or attention_mask is None
                 or attention_mask.dim() != 2 or input_ids.size(0) % 2 or kwargs.get("shift_labels") is not None
                 or kwargs.get("inputs_embeds") is not None)
        if plain:
            if labels is not None:
                kwargs["labels"] = labels
            return inner(*args, fused_lm_head=fused_lm_head, **kwargs)
        dtype = model.get_input_embeddings().weight.dtype
        packed = pack_pairs(input_ids, attention_mask, labels, dtype)
        rest = {k: v for k, v in kwargs.items() if k not in ("input_ids", "attention_mask", "position_ids")}
        out = inner(input_ids=packed.input_ids, attention_mask=packed.attention_mask,
                    position_ids=packed.position_ids, shift_labels=packed.shift_labels, fused_lm_head=True, **rest)
        shape = (input_ids.size(0), input_ids.size(1) - 1)
        for name in PER_TOKEN:
            value = getattr(out, name, None)
            if value is not None:
                out[name] = unpack(value, packed, shape)
        mask = labels[:, 1:] != -100
        out["label_mask"] = mask
        out["loss"] = -out["log_probs"].sum() / mask.sum().clamp(min=1)
        return out

    forward._codepref_shared_prefix = True  # type: ignore[attr-defined]
    model.forward = forward
