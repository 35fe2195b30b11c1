"""WikiText data layer: generated corpus format, dictionary, binarised stream, clear errors."""
from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from common.tokens import EOS, PAD, UNK
from tasks.lm import make_tiny, prepare, wikitext
from tasks.lm.wikitext import Dictionary, WikiTextError


@pytest.fixture(scope="module")
def corpus():
    return make_tiny.generate("wikitext103", "tiny")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("lm")
    make_tiny.write_corpus(root / "raw", corpus)
    meta = prepare.prepare("wikitext103", root / "raw", root / "data")
    return root, meta


def test_generated_files_have_the_release_format(corpus):
    train = corpus["train"]
    assert all(line.startswith(" ") for line in train)  # every line of the release starts with a space
    headings = [line for line in train if re.fullmatch(r" = [^=].* = ", line)]
    sections = [line for line in train if re.fullmatch(r" = = [^=].* = = ", line)]
    assert headings and sections and train.count(" ") > len(headings)  # titles, sections, blank lines
    text = "\n".join(train)
    for marker in (" @-@ ", " @,@ ", " @.@ ", " <unk> "):
        assert marker in text
    counts = Counter(t for line in train for t in line.split())
    assert min(c for t, c in counts.items() if t != "<unk>") >= make_tiny.UNK_BELOW
    train_vocab = set(counts)
    for split in ("valid", "test"):  # closed vocabulary, as in WikiText
        assert {t for line in corpus[split] for t in line.split()} <= train_vocab


