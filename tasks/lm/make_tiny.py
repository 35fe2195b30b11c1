"""Generate a WikiText corpus in the word-level release's format, from a grammar a small LM can learn.

    python -m tasks.lm.make_tiny --dataset wikitext103 --size tiny --out RAW

writes RAW/wiki.{train,valid,test}.tokens exactly as the release lays them out: every line starts
with a space and ends with " \\n"; an article is ` = Title = `, blank lines, paragraphs and
` = = Section = = ` headings; hyphens and number separators are split off (` @-@ `, ` @,@ `,
` @.@ `); words seen fewer than 3 times in the training text become `<unk>` in every split, so
valid and test use the training vocabulary only (WikiText's closed vocabulary).

The text is not noise: sentences come from a small probabilistic grammar
  S  -> NP VP [, CONJ S] .        NP -> the [ADJ | ADJ @-@ ADJ] NOUN [PREP NP] | NAME | NUMBER NOUN
  VP -> VERB NP | was ADJ | VERB in YEAR
with Zipf-distributed words, and every article draws a topic that restricts its nouns and verbs
(so earlier text of the article predicts later text: the context window matters). A tiny
Transformer gets a perplexity far below the vocabulary size within a few hundred updates.
Sizes: tiny (~30k training tokens), small (~2M, WikiText-2-sized: the stand-in for small scale).
The generator is deterministic in (dataset, size).
"""
from __future__ import annotations

import argparse
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from common.io import atomic_write_text
from tasks.lm.wikitext import PUBLISHED, SPLITS

# articles per split; word-class sizes
SIZES = {
    "tiny": {"articles": {"train": 160, "valid": 12, "test": 12}, "nouns": 400, "verbs": 100, "adjs": 100,
             "names": 150, "topics": 8},
    "small": {"articles": {"train": 12000, "valid": 300, "test": 300}, "nouns": 6000, "verbs": 1200,
              "adjs": 1500, "names": 3000, "topics": 64},
}
UNK_BELOW = 3  # WikiText: words with fewer than 3 training occurrences are <unk>
DETS = ("the", "a", "this", "its")
PREPS = ("of", "in", "on", "with", "for", "from")
CONJ = ("and", "but", "while", "although")
SECTIONS = ("History", "Background", "Reception", "Design", "Legacy", "Career", "Early life", "Plot")
SMALL_NUMBERS = [str(v) for v in (2, 3, 1, 5, 4, 10, 6, 8, 7, 9, 12, 15, 20, 11, 30, 25)]
THOUSANDS = ["000", "500", "200", "100", "250", "300", "800"]
DIGITS = [str(d) for d in range(10)]
YEARS = [str(y) for y in (1998, 2001, 1945, 1967, 2010, 1914, 1989, 2005, 1871, 1999, 1936, 2012, 1960, 1975,
                          1920, 2008)]
ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch",
          "st", "tr", "sh", "pl", "gr")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
CODAS = ("", "n", "r", "s", "l", "t", "nd", "rk", "st")


def _words(rng: np.random.Generator, n: int, suffix: str, taken: set) -> list[str]:
    out = []
    while len(out) < n:
        k = int(rng.integers(1, 4))
        w = "".join(ONSETS[rng.integers(len(ONSETS))] + VOWELS[rng.integers(len(VOWELS))]
                    + CODAS[rng.integers(len(CODAS))] for _ in range(k)) + suffix
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


def _zipf(n: int, s: float = 1.1) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** s
    return p / p.sum()


