"""tasks.translation.prepare on generated raw data: the recipes' splits, cleaning, lowercasing,
BPE round trip, binarisation, and clear errors on bad input."""
import re
import shutil
import tarfile

import pytest
from sacremoses import MosesTokenizer

from tasks.translation import make_tiny
from tasks.translation.dataset import PairDataset
from tasks.translation.dictionary import Dictionary, remove_bpe
from tasks.translation.prepare import prepare
from tasks.translation.raw import RawDataError

EVAL_SETS = ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")


def lines(path):
    return path.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture(scope="module")
def iwslt(tmp_path_factory):
    root = tmp_path_factory.mktemp("iwslt")
    mp = pytest.MonkeyPatch()
    mp.setitem(make_tiny.IWSLT_SIZES, "tiny", (700, {s: 12 for s in EVAL_SETS}))
    make_tiny.make("iwslt14_de_en", root / "raw", "tiny", seed=3)
    mp.undo()
    meta = prepare("iwslt14_de_en", root / "raw", root / "data", "admin", bpe_merges=300, workers=1)
    return root, meta


def archive_text(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar if m.isfile()}


def independent_train(members):
    """The prepare-iwslt14.sh train steps written out again, independently of tasks.translation."""
    sides = {}
    for lang in ("de", "en"):
        out = []
        for line in members[f"de-en/train.tags.de-en.{lang}"].split("\n")[:-1]:
            if any(t in line for t in ("<url>", "<talkid>", "<keywords>")):
                continue
            out.append(re.sub(r"</?(title|description)>", "", line))
        tok = MosesTokenizer(lang=lang)
        sides[lang] = [tok.tokenize(x, return_str=True) for x in out]
    kept = []
    for de, en in zip(sides["de"], sides["en"]):
        a, b = de.split(), en.split()
        if 1 <= len(a) <= 175 and 1 <= len(b) <= 175 and len(a) / len(b) <= 1.5 and len(b) / len(a) <= 1.5:
            kept.append((" ".join(a).lower(), " ".join(b).lower()))
    return kept, len(sides["de"])


def test_iwslt_splits_follow_the_every_23rd_line_rule(iwslt):
    root, meta = iwslt
    kept, n_raw = independent_train(archive_text(root / "raw" / "de-en.tgz"))
    assert 0 < len(kept) < n_raw  # the generator's noisy pairs were cleaned away
    valid = [p for nr, p in enumerate(kept, 1) if nr % 23 == 0]
    train = [p for nr, p in enumerate(kept, 1) if nr % 23 != 0]
    data = root / "data"
    for i, lang in enumerate(("de", "en")):
        assert [remove_bpe(x) for x in lines(data / f"valid.{lang}")] == [p[i] for p in valid]
        assert [remove_bpe(x) for x in lines(data / f"train.{lang}")] == [p[i] for p in train]
    assert meta["lines"] == {"train": len(train), "valid": len(valid), "test": 5 * 12}


def test_iwslt_cleaning_bounds_lowercase_and_test_set(iwslt):
    root, _ = iwslt
    data = root / "data"
    for split in ("train", "valid"):
        for de, en in zip(lines(data / f"{split}.de"), lines(data / f"{split}.en")):
            a, b = remove_bpe(de).split(), remove_bpe(en).split()
            assert 1 <= len(a) <= 175 and 1 <= len(b) <= 175 and max(len(a) / len(b), len(b) / len(a)) <= 1.5
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            text = (data / f"{split}.{lang}").read_text()
            assert text == text.lower()
    members = archive_text(root / "raw" / "de-en.tgz")
    for lang in ("de", "en"):
        segs = [re.sub(r'\s*</seg>\s*', "", re.sub(r'<seg id="\d+">\s*', "", x))
                for s in EVAL_SETS for x in members[f"de-en/IWSLT14.{s}.de-en.{lang}.xml"].split("\n")
                if "<seg id" in x]
        assert lines(data / f"test.raw.{lang}") == segs  # dev2010 + tedx.dev2012 + tst2010..2012, in order
        tok = MosesTokenizer(lang=lang)
        # BPE round trip: removing "@@ " gives back the tokenised, lowercased text
        assert [remove_bpe(x) for x in lines(data / f"test.{lang}")] == \
            [tok.tokenize(s, return_str=True).lower() for s in segs]


def test_iwslt_binarised_arrays_match_text_and_dictionary(iwslt):
    root, meta = iwslt
    data = root / "data"
    d = Dictionary.load(data / "dict.txt")
    assert len(d) == meta["vocab_size"] and len(d) % 8 == 0
    counts = d.counts[4:]
    assert counts == sorted(counts, reverse=True)
    for split in ("train", "valid", "test"):
        ds = PairDataset(data, split)
        assert len(ds) == meta["lines"][split]
        src = lines(data / f"{split}.de")
        for i in range(0, len(ds), 17):
            if split == "train":  # every train symbol is in the dictionary: exact round trip
                assert d.string(ds.src[i]) == src[i]
            assert ds.src[i][-1] == 2 and ds.tgt[i][-1] == 2
    assert (data / "code").is_file() and meta["bpe_merges_learned"] <= 300
    assert len(meta["inputs"]["de-en.tgz"]) == 64


def write_archive(path, train_de, train_en, segs=("ein satz .", "a sentence .")):
    members = {"de-en/train.tags.de-en.de": "\n".join(train_de) + "\n",
               "de-en/train.tags.de-en.en": "\n".join(train_en) + "\n"}
    for s in EVAL_SETS:
        for lang, seg in zip(("de", "en"), segs):
            members[f"de-en/IWSLT14.{s}.de-en.{lang}.xml"] = f'<doc>\n<seg id="1"> {seg} </seg>\n</doc>\n'
    make_tiny.write_tgz(path / "de-en.tgz", members)


