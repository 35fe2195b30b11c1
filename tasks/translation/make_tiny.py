"""Generate a synthetic language pair in the original distribution formats of IWSLT'14 / WMT'14.

    python -m tasks.translation.make_tiny --dataset iwslt14_de_en --out RAW [--size tiny|small] [--seed N]

The text comes from `tasks.translation.language` (Zipfian vocabulary, word-order changes,
agreement, capitals and punctuation). The files are laid out exactly as the real downloads,
so `tasks.translation.prepare` runs the same code at tiny scale as on the real data:
- iwslt14_de_en: RAW/de-en.tgz with de-en/train.tags.de-en.{de,en} (talk metadata lines
  <url>, <keywords>, <speaker>, <talkid>, <title>, <description>, <reviewer>, <translator>
  around the transcript lines) and de-en/IWSLT14.TED{,X}.*.de-en.{de,en}.xml (<seg id="N">);
- wmt14_en_de: the extracted WMT tree: training/europarl-v7.de-en.*, commoncrawl.de-en.*,
  training/news-commentary-v{12,9}.de-en.*, dev/newstest2013.*, test-full/newstest2014-deen-*.sgm;
- wmt14_en_fr: training/europarl-v7.fr-en.*, commoncrawl.fr-en.*, un/undoc.2000.fr-en.*,
  training/news-commentary-v9.fr-en.*, giga-fren.release2.fixed.*, dev/newstest2013.*,
  test-full/newstest2014-fren-*.sgm.
A small share of pairs is deliberately noisy (empty side, doubled side, misaligned, very long)
so the length/ratio cleaning of the recipes has work to do, more so in commoncrawl.
Output is deterministic given (dataset, size, seed); every file is written atomically.
"""
from __future__ import annotations

import argparse
import gzip
import io
import random
import tarfile
from pathlib import Path

from tasks.config import atomic_write_bytes as write_bytes
from tasks.translation.language import realise, realise_np, sample_np, sample_sentence
from tasks.translation.lexicon import Lexicon

DATASETS = ("iwslt14_de_en", "wmt14_en_de", "wmt14_en_fr")
LEXICON_SIZES = {"tiny": (300, 60, 80, 40), "small": (6000, 1200, 1500, 600)}  # nouns verbs adjs names
IWSLT_SIZES = {  # transcript lines of train, and segments of each dev/test file
    "tiny": (4200, {"TED.dev2010": 80, "TEDX.dev2012": 60, "TED.tst2010": 90, "TED.tst2011": 70,
                    "TED.tst2012": 70}),
    "small": (157000, {"TED.dev2010": 887, "TEDX.dev2012": 1164, "TED.tst2010": 1565,
                       "TED.tst2011": 1433, "TED.tst2012": 1701}),
}
WMT_SIZES = {  # corpus -> lines; newstest2013 / newstest2014 sizes last
    ("wmt14_en_de", "tiny"): {"europarl": 2000, "commoncrawl": 1500, "nc": 1000, "dev": 300, "test": 300},
    ("wmt14_en_de", "small"): {"europarl": 80000, "commoncrawl": 60000, "nc": 40000, "dev": 3000, "test": 3003},
    ("wmt14_en_fr", "tiny"): {"europarl": 1500, "commoncrawl": 1000, "un": 800, "nc": 500, "giga": 1500,
                              "dev": 300, "test": 300},
    ("wmt14_en_fr", "small"): {"europarl": 50000, "commoncrawl": 40000, "un": 30000, "nc": 20000,
                               "giga": 60000, "dev": 3000, "test": 3003},
}
DESCRIPTION = {"en": "TED Talk Subtitles and Transcript: ", "de": "TED Talk Untertitel und Transkript: "}


# ---------------------------------------------------------------------------- text pairs
def make_pair(rng: random.Random, lex: Lexicon, langs: tuple[str, str], noise: float) -> tuple[str, str]:
    """One (langs[0], langs[1]) pair; with probability `noise` a broken pair of a real corpus."""
    s = sample_sentence(rng, lex)
    a, b = realise(s, langs[0]), realise(s, langs[1])
    if rng.random() >= noise:
        return a, b
    kind = rng.choice(("empty", "doubled", "misaligned", "long"))
    if kind == "empty":
        return (a, "") if rng.random() < 0.5 else ("", b)
    if kind == "doubled":
        return a, b + " " + b
    if kind == "misaligned":
        return a, realise(sample_sentence(rng, lex), langs[1])
    long = sample_sentence(rng, lex, n_tail=rng.randint(18, 30))
    return realise(long, langs[0]), realise(long, langs[1])