class Grammar:
    def __init__(self, rng: np.random.Generator, size: dict):
        taken: set = set(DETS + PREPS + CONJ + ("was", "that"))
        self.rng = rng
        self._cdf: dict = {}  # (id(words), id(subset)) -> (cumulative Zipf weights, the lists kept alive)
        self.nouns = _words(rng, size["nouns"], "", taken)
        self.verbs = _words(rng, size["verbs"], "ed", taken)
        self.adjs = _words(rng, size["adjs"], "ic", taken)
        self.names = [w.capitalize() for w in _words(rng, size["names"], "", taken)]
        # a topic: a Zipf-ordered subset of nouns and verbs (an article talks about a few things)
        self.topics = []
        for _ in range(size["topics"]):
            nouns = rng.permutation(len(self.nouns))[: max(8, len(self.nouns) // 4)]
            verbs = rng.permutation(len(self.verbs))[: max(4, len(self.verbs) // 4)]
            self.topics.append((nouns, verbs))

    def pick(self, words: list[str], subset: np.ndarray | None = None) -> str:
        """A Zipf-distributed draw from `words` (or from words[subset], in the subset's order)."""
        key = (id(words), id(subset))
        if key not in self._cdf:  # inverse-CDF sampling: one uniform draw per word
            n = len(subset) if subset is not None else len(words)
            self._cdf[key] = (np.cumsum(_zipf(n)), (words, subset))
        cdf, _ = self._cdf[key]
        k = min(int(np.searchsorted(cdf, self.rng.random(), side="right")), len(cdf) - 1)
        return words[int(subset[k])] if subset is not None else words[k]

    def number(self) -> list[str]:
        """A number as the release writes it: "1 @,@ 500", "3 @.@ 5" or "12" (from a few values,
        Zipf-distributed, so most numbers survive the <unk> threshold as in the real text)."""
        r = self.rng.random()
        small = self.pick(SMALL_NUMBERS)
        if r < 0.3:
            return [small, "@,@", self.pick(THOUSANDS)]
        if r < 0.5:
            return [small, "@.@", self.pick(DIGITS)]
        return [small]

    def year(self) -> str:
        return self.pick(YEARS)

    def np_(self, topic, depth: int = 0) -> list[str]:
        r = self.rng.random()
        if r < 0.2:
            return [self.pick(self.names)]
        if r < 0.3:
            return self.number() + [self.pick(self.nouns, topic[0])]
        out = [DETS[int(self.rng.choice(4, p=[0.6, 0.2, 0.1, 0.1]))]]
        if self.rng.random() < 0.35:
            out.append(self.pick(self.adjs))
            if self.rng.random() < 0.25:
                out += ["@-@", self.pick(self.adjs)]
        out.append(self.pick(self.nouns, topic[0]))
        if depth < 2 and self.rng.random() < 0.3:
            out += [PREPS[int(self.rng.integers(len(PREPS)))]] + self.np_(topic, depth + 1)
        return out

    def vp(self, topic) -> list[str]:
        r = self.rng.random()
        if r < 0.2:
            return ["was", self.pick(self.adjs)]
        if r < 0.35:
            return [self.pick(self.verbs, topic[1]), "in", self.year()]
        return [self.pick(self.verbs, topic[1])] + self.np_(topic)

    def sentence(self, topic, depth: int = 0) -> list[str]:
        out = self.np_(topic) + self.vp(topic)
        if depth == 0 and self.rng.random() < 0.25:
            out += [",", CONJ[int(self.rng.integers(len(CONJ)))]] + self.sentence(topic, 1)[:-1]
        if self.rng.random() < 0.1:
            out += ["(", self.pick(self.names), ")"]
        return out + ["."]

    def article(self) -> list[str]:
        """Lines of one article, each already in the release's " ... " form."""
        topic = self.topics[int(self.rng.integers(len(self.topics)))]
        title = [self.pick(self.names), self.pick(self.nouns, topic[0]).capitalize()]
        lines = [" ", " = " + " ".join(title) + " = ", " "]
        n_sections = int(self.rng.integers(1, 4))
        for k in range(n_sections):
            if k > 0:
                head = SECTIONS[int(self.rng.integers(len(SECTIONS)))]
                lines += [" = = " + head + " = = ", " "]
            for _ in range(int(self.rng.integers(1, 4))):
                toks = []
                for _ in range(int(self.rng.integers(2, 6))):
                    toks += self.sentence(topic)
                lines += [" " + " ".join(toks) + " ", " "]
        return lines


def generate(dataset: str, size: str) -> dict[str, list[str]]:
    """{split: lines} of the generated corpus, rare words already replaced by <unk>."""
    if dataset not in PUBLISHED:
        raise ValueError(f"--dataset: unknown WikiText dataset {dataset!r}; expected one of {sorted(PUBLISHED)}")
    if size not in SIZES:
        raise ValueError(f"--size: unknown size {size!r}; expected one of {sorted(SIZES)}")
    rng = np.random.default_rng(zlib.crc32(f"{dataset}/{size}".encode()))
    grammar = Grammar(rng, SIZES[size])
    text = {s: [line for _ in range(SIZES[size]["articles"][s]) for line in grammar.article()] for s in SPLITS}
    counts = Counter(t for line in text["train"] for t in line.split())
    vocab = {w for w, c in counts.items() if c >= UNK_BELOW}

    def unk(line: str) -> str:  # split on " " keeps the release's leading/trailing spaces
        return " ".join(t if (t == "" or t in vocab) else "<unk>" for t in line.split(" "))

    return {s: [unk(line) for line in lines] for s, lines in text.items()}


def write_corpus(out: Path, corpus: dict[str, list[str]]) -> None:
    for split, lines in corpus.items():
        atomic_write_text(Path(out) / f"wiki.{split}.tokens", "".join(line + "\n" for line in lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", required=True, choices=sorted(PUBLISHED))
    ap.add_argument("--size", default="tiny", choices=sorted(SIZES))
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    corpus = generate(args.dataset, args.size)
    write_corpus(args.out, corpus)
    n = {s: sum(len(line.split()) + 1 for line in lines) for s, lines in corpus.items()}
    types = len({t for line in corpus["train"] for t in line.split()})
    print(f"wrote {args.out}/wiki.{{train,valid,test}}.tokens: {n} tokens (with one eos per line), "
          f"{types} types incl. <unk>")


if __name__ == "__main__":
    main()
