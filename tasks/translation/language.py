"""Sentences of the synthetic language family, realised in English, German-like and French-like.

A sentence is sampled once as an abstract structure (clauses of subject, verb, object and
prepositional phrases) and realised in each language, so the two sides of a pair are exact
translations that differ the way real languages differ:
- word order: German is verb-second in main clauses, verb-final after "weil"/"wenn",
  verb-first in questions, puts participles, separable particles and "nicht" at the clause
  end; French puts most adjectives after the noun and wraps negation as "ne ... pas";
- agreement: German articles and adjective endings follow gender, number and case (nominative
  subject, accusative object, the case a preposition governs), French articles and
  adjectives follow gender and number, English verbs follow the subject's number;
- many-to-one words: "does not" / "doesn't" / "nicht", "in dem" -> "im", "de le" -> "du",
  separable verbs, two-word English nouns, elision (l', n', qu');
- typography: sentence-initial capitals, German noun capitals, quotes („ “, « »), French
  spacing before ":" "?" "!", thousands separators (1,200 / 1.200 / 1 200).
Sentence length varies through adjectives, prepositional phrases and clause chains.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

from tasks.translation.lexicon import Adj, Lexicon, Noun, Verb, starts_with_vowel

# key -> (English, German, case German governs, French)
PREPS = {"in": ("in", "in", "dat", "dans"), "with": ("with", "mit", "dat", "avec"),
         "for": ("for", "für", "acc", "pour"), "without": ("without", "ohne", "acc", "sans"),
         "from": ("from", "von", "dat", "de"), "near": ("near", "bei", "dat", "près de")}
# key -> (English, German, German verb-final?, French)
CONJS = {"and": ("and", "und", False, "et"), "but": ("but", "aber", False, "mais"),
         "because": ("because", "weil", True, "parce que"), "when": ("when", "wenn", True, "quand")}
DE_DEF = {"nom": {"m": "der", "f": "die", "n": "das", "p": "die"},
          "acc": {"m": "den", "f": "die", "n": "das", "p": "die"},
          "dat": {"m": "dem", "f": "der", "n": "dem", "p": "den"}}
DE_INDEF = {"nom": {"m": "ein", "f": "eine", "n": "ein", "p": "einige"},
            "acc": {"m": "einen", "f": "eine", "n": "ein", "p": "einige"},
            "dat": {"m": "einem", "f": "einer", "n": "einem", "p": "einigen"}}
DE_CONTRACT = {("in", "dem"): "im", ("von", "dem"): "vom", ("bei", "dem"): "beim"}
QUOTES = {"en": ('"', '"'), "de": ("„", "“"), "fr": ("«", "»")}


@dataclass(frozen=True)
class NP:
    noun: Optional[Noun] = None
    name: Optional[str] = None
    plural: bool = False
    det: str = "def"  # def | indef | num
    num: int = 0
    adjs: tuple[Adj, ...] = ()


@dataclass(frozen=True)
class Clause:
    subj: NP
    verb: Verb
    obj: Optional[NP]
    pps: tuple[tuple[str, NP], ...]
    perfect: bool
    neg: bool
    contract: bool  # English "doesn't" rather than "does not"


@dataclass(frozen=True)
class Sentence:
    main: Clause
    tail: tuple[tuple[str, Clause], ...]  # (conjunction key, clause), chained after the main clause
    mood: str  # decl | excl | question | quote
    speaker: str = ""  # for mood == "quote": "<speaker> says: "...""


# ---------------------------------------------------------------------------------- sampling
def sample_np(rng: random.Random, lex: Lexicon, allow_name: bool = True) -> NP:
    if allow_name and rng.random() < 0.12:
        return NP(name=lex.sample(rng, "names"))
    det = rng.choices(("def", "indef", "num"), weights=(0.55, 0.35, 0.10))[0]
    plural = det == "num" or rng.random() < 0.3
    num = (rng.randint(2, 12) if rng.random() < 0.8 else rng.randint(100, 9999)) if det == "num" else 0
    n_adj = rng.choices((0, 1, 2), weights=(0.6, 0.3, 0.1))[0]
    adjs = tuple(lex.sample(rng, "adjs") for _ in range(n_adj))
    return NP(noun=lex.sample(rng, "nouns"), plural=plural, det=det, num=num, adjs=adjs)


def sample_clause(rng: random.Random, lex: Lexicon) -> Clause:
    obj = sample_np(rng, lex) if rng.random() < 0.75 else None
    pps = []
    while rng.random() < 0.35 and len(pps) < 4:
        pps.append((rng.choice(list(PREPS)), sample_np(rng, lex, allow_name=False)))
    return Clause(sample_np(rng, lex), lex.sample(rng, "verbs"), obj, tuple(pps),
                  perfect=rng.random() < 0.3, neg=rng.random() < 0.15, contract=rng.random() < 0.5)


def sample_sentence(rng: random.Random, lex: Lexicon, n_tail: Optional[int] = None) -> Sentence:
    """One sentence; n_tail forces the number of chained clauses (long outliers)."""
    if n_tail is None:
        n_tail = rng.choices((0, 1, 2), weights=(0.68, 0.27, 0.05))[0]
    tail = tuple((rng.choice(list(CONJS)), sample_clause(rng, lex)) for _ in range(n_tail))
    mood = rng.choices(("decl", "excl", "question", "quote"), weights=(0.76, 0.04, 0.12, 0.08))[0]
    speaker = lex.sample(rng, "names") if mood == "quote" else ""
    return Sentence(sample_clause(rng, lex), tail, mood, speaker)


# ------------------------------------------------------------------------------ English
def _num(n: int, lang: str) -> list[str]:
    if n < 1000:
        return [str(n)]
    hi, lo = divmod(n, 1000)
    return {"en": [f"{hi},{lo:03d}"], "de": [f"{hi}.{lo:03d}"], "fr": [str(hi), f"{lo:03d}"]}[lang]


def np_en(np: NP) -> list[str]:
    if np.name:
        return [np.name]
    words = [a.en for a in np.adjs] + (np.noun.en_pl if np.plural else np.noun.en).split()
    if np.det == "def":
        det = ["the"]
    elif np.det == "num":
        det = _num(np.num, "en")
    else:
        det = ["some"] if np.plural else ["an" if starts_with_vowel(words[0]) else "a"]
    return det + words


def clause_en(c: Clause, question: bool = False) -> list[str]:
    sg = not c.subj.plural
    obj = np_en(c.obj) if c.obj else []
    pps = [w for p, np in c.pps for w in [PREPS[p][0]] + np_en(np)]
    neg = ["not"] if c.neg else []
    if c.perfect:
        aux, verb = ("has" if sg else "have"), c.verb.en_part
    elif question or c.neg:
        aux, verb = ("does" if sg else "do"), c.verb.en
    else:
        aux, verb = None, (c.verb.en_3sg if sg else c.verb.en)
    if question:
        return [aux] + np_en(c.subj) + neg + [verb] + obj + pps
    if aux and c.neg and c.contract and not c.perfect:
        return np_en(c.subj) + [aux + "n't"] + [verb] + obj + pps
    return np_en(c.subj) + ([aux] if aux else []) + neg + [verb] + obj + pps


# ------------------------------------------------------------------------------- German
def _de_adj_ending(det: str, case: str, g: str) -> str:
    """Weak endings after der-words, mixed after ein-words, strong in the plural without article."""
    if g == "p":
        return "en" if det == "def" or case == "dat" else "e"
    if case == "dat" or (case == "acc" and g == "m"):
        return "en"
    if det == "def":
        return "e"
    return {"m": "er", "f": "e", "n": "es"}[g]


def np_de(np: NP, case: str) -> list[str]:
    if np.name:
        return [np.name]
    g = "p" if np.plural else np.noun.de_gender
    noun = np.noun.de_pl if np.plural else np.noun.de
    if np.plural and case == "dat" and not noun.endswith(("n", "s")):
        noun += "n"  # dative plural -n
    det = {"def": [DE_DEF[case][g]], "indef": [DE_INDEF[case][g]], "num": _num(np.num, "de")}[np.det]
    ending = _de_adj_ending(np.det, case, g)
    return det + [a.de_stem + ending for a in np.adjs] + [noun]


def _de_finite(v: Verb, sg: bool) -> str:
    s = v.de_stem
    if sg:
        return s + ("et" if s.endswith(("t", "d")) else "t")
    return s + ("n" if s.endswith("e") else "en")


def _de_participle(v: Verb) -> str:
    s = v.de_stem
    return v.de_particle + "ge" + s + ("et" if s.endswith(("t", "d")) else "t")


def pp_de(prep: str, np: NP) -> list[str]:
    _, word, case, _ = PREPS[prep]
    inner = np_de(np, case)
    if (word, inner[0]) in DE_CONTRACT:
        return [DE_CONTRACT[(word, inner[0])]] + inner[1:]
    return [word] + inner


def clause_de(c: Clause, order: str = "v2") -> list[str]:
    """order: v2 (main clause), v1 (question), final (after weil/wenn)."""
    sg = not c.subj.plural
    fin = ("hat" if sg else "haben") if c.perfect else _de_finite(c.verb, sg)
    middle = (np_de(c.obj, "acc") if c.obj else []) + [w for p, np in c.pps for w in pp_de(p, np)]
    end = (["nicht"] if c.neg else []) + ([_de_participle(c.verb)] if c.perfect else [])
    particle = c.verb.de_particle if not c.perfect else ""
    subj = np_de(c.subj, "nom")
    if order == "final":
        return subj + middle + end + [particle + fin]
    end = end + ([particle] if particle else [])
    return ([fin] + subj if order == "v1" else subj + [fin]) + middle + end


# ------------------------------------------------------------------------------- French
def _fr_adj(a: Adj, g: str, plural: bool) -> str:
    w = a.fr
    if g == "f" and not w.endswith("e"):
        w += "e"
    if plural and not w.endswith(("s", "x")):
        w += "s"
    return w


def np_fr(np: NP) -> list[str]:
    if np.name:
        return [np.name]
    g = np.noun.fr_gender
    pre = [_fr_adj(a, g, np.plural) for a in np.adjs if a.fr_prenominal]
    post = [_fr_adj(a, g, np.plural) for a in np.adjs if not a.fr_prenominal]
    words = pre + [np.noun.fr_pl if np.plural else np.noun.fr] + post
    if np.det == "num":
        return _num(np.num, "fr") + words
    if np.det == "indef":
        return ["des" if np.plural else ("une" if g == "f" else "un")] + words
    if np.plural:
        return ["les"] + words
    if starts_with_vowel(words[0]):
        return ["l'"] + words
    return ["la" if g == "f" else "le"] + words


def pp_fr(prep: str, np: NP) -> list[str]:
    words = PREPS[prep][3].split()
    inner = np_fr(np)
    if words[-1] == "de" and inner[0] in ("le", "les"):
        return words[:-1] + [{"le": "du", "les": "des"}[inner[0]]] + inner[1:]
    return words + inner


def clause_fr(c: Clause) -> list[str]:
    sg = not c.subj.plural
    if c.perfect:
        fin, part = ("a" if sg else "ont"), [c.verb.fr_stem + "é"]
    else:
        fin, part = c.verb.fr_stem + ("e" if sg else "ent"), []
    verb = ([("n'" if starts_with_vowel(fin) else "ne"), fin, "pas"] if c.neg else [fin]) + part
    obj = np_fr(c.obj) if c.obj else []
    return np_fr(c.subj) + verb + obj + [w for p, np in c.pps for w in pp_fr(p, np)]


def _que(next_word: str) -> list[str]:
    return ["qu'" if starts_with_vowel(next_word) else "que"]


# ------------------------------------------------------------------------------ sentences
def _clauses(s: Sentence, lang: str) -> list[str]:
    if lang == "en":
        words = clause_en(s.main, question=s.mood == "question")
    elif lang == "de":
        words = clause_de(s.main, "v1" if s.mood == "question" else "v2")
    else:
        words = clause_fr(s.main)
        if s.mood == "question":
            words = ["est-ce"] + _que(words[0]) + words
    for conj, c in s.tail:
        en, de, final, fr = CONJS[conj]
        if lang == "en":
            words += ([","] if conj == "but" else []) + [en] + clause_en(c)
        elif lang == "de":
            words += ([","] if conj != "and" else []) + [de] + clause_de(c, "final" if final else "v2")
        else:
            inner = clause_fr(c)
            conj_words = fr.split()
            if conj_words[-1] == "que":
                conj_words = conj_words[:-1] + _que(inner[0])
            words += conj_words + inner
    return words


def realise(s: Sentence, lang: str) -> str:
    """The sentence as raw text in `lang` ("en", "de" or "fr"), capitalised and punctuated."""
    words = _clauses(s, lang)
    words[0] = words[0][:1].upper() + words[0][1:]
    end = {"decl": ".", "excl": "!", "question": "?", "quote": "."}[s.mood]
    words = words + [end]
    if s.mood == "quote":
        say = {"en": "says", "de": "sagt", "fr": "dit"}[lang]
        opening, closing = QUOTES[lang]
        words = [s.speaker, say, ":", opening] + words + [closing]
    return render(words, lang)


def realise_np(np: NP, lang: str) -> str:
    """A noun phrase as a title: nominative, first letter capitalised."""
    words = {"en": np_en, "de": lambda n: np_de(n, "nom"), "fr": np_fr}[lang](np)
    words[0] = words[0][:1].upper() + words[0][1:]
    return render(words, lang)


def render(words: list[str], lang: str) -> str:
    """Join tokens into untokenised text: punctuation and closing quotes attach to the left,
    opening quotes and elided words (l', qu') to the right; French keeps a space before
    ":", "?", "!" and inside « »."""
    attach_left = {".", ","} | ({"?", "!", ":", "“"} if lang != "fr" else set())
    out: list[str] = []
    glue, quote_open = True, False
    for w in words:
        if w == '"':  # the same character opens and closes: track which one this is
            quote_open = not quote_open
            left, right = not quote_open, quote_open
        else:
            left, right = w in attach_left, w == "„" or w.endswith("'")
        if not glue and not left:
            out.append(" ")
        out.append(w)
        glue = right
    return "".join(out)
