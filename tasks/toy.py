"""A small synthetic task for tests and the engine benchmark ("task: toy").

Data (fixed, independent of cfg.seed): sequences of symbols from a noisy Markov chain,
x_{t+1} = perm[x_t] with probability 1 - NOISE, else a uniform symbol. The best achievable
NLL is far below the chance level log V, so a working loop shows a clear loss drop.
Lengths vary (MIN_LEN..MAX_LEN) so batching by data.max_tokens and padding are exercised.

Families (cfg.model.family):
- "lm": next-token prediction with models.build_model("lm", size, ...) (e.g. lm_tiny).
- "translation": map the sequence to perm applied to it, with models.build_model("translation", ...).
- "toy": the same LM problem with a model of this file: size "trivial" (embedding + linear,
  a bigram model, for measuring the engine's own overhead) or "tiny" (a small causal
  torch Transformer). Overrides: dim, layers, dropout.
Token conventions are fairseq's: bos 0, pad 1, eos 2, unk 3, symbols from 4.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tasks.base import Task
from tasks.config import RunConfig
from tasks.engine.batching import epoch_order, make_batches, pad_right
from tasks.engine.losses import task_loss

BOS, PAD, EOS = 0, 1, 2
N_SPECIAL, N_SYMBOLS = 4, 28
VOCAB = N_SPECIAL + N_SYMBOLS
N_TRAIN, N_VALID, MIN_LEN, MAX_LEN, NOISE = 512, 64, 6, 20, 0.1
DATA_SEED = 20200


def make_sequences(n: int, rng: np.random.Generator, perm: np.ndarray) -> list[np.ndarray]:
    """n noisy Markov-chain sequences of symbol ids (N_SPECIAL..VOCAB-1)."""
    seqs = []
    for _ in range(n):
        length = int(rng.integers(MIN_LEN, MAX_LEN + 1))
        x = [int(rng.integers(N_SYMBOLS))]
        for _ in range(length - 1):
            x.append(int(perm[x[-1]]) if rng.random() > NOISE else int(rng.integers(N_SYMBOLS)))
        seqs.append(np.asarray(x, dtype=np.int64) + N_SPECIAL)
    return seqs


class ToyTask(Task):
    units_name = "tokens"

    def __init__(self, cfg: RunConfig):
        super().__init__(cfg)
        self.family = cfg.model.family
        if self.family not in ("toy", "lm", "translation"):
            raise ValueError(f"model.family: the toy task supports toy|lm|translation, got {self.family!r}")
        rng = np.random.default_rng(DATA_SEED)
        self.perm = rng.permutation(N_SYMBOLS)
        self.train_seqs = make_sequences(N_TRAIN, rng, self.perm)
        self.valid_seqs = make_sequences(N_VALID, rng, self.perm)
        self.chance_loss = math.log(VOCAB)
        lengths = [len(s) + 1 for s in self.train_seqs]  # + bos/eos
        self.batches = make_batches(lengths, cfg.data.max_tokens, cfg.data.max_sentences, cfg.seed)

    # ---- data --------------------------------------------------------------------------
    def collate(self, seqs: list[np.ndarray]) -> dict:
        """LM: tokens = bos + x, target = x + eos. Translation: src = x + eos, target =
        perm(x) + eos, prev_output_tokens = eos + perm(x) (fairseq's moved eos)."""
        if self.family == "translation":
            tgt = [np.append(self.perm[s - N_SPECIAL] + N_SPECIAL, EOS) for s in seqs]
            src = [np.append(s, EOS) for s in seqs]
            prev = [np.concatenate([[EOS], t[:-1]]) for t in tgt]
            net_input = {"src_tokens": torch.from_numpy(pad_right(src, PAD)),
                         "prev_output_tokens": torch.from_numpy(pad_right(prev, PAD))}
        else:
            tgt = [np.append(s, EOS) for s in seqs]
            net_input = {"tokens": torch.from_numpy(pad_right([np.concatenate([[BOS], s]) for s in seqs], PAD))}
        target = torch.from_numpy(pad_right(tgt, PAD))
        return {"net_input": net_input, "target": target, "ntokens": int(sum(len(t) for t in tgt))}

    def train_batches(self, epoch: int):
        return self.train_batches_from(epoch, 0)

    def train_batches_from(self, epoch: int, start: int):
        """Skips by index: the skipped batches are never built."""
        for b in epoch_order(len(self.batches), self.cfg.seed, epoch)[start:]:
            yield self.collate([self.train_seqs[i] for i in self.batches[b]])

    def valid_batches(self):
        for start in range(0, len(self.valid_seqs), 16):
            yield self.collate(self.valid_seqs[start:start + 16])

    # ---- model and loss ----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        m = self.cfg.model
        if self.family == "toy":
            return build_toy_model(m.size, m.encoder_scheme, m.overrides)
        from models import build_model

        if self.family == "lm":
            return build_model("lm", m.size, encoder_scheme=m.encoder_scheme, vocab=VOCAB, **m.overrides)
        return build_model("translation", m.size, encoder_scheme=m.encoder_scheme, decoder_scheme=m.decoder_scheme,
                           src_vocab=VOCAB, tgt_vocab=VOCAB, share=m.share or "all", **m.overrides)

    def loss(self, model, batch):
        logits = model(**batch["net_input"])
        loss, nll = task_loss(self.cfg.loss.name, self.cfg.loss.label_smoothing, logits, batch["target"], PAD)
        return loss, {"units": batch["ntokens"], "nll_sum": nll.detach()}

    def valid_loss(self, model) -> dict:
        device = next(model.parameters()).device
        loss_sum = nll_sum = correct = 0.0
        units = 0
        for batch in self.valid_batches():
            inp = {k: v.to(device) for k, v in batch["net_input"].items()}
            target = batch["target"].to(device)
            logits = model(**inp)
            loss, nll = task_loss(self.cfg.loss.name, self.cfg.loss.label_smoothing, logits, target, PAD)
            keep = target.ne(PAD)
            correct += float(((logits.argmax(-1) == target) & keep).sum())
            loss_sum, nll_sum, units = loss_sum + float(loss), nll_sum + float(nll), units + batch["ntokens"]
        return {"valid_loss": loss_sum / units, "valid_nll": nll_sum / units, "valid_accuracy": correct / units}

    def final_eval(self, model, run_dir: Path) -> dict:
        return self.valid_loss(model)


def build_toy_model(size: str, scheme: str, overrides: dict) -> nn.Module:
    """The toy family's own models (no models/ dependency): "trivial" or "tiny"."""
    known = {"dim", "layers", "dropout"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"model.overrides: unknown keys {sorted(unknown)} for the toy family; expected {sorted(known)}")
    dim = int(overrides.get("dim", 32))
    if size == "trivial":
        return TrivialLM(VOCAB, dim)
    if size == "tiny":
        from models.scheme import get_scheme

        pre = get_scheme(scheme).pre_norm
        return TinyLM(VOCAB, dim, int(overrides.get("layers", 2)), float(overrides.get("dropout", 0.1)), pre)
    raise ValueError(f"model.size: the toy family has sizes trivial|tiny, got {size!r}")


class TrivialLM(nn.Module):
    """Embedding + linear: logits of the next token from the current one (B, T) -> (B, T, V)."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=PAD)
        self.out = nn.Linear(dim, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(tokens))


class TinyLM(nn.Module):
    """A small causal Transformer (torch layers, learned positions) with dropout, so the
    resume tests exercise the saved RNG state."""

    def __init__(self, vocab: int, dim: int, layers: int, dropout: float, pre_norm: bool):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=PAD)
        self.pos = nn.Embedding(MAX_LEN + 2, dim)
        layer = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=2 * dim, dropout=dropout,
                                           batch_first=True, norm_first=pre_norm)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(dim, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.size(1)
        x = self.embed(tokens) + self.pos(torch.arange(t, device=tokens.device))
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).triu(1)  # True = masked
        return self.out(self.layers(x, mask=causal, is_causal=True, src_key_padding_mask=tokens.eq(PAD)))
