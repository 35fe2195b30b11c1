"""What every study shares: the command line, input batches, model construction, the loss,
and atomic writers for the CSV, the figure and the claims file.

A batch is a dict of long tensors in fairseq's conventions (docs/ARCHITECTURE.md):
  "src"  (B, S): source ids ending with eos, right-padded with pad = 1;
  "prev" (B, T): decoder input, eos followed by the target without its final eos;
  "tgt"  (B, T): target ids ending with eos, right-padded.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Callable, Iterable

import torch

from common.io import atomic_write
from common.tokens import EOS, PAD
from common.tokens import N_SPECIAL as FIRST_SYMBOL  # then symbols (fairseq dictionary)
from catalog.words import SCALES, VERDICTS  # noqa: F401 (the studies' --scale choices and verdict words)
SYNTHETIC_VOCAB = 10_000  # about IWSLT'14's joint BPE 10K dictionary


class StudyError(RuntimeError):
    """Bad input to a study (missing file, malformed record): the message says what and where."""


# ----------------------------------------------------------------------------- command line
def parser(description: str, *, data: bool = True, seeds: bool = True, runs: bool = False) -> argparse.ArgumentParser:
    """The options shared by every study: --scale, --out, --quick, and --seeds/--data/--runs where used.

    The workflow passes `--data` (the prepared dataset of the study's table, at every scale) and
    `--runs` (exactly the training runs the table lists as its study_runs)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--scale", choices=SCALES, default="tiny",
                   help="tiny | small | paper: number of seeds, batches and depths (widths stay the papers')")
    p.add_argument("--out", required=True, type=Path, help="output CSV; figure and claims go next to it")
    p.add_argument("--quick", action="store_true",
                   help="minimal sizes (a few seconds, for smoke tests); verdicts are then not meaningful")
    if seeds:
        p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the scale's)")
    if data:
        p.add_argument("--data", type=Path, default=None,
                       help="prepared translation data dir (tasks.translation.prepare); default: synthetic batch")
    if runs:
        p.add_argument("--runs", type=Path, nargs="*", default=None,
                       help="training run directories to read (their metrics.jsonl)")
    return p


def check_out(path: Path) -> Path:
    if path.suffix != ".csv":
        raise StudyError(f"--out must name a .csv file, got {path}")
    return path


def positive(name: str, value: int | None, default: int) -> int:
    v = default if value is None else value
    if v < 1:
        raise StudyError(f"{name} must be >= 1, got {v}")
    return v


