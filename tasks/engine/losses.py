"""Losses, all returning sums (the loop normalises by the number of units).

Label smoothing, two forms, chosen per recipe by `smoothing_over` (docs/reference_code.md):
  "others" (fairseq 0.12 `criterions/label_smoothed_cross_entropy.py`, the default):
      loss = (1 - eps - eps/(V-1)) * nll + eps/(V-1) * sum_v(-log p_v)
      the mass eps is spread over the V-1 wrong classes;
  "all" (fairseq 0.9 as vendored by Transformer-Clinic, the Admin code; also torch's
      `label_smoothing` and timm's LabelSmoothingCrossEntropy):
      loss = (1 - eps) * nll + eps/V * sum_v(-log p_v)
      the mass eps is spread uniformly over all V classes.
Both are summed over non-pad targets. Values are in nats (fairseq logs base 2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


SMOOTHING_FORMS = ("others", "all")


def label_smoothed_nll(logits: torch.Tensor, target: torch.Tensor, eps: float,
                       ignore_index: int | None,
                       smoothing_over: str = "others") -> tuple[torch.Tensor, torch.Tensor]:
    """(smoothed loss sum, nll sum) for logits (..., V) and target (...) long.

    Computed in float32 whatever the autocast dtype; targets equal to ignore_index (pad)
    contribute nothing. `smoothing_over`: "others" (fairseq 0.12) or "all" (TC / fairseq 0.9).
    """
    if smoothing_over not in SMOOTHING_FORMS:
        raise ValueError(f"loss.smoothing_over={smoothing_over!r}; expected one of {SMOOTHING_FORMS}")
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
    if smoothing_over == "all":
        loss = (1.0 - eps) * nll_sum + (eps / v) * smooth.sum()
    else:
        eps_i = eps / (v - 1)
        loss = (1.0 - eps - eps_i) * nll_sum + eps_i * smooth.sum()
    return loss, nll_sum


def cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                  ignore_index: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(nll sum, nll sum): plain cross entropy, the eps = 0 case. `ignore_index` is explicit
    (the pad id of token tasks, None for classification) so no class is dropped silently."""
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
              ignore_index: int | None, smoothing_over: str = "others") -> tuple[torch.Tensor, torch.Tensor]:
    """Dispatch on cfg.loss.name for token/class targets (CTC has its own signature);
    `smoothing_over` is cfg.loss.smoothing_over."""
    if name == "label_smoothed_ce":
        return label_smoothed_nll(logits, target, label_smoothing, ignore_index, smoothing_over)
    if name == "ce":
        return cross_entropy(logits, target, ignore_index)
    raise ValueError(f"loss.name={name!r} does not apply to token or class targets; "
                     "expected label_smoothed_ce or ce (ctc is for the asr task)")
