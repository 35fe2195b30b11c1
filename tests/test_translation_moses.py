"""tasks.translation.moses equals the Moses perl scripts on the three cases where sacremoses
differs (outputs written down from the perl scripts' rules, mosesdecoder commit 34452895),
and prepare's sacreBLEU reference (test.raw.*) is the pristine test-set text."""
import pytest
from sacremoses import MosesPunctNormalizer, MosesTokenizer

from tasks.translation import make_tiny, moses
from tasks.translation.prepare import prepare, reference_lines
from tasks.translation.raw import RawDataError, seg_lines


def wmt_pipeline(line, lang):
    """normalize-punctuation | remove-non-printing-char | tokenizer -a (the WMT train steps)."""
    return next(moses.tokenize([line], lang, aggressive=True, normalize=True, workers=1))


def test_german_line_final_period_moves_outside_the_quote_as_perl_does():
    # perl sees `... alle."\n`; s/(\.+)\"(\s*[^<])/\"$1$2/ fires with the newline as [^<]
    assert moses.normalize_punctuation("„eine Reform für alle.“", "de") == '"eine Reform für alle".'
    assert wmt_pipeline("„eine Reform für alle.“", "de") == "&quot; eine Reform für alle &quot; ."
    # sacremoses alone leaves the period inside: the difference this layer fixes
    assert MosesPunctNormalizer(lang="de").normalize("„eine Reform für alle.“") == '"eine Reform für alle."'
    # English keeps its "quotation," style: the period goes inside, newline or not
    assert moses.normalize_punctuation('He said "yes".', "en") == 'He said "yes."'
    # a quote followed by `<` mid-line is left alone, as the rule says
    assert moses.normalize_punctuation('alle."<b>', "de") == 'alle."<b>'


def test_right_single_quote_outside_a_word_becomes_a_double_quote():
    assert moses.normalize_punctuation("banks’ losses", "en") == 'banks" losses'
    assert wmt_pipeline("banks’ losses", "en") == "banks &quot; losses"
    assert MosesTokenizer(lang="en").tokenize(MosesPunctNormalizer(lang="en").normalize("banks’ losses"),
                                              return_str=True) == "banks &apos; losses"
    # between two ASCII letters it is an apostrophe in both
    assert wmt_pipeline("it’s", "en") == "it &apos;s"
    assert moses.normalize_punctuation("l’Europe", "fr") == "l'Europe"
    assert moses.normalize_punctuation("é’a", "fr") == 'é"a'  # é is not an ASCII letter


@pytest.mark.parametrize("line, lang, expected, sacremoses_gives", [
    ("It starts at 9 a.m.", "en", "It starts at 9 a.m .", "It starts at 9 a.m."),
    ("Nr. 5.", "de", "Nr. 5 .", "Nr. 5."),
    ("Dr.", "en", "Dr .", "Dr."),
    ("See the U.S. policy.", "en", "See the U.S. policy .", "See the U.S. policy ."),
])
def test_the_period_of_the_last_word_is_always_split(line, lang, expected, sacremoses_gives):
    assert next(moses.tokenize([line], lang, workers=1)) == expected
    assert MosesTokenizer(lang=lang).tokenize(line, return_str=True) == sacremoses_gives


def test_only_the_last_word_is_forced_and_other_words_keep_the_prefix_rules():
    # `a.m.` mid-line stays whole (prefix with a period and a letter); `Mr.` is a prefix
    assert next(moses.tokenize(["At 9 a.m. Mr. Smith left."], "en", workers=1)) == \
        "At 9 a.m. Mr. Smith left ."
    # a last word that is only "." or ends in a multi-dot is not touched
    assert next(moses.tokenize(["Wait ..."], "en", workers=1)) == "Wait ..."
    assert next(moses.tokenize(["."], "en", workers=1)) == "."
    assert next(moses.tokenize([""], "en", workers=1)) == ""


def test_process_pool_gives_the_same_lines_as_in_process():
    lines = ["Nr. 5.", "banks’ losses", "„eine Reform für alle.“"] * 1500  # 3 chunks
    assert list(moses.tokenize(lines, "de", True, True, workers=2)) == \
        list(moses.tokenize(lines, "de", True, True, workers=1))


SGM = """<refset setid="newstest2014" srclang="any" trglang="en">
<doc sysid="ref" docid="a" origlang="en">
<seg id="1">AT&amp;T’s  results &quot;beat&quot; &lt;forecasts&gt; &#233;&#x20AC;</seg>
<p>not a segment</p>
<seg id="2"> banks’ losses </seg>
<seg id="3">R&D notice: &not; &para</seg>
</doc>
</refset>"""


def test_reference_lines_are_the_pristine_text():
    assert reference_lines(SGM, "x.sgm") == [
        'AT&T’s results "beat" <forecasts> é€', "banks’ losses", "R&D notice: &not; &para"]
    # the tokenizer input keeps the scripts' sed steps (’ -> ', entities as written)
    assert seg_lines(SGM)[1] == "banks' losses"
    assert len(seg_lines(SGM)) == len(reference_lines(SGM, "x.sgm"))
    with pytest.raises(RawDataError, match=r"x.sgm: line 2 has '<seg id' but no"):
        reference_lines('<doc>\n<seg id="1">open\n</doc>', "x.sgm")


def test_prepare_writes_the_pristine_reference_and_tokenises_the_scripts_text(tmp_path, monkeypatch):
    monkeypatch.setitem(make_tiny.WMT_SIZES, ("wmt14_en_de", "tiny"),
                        {"europarl": 60, "commoncrawl": 50, "nc": 40, "dev": 5, "test": 6})
    make_tiny.make("wmt14_en_de", tmp_path / "raw", "tiny", seed=2)
    for name, seg in (("newstest2014-deen-src.en.sgm", "AT&amp;T’s banks’ losses."),
                      ("newstest2014-deen-ref.de.sgm", "„Reform für AT&amp;T.“")):
        path = tmp_path / "raw" / "test-full" / name
        text = path.read_text(encoding="utf-8")
        head, sep, tail = text.partition('<seg id="1">')
        path.write_text(head + sep + seg + tail[tail.index("</seg>"):], encoding="utf-8")
    prepare("wmt14_en_de", tmp_path / "raw", tmp_path / "data", "fairseq", bpe_merges=100, workers=1)
    raw_en = (tmp_path / "data" / "test.raw.en").read_text(encoding="utf-8").split("\n")
    raw_de = (tmp_path / "data" / "test.raw.de").read_text(encoding="utf-8").split("\n")
    assert raw_en[0] == "AT&T’s banks’ losses." and raw_de[0] == "„Reform für AT&T.“"
    assert len(raw_en) == len(raw_de) == 7  # 6 lines and the final newline
    test_en = (tmp_path / "data" / "test.en").read_text(encoding="utf-8").split("\n")[0]
    # the scripts tokenise `sed "s/’/'/g"` of the entity-encoded text (no normalisation on test)
    assert test_en.replace("@@ ", "") == "AT &amp; amp ; T &apos;s banks &apos; losses ."
