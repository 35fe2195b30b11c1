"""The lexicon of the synthetic language family behind the tiny/small translation corpora.

Every concept (noun, verb, adjective, name) has a surface form in English, a German-like and
a French-like language. Forms are pseudo-words drawn from per-language syllable inventories
(umlauts and ß for German, accents for French), so BPE, Moses tokenisation and lowercasing see
realistic character statistics. Frequent concepts get short words (Zipf's law of
abbreviation); `Lexicon.sample_*` draws concepts with Zipfian probabilities p(rank) ~ 1/rank^1.1.

Morphology carried by the lexicon (agreement is done in `tasks.translation.language`):
- English: plural -s/-es/-ies, 3rd person -s, participle -ed, a/an by the initial sound;
  some nouns are two words ("tark bonel") and some adjectives are hyphenated ("well-known").
- German: capitalised nouns with gender m/f/n and a plural class, separable verbs
  ("kommt ... an"), participles ge-...-t, hyphenated compound nouns.
- French: nouns with gender m/f, plural -s/-x, prenominal or postnominal adjectives with
  -e/-s agreement, elision before a vowel (l', n', qu').
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate

INVENTORY = {  # (onsets, vowels, codas) per language
    "en": (["b", "c", "d", "f", "g", "h", "j", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br",
            "cl", "dr", "fl", "gr", "pl", "st", "tr", "sh", "ch", "th", "", ""],
           ["a", "e", "i", "o", "u", "ea", "oo", "ai", "ou"],
           ["", "", "n", "r", "t", "s", "l", "m", "ck", "nd", "st", "p"]),
    "de": (["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "w", "z", "sch", "pf",
            "kr", "br", "st", "gl", "fr", "", ""],
           ["a", "e", "i", "o", "u", "ä", "ö", "ü", "ei", "au", "ie", "eu"],
           ["", "", "n", "r", "t", "s", "l", "m", "ch", "ng", "tz", "ß", "rn", "nd", "lk"]),
    "fr": (["b", "c", "d", "f", "g", "j", "l", "m", "n", "p", "r", "s", "t", "v", "qu", "ch",
            "gn", "pr", "tr", "bl", "", ""],
           ["a", "e", "i", "o", "u", "é", "è", "ou", "eau", "ai", "oi", "an", "on"],
           ["", "", "", "t", "s", "x", "ll", "nt", "r", "c", "l"]),
}
# Words the realisers use as function words; no content word may take these forms.
RESERVED = {k: set(v.split()) for k, v in {
    "en": "the a an some and but because when not do does don't doesn't has have says with in for "
          "without from near is",
    "de": "der die das den dem des ein eine einen einem einer einige einigen und aber weil wenn "
          "nicht hat haben sagt mit in für ohne von bei im vom beim",
    "fr": "le la les l' un une des du au aux de et mais parce que qu' quand ne n' pas a ont dit "
          "avec dans pour sans près est-ce",
}.items()}
DE_PARTICLES = ["an", "auf", "aus", "ein", "mit", "vor", "zu", "ab"]
VOWELS = set("aeiouäöüéèàâêîôû")
ZIPF_EXPONENT = 1.1


@dataclass(frozen=True)
class Noun:
    en: str
    en_pl: str
    de: str
    de_pl: str
    de_gender: str  # "m" | "f" | "n"
    fr: str
    fr_pl: str
    fr_gender: str  # "m" | "f"


@dataclass(frozen=True)
class Verb:
    en: str
    en_3sg: str
    en_part: str
    de_stem: str
    de_particle: str  # "" or a separable prefix ("an" in "kommt ... an")
    fr_stem: str


@dataclass(frozen=True)
class Adj:
    en: str
    de_stem: str
    fr: str
    fr_prenominal: bool  # French adjectives mostly follow the noun; a few precede it


def en_plural(w: str) -> str:
    """English noun plural / verb 3rd person singular by spelling."""
    if w.endswith(("s", "sh", "ch", "x")):
        return w + "es"
    if len(w) > 1 and w.endswith("y") and w[-2] not in VOWELS:
        return w[:-1] + "ies"
    return w + "s"


def de_plural(w: str, gender: str) -> str:
    """German plural class by gender and ending (a simplified version of the real classes)."""
    if w[-1] in "aiou":
        return w + "s"
    if gender == "f":
        return w + ("n" if w.endswith(("e", "el", "er")) else "en")
    if w.endswith(("el", "er", "en")):
        return w
    return w + ("er" if gender == "n" and len(w) <= 5 else "e")


def fr_plural(w: str) -> str:
    if w.endswith(("s", "x", "z")):
        return w
    return w + ("x" if w.endswith("au") else "s")


def starts_with_vowel(w: str) -> bool:
    return w[:1].lower() in VOWELS


class Lexicon:
    """Concept inventories with Zipfian sampling; deterministic given (seed, sizes)."""

    def __init__(self, seed: int, n_nouns: int, n_verbs: int, n_adjs: int, n_names: int):
        rng = random.Random(f"lexicon-{seed}")
        self._used_sets: dict[str, set] = {}
        self.nouns = [self._noun(rng, i / n_nouns) for i in range(n_nouns)]
        self.verbs = [self._verb(rng, i / n_verbs) for i in range(n_verbs)]
        self.adjs = [self._adj(rng, i / n_adjs) for i in range(n_adjs)]
        self.names = [self._name(rng) for _ in range(n_names)]
        self._cum = {k: list(accumulate(1.0 / (r + 1) ** ZIPF_EXPONENT for r in range(n)))
                     for k, n in (("nouns", n_nouns), ("verbs", n_verbs), ("adjs", n_adjs),
                                  ("names", n_names))}

    def sample(self, rng: random.Random, kind: str):
        items = getattr(self, kind)
        return rng.choices(items, cum_weights=self._cum[kind])[0]

    # --- word shapes -----------------------------------------------------------------------
    def _form(self, rng: random.Random, lang: str, rank_frac: float, used: set) -> str:
        """A fresh pseudo-word; rarer concepts (larger rank_frac) get more syllables."""
        onsets, vowels, codas = INVENTORY[lang]
        base = 1 + int(rank_frac * 2.2)
        for attempt in range(200):
            n_syll = base + (rng.random() < 0.3) + attempt // 50
            w = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(n_syll)) + rng.choice(codas)
            if len(w) >= 2 and w not in used and w not in RESERVED[lang]:
                used.add(w)
                return w
        raise RuntimeError(f"could not draw a new {lang} word; the syllable inventory is too small")

    def _used(self, key: str) -> set:
        return self._used_sets.setdefault(key, set())

    def _noun(self, rng: random.Random, r: float) -> Noun:
        en = self._form(rng, "en", r, self._used("en"))
        if rng.random() < 0.06:  # a two-word English noun, one German/French word
            en = en + " " + self._form(rng, "en", r, self._used("en"))
        de = self._form(rng, "de", r, self._used("de")).capitalize()
        if rng.random() < 0.05:  # a hyphenated German compound (compound-split BLEU sees it)
            de = de + "-" + self._form(rng, "de", 0.0, self._used("de")).capitalize()
        gender = rng.choices("mfn", weights=(0.4, 0.35, 0.25))[0]
        fr = self._form(rng, "fr", r, self._used("fr"))
        head, _, tail = en.rpartition(" ")
        en_pl = (head + " " if head else "") + en_plural(tail)
        return Noun(en, en_pl, de, de_plural(de, gender), gender, fr, fr_plural(fr),
                    rng.choice("mf"))

    def _verb(self, rng: random.Random, r: float) -> Verb:
        en = self._form(rng, "en", r, self._used("en-verb"))
        en_part = en + ("d" if en.endswith("e") else "ed")
        de = self._form(rng, "de", r, self._used("de-verb"))
        particle = rng.choice(DE_PARTICLES) if rng.random() < 0.15 else ""
        fr = self._form(rng, "fr", r, self._used("fr-verb")).rstrip("eé") or "parl"
        return Verb(en, en_plural(en), en_part, de, particle, fr)

    def _adj(self, rng: random.Random, r: float) -> Adj:
        en = self._form(rng, "en", r, self._used("en-adj"))
        if rng.random() < 0.08:  # "well-known": Moses -a splits it, compound-split BLEU too
            en = en + "-" + self._form(rng, "en", 0.0, self._used("en-adj"))
        de = self._form(rng, "de", r, self._used("de-adj")).rstrip("e")
        fr = self._form(rng, "fr", r, self._used("fr-adj"))
        return Adj(en, de or "gut", fr, rng.random() < 0.15)

    def _name(self, rng: random.Random) -> str:
        # Names are shared by all three languages, capitalised, copied by a good model.
        return self._form(rng, "en", 0.3, self._used("name")).capitalize()