def test_types_and_dictionary_follow_fairseq(prepared, corpus):
    root, meta = prepared
    counts = Counter(t for line in corpus["train"] for t in line.split())
    # the code path that gives WikiText-103's 267,735: every distinct training token, <unk> included
    assert meta["types"] == len(counts) == wikitext.count_types(prepare.count_split(
        root / "raw" / "wiki.train.tokens", None)[0])
    d = Dictionary.load(root / "data" / "dict.txt")
    assert d.symbols[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and d.index["<unk>"] == UNK
    assert len(d) % 8 == 0 and len(d) == meta["vocab_size"]
    assert d.word_types() == meta["types"]
    real = [(s, c) for s, c in zip(d.symbols[4:], d.counts[4:]) if not s.startswith("madeupword")]
    assert real == sorted(real, key=lambda sc: (-sc[1], sc[0]))  # count desc, ties alphabetical
    assert dict(real) == {s: c for s, c in counts.items() if s != "<unk>"}
    # WikiText-103's 267,735 types (<unk> among them) give fairseq's 267,744-entry dictionary
    big = Counter({f"w{i}": 1 + i % 7 for i in range(267_734)})
    big["<unk>"] = 100
    assert wikitext.count_types(big) == 267_735
    d103 = Dictionary.from_counts(big)
    assert len(d103) == 267_744 and d103.word_types() == 267_735


def test_stream_round_trip(prepared, corpus):
    root, meta = prepared
    d, streams, _ = wikitext.open_prepared(root / "data")
    for split in wikitext.SPLITS:
        s = streams[split]
        lines = corpus[split]
        assert len(s) == sum(len(line.split()) + 1 for line in lines) == meta["splits"][split]["tokens"]
        assert s.tokens.dtype == np.int32 and len(s.offsets) == len(lines) + 1
        assert d.string(s.tokens) == "\n".join(" ".join(line.split()) for line in lines)
        for i in (0, 7, len(lines) - 1):
            assert s.line(i)[-1] == EOS and d.string(s.line(i)) == " ".join(lines[i].split())


def test_block_samples_cover_the_stream():
    tokens = np.arange(10, 33, dtype=np.int32)  # 23 tokens
    bounds = wikitext.block_bounds(len(tokens), 8)
    assert bounds.tolist() == [[0, 8], [8, 16], [16, 23]]
    src, tgt = wikitext.block_sample(tokens, 0, 8)
    assert src.tolist() == [EOS] + list(range(10, 17)) and tgt.tolist() == list(range(10, 18))
    src, tgt = wikitext.block_sample(tokens, 16, 23)
    assert src.tolist() == list(range(25, 32)) and tgt.tolist() == list(range(26, 33))


def test_workers_give_the_same_files(prepared, tmp_path):
    root, _ = prepared
    prepare.prepare("wikitext103", root / "raw", tmp_path / "data2", workers=2)
    for name in ("dict.txt", "train.bin", "train.idx", "test.bin"):
        assert (tmp_path / "data2" / name).read_bytes() == (root / "data" / name).read_bytes()


def _copy_raw(src, dst):
    dst.mkdir()
    for split in wikitext.SPLITS:
        (dst / f"wiki.{split}.tokens").write_bytes((src / f"wiki.{split}.tokens").read_bytes())


def test_missing_file_is_a_clear_error(prepared, tmp_path):
    root, _ = prepared
    _copy_raw(root / "raw", tmp_path / "raw")
    (tmp_path / "raw" / "wiki.valid.tokens").unlink()
    with pytest.raises(WikiTextError, match=r"missing wiki\.valid\.tokens"):
        prepare.prepare("wikitext103", tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_raw_release_is_refused(prepared, tmp_path):
    root, _ = prepared
    raw = tmp_path / "wikitext-103-raw"
    raw.mkdir()
    for split in wikitext.SPLITS:  # the raw release's names
        (raw / f"wiki.{split}.raw").write_text(" = Title = \n The well-known band, formed in 1990.\n")
    with pytest.raises(WikiTextError, match="raw WikiText release"):
        prepare.prepare("wikitext103", tmp_path, tmp_path / "out")
    # raw text under the .tokens names: detected by its glued punctuation
    _copy_raw(root / "raw", tmp_path / "renamed")
    raw_text = " The well-known band, formed in 1,990, toured Europe; critics praised it.\n" * 50
    (tmp_path / "renamed" / "wiki.test.tokens").write_text(raw_text)
    with pytest.raises(WikiTextError, match=r"wiki\.test\.tokens: looks like untokenised"):
        prepare.prepare("wikitext103", tmp_path / "renamed", tmp_path / "out")


def test_vocabulary_mismatch_is_a_clear_error(prepared, tmp_path):
    root, _ = prepared
    _copy_raw(root / "raw", tmp_path / "raw")
    with open(tmp_path / "raw" / "wiki.valid.tokens", "a") as f:
        f.write(" the zzyzxnotaword . \n")
    with pytest.raises(WikiTextError, match=r"wiki\.valid\.tokens: 1 token type\(s\) not in the training dictionary"):
        prepare.prepare("wikitext103", tmp_path / "raw", tmp_path / "out")
    # a given dictionary (fairseq --srcdict) that misses training words
    small = tmp_path / "dict.txt"
    small.write_text("the 10\n. 5\n")
    with pytest.raises(WikiTextError, match="not in the given"):
        prepare.prepare("wikitext103", root / "raw", tmp_path / "out", dict_path=small)
    # a dict.txt swapped after binarisation
    bad = tmp_path / "data"
    bad.mkdir()
    for f in (root / "data").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    lines = (bad / "dict.txt").read_text().splitlines()
    (bad / "dict.txt").write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")
    with pytest.raises(WikiTextError, match="does not match the dictionary the streams were binarised with"):
        wikitext.open_prepared(bad)


def test_published_release_must_have_the_published_types(prepared, monkeypatch, tmp_path):
    root, meta = prepared
    n_train = meta["splits"]["train"]["tokens"]
    # pretend the generated train file is the release: same length, but not 267,735 types
    monkeypatch.setitem(wikitext.PUBLISHED["wikitext103"]["tokens"], "train", n_train)
    with pytest.raises(WikiTextError, match=r"instead of the published 267735"):
        prepare.prepare("wikitext103", root / "raw", tmp_path / "out")
    monkeypatch.setitem(wikitext.PUBLISHED["wikitext103"], "types", meta["types"])
    assert prepare.prepare("wikitext103", root / "raw", tmp_path / "out")["published_release"] is True


def test_truncated_stream_is_a_clear_error(prepared, tmp_path):
    root, _ = prepared
    bin_path = tmp_path / "train.bin"
    bin_path.write_bytes((root / "data" / "train.bin").read_bytes()[:-8])
    (tmp_path / "train.idx").write_bytes((root / "data" / "train.idx").read_bytes())
    with pytest.raises(WikiTextError, match="offsets do not match"):
        wikitext.TokenStream(tmp_path / "train", 100000)
    meta = json.loads((root / "data" / "meta.json").read_text())
    with pytest.raises(WikiTextError, match="outside the dictionary"):
        wikitext.TokenStream(root / "data" / "train", meta["vocab_size"] - 10)
    assert PAD not in set(np.asarray(wikitext.TokenStream(root / "data" / "train", meta["vocab_size"]).tokens))


def test_cli_reports_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit, match="tasks.lm.prepare: .*not a directory"):
        prepare.main(["--dataset", "wikitext2", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