# ----------------------------------------------------------------------------- batches
def synthetic_pairs(n: int, vocab: int = SYNTHETIC_VOCAB, seed: int = 0, min_len: int = 10, max_len: int = 40,
                    zipf_a: float = 1.0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """n deterministic sentence pairs (id tensors without eos) with realistic statistics.

    Token ids are Zipf-distributed over the vocabulary's symbols (p(rank r) ~ r^-a, as word
    frequencies are), lengths uniform in [min_len, max_len] (without eos); the target's length
    is the source's +-20%. Depends only on the arguments (own generator, not the global RNG).
    """
    if vocab <= FIRST_SYMBOL + 1 or n < 1 or not 1 <= min_len <= max_len:
        raise StudyError(f"bad synthetic batch request: vocab={vocab} pairs={n} lengths=[{min_len}, {max_len}]")
    g = torch.Generator().manual_seed(seed)
    ranks = torch.arange(1, vocab - FIRST_SYMBOL + 1, dtype=torch.float64)
    probs = ranks.pow(-zipf_a)
    src_len = torch.randint(min_len, max_len + 1, (n,), generator=g)
    jitter = 0.8 + 0.4 * torch.rand(n, generator=g)
    tgt_len = (src_len.double() * jitter).round().long().clamp(min_len, max_len)
    src = [torch.multinomial(probs, int(k), True, generator=g) + FIRST_SYMBOL for k in src_len]
    tgt = [torch.multinomial(probs, int(k), True, generator=g) + FIRST_SYMBOL for k in tgt_len]
    return src, tgt


def synthetic_batch(batch_size: int, vocab: int = SYNTHETIC_VOCAB, seed: int = 0,
                    min_len: int = 10, max_len: int = 40, zipf_a: float = 1.0) -> dict:
    """One batch of `synthetic_pairs` in fairseq layout."""
    return pairs_to_batch(*synthetic_pairs(batch_size, vocab, seed, min_len, max_len, zipf_a))


def bucketed_batches(src: list[torch.Tensor], tgt: list[torch.Tensor], batch_size: int) -> list[dict]:
    """Pairs sorted by length and cut into equal-size batches, as fairseq's length-bucketed
    batching does (little padding); the order of the pairs is otherwise kept."""
    order = sorted(range(len(src)), key=lambda i: (max(len(src[i]), len(tgt[i])), i))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [pairs_to_batch([src[i] for i in c], [tgt[i] for i in c]) for c in chunks]


def pairs_to_batch(src: list[torch.Tensor], tgt: list[torch.Tensor]) -> dict:
    """Sentence pairs (id tensors without eos) -> padded {"src", "prev", "tgt"} in fairseq layout."""
    if len(src) != len(tgt) or not src:
        raise StudyError(f"need as many targets as sources (>= 1), got {len(src)} and {len(tgt)}")
    eos = torch.tensor([EOS])
    s = [torch.cat([x.long(), eos]) for x in src]
    t = [torch.cat([y.long(), eos]) for y in tgt]
    S, T = max(len(x) for x in s), max(len(y) for y in t)
    out = {"src": torch.full((len(s), S), PAD), "prev": torch.full((len(t), T), PAD),
           "tgt": torch.full((len(t), T), PAD)}
    for i, (x, y) in enumerate(zip(s, t)):
        out["src"][i, :len(x)] = x
        out["tgt"][i, :len(y)] = y
        out["prev"][i, 0] = EOS
        out["prev"][i, 1:len(y)] = y[:-1]
    return out


def load_batches(data_dir: Path | None, n_batches: int, batch_size: int, seed: int,
                 vocab: int = SYNTHETIC_VOCAB, lengths: tuple[int, int] = (10, 40)) -> tuple[list[dict], int, str]:
    """(batches, vocabulary size, data label) for a study.

    With `data_dir`, the first n_batches * batch_size training pairs of the prepared data
    (deterministic, no shuffling); otherwise `synthetic_pairs` seeded by `seed`. Pairs are
    grouped into batches by length (`bucketed_batches`). The label goes into the CSV's
    `data` column. `lengths` = (min, max) tokens per sentence without eos: the synthetic
    lengths, and the cap on prepared pairs (longer ones are skipped).
    """
    n = n_batches * batch_size
    if data_dir is None:
        src, tgt = synthetic_pairs(n, vocab, seed=seed, min_len=lengths[0], max_len=lengths[1])
        label = f"synthetic_zipf_v{vocab}_len{lengths[0]}-{lengths[1]}"
    else:
        from studies.data import prepared_pairs

        src, tgt, vocab = prepared_pairs(Path(data_dir), n, max_len=lengths[1] + 1)
        label = f"prepared:{Path(data_dir).name}"
    return bucketed_batches(src, tgt, batch_size), vocab, label


# ----------------------------------------------------------------------------- models
def build_translation(size: str, encoder_scheme: str, decoder_scheme: str, layers: int | tuple[int, int],
                      vocab: int, seed: int, **overrides) -> torch.nn.Module:
    """A freshly initialised translation model for a measurement at init.

    Xavier init (Xiong's Thm 1 and fairseq 0.9), shared embeddings, dropout 0 (the
    measurements are of the deterministic network). `seed` seeds the global RNG first.
    """
    import models

    enc, dec = (layers, layers) if isinstance(layers, int) else layers
    torch.manual_seed(seed)
    kw = dict(encoder_scheme=encoder_scheme, decoder_scheme=decoder_scheme, src_vocab=vocab,
              tgt_vocab=vocab, share="all", encoder_layers=enc, decoder_layers=dec, dropout=0.0,
              init="xavier")
    kw.update(overrides)
    model = models.build_model("translation", size, **kw)
    return model.eval()


def ffn_linears(layer: torch.nn.Module) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """(fc1, fc2) = (W^1, W^2) of a layer's FFN, whether the sublayer wraps it or not."""
    ffn = layer.ffn
    inner = ffn if hasattr(ffn, "fc1") else getattr(ffn, "fn", None)
    if inner is None or not hasattr(inner, "fc1") or not hasattr(inner, "fc2"):
        raise StudyError(f"layer {type(layer).__name__} has no ffn.fc1/ffn.fc2 (docs/ARCHITECTURE.md)")
    return inner.fc1, inner.fc2


def token_loss(model: torch.nn.Module, batch: dict, label_smoothing: float = 0.1) -> torch.Tensor:
    """Label-smoothed cross entropy (fairseq's, docs/recipes.md §3.1), mean over non-pad target tokens."""
    from tasks.engine.losses import label_smoothed_nll

    logits = model(batch["src"], batch["prev"])
    loss, _ = label_smoothed_nll(logits, batch["tgt"], label_smoothing, ignore_index=PAD)
    return loss / batch["tgt"].ne(PAD).sum()


def math_attention():
    """Context manager: attention on the math SDPA path (double backward works; docs/methods.md §7)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


# ----------------------------------------------------------------------------- outputs
def _atomic(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp)`, then rename over `path`; the temp file keeps `path`'s extension."""
    atomic_write(path, write, suffix=Path(path).suffix)


def write_csv(df, path: Path) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    _atomic(path, lambda tmp: df.to_csv(tmp, index=False))


def save_figure(fig, out_csv: Path) -> list[Path]:
    """Save a matplotlib figure as <stem>.png and <stem>.pdf next to the CSV (atomically)."""
    import matplotlib.pyplot as plt

    paths = []
    for ext in ("png", "pdf"):
        p = Path(out_csv).with_suffix(f".{ext}")
        _atomic(p, lambda tmp, ext=ext: fig.savefig(tmp, format=ext, dpi=120, bbox_inches="tight"))
        paths.append(p)
    plt.close(fig)
    return paths


def claim(claim_id: str, verdict: str, figures: dict, detail: str) -> dict:
    """One verdict record; figures must be JSON numbers (or lists/dicts of them) or strings."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    return {"claim": claim_id, "verdict": verdict, "figures": _jsonable(figures), "detail": detail}


def verdict(ok: bool) -> str:
    return "holds" if ok else "fails"


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _jsonable(x.tolist())
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float):
        return round(x, 6) if math.isfinite(x) else None
    return x


def claims_path(out_csv: Path) -> Path:
    return Path(out_csv).with_name(Path(out_csv).stem + ".claims.json")


def write_claims(out_csv: Path, claims: Iterable[dict]) -> Path:
    """Write <stem>.claims.json (atomically) and return its path."""
    records = list(claims)
    for r in records:
        if set(r) != {"claim", "verdict", "figures", "detail"} or r["verdict"] not in VERDICTS:
            raise ValueError(f"malformed claim record {r!r}")
    path = claims_path(out_csv)
    _atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(records, indent=2) + "\n"))
    return path


def run_cli(main: Callable[[], None]) -> None:
    """Run a study's main(); bad input ends with a one-line message and exit status 2."""
    import sys

    try:
        main()
    except StudyError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def report(out_csv: Path, claims: list[dict], started: float) -> None:
    """Print one line per claim and the wall time (the workflow's log)."""
    for c in claims:
        print(f"{c['claim']}: {c['verdict']} -- {c['detail']}")
    print(f"wrote {out_csv} (+ .png, .pdf, .claims.json) in {time.time() - started:.1f} s")


def study_main(doc: str, run: Callable, figure: Callable, argv=None, *, seeds: bool = True) -> None:
    """The command line of an initialization study: measure, then write CSV, figure and claims."""
    args = parser(doc.splitlines()[0], seeds=seeds).parse_args(argv)
    out = check_out(args.out)
    started = time.time()
    df, cl = run(args.scale, args.seeds if seeds else None, args.data, args.quick)
    write_csv(df, out)
    figure(df, out)
    write_claims(out, cl)
    report(out, cl, started)


def setup(scale: str, settings: dict, quick_settings: dict, size: str, seeds: int | None, data,
          quick: bool) -> tuple[dict, int, dict, int, str]:
    """The shared start of a one-batch initialization study: (cfg, n_seeds, batch, vocab, data label)."""
    cfg = dict(settings[scale], size=size, vocab=SYNTHETIC_VOCAB)
    if quick:
        cfg.update(quick_settings)
    n_seeds = positive("--seeds", seeds, cfg["seeds"])
    (batch,), vocab, label = load_batches(data, 1, cfg["batch_size"], seed=0, vocab=cfg["vocab"])
    return cfg, n_seeds, batch, vocab, label
