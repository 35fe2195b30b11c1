"""Prepare WikiText for language modelling as fairseq-preprocess --only-source does.

    python -m tasks.lm.prepare --dataset wikitext103 --raw RAW --out DATA [--workers N] [--dict DICT]

RAW holds wiki.{train,valid,test}.tokens of the word-level release (or the extracted
`wikitext-103/` folder); `tasks.lm.make_tiny` writes the same files. Steps:
 1. check each file is the word-level release (tasks.lm.wikitext.check_tokenised: the raw
    `wiki.*.raw` release and untokenised text stop here);
 2. count the training tokens; the dictionary is built from those counts (or read from --dict,
    fairseq's --srcdict); the number of word types (`<unk>` included) is reported, and when the
    training stream has the published length of the release it must also have the published
    number of types (267,735 for WikiText-103, 33,278 for WikiText-2): a corrupted copy stops;
 3. binarise every split to DATA/{split}.bin (int32) + .idx; a token of any split that is not in
    the dictionary stops with its file and line (WikiText's vocabulary is closed);
 4. DATA/dict.txt and DATA/meta.json (counts, types, dictionary checksum, source files).
DATA is built in a sibling temp directory and renamed at the end, so an interrupted run leaves
no half-written DATA; bad input stops before anything is written.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path

from common.io import atomic_write_text
from common.procs import context
from tasks.lm.wikitext import (PUBLISHED, SPLITS, Dictionary, WikiTextError, check_tokenised, count_tokens,
                               count_types, encode_lines, find_split_files, read_lines, write_stream)

CHUNK_LINES = 20_000


def _chunks(path: Path):
    it = read_lines(path)
    first = 1
    while True:
        lines = list(islice(it, CHUNK_LINES))
        if not lines:
            return
        yield lines, first
        first += len(lines)


def _count_chunk(args) -> tuple[Counter, int]:
    lines, _ = args
    counter, n, _ = count_tokens(lines)
    return counter, n


_DICT: Dictionary | None = None


def _init_worker(dict_path: Path) -> None:
    global _DICT
    _DICT = Dictionary.load(dict_path)


def _encode_chunk(args):
    lines, first, path = args
    return encode_lines(lines, _DICT, path, first)


def bounded_map(pool, fn, jobs):
    """pool.map in order, with at most 2 x workers chunks in flight (Executor.map would read the
    whole file first: WikiText-103's 540 MB of text several times over in memory)."""
    if pool is None:
        yield from map(fn, jobs)
        return
    pending = deque()
    for job in jobs:
        pending.append(pool.submit(fn, job))
        if len(pending) >= 2 * workers_of(pool):
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def workers_of(pool) -> int:
    return getattr(pool, "_max_workers", 2)


def count_split(path: Path, pool) -> tuple[Counter, int, int]:
    """(token counter, lines, stream length incl. one eos per line) of one file."""
    total, n_lines = Counter(), 0
    for counter, n in bounded_map(pool, _count_chunk, _chunks(path)):
        total.update(counter)
        n_lines += n
    return total, n_lines, sum(total.values()) + n_lines


def check_published(dataset: str, train_tokens: int, types: int, path: Path) -> bool:
    """True when the training file is the published release (its stream length matches); then
    its number of types must match too. False for any other corpus (generated, subsampled)."""
    pub = PUBLISHED[dataset]
    if train_tokens != pub["tokens"]["train"]:
        return False
    if types != pub["types"]:
        raise WikiTextError(f"{path}: {train_tokens} tokens as in the {pub['dirname']} release but {types} word "
                            f"types instead of the published {pub['types']}; the file is corrupted or edited")
    return True


def prepare(dataset: str, raw: Path, out: Path, workers: int = 1, dict_path: Path | None = None) -> dict:
    files = find_split_files(raw, dataset)
    for path in files.values():
        check_tokenised(path)
    pool = ProcessPoolExecutor(workers, mp_context=context()) if workers > 1 else None
    try:
        stats = {s: count_split(files[s], pool) for s in SPLITS}
        train_counts = stats["train"][0]
        types = count_types(train_counts)
        dictionary = Dictionary.load(dict_path) if dict_path else Dictionary.from_counts(train_counts)
        published = check_published(dataset, stats["train"][2], types, files["train"])
        for s in SPLITS:  # closed vocabulary: every token of every split is in the dictionary
            missing = sorted(set(stats[s][0]) - set(dictionary.index))
            if missing:
                raise WikiTextError(f"{files[s]}: {len(missing)} token type(s) not in the "
                                    f"{'given ' + str(dict_path) if dict_path else 'training'} dictionary "
                                    f"(e.g. {missing[:5]}); the corpus and the dictionary do not match")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        atomic_write_text(tmp / "dict.txt", dictionary.text())
        splits = {}
        if pool:  # workers that encode with the dict.txt just written
            pool.shutdown()
            pool = ProcessPoolExecutor(workers, mp_context=context(), initializer=_init_worker,
                                       initargs=(tmp / "dict.txt",))
        for s in SPLITS:
            jobs = ((lines, first, str(files[s])) for lines, first in _chunks(files[s]))
            if pool:
                chunks = bounded_map(pool, _encode_chunk, jobs)
            else:
                chunks = (encode_lines(lines, dictionary, path, first) for lines, first, path in jobs)
            n_lines, n_tokens = write_stream(tmp / s, chunks)
            splits[s] = {"lines": n_lines, "tokens": n_tokens, "unk": int(stats[s][0].get("<unk>", 0)),
                         "source": str(files[s]), "bytes": files[s].stat().st_size}
    finally:
        if pool:
            pool.shutdown()
    meta = {"dataset": dataset, "format": "fairseq monolingual, sample-break-mode none", "dtype": "int32",
            "vocab_size": len(dictionary), "types": types, "published_release": published,
            "published_types": PUBLISHED[dataset]["types"], "dict_sha256": dictionary.sha256(),
            "dict_source": str(dict_path) if dict_path else "train counts", "splits": splits}
    atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return meta


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", required=True, choices=sorted(PUBLISHED))
    ap.add_argument("--raw", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--dict", type=Path, default=None, help="use this dict.txt (fairseq --srcdict)")
    args = ap.parse_args(argv)
    try:
        meta = prepare(args.dataset, args.raw, args.out, max(1, args.workers), args.dict)
    except WikiTextError as e:
        sys.exit(f"tasks.lm.prepare: {e}")
    sp = meta["splits"]
    print(f"{args.out}: dictionary {meta['vocab_size']} entries ({meta['types']} word types incl. <unk>; "
          f"published {meta['published_types']}{', this is the published release' if meta['published_release'] else ''}); "
          + ", ".join(f"{s} {sp[s]['tokens']} tokens / {sp[s]['lines']} lines" for s in SPLITS))


if __name__ == "__main__":
    main()
