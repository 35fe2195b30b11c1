"""The synthetic language pair: real archive layouts, determinism, and language-like structure."""
import random
import tarfile
from collections import Counter

import numpy as np
import pytest

from tasks.translation import make_tiny
from tasks.translation.language import Clause, NP, Sentence, clause_de, realise, sample_sentence
from tasks.translation.lexicon import Adj, Lexicon, Noun, Verb

EVAL_SETS = ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")


@pytest.fixture(scope="module")
def small_iwslt(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setitem(make_tiny.IWSLT_SIZES, "tiny", (1500, {s: 10 for s in EVAL_SETS}))
    paths = [make_tiny.make("iwslt14_de_en", tmp_path_factory.mktemp(f"r{i}"), "tiny", seed=4)[0]
             for i in range(2)]
    mp.undo()
    return paths


def test_iwslt_archive_has_the_real_layout_and_is_reproducible(small_iwslt):
    a, b = small_iwslt
    assert a.read_bytes() == b.read_bytes()  # same seed -> byte-identical archive
    with tarfile.open(a) as tar:
        names = set(tar.getnames())
        train_de = tar.extractfile("de-en/train.tags.de-en.de").read().decode().split("\n")
        xml = tar.extractfile("de-en/IWSLT14.TED.tst2011.de-en.en.xml").read().decode()
    expected = {f"de-en/train.tags.de-en.{l}" for l in ("de", "en")}
    expected |= {f"de-en/IWSLT14.{s}.de-en.{l}.xml" for s in EVAL_SETS for l in ("de", "en")}
    assert expected <= names
    for tag in ("<url>", "<keywords>", "<speaker>", "<talkid>", "<title>", "<description>", "<reviewer", "<translator"):
        assert any(line.startswith(tag) for line in train_de), tag
    assert '<seg id="1">' in xml and '<seg id="10">' in xml and "<refset" in xml


def test_wmt_tree_has_the_corpus_files(tmp_path, monkeypatch):
    monkeypatch.setitem(make_tiny.WMT_SIZES, ("wmt14_en_fr", "tiny"),
                        {"europarl": 20, "commoncrawl": 20, "un": 20, "nc": 20, "giga": 20, "dev": 5, "test": 5})
    make_tiny.make("wmt14_en_fr", tmp_path, "tiny", seed=1)
    for name in ("training/europarl-v7.fr-en.fr", "commoncrawl.fr-en.en", "un/undoc.2000.fr-en.fr",
                 "training/news-commentary-v9.fr-en.en", "giga-fren.release2.fixed.fr", "dev/newstest2013.fr",
                 "test-full/newstest2014-fren-src.en.sgm", "test-full/newstest2014-fren-ref.fr.sgm"):
        assert (tmp_path / name).is_file(), name
    sgm = (tmp_path / "test-full/newstest2014-fren-ref.fr.sgm").read_text()
    assert sgm.startswith('<refset setid="newstest2014"') and sgm.count("<seg id=") == 5


def test_vocabulary_is_zipfian_and_lengths_vary():
    lex = Lexicon(0, *make_tiny.LEXICON_SIZES["tiny"])
    rng = random.Random(0)
    sents = [realise(sample_sentence(rng, lex), "en") for _ in range(3000)]
    counts = Counter(w.strip('.,?!:"').lower() for s in sents for w in s.split())
    nouns = Counter({n.en: counts[n.en] for n in lex.nouns if " " not in n.en})
    freqs = np.array(sorted(nouns.values(), reverse=True)[:60], dtype=float)
    slope = np.polyfit(np.log(np.arange(1, 61)), np.log(freqs), 1)[0]
    assert -1.6 < slope < -0.6  # Zipf: frequency ~ rank^-1.1
    lengths = np.array([len(s.split()) for s in sents])
    assert lengths.std() > 3 and lengths.min() <= 4 and lengths.max() >= 30


def test_german_word_order_and_agreement():
    dog = Noun("dog", "dogs", "Hund", "Hunde", "m", "chien", "chiens", "m")
    cat = Noun("cat", "cats", "Katze", "Katzen", "f", "chat", "chats", "m")
    big = Adj("big", "groß", "grand", True)
    see = Verb("see", "sees", "seed", "seh", "", "voi")
    arrive = Verb("arrive", "arrives", "arrived", "komm", "an", "arriv")
    subj, obj = NP(noun=dog, adjs=(big,)), NP(noun=dog, det="indef", adjs=(big,))
    main = Clause(subj, see, obj, (("with", NP(noun=cat)),), perfect=False, neg=True, contract=False)
    sub = Clause(NP(noun=cat, plural=True), arrive, None, (), perfect=False, neg=False, contract=True)
    s = Sentence(main, (("because", sub),), "decl")
    assert realise(s, "de") == "Der große Hund seht einen großen Hund mit der Katze nicht, weil die Katzen ankommen."
    assert realise(s, "en") == "The big dog does not see a big dog with the cat because the cats arrive."
    assert realise(s, "fr") == "Le grand chien ne voie pas un grand chien avec le chat parce que les chats arrivent."
    assert clause_de(sub, "v2") == ["die", "Katzen", "kommen", "an"]  # separable particle at the end
    q = Sentence(Clause(NP(name="Anna"), see, NP(noun=cat, det="indef"), (), True, False, False), (), "question")
    assert realise(q, "de") == "Hat Anna eine Katze geseht?"  # only regular (weak) verbs
    assert realise(q, "en") == "Has Anna seed a cat?"
