"""A small synthetic task for tests, benches and the tiny causal-LM claims ("task: toy").

Data (fixed, independent of cfg.seed): sequences of symbols from a noisy Markov chain,
x_{t+1} = perm[x_t] with probability 1 - NOISE, else a uniform symbol. The best achievable
NLL is far below the chance level log V, so a working loop shows a clear loss drop.
Lengths vary (MIN_LEN..MAX_LEN) so batching by batching.max_tokens and padding are exercised.
With `data.dir` set the sequences are read from a directory written by
`python -m tasks.toy.prepare` (the workflow's path); without it they are generated here.

Families (cfg.model.family):
- "lm": next-token prediction with models.build_model("lm", size, ...) (e.g. lm_tiny).
- "translation": map the sequence to perm applied to it, with models.build_model("translation", ...).
- "toy": the same LM problem with a model of this file: size "trivial" (embedding + linear,
  a bigram model, for measuring the engine's own overhead) or "tiny" (a small causal
  torch Transformer). Overrides: dim, layers, dropout.
Token conventions are fairseq's: bos 0, pad 1, eos 2, unk 3, symbols from 4.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.tokens import BOS, EOS, N_SPECIAL, PAD
from tasks.base import Task
from tasks.engine.batching import epoch_order, make_batches, pad_right
from tasks.engine.losses import task_loss

N_SYMBOLS = 28
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


def generate(n_train: int = N_TRAIN, n_valid: int = N_VALID) -> dict:
    """The toy corpus: {"perm": permutation, "train": [...], "valid": [...]} (symbol ids)."""
    rng = np.random.default_rng(DATA_SEED)
    perm = rng.permutation(N_SYMBOLS)
    return {"perm": perm, "train": make_sequences(n_train, rng, perm), "valid": make_sequences(n_valid, rng, perm)}


def load_prepared(data_dir: Path) -> dict:
    """The corpus written by tasks.toy.prepare (meta.json, {split}.npy and {split}.offsets.npy)."""
    meta_path = Path(data_dir) / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: not found; data.dir must be written by python -m tasks.toy.prepare")
    meta = json.loads(meta_path.read_text())
    out = {"perm": np.asarray(meta["perm"], dtype=np.int64)}
    for split in ("train", "valid"):
        flat = np.load(Path(data_dir) / f"{split}.npy")
        offsets = np.load(Path(data_dir) / f"{split}.offsets.npy")
        out[split] = [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    return out


class ToyTask(Task):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.family = cfg.model.family
        if self.family not in ("toy", "lm", "translation"):
            raise ValueError(f"model.family: the toy task supports toy|lm|translation, got {self.family!r}")
        corpus = load_prepared(Path(cfg.data.dir)) if cfg.data.dir else generate()
        self.perm, self.train_seqs, self.valid_seqs = corpus["perm"], corpus["train"], corpus["valid"]
        self.chance_loss = math.log(VOCAB)
        lengths = [len(s) + 1 for s in self.train_seqs]  # + bos/eos
        b = cfg.batching
        self.batches = make_batches(lengths, b.max_tokens, b.max_sentences, cfg.seed)

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

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        return [self.batches[b] for b in epoch_order(len(self.batches), self.cfg.seed, epoch)]

    def build_batch(self, indices: np.ndarray, epoch: int) -> dict:
        return self.collate([self.train_seqs[i] for i in indices])

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
        loss, nll = task_loss(self.cfg.loss.name, self.cfg.loss.label_smoothing, logits, batch["target"], PAD,
                              smoothing_over=self.cfg.loss.smoothing_over)
        return loss, {"units": batch["ntokens"], "nll_sum": nll.detach()}

    def valid_loss(self, model) -> dict:
        device = next(model.parameters()).device
        loss_sum = nll_sum = correct = 0.0
        units = 0
        for batch in self.valid_batches():
            inp = {k: v.to(device) for k, v in batch["net_input"].items()}
            target = batch["target"].to(device)
            logits = model(**inp)
            loss, nll = task_loss(self.cfg.loss.name, self.cfg.loss.label_smoothing, logits, target, PAD,
                              smoothing_over=self.cfg.loss.smoothing_over)
            keep = target.ne(PAD)
            correct += float(((logits.argmax(-1) == target) & keep).sum())
            loss_sum, nll_sum, units = loss_sum + float(loss), nll_sum + float(nll), units + batch["ntokens"]
        return {"valid_loss": loss_sum / units, "valid_nll": nll_sum / units, "valid_accuracy": correct / units}

    def final_eval(self, model, run_dir: Path) -> dict:
        return self.valid_loss(model)


def build_toy_model(size: str, scheme: str, overrides: dict) -> nn.Module:
    """The toy family's own models (no models/ dependency): "trivial" or "tiny"."""
    from tasks.toy.sizes import resolve_toy_size

    s = resolve_toy_size("toy", size, overrides)
    if size == "trivial":
        return TrivialLM(VOCAB, int(s["dim"]))
    from models.scheme import get_scheme

    pre = get_scheme(scheme).pre_norm
    return TinyLM(VOCAB, int(s["dim"]), int(s["layers"]), float(s["dropout"]), pre)


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
