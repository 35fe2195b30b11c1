"""Losses, all returning sums (the loop normalises by the number of units).

Label smoothing follows fairseq's `label_smoothed_cross_entropy.py` (SPEC 4.2):
    loss = (1 - eps - eps/(V-1)) * nll + eps/(V-1) * sum_v(-log p_v)
summed over non-pad targets. The smoothing mass eps is spread over the V-1 wrong classes,
unlike torch's `label_smoothing`, which spreads it over all V. Values are in nats (fairseq
logs base 2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def label_smoothed_nll(logits: torch.Tensor, target: torch.Tensor, eps: float,
                       ignore_index: int | None = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(smoothed loss sum, nll sum) for logits (..., V) and target (...) long.

    Computed in float32 whatever the autocast dtype; targets equal to ignore_index (pad)
    contribute nothing.
    """
    lprobs = F.log_softmax(logits.float(), dim=-1).reshape(-1, logits.size(-1))
    target = target.reshape(-1)
    if lprobs.size(0) != target.size(0):
        raise ValueError(f"logits hold {lprobs.size(0)} positions but target holds {target.size(0)}")
    nll = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (N,)
    smooth = -lprobs.sum(-1)  # (N,) sum over the vocabulary
    if ignore_index is not None:
        keep = target.ne(ignore_index)
        nll = nll * keep
        smooth = smooth * keep
    nll_sum = nll.sum()
    if eps == 0.0:
        return nll_sum, nll_sum
    v = lprobs.size(-1)
    eps_i = eps / (v - 1)
    loss = (1.0 - eps - eps_i) * nll_sum + eps_i * smooth.sum()
    return loss, nll_sum


def cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                  ignore_index: int | None = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(nll sum, nll sum): plain cross entropy, the eps = 0 case."""
    return label_smoothed_nll(logits, target, 0.0, ignore_index)


def ctc(log_probs: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor,
        target_lengths: torch.Tensor, blank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(CTC loss sum, same) for log_probs (B,T,V), out_lengths (B,), padded targets (B,S).

    zero_infinity: an utterance shorter than its transcript gives 0 instead of inf, so one
    bad sample does not read as a divergence.
    """
    loss = F.ctc_loss(log_probs.float().transpose(0, 1), targets, out_lengths, target_lengths,
                      blank=blank, reduction="sum", zero_infinity=True)
    return loss, loss


def task_loss(name: str, label_smoothing: float, logits: torch.Tensor, target: torch.Tensor,
              ignore_index: int | None = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Dispatch on cfg.loss.name for token/class targets (CTC has its own signature)."""
    if name == "label_smoothed_ce":
        return label_smoothed_nll(logits, target, label_smoothing, ignore_index)
    if name == "ce":
        return cross_entropy(logits, target, ignore_index)
    raise ValueError(f"loss.name={name!r} does not apply to token or class targets; "
                     "expected label_smoothed_ce or ce (ctc is for the asr task)")
