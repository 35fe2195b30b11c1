"""The translation task: a prepared data directory, an encoder-decoder model, BLEU at the end.

Data: cfg.data.dir is a directory written by `python -m tasks.translation.prepare`. Train and
valid pairs longer than batching.max_positions, the model's max_positions (source or target, with
eos) or batching.max_tokens are left out with a note (fairseq's --skip-invalid-size-inputs-valid-test;
without it fairseq stops); test sources are cut to fit, so every line gets a hypothesis. Batches are built once
by length (tasks.engine.batching) and their order is reshuffled per epoch with seed + epoch.
Loss: label-smoothed CE summed over target tokens (fairseq's criterion, tasks.engine.losses).
Final eval (cfg.eval): beam search on cfg.eval.split (tasks.translation.generate), then
- "bleu": tokenised BLEU-4 of the BPE-removed text, as fairseq-generate reports it;
- "sacrebleu" and "sacrebleu_signature": detokenised 13a sacreBLEU against the untokenised
  references kept by prepare (test.raw.*), lowercased when the data is;
- "bleu_compound_split": for En-De targets, or when eval.compound_split is set;
- "valid_loss"; hypotheses.txt (one BPE-removed hypothesis per line, in split order) in run_dir.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.io import atomic_write_text
from tasks.base import Task
from tasks.engine.batching import epoch_order, make_batches
from tasks.engine.distributed import autocast
from tasks.engine.losses import task_loss
from tasks.translation import bleu
from tasks.translation.dataset import DataDirError, PairDataset, read_meta
from tasks.translation.dictionary import EOS, PAD, Dictionary, remove_bpe
from tasks.translation.generate import generate


class TranslationTask(Task):
    def __init__(self, cfg):
        super().__init__(cfg)
        if not cfg.data.dir:
            raise DataDirError("data.dir is empty; it must name a directory written by tasks.translation.prepare")
        self.data_dir = Path(cfg.data.dir)
        self.meta = read_meta(self.data_dir)
        self.dict = Dictionary.load(self.data_dir / "dict.txt")
        if len(self.dict) != self.meta["vocab_size"]:
            raise DataDirError(f"{self.data_dir}/dict.txt has {len(self.dict)} symbols but meta.json says "
                               f"{self.meta['vocab_size']}; prepare the data again")
        self.src_lang, self.tgt_lang = self.meta["src"], self.meta["tgt"]
        self.chance_loss = math.log(len(self.dict))
        self.train = PairDataset(self.data_dir, "train")
        self.valid = PairDataset(self.data_dir, "valid")
        from models import resolve_size

        model_positions = resolve_size("translation", cfg.model.size, **cfg.model.overrides).max_positions
        self.max_positions = min(cfg.batching.max_positions, model_positions)
        self.batches = self._batches(self.train)
        self.valid_batches = self._batches(self.valid)

    # ---- data --------------------------------------------------------------------------
    def _batches(self, ds: PairDataset) -> list[np.ndarray]:
        """Length-bucketed batches of the pairs that fit max_positions and batching.max_tokens
        (fairseq --skip-invalid-size-inputs-valid-test; the number left out is reported)."""
        d = self.cfg.batching
        lengths = ds.lengths()
        limit = min(self.max_positions, d.max_tokens)
        index = np.flatnonzero(lengths <= limit)
        if len(index) < len(ds):
            print(f"translation: left out {len(ds) - len(index)} of {len(ds)} {ds.split} pairs longer than "
                  f"{limit} tokens (batching.max_positions, the model's max_positions, batching.max_tokens)",
                  file=sys.stderr)
        if not len(index):
            raise DataDirError(f"{self.data_dir}: no {ds.split} pair fits in {limit} tokens")
        batches = make_batches(lengths[index], d.max_tokens, d.max_sentences, self.cfg.seed)
        return [index[b] for b in batches]

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        return [self.batches[b] for b in epoch_order(len(self.batches), self.cfg.seed, epoch)]

    def build_batch(self, indices: np.ndarray, epoch: int) -> dict:
        return self.train.collate(indices)

    # ---- model and loss ----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        from models import build_model

        m = self.cfg.model
        v = len(self.dict)
        return build_model("translation", m.size, encoder_scheme=m.encoder_scheme,
                           decoder_scheme=m.decoder_scheme, src_vocab=v, tgt_vocab=v,
                           share=m.share or "all", **m.overrides)

    def loss(self, model: nn.Module, batch: dict):
        logits = model(**batch["net_input"])
        loss, nll = task_loss(self.cfg.loss.name, self.cfg.loss.label_smoothing, logits, batch["target"], PAD,
                              smoothing_over=self.cfg.loss.smoothing_over)
        return loss, {"units": batch["ntokens"], "nll_sum": nll.detach()}

    @torch.no_grad()
    def valid_loss(self, model: nn.Module) -> dict:
        device = next(model.parameters()).device
        loss_sum, nll_sum, units = 0.0, 0.0, 0
        for idx in self.valid_batches:
            batch = self.valid.collate(idx)
            inp = {k: v.to(device) for k, v in batch["net_input"].items()}
            logits = model(**inp)
            loss, nll = task_loss(self.cfg.loss.name, self.cfg.loss.label_smoothing, logits,
                                  batch["target"].to(device), PAD, smoothing_over=self.cfg.loss.smoothing_over)
            loss_sum, nll_sum, units = loss_sum + float(loss), nll_sum + float(nll), units + batch["ntokens"]
        return {"valid_loss": loss_sum / units, "valid_nll": nll_sum / units}

    # ---- final evaluation --------------------------------------------------------------
    def translate(self, model: nn.Module, ds: PairDataset) -> list[list[int]]:
        """Beam-search hypotheses (token ids) for every pair of `ds`, in dataset order."""
        e = self.cfg.eval
        device = next(model.parameters()).device
        order = np.argsort(ds.src.sizes, kind="stable")  # similar lengths together, as fairseq
        hyps: list[list[int]] = [[] for _ in range(len(ds))]
        for start in range(0, len(ds), e.batch_sentences):
            idx = order[start:start + e.batch_sentences]
            src = ds.collate(idx)["net_input"]["src_tokens"]
            if src.size(1) > self.max_positions:  # keep the head of over-long sources, and eos
                src = src[:, :self.max_positions].clone()
                src[:, -1] = torch.where(src[:, -1].eq(PAD), PAD, EOS)
            with autocast(self.cfg.train.precision, device):
                out = generate(model, src.to(device), beam=e.beam, lenpen=e.lenpen, max_len_a=e.max_len_a,
                               max_len_b=e.max_len_b, max_positions=self.max_positions)
            for i, h in zip(idx, out):
                hyps[int(i)] = h
        return hyps

    def final_eval(self, model: nn.Module, run_dir: Path) -> dict:
        e = self.cfg.eval
        ds = PairDataset(self.data_dir, e.split)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            hyp_ids = self.translate(model, ds)
            valid = self.valid_loss(model)
        model.train(was_training)
        hyps = [remove_bpe(self.dict.string(h)) for h in hyp_ids]
        refs = [remove_bpe(self.dict.string(ds.tgt[i], escape_unk=True)) for i in range(len(ds))]
        atomic_write_text(Path(run_dir) / "hypotheses.txt", "".join(h + "\n" for h in hyps))
        return {"split": e.split, "n_sentences": len(ds), **self.scores(hyps, refs, e.split),
                "valid_loss": valid["valid_loss"]}

    def scores(self, hyps: list[str], refs: list[str], split: str) -> dict:
        """Tokenised BLEU, detokenised sacreBLEU (+ signature), compound-split BLEU (En-De)."""
        e = self.cfg.eval
        lower = e.bleu_lowercase
        tok_h = [h.lower() for h in hyps] if lower else hyps
        tok_r = [r.lower() for r in refs] if lower else refs
        out: dict = {"bleu": bleu.tokenized_bleu(tok_h, tok_r)}
        raw_path = self.data_dir / f"{split}.raw.{self.tgt_lang}"
        raw_refs = raw_path.read_text(encoding="utf-8").split("\n")[:len(refs)] if raw_path.is_file() \
            else bleu.detokenize(refs, self.tgt_lang)
        out["sacrebleu"], out["sacrebleu_signature"] = bleu.detok_sacrebleu(
            hyps, raw_refs, self.tgt_lang, lowercase=lower or bool(self.meta.get("lowercased")))
        if e.compound_split or (self.src_lang, self.tgt_lang) == ("en", "de"):
            out["bleu_compound_split"] = bleu.compound_split_bleu(tok_h, tok_r)
        return out
