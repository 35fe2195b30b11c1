"""Prepare a translation dataset from its original distribution files, faithful to the recipes.

    python -m tasks.translation.prepare --dataset iwslt14_de_en --raw RAW --out DATA
        [--variant admin|fairseq] [--bpe-merges N] [--valid-every K] [--icml17] [--workers W]

RAW holds `de-en.tgz` (IWSLT'14) or the extracted WMT'14 tree (see tasks.translation.raw);
`tasks.translation.make_tiny` writes both for tiny/small scale. The steps (docs/recipes.md §1, §4),
applied as the shell scripts apply them:
 1. text extraction (train.tags filters, <seg> lines), Moses tokenisation per language
    (WMT: normalize-punctuation, remove-non-printing-char and tokenizer -a);
 2. clean-corpus-n on the tokenised training text where the recipe says so (IWSLT 1-175
    ratio 1.5; admin En-De 1-80), lowercasing (IWSLT: train after cleaning, valid, test);
 3. valid = training lines whose 1-based number is a multiple of K (awk 'NR%K==0': K=23
    IWSLT, 100 En-De, 1333 En-Fr), train = the rest; or valid from newstest2013 (admin En-De);
 4. joint subword-nmt BPE learned on train src + tgt (10000 / 40000 / 32764 merges), applied
    to every split; WMT fairseq then cleans the BPE'd train and valid (1-250, ratio 1.5);
 5. a joined fairseq dictionary from train (TC's --joined-dictionary; the upstream fairseq
    IWSLT recipe uses two dictionaries -- we always join them so the same model config serves
    both variants) and binarised memory-mapped token arrays.
DATA then holds {train,valid,test}.{src,tgt} (BPE'd text), test.raw.{src,tgt} (the pristine
test-set text, the sacreBLEU reference: see `reference_lines`), code (BPE merges), dict.txt, {split}.{src}-{tgt}.{lang}.bin/.idx
and meta.json. It is built in a sibling temp directory and moved into place at the end, so an
interrupted run leaves no half-written DATA. Bad input stops before any output is written.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import re
import shutil
import sys
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

from subword_nmt.apply_bpe import BPE
from subword_nmt.learn_bpe import learn_bpe

from tasks.translation import moses
from tasks.translation.dataset import token_dtype, write_indexed
from tasks.translation.dictionary import Dictionary
from tasks.translation.raw import (IWSLT_EVAL_SETS, RawDataError, check_parallel, count_lines,
                                   input_path, iter_lines, read_iwslt_archive, seg_lines, sha256,
                                   train_tag_lines)
from tasks.translation.recipes import DATASETS, VARIANTS, Recipe, get_recipe

SPLITS = ("train", "valid", "test")


# ------------------------------------------------------------------------- line files
def read_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            yield line[:-1] if line.endswith("\n") else line


def write_lines(path: Path, lines: Iterable[str]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
            n += 1
    return n


def write_pairs(pairs: Iterable[tuple[str, str]], path_a: Path, path_b: Path) -> int:
    n = 0
    with open(path_a, "w", encoding="utf-8") as fa, open(path_b, "w", encoding="utf-8") as fb:
        for a, b in pairs:
            fa.write(a + "\n")
            fb.write(b + "\n")
            n += 1
    return n


# ------------------------------------------------------------- the sacreBLEU reference
_SEG = re.compile(r"<seg[^>]*>(.*?)</seg>")
# The SGML/XML entities (named and numeric) only: html.unescape would also decode HTML's
# legacy semicolon-less names ("&not", "&para"), which plain text with a bare "&" can contain.
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#[0-9]+|#[xX][0-9a-fA-F]+);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _decode_entity(m: re.Match) -> str:
    name = m.group(1)
    if name[0] != "#":
        return _NAMED[name]
    return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))


def reference_lines(text: str, what: str) -> list[str]:
    """The pristine text of the <seg> lines of an SGM/XML test file: the sacreBLEU reference.

    The recipes' shell scripts feed the tokenizer `sed "s/’/'/g"` of the raw <seg> text with
    its entities left encoded (raw.seg_lines; test.{lang} is built from that, as they do),
    but a sacreBLEU score is only comparable to published ones against the test set's own
    text: original characters (no ’ -> ' mapping), entities decoded (`AT&amp;T` -> `AT&T`),
    whitespace stripped and runs collapsed as sacreBLEU's SGM reader does
    (sacrebleu/dataset/base.py `_clean`). One line per line with "<seg id", as seg_lines,
    so the reference stays parallel to test.{lang}.
    """
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        if "<seg id" not in line:
            continue
        m = _SEG.search(line)
        if m is None:
            raise RawDataError(f"{what}: line {n} has '<seg id' but no <seg ...>...</seg> element: {line[:80]!r}")
        out.append(" ".join(_ENTITY.sub(_decode_entity, m.group(1)).split()))
    return out


# ----------------------------------------------------------------- step 1: raw -> tokens
def iwslt_tokens(r: Recipe, raw: Path, work: Path, out: Path, workers: int) -> dict[str, str]:
    """work/train.tags.tok.{l}, work/test.{l} (tokenised, lowercased) and out/test.raw.{l}."""
    archive = raw / "de-en.tgz"
    members = read_iwslt_archive(archive, r.src, r.tgt)
    pair = f"{r.src}-{r.tgt}"
    tags = {lang: train_tag_lines(members[f"{pair}/train.tags.{pair}.{lang}"]) for lang in (r.src, r.tgt)}
    check_parallel(len(tags[r.src]), len(tags[r.tgt]), f"{archive}:{pair}/train.tags.{pair}.{r.src}",
                   f"{pair}/train.tags.{pair}.{r.tgt} (after removing the metadata lines)")
    segs, refs = {}, {}
    for s in IWSLT_EVAL_SETS:
        names = {lang: f"{pair}/IWSLT14.{s}.{pair}.{lang}.xml" for lang in (r.src, r.tgt)}
        segs[s] = {lang: seg_lines(members[n]) for lang, n in names.items()}
        refs[s] = {lang: reference_lines(members[n], f"{archive}:{n}") for lang, n in names.items()}
        check_parallel(len(segs[s][r.src]), len(segs[s][r.tgt]), f"{archive}:{names[r.src]} <seg> lines",
                       f"{names[r.tgt]} <seg> lines")
    for lang in (r.src, r.tgt):
        write_lines(work / f"train.tags.tok.{lang}", moses.tokenize(tags[lang], lang, workers=workers))
        test = [line for s in IWSLT_EVAL_SETS for line in segs[s][lang]]
        write_lines(out / f"test.raw.{lang}", [line for s in IWSLT_EVAL_SETS for line in refs[s][lang]])
        toks = moses.tokenize(test, lang, workers=workers)
        write_lines(work / f"test.{lang}", (moses.lowercase(t) if r.lowercase else t for t in toks))
    return {"de-en.tgz": sha256(archive)}


def wmt_inputs(r: Recipe, raw: Path) -> dict[str, Path]:
    """Every file the recipe reads, checked to exist and to be line-parallel, before any work."""
    files: dict[str, Path] = {}
    parallel = list(r.corpora) + ([r.valid_file] if r.valid_file else [])
    for prefix in parallel:
        paths = [input_path(raw / f"{prefix}.{lang}", f"corpus {prefix} ({lang} side)") for lang in (r.src, r.tgt)]
        check_parallel(count_lines(paths[0]), count_lines(paths[1]), str(paths[0]), str(paths[1]))
        files.update({str(p.relative_to(raw)): p for p in paths})
    sgm = _sgm_paths(r, raw)
    segs = [seg_lines("\n".join(iter_lines(input_path(p, "newstest2014 SGML file")))) for p in sgm]
    check_parallel(len(segs[0]), len(segs[1]), f"{sgm[0]} <seg> lines", f"{sgm[1]} <seg> lines")
    files.update({str(p.relative_to(raw)): p for p in sgm})
    return files


def _sgm_paths(r: Recipe, raw: Path) -> list[Path]:
    return [raw / f"test-full/{r.test_sgm}-src.{r.src}.sgm", raw / f"test-full/{r.test_sgm}-ref.{r.tgt}.sgm"]


def wmt_tokens(r: Recipe, raw: Path, work: Path, out: Path, workers: int) -> dict[str, str]:
    """work/train.tags.tok.{l}, work/test.{l}, work/valid.{l} (admin En-De) and out/test.raw.{l}."""
    files = wmt_inputs(r, raw)
    for lang in (r.src, r.tgt):
        lines = chain.from_iterable(iter_lines(input_path(raw / f"{c}.{lang}", c)) for c in r.corpora)
        write_lines(work / f"train.tags.tok.{lang}",
                    moses.tokenize(lines, lang, r.aggressive, r.normalize, workers))
        if r.valid_file:
            lines = iter_lines(input_path(raw / f"{r.valid_file}.{lang}", r.valid_file))
            write_lines(work / f"valid.{lang}", moses.tokenize(lines, lang, r.aggressive, r.normalize, workers))
    for path, lang in zip(_sgm_paths(r, raw), (r.src, r.tgt)):
        text = "\n".join(iter_lines(path))
        test = seg_lines(text)
        write_lines(out / f"test.raw.{lang}", reference_lines(text, str(path)))
        # the scripts tokenise newstest2014 with -a but without normalize-punctuation
        write_lines(work / f"test.{lang}", moses.tokenize(test, lang, r.aggressive, False, workers))
    return {name: sha256(p) for name, p in sorted(files.items())}


# ------------------------------------------------------- step 2-3: clean, lowercase, split
def clean_lowercase_split(r: Recipe, work: Path, source: str) -> None:
    """work/train.tags.tok.{l} -> work/train.{l} (+ work/valid.{l} by the every-K rule)."""
    pairs: Iterator[tuple[str, str]] = zip(read_lines(work / f"train.tags.tok.{r.src}"),
                                           read_lines(work / f"train.tags.tok.{r.tgt}"))
    if r.clean_tok:
        pairs = moses.clean_pairs(pairs, *r.clean_tok)
    if r.lowercase:
        pairs = ((moses.lowercase(a), moses.lowercase(b)) for a, b in pairs)
    if not r.valid_every:
        n = write_pairs(pairs, work / f"train.{r.src}", work / f"train.{r.tgt}")
        _check_not_empty(n, "train", r, source)
        return
    k = r.valid_every
    with open(work / f"valid.{r.src}", "w", encoding="utf-8") as vs, \
            open(work / f"valid.{r.tgt}", "w", encoding="utf-8") as vt:
        def train_pairs():
            for nr, (a, b) in enumerate(pairs, 1):  # awk's NR is 1-based
                if nr % k == 0:
                    vs.write(a + "\n")
                    vt.write(b + "\n")
                else:
                    yield a, b
        n = write_pairs(train_pairs(), work / f"train.{r.src}", work / f"train.{r.tgt}")
    _check_not_empty(n, "train", r, source)


def _check_not_empty(n: int, split: str, r: Recipe, source: str) -> None:
    if n:
        return
    rules = f"cleaning {r.clean_tok or r.clean_bpe} (min, max tokens, ratio)" if (r.clean_tok or r.clean_bpe) else ""
    if split == "valid" and r.valid_every:
        rules += f"{', ' if rules else ''}valid = the training lines whose number is a multiple of {r.valid_every}"
    raise RawDataError(f"{source}: the {split} split is empty after {rules or 'preparation'} "
                       f"({r.name}); expected at least one sentence pair -- the corpus is too small "
                       "or not in the expected format (for tiny corpora pass a smaller --valid-every)")


# ------------------------------------------------------------------- step 4: joint BPE
def bpe_learn_apply(r: Recipe, work: Path, out: Path) -> int:
    """Learn joint BPE on train src+tgt (cat train.src train.tgt), apply to all splits."""
    joint = work / f"train.{r.src}-{r.tgt}"
    write_lines(joint, chain(read_lines(work / f"train.{r.src}"), read_lines(work / f"train.{r.tgt}")))
    log = io.StringIO()  # learn_bpe draws a tqdm bar on stderr; keep only its messages
    with open(joint, encoding="utf-8") as fin, open(out / "code", "w", encoding="utf-8") as fout, \
            contextlib.redirect_stderr(log):
        learn_bpe(fin, fout, r.bpe_merges)
    for line in log.getvalue().replace("\r", "\n").split("\n"):
        if line.strip() and "it/s]" not in line and "%|" not in line:
            print(f"learn_bpe: {line.strip()}", file=sys.stderr)
    with open(out / "code", encoding="utf-8") as f:
        bpe = BPE(f)
    for split in SPLITS:
        for lang in (r.src, r.tgt):
            write_lines(work / f"bpe.{split}.{lang}",
                        (bpe.process_line(line) for line in read_lines(work / f"{split}.{lang}")))
    return len(bpe.bpe_codes)


def finish_splits(r: Recipe, work: Path, out: Path, source: str) -> dict[str, int]:
    """out/{split}.{l}: BPE'd text, cleaned after BPE where the recipe says so."""
    counts = {}
    for split in SPLITS:
        a, b = (work / f"bpe.{split}.{lang}" for lang in (r.src, r.tgt))
        pairs: Iterable[tuple[str, str]] = zip(read_lines(a), read_lines(b))
        if r.clean_bpe and split != "test":
            pairs = moses.clean_pairs(pairs, *r.clean_bpe)
        counts[split] = write_pairs(pairs, out / f"{split}.{r.src}", out / f"{split}.{r.tgt}")
        _check_not_empty(counts[split], split, r, source)
    return counts


# ------------------------------------------------------------ step 5: dictionary, binarise
def binarise(r: Recipe, out: Path) -> tuple[Dictionary, dict]:
    d = Dictionary.build(chain(read_lines(out / f"train.{r.src}"), read_lines(out / f"train.{r.tgt}")))
    (out / "dict.txt").write_text(d.text(), encoding="utf-8")
    dtype, tokens = token_dtype(len(d)), {}
    for split in SPLITS:
        for lang in (r.src, r.tgt):
            prefix = out / f"{split}.{r.src}-{r.tgt}.{lang}"
            encoded = (d.encode_line(line) for line in read_lines(out / f"{split}.{lang}"))
            tokens[f"{split}.{lang}"] = int(write_indexed(prefix, encoded, dtype)[1])
    return d, {"dtype": dtype.name, "tokens": tokens}


def prepare(dataset: str, raw: Path, out: Path, variant: str = "admin", bpe_merges: int = 0,
            valid_every: int = 0, icml17: bool = False, workers: int = 0) -> dict:
    """Run the recipe; returns the meta.json content. See the module docstring."""
    r = get_recipe(dataset, variant, bpe_merges, valid_every, icml17)
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise RawDataError(f"{raw}: raw data directory not found; expected "
                           f"{'de-en.tgz' if r.kind == 'iwslt' else 'the extracted WMT tree'} in it")
    source = str(raw / "de-en.tgz") if r.kind == "iwslt" else str(raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    work = partial / "tmp"
    work.mkdir(parents=True)
    try:
        step1 = iwslt_tokens if r.kind == "iwslt" else wmt_tokens
        inputs = step1(r, raw, work, partial, workers)
        clean_lowercase_split(r, work, source)
        learned = bpe_learn_apply(r, work, partial)
        lines = finish_splits(r, work, partial, source)
        d, bin_meta = binarise(r, partial)
        meta = {"dataset": dataset, "variant": variant, "src": r.src, "tgt": r.tgt,
                "lowercased": r.lowercase, "bpe_merges": r.bpe_merges, "bpe_merges_learned": learned,
                "vocab_size": len(d), **bin_meta, "lines": lines, "inputs": inputs,
                "recipe": dataclasses.asdict(r)}
        (partial / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        shutil.rmtree(work)
        _swap_into_place(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return meta


def _swap_into_place(partial: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}" if out.exists() else None
    if old:
        os.replace(out, old)
    os.replace(partial, out)
    if old:
        shutil.rmtree(old)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, choices=DATASETS)
    ap.add_argument("--raw", required=True, type=Path, help="raw data directory (de-en.tgz or WMT tree)")
    ap.add_argument("--out", required=True, type=Path, help="prepared data directory to write")
    ap.add_argument("--variant", default="admin", choices=VARIANTS,
                    help="admin: Transformer-Clinic scripts; fairseq: upstream examples/translation")
    ap.add_argument("--bpe-merges", type=int, default=0, help="override the recipe's BPE merges")
    ap.add_argument("--valid-every", type=int, default=0, help="override K of the every-K-th-line valid rule")
    ap.add_argument("--icml17", action="store_true", help="En-De: news-commentary-v9 (fairseq --icml17)")
    ap.add_argument("--workers", type=int, default=0, help="tokeniser processes (0: all CPUs)")
    args = ap.parse_args(argv)
    try:
        meta = prepare(args.dataset, args.raw, args.out, args.variant, args.bpe_merges,
                       args.valid_every, args.icml17, args.workers)
    except (RawDataError, ValueError) as e:  # bad input: a message, exit 2 (as tasks.train)
        print(f"tasks.translation.prepare: error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"prepare: {args.dataset}/{args.variant} -> {args.out}: lines {meta['lines']}, "
          f"vocab {meta['vocab_size']}, BPE merges {meta['bpe_merges_learned']}/{meta['bpe_merges']}")


if __name__ == "__main__":
    main()
