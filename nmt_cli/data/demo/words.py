"""The word classes of the demo grammar, and how their forms are built from compact tables.

Each class holds an English and a Spanish side: nouns with their plurals and gender, adjectives with
their four agreeing forms and copula, verbs with their person forms, determiners with their forms by
gender and number. The table readers (:func:`noun_table`, :func:`adjective_table`, :func:`verb_table`,
:func:`determiner`) fill in regular forms, so the tables list only the irregular ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Noun:
    en: str
    en_pl: str
    es: str
    es_pl: str
    fem: bool
    cls: str  # H person, A animal, T thing, F food, P place


@dataclass(frozen=True)
class Adj:
    en: str
    es: tuple[str, str, str, str]  # masc sg, fem sg, masc pl, fem pl
    estar: bool  # copula: estar (states) instead of ser
    classes: str  # the noun classes it may modify


@dataclass(frozen=True)
class Verb:
    en: str  # base form, possibly phrasal ("look for")
    en3: str  # third person singular ("looks for")
    inf: str  # Spanish infinitive
    es: tuple[str, ...]  # 1sg 2sg 3sg 1pl 3pl
    objects: str  # noun classes of the object; "" = intransitive


@dataclass(frozen=True)
class Det:
    en_sg: str  # "" where the determiner has no singular
    en_pl: str  # "" where it has no plural
    es: tuple[str, str, str, str]  # masc sg, fem sg, masc pl, fem pl


@dataclass(frozen=True)
class Pronoun:
    en: str
    es: str
    person: int  # 0 1sg, 1 2sg, 2 3sg, 3 1pl, 4 3pl
    fem: bool = False


@dataclass(frozen=True)
class Word:
    """A lexical item with a fixed translation (adverbs, prepositions, conjunctions)."""

    en: str
    es: str
    classes: str = ""  # prepositions: the noun classes of their object


@dataclass(frozen=True)
class Modal:
    en: str
    en3: str
    es: tuple[str, ...]  # finite forms by person
    before: str = ""  # Spanish word before the finite form ("no")
    after: str = ""  # Spanish word after it ("que")


def _en_s(word: str) -> str:
    """English -s form: cats, boxes, cities, watches, tomatoes."""
    if word.endswith(("s", "sh", "ch", "x", "z", "o")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _es_pl(word: str) -> str:
    """Spanish plural: gatos, ciudades, actrices (accent-changing plurals are listed explicitly)."""
    if word[-1] in "aeiouéá":
        return word + "s"
    return word[:-1] + "ces" if word.endswith("z") else word + "es"


def noun_table(cls: str, spec: str) -> tuple[Noun, ...]:
    """Nouns of class ``cls``, one a line: ``EN[/EN_PL] ES[/ES_PL] m|f`` (plurals only when irregular)."""
    out = []
    for line in spec.strip().splitlines():
        en, es, gender = line.split()
        en_sg, _, en_pl = en.partition("/")
        es_sg, _, es_pl = es.partition("/")
        out.append(Noun(en_sg, en_pl or _en_s(en_sg), es_sg, es_pl or _es_pl(es_sg), gender == "f", cls))
    return tuple(out)


def adjective_table(spec: str) -> tuple[Adj, ...]:
    """Adjectives, one a line: ``EN ES CLASSES s|e`` (ES: masculine singular, or ``SG/PL`` when the form
    does not change with gender; CLASSES: the noun classes, ``*`` for all; copula ser or estar)."""
    out = []
    for line in spec.strip().splitlines():
        en, es, classes, copula = line.split()
        sg, _, pl = es.partition("/")
        if pl:
            forms = (sg, sg, pl, pl)
        elif sg.endswith("o"):
            forms = (sg, sg[:-1] + "a", sg + "s", sg[:-1] + "as")
        else:
            forms = (sg, sg, _es_pl(sg), _es_pl(sg))
        out.append(Adj(en, forms, copula == "e", "HATFP" if classes == "*" else classes))
    return tuple(out)


_ENDINGS = {"ar": "o as a amos an", "er": "o es e emos en", "ir": "o es e imos en"}


def verb_table(spec: str) -> tuple[Verb, ...]:
    """Verbs, one a line: ``EN | INFINITIVE | 1sg 2sg 3sg 1pl 3pl | OBJECT CLASSES`` (forms empty when
    regular, object classes empty for intransitive verbs)."""
    out = []
    for line in spec.strip().splitlines():
        en, inf, forms, objects = (part.strip() for part in line.split("|"))
        head, _, particle = en.partition(" ")
        en3 = f"{_en_s(head)} {particle}".strip()
        es = forms.split() or [inf[:-2] + end for end in _ENDINGS[inf[-2:]].split()]
        out.append(Verb(en, en3, inf, tuple(es), objects))
    return tuple(out)


def determiner(en_sg: str, en_pl: str, es: str) -> Det:
    """A determiner; ``es``: its four forms ``masc sg,fem sg,masc pl,fem pl`` (empty where it has none)."""
    ms, fs, mp, fp = es.split(",")
    return Det(en_sg, en_pl, (ms, fs, mp, fp))
