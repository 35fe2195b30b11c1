"""ASR speed: seconds of audio trained per second per scheme, fbank extraction rate, sigma overhead.

    python -m bench.asr_throughput [--size asr_tiny] [--layers N] [--frames 3000] [--utt-s 15]
                                   [--steps 5] [--device cpu|cuda] [--precision fp32|bf16]

1. Feature extraction (tasks.asr.features.fbank, one thread): seconds of audio turned into 80-dim
   log-mel frames per second of compute, with and without the FLAC decode, on generated speech.
2. Training steps: a batch of `--frames` padded input frames (utterances of `--utt-s` seconds),
   forward + CTC loss + backward + SGD step, timed after warm-up steps, for every scheme of the
   sigma_asr table; "audio s/s" = seconds of audio in the batch / step time.
3. sigma_reparam_post_ln step time / post_ln step time. Reference (secondary, low trust: a generated
   catalogue quoting Zhai et al. 2023 Table 5): 510 / 450 ms per step = 1.13 for the 36-layer model.
Numbers depend on the machine and its load; the command prints what it measured, nothing else.
"""
from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch

SCHEMES = ("post_ln", "pre_ln", "sigma_reparam_post_ln", "sigma_reparam", "sigma_reparam_pre_ln", "admin")
REFERENCE_RATIO = 510.0 / 450.0


def fbank_rate(seconds: float = 30.0) -> dict:
    """Audio seconds per compute second: fbank only, and FLAC decode + fbank."""
    import soundfile as sf

    from tasks.asr import make_tiny
    from tasks.asr.features import fbank

    rng = np.random.default_rng(0)
    spk = make_tiny.speaker(rng, other=False)
    chunks, total = [], 0.0
    while total < seconds:
        a = make_tiny.speak("the quick brown fox jumps over the lazy dog", spk, rng)
        chunks.append(a)
        total += len(a) / 16000
    flacs = [make_tiny.flac_bytes(a) for a in chunks]
    fbank(chunks[0])  # warm-up
    t = time.perf_counter()
    for a in chunks:
        fbank(a)
    t_fb = time.perf_counter() - t
    t = time.perf_counter()
    for b in flacs:
        fbank(sf.read(io.BytesIO(b), dtype="float32")[0])
    t_all = time.perf_counter() - t
    return {"audio_s": total, "fbank_x_realtime": total / t_fb, "decode_fbank_x_realtime": total / t_all}


def step_time(scheme: str, size: str, layers: int | None, frames: int, utt_frames: int, steps: int,
              device: torch.device, precision: str) -> tuple[float, float]:
    """(seconds per training step, seconds of audio per batch)."""
    from models import build_model
    from tasks.engine.losses import ctc

    over = {"layers": layers} if layers else {}
    torch.manual_seed(0)
    model = build_model("asr", size, encoder_scheme=scheme, vocab=29, **over).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    b = max(1, frames // utt_frames)
    feats = torch.randn(b, utt_frames, 80, device=device)
    lengths = torch.full((b,), utt_frames, device=device)
    n_letters = max(1, utt_frames // 7)  # ~15 letters per second of speech
    target = torch.randint(3, 29, (b, n_letters), device=device)
    t_len = torch.full((b,), n_letters, device=device)
    dtype = torch.bfloat16 if precision == "bf16" else None

    def one():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            lp, out_len = model(feats, lengths)
        loss, _ = ctc(lp, out_len, target, t_len, blank=0)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps, b * utt_frames * 0.01


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="asr_tiny", help="a key of models.sizes.SIZES['asr']")
    ap.add_argument("--layers", type=int, default=0, help="override the size's depth (0: keep)")
    ap.add_argument("--frames", type=int, default=3000, help="padded input frames per batch")
    ap.add_argument("--utt-s", type=float, default=15.0, help="utterance length in seconds")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--no-fbank", action="store_true")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    if not a.no_fbank:
        torch.set_num_threads(1)
        r = fbank_rate()
        print(f"fbank (1 thread): {r['fbank_x_realtime']:.0f}x real time; FLAC decode + fbank: "
              f"{r['decode_fbank_x_realtime']:.0f}x real time ({r['audio_s']:.0f} s of generated speech)")
        torch.set_num_threads(max(1, torch.get_num_threads()))
    utt = min(a.frames, int(a.utt_s * 100))
    print(f"training steps: size {a.size}{f' {a.layers}L' if a.layers else ''}, {a.frames} frames/batch "
          f"({a.frames // utt} x {utt / 100:.1f} s), {a.device}, {a.precision}, {a.steps} timed steps")
    times = {}
    for scheme in a.schemes.split(","):
        dt, audio = step_time(scheme, a.size, a.layers or None, a.frames, utt, a.steps, device, a.precision)
        times[scheme] = dt
        print(f"  {scheme:<22} {1000 * dt:8.1f} ms/step   {audio / dt:8.1f} s of audio per s")
    if "post_ln" in times and "sigma_reparam_post_ln" in times:
        print(f"sigma_reparam_post_ln / post_ln step time: {times['sigma_reparam_post_ln'] / times['post_ln']:.3f} "
              f"(reference 510/450 ms = {REFERENCE_RATIO:.3f}, secondary source, 36 layers on the paper's hardware)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
