"""Dictionary, memory-mapped token arrays and collation (fairseq conventions)."""
import json

import numpy as np
import pytest

from tasks.translation.dataset import DataDirError, IndexedTokens, PairDataset, token_dtype, write_indexed
from tasks.translation.dictionary import EOS, PAD, UNK, Dictionary, DictionaryError


def test_dictionary_orders_by_count_then_alphabet_and_pads_to_eight(tmp_path):
    d = Dictionary.build(["b a c a", "c a b d", "e"])
    assert d.symbols[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert d.symbols[4:9] == ["a", "b", "c", "d", "e"]  # a:3, b:2, c:2 (tie -> a-z), d:1, e:1
    assert len(d) % 8 == 0 and d.symbols[-1].startswith("madeupword")
    path = tmp_path / "dict.txt"
    path.write_text(d.text())
    assert path.read_text().splitlines()[0] == "a 3"
    again = Dictionary.load(path)
    assert again.symbols == d.symbols and again.counts == d.counts
    ids = d.encode_line("a zz d")
    assert ids.tolist() == [4, UNK, 7, EOS]
    assert d.string(ids) == "a <unk> d" and d.string(ids, escape_unk=True) == "a <<unk>> d"
    path.write_text("a 3\nbroken\n")
    with pytest.raises(DictionaryError, match="dict.txt:2: expected 'symbol count'"):
        Dictionary.load(path)


def make_dir(tmp_path, src, tgt):
    dtype = token_dtype(100)
    for lang, sents in (("de", src), ("en", tgt)):
        write_indexed(tmp_path / f"train.de-en.{lang}", [np.asarray(s) for s in sents], dtype)
    (tmp_path / "meta.json").write_text(json.dumps({"src": "de", "tgt": "en", "dtype": dtype.name}))
    return PairDataset(tmp_path, "train")


def test_collate_pads_right_and_moves_eos_to_the_front(tmp_path):
    src = [[5, 6, 7, EOS], [8, EOS]]
    tgt = [[9, EOS], [10, 11, 12, EOS]]
    ds = make_dir(tmp_path, src, tgt)
    assert len(ds) == 2 and ds.lengths().tolist() == [4, 4]
    assert token_dtype(100) == np.uint16 and token_dtype(70000) == np.int32
    b = ds.collate([0, 1])
    assert b["net_input"]["src_tokens"].tolist() == [[5, 6, 7, EOS], [8, EOS, PAD, PAD]]
    assert b["target"].tolist() == [[9, EOS, PAD, PAD], [10, 11, 12, EOS]]
    assert b["net_input"]["prev_output_tokens"].tolist() == [[EOS, 9, PAD, PAD], [EOS, 10, 11, 12]]
    assert b["ntokens"] == 6 and b["nsentences"] == 2 and b["src_lengths"].tolist() == [4, 2]


def test_truncated_bin_is_a_clear_error(tmp_path):
    make_dir(tmp_path, [[5, EOS]] * 3, [[6, EOS]] * 3)
    path = tmp_path / "train.de-en.en.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DataDirError, match="truncated"):
        IndexedTokens(tmp_path / "train.de-en.en", np.dtype(np.uint16))
    with pytest.raises(DataDirError, match="meta.json: not found"):
        PairDataset(tmp_path / "nowhere", "train")
