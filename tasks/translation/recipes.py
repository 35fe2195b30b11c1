"""The data-preparation recipes, one frozen record per (dataset, variant) (docs/recipes.md §1, §4).

variant "fairseq" follows facebookresearch/fairseq examples/translation/prepare-*.sh;
variant "admin" follows LiyuanLucasLiu/Transformer-Clinic pre-process/*.sh (TC). Where TC
copies the fairseq script (IWSLT'14, WMT'14 En-Fr) the two records are equal except for the
name. All recipes write a joined dictionary (TC's --joined-dictionary; see prepare.py for why
the fairseq IWSLT variant does too).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

Clean = tuple[int, int, float]  # clean-corpus-n.perl MIN MAX and -ratio


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str  # the script it follows
    src: str
    tgt: str
    kind: str  # "iwslt": the de-en.tgz archive; "wmt": the extracted WMT tree
    corpora: tuple[str, ...] = ()  # WMT training corpora, path prefixes without ".{lang}"
    normalize: bool = False  # normalize-punctuation.perl + remove-non-printing-char.perl on train/valid
    aggressive: bool = False  # tokenizer.perl -a
    lowercase: bool = False
    clean_tok: Optional[Clean] = None  # on the tokenised training text, before BPE
    clean_bpe: Optional[Clean] = None  # on the BPE'd train and valid text
    valid_every: int = 0  # valid = lines NR % k == 0 of the training text (awk NR, 1-based)
    valid_file: str = ""  # or: valid from this plain-text file prefix (admin En-De: newstest2013)
    test_sgm: str = ""  # WMT: test-full/<this>-{src,ref}.<lang>.sgm
    bpe_merges: int = 10000


IWSLT = Recipe("iwslt14_de_en/fairseq", "fairseq examples/translation/prepare-iwslt14.sh", "de", "en",
               "iwslt", lowercase=True, clean_tok=(1, 175, 1.5), valid_every=23, bpe_merges=10000)
WMT_DE_CORPORA = ("training/europarl-v7.de-en", "commoncrawl.de-en", "training/news-commentary-v12.de-en")
WMT_DE = Recipe("wmt14_en_de/fairseq", "fairseq examples/translation/prepare-wmt14en2de.sh", "en", "de",
                "wmt", WMT_DE_CORPORA, normalize=True, aggressive=True, clean_bpe=(1, 250, 1.5),
                valid_every=100, test_sgm="newstest2014-deen", bpe_merges=40000)
WMT_FR = Recipe("wmt14_en_fr/fairseq", "fairseq examples/translation/prepare-wmt14en2fr.sh", "en", "fr",
                "wmt", ("training/europarl-v7.fr-en", "commoncrawl.fr-en", "un/undoc.2000.fr-en",
                        "training/news-commentary-v9.fr-en", "giga-fren.release2.fixed"),
                normalize=True, aggressive=True, clean_bpe=(1, 250, 1.5), valid_every=1333,
                test_sgm="newstest2014-fren", bpe_merges=40000)

RECIPES: dict[tuple[str, str], Recipe] = {
    ("iwslt14_de_en", "fairseq"): IWSLT,
    ("iwslt14_de_en", "admin"): replace(IWSLT, name="iwslt14_de_en/admin",
                                        source="Transformer-Clinic pre-process/iwslt14de-en.sh"),
    ("wmt14_en_de", "fairseq"): WMT_DE,
    # TC (adapted from macaron-net): clean 1-80 (default ratio 9) before BPE, newstest2013 as
    # valid, 32764 merges, no cleaning after BPE.
    ("wmt14_en_de", "admin"): replace(WMT_DE, name="wmt14_en_de/admin",
                                      source="Transformer-Clinic pre-process/wmt14en-de.sh",
                                      clean_tok=(1, 80, 9.0), clean_bpe=None, valid_every=0,
                                      valid_file="dev/newstest2013", bpe_merges=32764),
    ("wmt14_en_fr", "fairseq"): WMT_FR,
    ("wmt14_en_fr", "admin"): replace(WMT_FR, name="wmt14_en_fr/admin",
                                      source="Transformer-Clinic pre-process/wmt14en-fr.sh"),
}
DATASETS = sorted({d for d, _ in RECIPES})
VARIANTS = sorted({v for _, v in RECIPES})


def get_recipe(dataset: str, variant: str, bpe_merges: int = 0, valid_every: int = 0,
               icml17: bool = False) -> Recipe:
    """The recipe, with the command-line overrides applied (0 / False = the recipe's value).

    icml17: fairseq's --icml17 switch for En-De, news-commentary-v9 instead of v12 (pure WMT'14).
    """
    if (dataset, variant) not in RECIPES:
        raise ValueError(f"unknown dataset/variant {dataset!r}/{variant!r}; expected a dataset in "
                         f"{DATASETS} and a variant in {VARIANTS}")
    r = RECIPES[(dataset, variant)]
    if bpe_merges < 0 or valid_every < 0:
        raise ValueError("--bpe-merges and --valid-every must be positive")
    if bpe_merges:
        r = replace(r, bpe_merges=bpe_merges)
    if valid_every:
        if not r.valid_every:
            raise ValueError(f"{r.name} takes its valid split from {r.valid_file}; --valid-every does not apply")
        r = replace(r, valid_every=valid_every)
    if icml17:
        if dataset != "wmt14_en_de":
            raise ValueError("--icml17 applies to wmt14_en_de only")
        corpora = tuple(c.replace("news-commentary-v12", "news-commentary-v9") for c in r.corpora)
        r = replace(r, name=r.name + "+icml17", corpora=corpora)
    return r
