"""Translation training and decoding speed per scheme, beside torch.nn.Transformer.

    python -m bench.translation_speed [--device cpu|cuda] [--steps N] [--schemes post_ln pre_ln ...]

Model: transformer_iwslt_de_en (6L-6L, d 512, FFN 1024, 4 heads), a joined vocabulary of
10,152 symbols (the size of the IWSLT'14 10k-merge dictionary), tied embeddings. Batches are
synthetic: sentence lengths drawn uniformly from [L/2, L], right-padded, so both models handle
padding masks as in real batches.
- train: tokens/s of forward + label-smoothed loss + backward + Adam step (target tokens);
- decode: sentences/s of beam search (tasks.translation.generate, beam 5) producing exactly
  L tokens per sentence (min_len = max_len = L, so untrained weights cannot end a sentence early).
The baseline is torch.nn.Transformer at the same size (norm_first matching the scheme's
Pre-LN/Post-LN placement), with the same embeddings, output projection and loss, driven
through the same generate() code. CPU runs use a reduced batch; CUDA runs use bf16 autocast.
Each timing keeps the fastest of the measured steps (the machine may be shared).
"""
from __future__ import annotations

import argparse
import math
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from models import SCHEMES, build_model
from tasks.engine.losses import label_smoothed_nll
from tasks.translation.dictionary import EOS, PAD
from tasks.translation.generate import generate

VOCAB, D, HEADS, FFN, LAYERS, DROPOUT = 10152, 512, 4, 1024, 6, 0.1


class TorchTransformer(nn.Module):
    """nn.Transformer with the TranslationModel API (encode/decode) and the same embeddings."""

    def __init__(self, norm_first: bool):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D, padding_idx=PAD)
        nn.init.normal_(self.embed.weight, std=D ** -0.5)
        self.pos = nn.Embedding(1026, D)
        self.net = nn.Transformer(D, HEADS, LAYERS, LAYERS, FFN, DROPOUT, batch_first=True, norm_first=norm_first)

    def _embed(self, tokens):
        pos = torch.arange(tokens.size(1), device=tokens.device)
        return F.dropout(self.embed(tokens) * D ** 0.5 + self.pos(pos), DROPOUT, self.training)

    def encode(self, src):
        pad = src.eq(PAD)
        return self.net.encoder(self._embed(src), src_key_padding_mask=pad), pad

    def decode(self, prev, enc, enc_pad):
        t = prev.size(1)  # bool masks throughout (True = masked), like the padding masks
        causal = torch.ones(t, t, dtype=torch.bool, device=prev.device).triu(1)
        x = self.net.decoder(self._embed(prev), enc, tgt_mask=causal, tgt_is_causal=True,
                             tgt_key_padding_mask=prev.eq(PAD), memory_key_padding_mask=enc_pad)
        return F.linear(x, self.embed.weight)

    def forward(self, src_tokens, prev_output_tokens):
        enc, pad = self.encode(src_tokens)
        return self.decode(prev_output_tokens, enc, pad)


def make_batch(n: int, length: int, device, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(length // 2, length + 1, (n,), generator=g)
    src = torch.full((n, length), PAD)
    tgt = torch.full((n, length), PAD)
    for i, k in enumerate(lens.tolist()):
        src[i, :k] = torch.randint(4, VOCAB, (k,), generator=g)
        src[i, k - 1] = EOS
        tgt[i, :k] = torch.randint(4, VOCAB, (k,), generator=g)
        tgt[i, k - 1] = EOS
    prev = torch.full_like(tgt, PAD)
    prev[:, 0] = EOS
    prev[:, 1:] = torch.where(tgt[:, :-1].eq(EOS), PAD, tgt[:, :-1])
    return {"src": src.to(device), "prev": prev.to(device), "tgt": tgt.to(device),
            "ntokens": int(tgt.ne(PAD).sum())}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_speed(model, batch, steps: int, device, autocast) -> float:
    """Target tokens per second of full training steps (fastest step after one warm-up)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98))
    model.train()
    best = math.inf
    for i in range(steps + 1):
        _sync(device)
        t0 = time.perf_counter()
        with autocast():
            logits = model(batch["src"], batch["prev"])
        loss, _ = label_smoothed_nll(logits, batch["tgt"], 0.1, ignore_index=1)
        (loss / batch["ntokens"]).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        if i:  # the first step pays for allocation and kernel selection
            best = min(best, time.perf_counter() - t0)
    return batch["ntokens"] / best


def decode_speed(model, batch, out_len: int, device, autocast, repeats: int) -> float:
    """Sentences per second of beam-5 search producing out_len tokens per sentence."""
    model.eval()
    best = math.inf
    for i in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        with torch.no_grad(), autocast():
            # min_len = max_len: every hypothesis is exactly out_len tokens, whatever the weights
            hyps = generate(model, batch["src"], beam=5, max_len_a=0.0, max_len_b=out_len, min_len=out_len)
        _sync(device)
        if i:
            best = min(best, time.perf_counter() - t0)
    assert all(len(h) == out_len for h in hyps)
    return len(hyps) / best


def ours(scheme: str, device) -> nn.Module:
    torch.manual_seed(0)
    return build_model("translation", "transformer_iwslt_de_en", encoder_scheme=scheme,
                       decoder_scheme=scheme, src_vocab=VOCAB, tgt_vocab=VOCAB, share="all").to(device)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--steps", type=int, default=0, help="timed training steps (default: CPU 3, CUDA 20)")
    ap.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=list(SCHEMES))
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    args = ap.parse_args(argv)
    # nn.Transformer announces its (prototype) nested-tensor fast path; it is part of the baseline
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.nn\.modules\.transformer")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench.translation_speed: --device cuda but no CUDA device is visible")
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = device.type == "cpu"
    steps = args.steps or (3 if cpu else 20)
    n_train, length = (16, 32) if cpu else (128, 32)  # CPU: 512 tokens per batch; GPU: ~4096 (recipe)
    n_dec, out_len = (8, 24) if cpu else (128, 32)

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if not cpu else torch.autocast("cpu", enabled=False)

    train_batch, dec_batch = make_batch(n_train, length, device), make_batch(n_dec, length, device, seed=1)
    print(f"device {device} ({'bf16' if not cpu else 'fp32'}), {torch.get_num_threads()} threads, "
          f"train batch {n_train}x{length} ({train_batch['ntokens']} target tokens), "
          f"decode {n_dec} sentences x {out_len} tokens, beam 5")
    print(f"{'model':<34}{'train tok/s':>12}{'ratio':>7}{'decode sent/s':>15}{'ratio':>7}")
    base = {}
    for norm_first in (False, True):
        torch.manual_seed(0)
        m = TorchTransformer(norm_first).to(device)
        base[norm_first] = (train_speed(m, train_batch, steps, device, autocast),
                            decode_speed(m, dec_batch, out_len, device, autocast, max(1, steps // 3)))
        name = f"torch.nn.Transformer norm_first={norm_first}"
        print(f"{name:<34}{base[norm_first][0]:>12.0f}{1.0:>7.2f}{base[norm_first][1]:>15.2f}{1.0:>7.2f}", flush=True)
    for scheme in args.schemes:
        ref = base[SCHEMES[scheme].pre_norm]
        m = ours(scheme, device)
        tr = train_speed(m, train_batch, steps, device, autocast)
        de = decode_speed(m, dec_batch, out_len, device, autocast, max(1, steps // 3))
        print(f"{scheme:<34}{tr:>12.0f}{tr / ref[0]:>7.2f}{de:>15.2f}{de / ref[1]:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
