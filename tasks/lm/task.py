"""The language-modelling task: WikiText streams, block samples, cross entropy, perplexity.

Data: a directory written by tasks.lm.prepare (dict.txt, {split}.bin/.idx, meta.json). Training
examples are the blocks of fairseq's sample-break-mode none (tasks.lm.wikitext.block_bounds over
the training stream); an epoch shuffles the blocks with (seed, epoch) and groups them into
batches of max_tokens // tokens_per_sample blocks (the last, shorter batch is kept).
A batch: net_input.tokens (B, T) = the previous token of each target (eos before the stream's
first token), target (B, T), right-padded with pad = 1 when the stream's last block is short.
Loss: summed -ln p(target) over non-pad targets (fairseq's cross_entropy / adaptive_loss; no
label smoothing), units = target tokens. Validation during training: blocks of
tokens_per_sample without context (as fairseq's validation); the final evaluation: perplexity on
the eval splits with the context window of section `lm` (tasks/lm/evaluate.py).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.tokens import PAD
from tasks.base import Task
from tasks.lm import evaluate
from tasks.lm.wikitext import block_bounds, block_sample, open_prepared


class LMTask(Task):
    units_name = "tokens"

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.model.family != "lm":
            raise ValueError(f"model.family: the lm task trains the lm family, got {cfg.model.family!r}")
        if cfg.loss.name != "ce" and cfg.loss.label_smoothing > 0:
            raise ValueError(f"loss: the lm task trains with plain cross entropy (fairseq's adaptive_loss); "
                             f"got {cfg.loss.name} with label_smoothing {cfg.loss.label_smoothing}: set loss.name: ce")
        if not cfg.data.dir:
            raise ValueError("data.dir: empty; expected a directory written by tasks.lm.prepare")
        self.lm = cfg.lm
        self.dictionary, self.streams, self.meta = open_prepared(Path(cfg.data.dir))
        self.vocab = len(self.dictionary)
        self.chance_loss = math.log(self.vocab)
        self.blocks = block_bounds(len(self.streams["train"]), self.lm.tokens_per_sample)
        self.blocks_per_batch = max(1, self.lm.max_tokens // self.lm.tokens_per_sample)

    # ---- data --------------------------------------------------------------------------
    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        order = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.blocks))
        n = self.blocks_per_batch
        return [order[i:i + n] for i in range(0, len(order), n)]

    def collate(self, tokens: np.ndarray, bounds) -> dict:
        pairs = [block_sample(tokens, int(s), int(e)) for s, e in bounds]
        width = max(len(t) for _, t in pairs)
        src = np.full((len(pairs), width), PAD, dtype=np.int64)
        tgt = np.full((len(pairs), width), PAD, dtype=np.int64)
        for r, (s, t) in enumerate(pairs):
            src[r, :len(s)], tgt[r, :len(t)] = s, t
        return {"net_input": {"tokens": torch.from_numpy(src)}, "target": torch.from_numpy(tgt),
                "ntokens": int(sum(len(t) for _, t in pairs))}

    def build_batch(self, indices: np.ndarray, epoch: int) -> dict:
        # no randomness: a block sample is a pure function of its index
        return self.collate(self.streams["train"].tokens, self.blocks[np.asarray(indices)])

    # ---- model and loss ----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        from models import build_model

        m = self.cfg.model
        return build_model("lm", m.size, encoder_scheme=m.encoder_scheme, vocab=self.vocab, **m.overrides)

    def loss(self, model, batch):
        # through model.__call__ (a DDP wrapper must see the forward); (B, T) log-probabilities
        lp = model(batch["net_input"]["tokens"], target=batch["target"])
        nll = -(lp * batch["target"].ne(PAD)).sum()
        return nll, {"units": batch["ntokens"], "nll_sum": nll.detach()}

    def forward_for_probe(self, model, batch) -> None:
        """Hidden states only: the probes hook into attention, and with the adaptive softmax a
        full (B, T, V) output would be the largest tensor of the step."""
        inner = getattr(model, "module", model)
        if hasattr(inner, "features"):
            model = inner
            model.features(**batch["net_input"])
        else:
            model(**batch["net_input"])

    def valid_loss(self, model) -> dict:
        r = evaluate.evaluate_stream(model, self.streams["valid"].tokens, self.lm.tokens_per_sample, 0,
                                     self.lm.max_tokens)
        return {"valid_loss": r["nats"], "valid_nll": r["nats"], "valid_ppl": r["ppl"]}

    def final_eval(self, model, run_dir: Path) -> dict:
        lm = self.lm
        out = {"context_window": lm.context_window, "tokens_per_sample": lm.eval_window,
               "scored_per_window": lm.eval_window - lm.context_window, "vocab_size": self.vocab,
               "units": "nats = mean -ln p per token (every line's </s> included); bits = nats / ln 2 "
                        "(fairseq's printed loss); ppl = exp(nats) = 2^bits"}
        for split in lm.eval_splits:
            out[split] = evaluate.evaluate_stream(model, self.streams[split].tokens, lm.eval_window,
                                                  lm.context_window, lm.eval_max_tokens or lm.max_tokens)
        return out
