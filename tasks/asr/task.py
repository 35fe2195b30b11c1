"""The asr task: LibriSpeech letter CTC on prepared log-mel features (tasks.asr.prepare).

Data: cfg.data.dir holds the memory-mapped features; cfg.audio picks the training splits
(train-clean-100, or all three for 960 h), the validation split and the evaluation splits.
Training utterances outside [min_duration_s, max_duration_s], longer than audio.max_frames,
or too short for their transcript under CTC (fewer output frames than labels + repeats) are
left out with a note. Batches are packed once by padded input frames (tasks.engine.batching;
fairseq/flashlight dynamic batching by duration) and reshuffled per epoch with seed + epoch.

SpecAugment (cfg.specaugment) is drawn inside `tasks.engine.data.seeded(seed, epoch, indices)`
in build_batch, so it is a function of the batch, wherever it is built. It starts at
`start_update`: build_batch knows the batch's position in the epoch's list, hence its global
batch number g, and masks when g // (update_freq * world) >= start_update.

Loss: torch's ctc_loss (blank index 0 passed explicitly, reduction sum), normalised by the
number of *target letters* ("units"), as fairseq's CTC criterion does: the per-letter NLL is
comparable across speaking rates and datasets, whereas per-frame values shrink with silence.
zero_infinity is on, but infeasible training utterances were already removed, so it only
guards evaluation splits (their infeasible utterances are counted in `valid_infeasible`).

chance_loss: the per-letter CTC loss of the best *input-independent* prediction: every
frame gets the same distribution, blank with p = 1 - U/T and letters with their training
frequencies times U/T (U letters, T output frames, summed over the training set). A CTC model
that has not learned to listen sits near this value, well below the uniform prediction, so
this is the level the "stuck at chance" check must compare with.

Final eval: greedy (or beam) decoding of each evaluation split, WER and CER with jiwer
(tasks.asr.metrics), hypotheses in run_dir/hyp.<split>.txt. eval.json holds
{"dev_clean": {"wer", "cer", ...}, ..., "valid_loss", "decoder"}.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.io import atomic_write_text
from tasks.asr import vocab
from tasks.asr.dataset import DataDirError, FeatureSplit, collate, read_meta
from tasks.asr.decode import decoder
from tasks.asr.features import spec_augment
from tasks.asr.metrics import error_rates
from tasks.base import Task
from tasks.engine.batching import epoch_order, make_batches
from tasks.engine.data import seeded
from tasks.engine.distributed import autocast
from tasks.engine.losses import ctc


class ASRTask(Task):
    def __init__(self, cfg):
        super().__init__(cfg)
        if not cfg.data.dir:
            raise DataDirError("data.dir is empty; it must name a directory written by tasks.asr.prepare")
        self.data_dir = Path(cfg.data.dir)
        self.meta = read_meta(self.data_dir)
        from models.sizes import resolve_size

        self.size = resolve_size("asr", cfg.model.size, **cfg.model.overrides)
        a = cfg.audio
        self.parts = [FeatureSplit(self.data_dir, s, self.meta) for s in a.train_splits]
        # global training index -> (part, utterance) for the kept utterances
        self.part_of, self.local = self._select()
        frames = np.asarray([self.parts[p].frames[i] for p, i in zip(self.part_of, self.local)])
        self.batches = make_batches(frames, a.max_frames, a.max_utterances, cfg.seed)
        self._first = {int(b[0]): k for k, b in enumerate(self.batches)}  # batches are disjoint
        self._epoch_pos: dict[int, np.ndarray] = {}
        self.valid = FeatureSplit(self.data_dir, a.valid_split, self.meta)
        self.chance_loss = self._prior_loss()

    # ---- data --------------------------------------------------------------------------
    def out_frames(self, frames):
        """Output frames of the conv front-end (kernel k, stride s, padding k // 2)."""
        k, s = self.size.conv_kernel, self.size.conv_stride
        return (np.asarray(frames) + 2 * (k // 2) - k) // s + 1

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.cfg.audio
        part_of, local, dropped = [], [], {"duration": 0, "too long for audio.max_frames": 0, "CTC-infeasible": 0}
        for p, part in enumerate(self.parts):
            dur, outf = part.durations_s(), self.out_frames(part.frames)
            for i in range(len(part)):
                if not a.min_duration_s <= dur[i] <= a.max_duration_s:
                    dropped["duration"] += 1
                elif part.frames[i] > a.max_frames:
                    dropped["too long for audio.max_frames"] += 1
                elif outf[i] < vocab.ctc_min_frames(part.targets[i]) or len(part.targets[i]) == 0:
                    dropped["CTC-infeasible"] += 1
                else:
                    part_of.append(p), local.append(i)
        if a.max_train_utterances:
            part_of, local = part_of[:a.max_train_utterances], local[:a.max_train_utterances]
        total = sum(len(p) for p in self.parts)
        if any(dropped.values()):
            print(f"asr: left out {sum(dropped.values())} of {total} training utterances ({dropped})", file=sys.stderr)
        if not local:
            raise DataDirError(f"{self.data_dir}: no training utterance of {list(a.train_splits)} passes the "
                               f"filters (audio.min/max_duration_s, audio.max_frames)")
        return np.asarray(part_of), np.asarray(local)

    def train_item(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        part = self.parts[int(self.part_of[g])]
        i = int(self.local[g])
        return part.feats(i), part.targets[i]

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        return [self.batches[b] for b in epoch_order(len(self.batches), self.cfg.seed, epoch)]

    def batch_update(self, indices: np.ndarray, epoch: int) -> int:
        """The update (counted from 0) that consumes this batch of `epoch`."""
        if epoch not in self._epoch_pos:
            order = epoch_order(len(self.batches), self.cfg.seed, epoch)
            pos = np.empty_like(order)
            pos[order] = np.arange(len(order))
            self._epoch_pos = {epoch: pos}
        world = int(os.environ.get("WORLD_SIZE", "1"))
        per_epoch = len(self.batches) - len(self.batches) % world  # the engine drops the trailing remainder
        g = (epoch - 1) * per_epoch + int(self._epoch_pos[epoch][self._first[int(indices[0])]])
        return g // (self.cfg.train.update_freq * world)

    def build_batch(self, indices: np.ndarray, epoch: int) -> dict:
        items = [self.train_item(int(g)) for g in indices]
        feats, targets = [f for f, _ in items], [t for _, t in items]
        sa = self.cfg.specaugment
        if sa.enabled and self.batch_update(indices, epoch) >= sa.start_update:
            with seeded(self.cfg.seed, epoch, indices) as rng:
                feats = [spec_augment(f, rng, sa.freq_masks, sa.freq_width, sa.time_masks, sa.time_width,
                                      sa.time_max_ratio) for f in feats]
        return collate(feats, targets)

    def _prior_loss(self, limit: int = 512) -> float:
        """Per-letter CTC loss of the best input-independent frame distribution (see module doc)."""
        take = np.linspace(0, len(self.local) - 1, min(limit, len(self.local))).astype(int)
        items = [self.train_item(int(g)) for g in take]
        targets = [t for _, t in items]
        out_len = self.out_frames([len(f) for f, _ in items])
        u, t = sum(len(x) for x in targets), int(out_len.sum())
        counts = np.bincount(np.concatenate(targets), minlength=len(vocab.LABELS)).astype(np.float64)
        p = counts / counts.sum() * (u / t)
        p[vocab.BLANK] = 1.0 - u / t
        logp = torch.log(torch.as_tensor(np.maximum(p, 1e-12), dtype=torch.float32))
        lp = logp.expand(int(out_len.max()), len(targets), len(vocab.LABELS))
        y = torch.from_numpy(np.concatenate(targets))
        loss = F.ctc_loss(lp, y, torch.as_tensor(out_len), torch.as_tensor([len(x) for x in targets]),
                          blank=vocab.BLANK, reduction="sum", zero_infinity=True)
        return float(loss) / u

    # ---- model and loss ----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        from models import build_model

        m = self.cfg.model
        return build_model("asr", m.size, encoder_scheme=m.encoder_scheme, vocab=len(vocab.LABELS), **m.overrides)

    def loss(self, model: nn.Module, batch: dict):
        log_probs, out_len = model(**batch["net_input"])
        loss, nll = ctc(log_probs, out_len, batch["target"], batch["target_lengths"], blank=vocab.BLANK)
        return loss, {"units": batch["ntokens"], "nll_sum": nll.detach()}

    def _eval_batches(self, split: FeatureSplit, max_frames: int) -> list[np.ndarray]:
        return make_batches(split.frames, max(max_frames, int(split.frames.max())), 0, self.cfg.seed)

    @torch.no_grad()
    def valid_loss(self, model: nn.Module) -> dict:
        device = next(model.parameters()).device
        loss_sum, units, infeasible = 0.0, 0, 0
        for idx in self._eval_batches(self.valid, self.cfg.audio.max_frames):
            batch = self.valid.collate(idx)
            log_probs, out_len = model(batch["net_input"]["feats"].to(device), batch["net_input"]["lengths"].to(device))
            losses = F.ctc_loss(log_probs.float().transpose(0, 1), batch["target"].to(device), out_len,
                                batch["target_lengths"].to(device), blank=vocab.BLANK, reduction="none",
                                zero_infinity=True)
            ok = torch.isfinite(losses) & (losses > 0) | (batch["target_lengths"].to(device) == 0)
            infeasible += int((~ok).sum())
            loss_sum += float(losses[ok].sum())
            units += int(batch["target_lengths"].to(device)[ok].sum())
        per = loss_sum / max(units, 1)
        return {"valid_loss": per, "valid_nll": per, "valid_infeasible": infeasible}

    # ---- final evaluation --------------------------------------------------------------
    def transcribe(self, model: nn.Module, split: FeatureSplit) -> list[str]:
        """Decoded text of every utterance of `split`, in split order."""
        d = self.cfg.decode
        decode = decoder(d.method, d.beam_size)
        device = next(model.parameters()).device
        hyps: list[str] = [""] * len(split)
        for idx in self._eval_batches(split, d.max_frames):
            batch = split.collate(idx)
            with autocast(self.cfg.train.precision, device):
                log_probs, out_len = model(batch["net_input"]["feats"].to(device),
                                           batch["net_input"]["lengths"].to(device))
            for i, h in zip(idx, decode(log_probs.float(), out_len)):
                hyps[int(i)] = h
        return hyps

    def final_eval(self, model: nn.Module, run_dir: Path) -> dict:
        was_training = model.training
        model.eval()
        out: dict = {"decoder": self.cfg.decode.method if self.cfg.decode.method == "greedy"
                     else f"beam{self.cfg.decode.beam_size} (flashlight, lexicon-free, no LM)"}
        with torch.no_grad():
            for name in self.cfg.audio.eval_splits:
                split = FeatureSplit(self.data_dir, name, self.meta)
                hyps = self.transcribe(model, split)
                atomic_write_text(Path(run_dir) / f"hyp.{name}.txt",
                                  "".join(f"{u}\t{h}\n" for u, h in zip(split.ids, hyps)))
                out[name.replace("-", "_")] = {"utterances": len(split), **error_rates(split.texts, hyps)}
            out.update(self.valid_loss(model))
        model.train(was_training)
        return out