def make_pairs(rng, lex, langs, n: int, noise: float) -> list[tuple[str, str]]:
    return [make_pair(rng, lex, langs, noise) for _ in range(n)]


def write_lines(path: Path, lines: list[str]) -> None:
    write_bytes(path, "".join(line + "\n" for line in lines).encode("utf-8"))


def write_tgz(path: Path, members: dict[str, str]) -> None:
    """A gzip'd tar with fixed mtimes and owners, so the archive is byte-for-byte reproducible."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            dirs = sorted({m.split("/")[0] for m in members})
            for d in dirs:
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for name in sorted(members):
                data = members[name].encode("utf-8")
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------------------- IWSLT'14
def _talk_header(talkid: int, lang: str, speaker: str, keywords: str, title_np, desc) -> list[str]:
    slug = speaker.lower().replace(" ", "_") + f"_{talkid}"
    return [f"<url>http://www.ted.com/talks/{slug}.html</url>",
            f"<keywords>talks, {keywords}</keywords>",
            f"<speaker>{speaker}</speaker>",
            f"<talkid>{talkid}</talkid>",
            f"<title>{speaker}: {realise_np(title_np, lang)}</title>",
            f"<description>{DESCRIPTION[lang]}{realise(desc, lang)}</description>"]


def iwslt_train(rng, lex, n_lines: int) -> dict[str, list[str]]:
    """train.tags.de-en.{de,en}: talks of 20-120 transcript lines, metadata around each talk."""
    sides: dict[str, list[str]] = {"de": [], "en": []}
    written, talkid = 0, 1
    while written < n_lines:
        speaker = lex.sample(rng, "names") + " " + lex.sample(rng, "names")
        title_np, desc = sample_np(rng, lex, allow_name=False), sample_sentence(rng, lex)
        keywords = ", ".join(lex.sample(rng, "names").lower() for _ in range(4))
        n = min(rng.randint(20, 120), n_lines - written)
        pairs = make_pairs(rng, lex, ("de", "en"), n, noise=0.01)
        for i, lang in enumerate(("de", "en")):
            sides[lang] += _talk_header(talkid, lang, speaker, keywords, title_np, desc)
            sides[lang] += [p[i] for p in pairs]
            sides[lang] += [f'<reviewer href="http://www.ted.com/profiles/{1000 + talkid}">{speaker}</reviewer>',
                            f'<translator href="http://www.ted.com/profiles/{2000 + talkid}">{speaker}</translator>']
        written, talkid = written + n, talkid + 1
    return sides


def iwslt_xml(setname: str, lang: str, talks: list[tuple[int, list[str]]]) -> str:
    """A dev/test file: <mteval><srcset|refset><doc> with metadata and <seg id="N"> lines."""
    kind = 'srcset setid="{s}" srclang="german"' if lang == "de" else \
        'refset setid="{s}" srclang="german" trglang="english" refid="ref"'
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<mteval>", "<" + kind.format(s=setname) + ">"]
    seg = 1
    for talkid, lines in talks:
        out += [f'<doc docid="{talkid}" genre="lectures">',
                f"<url>http://www.ted.com/talks/talk_{talkid}.html</url>",
                f"<talkid>{talkid}</talkid>",
                f'<reviewer href="http://www.ted.com/profiles/{talkid}">Reviewer {talkid}</reviewer>',
                f'<translator href="http://www.ted.com/profiles/{talkid}">Translator {talkid}</translator>']
        for line in lines:
            out.append(f'<seg id="{seg}"> {line} </seg>')
            seg += 1
        out.append("</doc>")
    out += ["</" + kind.split()[0] + ">", "</mteval>"]
    return "\n".join(out) + "\n"


def make_iwslt(out: Path, size: str, seed: int) -> list[Path]:
    lex = Lexicon(seed, *LEXICON_SIZES[size])
    n_train, evals = IWSLT_SIZES[size]
    rng = random.Random(f"iwslt-train-{seed}")
    members = {f"de-en/train.tags.de-en.{k}": "\n".join(v) + "\n"
               for k, v in iwslt_train(rng, lex, n_train).items()}
    for setname, n in evals.items():
        erng = random.Random(f"iwslt-{setname}-{seed}")
        pairs = make_pairs(erng, lex, ("de", "en"), n, noise=0.0)
        cuts = list(range(0, n, 40)) + [n]
        for i, lang in enumerate(("de", "en")):
            talks = [(9000 + j, [p[i] for p in pairs[a:b]]) for j, (a, b) in enumerate(zip(cuts, cuts[1:]))]
            members[f"de-en/IWSLT14.{setname}.de-en.{lang}.xml"] = iwslt_xml(f"IWSLT14.{setname}", lang, talks)
    members["de-en/README"] = "Synthetic IWSLT'14 De-En in the layout of the 2014-01 release (normbench make_tiny).\n"
    path = out / "de-en.tgz"
    write_tgz(path, members)
    return [path]


# -------------------------------------------------------------------------------- WMT'14
def sgm(setname: str, lang: str, kind: str, lines: list[str], pair: str) -> str:
    """newstest SGML: <srcset>/<refset> with <doc> blocks of <seg id="N"> lines."""
    head = (f'<srcset setid="{setname}" srclang="any">' if kind == "src" else
            f'<refset setid="{setname}" srclang="any" trglang="{lang}">')
    out = [head]
    for d in range(0, len(lines), 25):
        out.append(f'<doc sysid="ref" docid="{pair}-doc{d // 25}" genre="news" origlang="en">')
        out += [f'<seg id="{d + i + 1}">{line}</seg>' for i, line in enumerate(lines[d:d + 25])]
        out.append("</doc>")
    out.append("</srcset>" if kind == "src" else "</refset>")
    return "\n".join(out) + "\n"


def wmt_corpora(dataset: str) -> dict[str, str]:
    """Size key -> path prefix (without the language suffix) of each training corpus."""
    if dataset == "wmt14_en_de":
        return {"europarl": "training/europarl-v7.de-en", "commoncrawl": "commoncrawl.de-en",
                "nc": "training/news-commentary-v12.de-en"}
    return {"europarl": "training/europarl-v7.fr-en", "commoncrawl": "commoncrawl.fr-en",
            "un": "un/undoc.2000.fr-en", "nc": "training/news-commentary-v9.fr-en",
            "giga": "giga-fren.release2.fixed"}


def make_wmt(out: Path, dataset: str, size: str, seed: int) -> list[Path]:
    tgt = dataset[-2:]
    langs, sizes = ("en", tgt), WMT_SIZES[(dataset, size)]
    lex = Lexicon(seed + (0 if tgt == "de" else 7), *LEXICON_SIZES[size])
    written = []
    for key, prefix in wmt_corpora(dataset).items():
        rng = random.Random(f"{dataset}-{key}-{seed}")
        pairs = make_pairs(rng, lex, langs, sizes[key], noise=0.05 if key == "commoncrawl" else 0.01)
        for i, lang in enumerate(langs):
            written.append(out / f"{prefix}.{lang}")
            write_lines(written[-1], [p[i] for p in pairs])
        if key == "nc" and tgt == "de":  # news-commentary v9 (WMT'14) is the older, smaller release
            for i, lang in enumerate(langs):
                written.append(out / f"training/news-commentary-v9.de-en.{lang}")
                write_lines(written[-1], [p[i] for p in pairs[: int(0.8 * len(pairs))]])
    dev = make_pairs(random.Random(f"{dataset}-dev-{seed}"), lex, langs, sizes["dev"], 0.0)
    test = make_pairs(random.Random(f"{dataset}-test-{seed}"), lex, langs, sizes["test"], 0.0)
    pair = "deen" if tgt == "de" else "fren"
    for i, lang in enumerate(langs):
        written.append(out / f"dev/newstest2013.{lang}")
        write_lines(written[-1], [p[i] for p in dev])
        for kind in ("src", "ref"):
            written.append(out / f"test-full/newstest2014-{pair}-{kind}.{lang}.sgm")
            write_bytes(written[-1], sgm("newstest2014", lang, kind, [p[i] for p in test], pair).encode())
    return written


def make(dataset: str, out: Path, size: str = "tiny", seed: int = 1) -> list[Path]:
    """Write the raw files of `dataset` under `out`; returns the paths written."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    if size not in LEXICON_SIZES:
        raise ValueError(f"unknown size {size!r}; expected tiny or small")
    out.mkdir(parents=True, exist_ok=True)
    if dataset == "iwslt14_de_en":
        return make_iwslt(out, size, seed)
    return make_wmt(out, dataset, size, seed)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, choices=DATASETS)
    ap.add_argument("--out", required=True, type=Path, help="raw data directory to write")
    ap.add_argument("--size", default="tiny", choices=tuple(LEXICON_SIZES))
    ap.add_argument("--seed", default=1, type=int)
    args = ap.parse_args(argv)
    paths = make(args.dataset, args.out, args.size, args.seed)
    print(f"make_tiny: wrote {len(paths)} file(s) for {args.dataset} ({args.size}) under {args.out}")


if __name__ == "__main__":
    main()
