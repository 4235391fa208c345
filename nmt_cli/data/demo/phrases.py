"""Phrases of the demo grammar and their realization: a structure in, a (source, target) pair out.

Nothing here is random: each structure has exactly one realization on each side, which is what makes
the target a function of the source. Realization reorders (adjectives after the noun), agrees (gender,
number, person), contracts (a el -> al, de el -> del) and marks person objects with the 'personal a'.
:func:`translate_phrase` and :func:`translate_clause` parse fixed English phrases back, for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from nmt_cli.data.demo.function_words import DETERMINERS, EN_BE, ESTAR, NUMBERS, PRONOUNS, SER
from nmt_cli.data.demo.lexicon import ADJECTIVES, NOUNS, VERBS
from nmt_cli.data.demo.words import Adj, Det, Modal, Noun, Pronoun, Verb, Word

Tokens = list[str]
Pair = tuple[Tokens, Tokens]


@dataclass(frozen=True)
class NP:
    det: Det
    noun: Noun
    plural: bool
    adjs: tuple[Adj, ...] = ()
    very: bool = False

    @property
    def person(self) -> int:
        return 4 if self.plural else 2

    @property
    def fem(self) -> bool:
        return self.noun.fem


Subject = NP | Pronoun


def _agree(adj: Adj, fem: bool, plural: bool) -> str:
    return adj.es[2 * plural + fem]


def _y(next_word: str) -> str:
    """Spanish 'and' is 'e' before an /i/ sound: rojo e inteligente."""
    return "e" if next_word.startswith(("i", "hi")) and not next_word.startswith("hie") else "y"


def realize_np(np: NP) -> Pair:
    """DET [very] ADJ [and ADJ] NOUN -> DET NOUN [muy] ADJ [y ADJ], with agreement."""
    fem, plural = np.noun.fem, np.plural
    en_mods: Tokens = ["very"] if np.very else []
    es_mods: Tokens = ["muy"] if np.very else []
    for i, adj in enumerate(np.adjs):
        form = _agree(adj, fem, plural)
        en_mods += ["and", adj.en] if i else [adj.en]
        es_mods += [_y(form), form] if i else [form]
    en_head = en_mods + [np.noun.en_pl if plural else np.noun.en]
    det_en = np.det.en_pl if plural else np.det.en_sg
    if det_en == "a" and en_head[0][0] in "aeiou":
        det_en = "an"
    es_noun = np.noun.es_pl if plural else np.noun.es
    return det_en.split() + en_head, np.det.es[2 * plural + fem].split() + [es_noun] + es_mods


def realize_pp(prep: Word, np: NP) -> Pair:
    """PREP NP, contracting a/de + el into al/del."""
    en, es = realize_np(np)
    es_prep = prep.es.split()
    if es_prep[-1] in _CONTRACTIONS and es[0] == "el":
        es_prep[-1:], es = [_CONTRACTIONS[es_prep[-1]]], es[1:]
    return prep.en.split() + en, es_prep + es


_CONTRACTIONS = {"a": "al", "de": "del"}
_PERSONAL_A = Word("", "a")


def _realize_object(np: NP) -> Pair:
    """Direct objects that are persons take the 'personal a': ve al hombre, llama a la reina."""
    return realize_pp(_PERSONAL_A, np) if np.noun.cls == "H" else realize_np(np)


def realize_subject(subj: Subject) -> Pair:
    if isinstance(subj, Pronoun):
        return [subj.en], [subj.es]
    return realize_np(subj)


def _words(word: Word | None) -> Pair:
    return (word.en.split(), word.es.split()) if word else ([], [])


@dataclass(frozen=True)
class Tail:
    """What follows the verb: [object] [prepositional phrase] [adverb], in the same order on both sides."""

    obj: NP | None = None
    pp: tuple[Word, NP] | None = None
    adv: Word | None = None

    def pair(self) -> Pair:
        en, es = ([], []) if self.obj is None else _realize_object(self.obj)
        if self.pp:
            pp_en, pp_es = realize_pp(*self.pp)
            en, es = en + pp_en, es + pp_es
        adv_en, adv_es = _words(self.adv)
        return en + adv_en, es + adv_es


@dataclass(frozen=True)
class VerbClause:
    """SUBJ [FREQ] VERB TAIL, or with do-negation (no VERB) or a modal (MODAL + infinitive)."""

    subj: Subject
    verb: Verb
    tail: Tail = Tail()
    freq: Word | None = None
    negated: bool = False
    modal: Modal | None = None

    def _verb_group(self) -> Pair:
        person, verb = self.subj.person, self.verb
        if self.modal:
            modal = self.modal
            es = [w for w in (modal.before, modal.es[person], modal.after) if w]
            return (modal.en3 if person == 2 else modal.en).split() + verb.en.split(), es + [verb.inf]
        if self.negated:
            return ["does" if person == 2 else "do", "not"] + verb.en.split(), ["no", verb.es[person]]
        freq_en, freq_es = _words(self.freq)
        return freq_en + (verb.en3 if person == 2 else verb.en).split(), freq_es + [verb.es[person]]

    def pair(self) -> Pair:
        parts = (realize_subject(self.subj), self._verb_group(), self.tail.pair())
        return [w for p in parts for w in p[0]], [w for p in parts for w in p[1]]


@dataclass(frozen=True)
class CopulaClause:
    """SUBJ is/are [not] [very] ADJ [PP] -> SUBJ [no] ser/estar [muy] ADJ(agreeing) [PP]."""

    subj: Subject
    adj: Adj
    negated: bool = False
    very: bool = False
    tail: Tail = Tail()

    def pair(self) -> Pair:
        en, es = realize_subject(self.subj)
        person = self.subj.person
        en = en + [EN_BE[person]] + ["not"] * self.negated + ["very"] * self.very + [self.adj.en]
        copula = (ESTAR if self.adj.estar else SER)[person]
        es = es + ["no"] * self.negated + [copula] + ["muy"] * self.very
        es.append(_agree(self.adj, self.subj.fem, person >= 3))
        tail_en, tail_es = self.tail.pair()
        return en + tail_en, es + tail_es


@dataclass(frozen=True)
class ThereClause:
    """there is/are NP TAIL -> hay NP TAIL."""

    np: NP
    tail: Tail = Tail()

    def pair(self) -> Pair:
        np_en, np_es = realize_np(self.np)
        tail_en, tail_es = self.tail.pair()
        return ["there", "are" if self.np.plural else "is"] + np_en + tail_en, ["hay"] + np_es + tail_es


@dataclass(frozen=True)
class SayClause:
    """SUBJ says/thinks/knows/believes that CLAUSE -> SUBJ dice/piensa/sabe/cree que CLAUSE."""

    subj: Subject
    verb: Verb
    inner: VerbClause | CopulaClause | ThereClause

    def pair(self) -> Pair:
        en, es = realize_subject(self.subj)
        person = self.subj.person
        inner_en, inner_es = self.inner.pair()
        verb_en = self.verb.en3 if person == 2 else self.verb.en
        return en + [verb_en, "that"] + inner_en, es + [self.verb.es[person], "que"] + inner_es


Clause = VerbClause | CopulaClause | ThereClause | SayClause


@dataclass(frozen=True)
class Question:
    """do/does SUBJ VERB TAIL ? -> ¿ VERB SUBJ TAIL ?"""

    subj: Subject
    verb: Verb
    tail: Tail = Tail()

    def pair(self) -> Pair:
        subj_en, subj_es = realize_subject(self.subj)
        tail_en, tail_es = self.tail.pair()
        do = "does" if self.subj.person == 2 else "do"
        en = [do] + subj_en + self.verb.en.split() + tail_en + ["?"]
        return en, ["¿", self.verb.es[self.subj.person]] + subj_es + tail_es + ["?"]


def realize_sentence(first: Clause, conj: Word | None = None, second: Clause | None = None) -> Pair:
    """CLAUSE [CONJ CLAUSE] ."""
    en, es = first.pair()
    if conj and second:
        en2, es2 = second.pair()
        conj_es = [_y(es2[0])] if conj.es == "y" else conj.es.split()
        en, es = en + conj.en.split() + en2, es + conj_es + es2
    return en + ["."], es + ["."]


# ------------------------------------------------------------------------- fixed phrases (for checks)
_NOUN_FORMS = {form: (noun, form == noun.en_pl) for noun in NOUNS for form in (noun.en, noun.en_pl)}
_ADJ_BY_EN = {adj.en: adj for adj in ADJECTIVES}
_VERB_BY_EN = {verb.en: verb for verb in VERBS}
_PRONOUN_BY_EN = {p.en: p for p in PRONOUNS}


def _parse_np(text: str) -> NP:
    """Inverse of :func:`realize_np` on the English side: 'the very big cars' -> NP."""
    words = text.split()
    noun, plural = _NOUN_FORMS[words[-1]]
    for det in DETERMINERS + NUMBERS:
        det_en = (det.en_pl if plural else det.en_sg).split()
        if det_en and words[: len(det_en)] in (det_en, ["an"] * (det_en == ["a"])):
            break
    else:
        raise ValueError(f"no determiner for {text!r}")
    mods = words[len(det_en) : -1]
    very = mods[:1] == ["very"]
    mods = mods[very:]
    adjs = tuple(_ADJ_BY_EN[w] for w in mods[::2])
    np = NP(det, noun, plural, adjs, very)
    if realize_np(np)[0] != words:
        raise ValueError(f"not a noun phrase of the grammar: {text!r}")
    return np


def translate_phrase(text: str) -> str:
    """Translate an English noun phrase of the grammar: 'the red cars' -> 'los coches rojos'."""
    return " ".join(realize_np(_parse_np(text))[1])


def translate_clause(subject: str, verb: str, obj: str | None = None) -> tuple[str, str]:
    """The pair for 'SUBJ VERB [OBJ] .'; ``subject``: a pronoun or noun phrase, ``verb``: its base form."""
    subj: Subject = _PRONOUN_BY_EN[subject] if subject in _PRONOUN_BY_EN else _parse_np(subject)
    clause = VerbClause(subj, _VERB_BY_EN[verb], Tail(_parse_np(obj) if obj else None))
    en, es = realize_sentence(clause)
    return " ".join(en), " ".join(es)
