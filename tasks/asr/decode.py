"""CTC decoding: greedy (best path), and lexicon-free beam search when flashlight-text installs.

Greedy (Graves et al. 2006, best-path): argmax label per output frame, collapse runs of the
same label, drop blanks, then the word boundary "|" becomes a space (tasks.asr.vocab.decode).

Beam: torchaudio.models.decoder.ctc_decoder (flashlight's lexicon-free beam-search decoder,
through the `flashlight-text` package) without a lexicon and without a language model: the
beam sums the probabilities of the paths that collapse to the same prefix, so it can differ
from the best path, but without an LM the gain is usually small. `beam_available()` says
whether it can be built here; `decoder("beam", ...)` fails with a message naming the package
otherwise.
"""
from __future__ import annotations

import numpy as np
import torch

from tasks.asr import vocab


def greedy(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """Texts of a batch: log_probs (B, T, V), lengths (B,) valid frames."""
    best = log_probs.argmax(-1).cpu().numpy()
    out = []
    for b, n in enumerate(lengths.tolist()):
        path = best[b, :n]
        keep = np.ones(len(path), dtype=bool)
        keep[1:] = path[1:] != path[:-1]  # collapse repeats first, then drop blanks
        out.append(vocab.decode(path[keep]))
    return out


def beam_available() -> bool:
    try:
        from torchaudio.models.decoder import ctc_decoder  # noqa: F401
        import flashlight.lib.text  # noqa: F401
    except Exception:
        return False
    return True


class BeamDecoder:
    """Lexicon-free, LM-free CTC prefix beam search (flashlight via torchaudio)."""

    def __init__(self, beam_size: int):
        try:
            from torchaudio.models.decoder import ctc_decoder
        except Exception as e:
            raise RuntimeError(f"decode.method beam needs torchaudio's ctc_decoder and the flashlight-text "
                               f"package (pip install flashlight-text==0.0.7): {e}") from None
        tokens = list(vocab.LABELS)
        tokens[vocab.BLANK] = "-"
        self.dec = ctc_decoder(lexicon=None, tokens=tokens, lm=None, beam_size=beam_size,
                               blank_token="-", sil_token=vocab.SEP_SYMBOL, log_add=True)

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        hyps = self.dec(log_probs.float().cpu().contiguous(), lengths.cpu().to(torch.int32))
        return [vocab.decode(h[0].tokens.tolist()) for h in hyps]


def decoder(method: str, beam_size: int = 0):
    """A callable (log_probs, lengths) -> texts."""
    if method == "greedy":
        return greedy
    if method == "beam":
        return BeamDecoder(beam_size)
    raise ValueError(f"decode.method {method!r}: expected greedy or beam")