@pytest.mark.parametrize("case, message", [
    ("missing", r"de-en.tgz: IWSLT'14 archive not found"),
    ("truncated", r"de-en.tgz: cannot read the archive .* truncated"),
    ("wrong", r"not the IWSLT'14 de-en archive: members \['de-en/train.tags.de-en.de'"),
    ("mismatch", r"train.tags.de-en.de has 40 lines but de-en/train.tags.de-en.en .* has 39"),
    ("empty_train", r"the train split is empty after cleaning \(1, 175, 1.5\)"),
    ("empty_valid", r"the valid split is empty .* valid = the training lines whose number is a multiple of 23"),
])
def test_bad_iwslt_input_is_a_clear_error_and_writes_nothing(tmp_path, iwslt, case, message):
    raw = tmp_path / "raw"
    raw.mkdir()
    good = (iwslt[0] / "raw" / "de-en.tgz").read_bytes()
    if case == "truncated":
        (raw / "de-en.tgz").write_bytes(good[: len(good) // 2])
    elif case == "wrong":
        make_tiny.write_tgz(raw / "de-en.tgz", {"other/README": "not iwslt\n"})
    elif case == "mismatch":
        write_archive(raw, ["ein haus ."] * 40, ["a house ."] * 39)
    elif case == "empty_train":  # every pair breaks the 1.5 length ratio
        write_archive(raw, ["ja ."] * 40, ["yes , of course , yes ."] * 40)
    elif case == "empty_valid":  # 10 clean pairs: no 23rd line
        write_archive(raw, ["ein haus ."] * 10, ["a house ."] * 10)
    with pytest.raises(RawDataError, match=message):
        prepare("iwslt14_de_en", raw, tmp_path / "data", "admin", bpe_merges=50, workers=1)
    assert not (tmp_path / "data").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]  # no partial directory left behind


@pytest.fixture(scope="module")
def wmt_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("wmt")
    mp = pytest.MonkeyPatch()
    mp.setitem(make_tiny.WMT_SIZES, ("wmt14_en_de", "tiny"),
               {"europarl": 300, "commoncrawl": 250, "nc": 150, "dev": 20, "test": 25})
    make_tiny.make("wmt14_en_de", root / "raw", "tiny", seed=5)
    mp.undo()
    return root


def test_wmt_en_de_fairseq_and_admin_recipes(wmt_raw):
    raw = wmt_raw / "raw"
    fs = prepare("wmt14_en_de", raw, wmt_raw / "fs", "fairseq", bpe_merges=400, workers=1)
    n_corpus = 300 + 250 + 150
    assert fs["lines"]["valid"] <= n_corpus // 100 and fs["lines"]["test"] == 25
    assert fs["lines"]["train"] < n_corpus - n_corpus // 100  # cleaned after BPE (1-250, ratio 1.5)
    for split in ("train", "valid"):
        for en, de in zip(lines(wmt_raw / "fs" / f"{split}.en"), lines(wmt_raw / "fs" / f"{split}.de")):
            a, b = len(en.split()), len(de.split())  # BPE tokens
            assert 1 <= a <= 250 and 1 <= b <= 250 and max(a / b, b / a) <= 1.5
    sgm = (raw / "test-full" / "newstest2014-deen-src.en.sgm").read_text().split("\n")
    segs = [re.sub(r"</seg>", "", re.sub(r'<seg id="\d+">', "", x)) for x in sgm if "<seg id" in x]
    assert lines(wmt_raw / "fs" / "test.raw.en") == segs
    tok = MosesTokenizer(lang="en")  # newstest: tokenizer -a, no punctuation normalisation
    assert [remove_bpe(x) for x in lines(wmt_raw / "fs" / "test.en")] == \
        [tok.tokenize(s, return_str=True, aggressive_dash_splits=True) for s in segs]
    assert any(c.isupper() for c in (wmt_raw / "fs" / "train.de").read_text())  # WMT is cased
    assert " @-@ " in (wmt_raw / "fs" / "train.de").read_text()  # -a splits hyphens

    tc = prepare("wmt14_en_de", raw, wmt_raw / "tc", "admin", bpe_merges=400, workers=1)
    assert tc["lines"]["valid"] == 20  # newstest2013
    for x in lines(wmt_raw / "tc" / "train.en"):
        assert 1 <= len(remove_bpe(x).split()) <= 80  # cleaned 1-80 before BPE
    assert tc["recipe"]["bpe_merges"] == 400 and fs["recipe"]["valid_every"] == 100


def test_wmt_mismatched_line_counts_name_both_files(wmt_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(wmt_raw / "raw", raw)
    path = raw / "commoncrawl.de-en.de"
    path.write_text("\n".join(lines(path)[:-1]) + "\n")
    with pytest.raises(RawDataError, match=r"commoncrawl.de-en.en has 250 lines but .*commoncrawl.de-en.de has 249"):
        prepare("wmt14_en_de", raw, tmp_path / "data", "fairseq", workers=1)
    (raw / "training" / "europarl-v7.de-en.en").unlink()
    missing = r"europarl-v7.de-en.en: corpus training/europarl-v7.de-en \(en side\) not found"
    with pytest.raises(RawDataError, match=missing):
        prepare("wmt14_en_de", raw, tmp_path / "data", "fairseq", workers=1)
    assert not (tmp_path / "data").exists()
