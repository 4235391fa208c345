"""The closed word classes of the demo grammar: pronouns, copulas, modals, determiners, prepositions,
adverbs and conjunctions. As in the lexicon, the order of each table is part of the corpus.
"""

from __future__ import annotations

from nmt_cli.data.demo.words import Modal, Pronoun, Word, determiner

SER = ("soy", "eres", "es", "somos", "son")
ESTAR = ("estoy", "estás", "está", "estamos", "están")
EN_BE = ("am", "are", "is", "are", "are")

MODALS = (
    Modal("can", "can", ("puedo", "puedes", "puede", "podemos", "pueden")),
    Modal("cannot", "cannot", ("puedo", "puedes", "puede", "podemos", "pueden"), before="no"),
    Modal("must", "must", ("tengo", "tienes", "tiene", "tenemos", "tienen"), after="que"),
    Modal("want to", "wants to", ("quiero", "quieres", "quiere", "queremos", "quieren")),
)

PRONOUNS = (
    Pronoun("I", "yo", 0),
    Pronoun("you", "tú", 1),
    Pronoun("he", "él", 2),
    Pronoun("she", "ella", 2, fem=True),
    Pronoun("we", "nosotros", 3),
    Pronoun("they", "ellos", 4),
)

_NUMBERS = "two dos,three tres,four cuatro,five cinco,six seis,seven siete,eight ocho,nine nueve,ten diez"
THE = determiner("the", "the", "el,la,los,las")
A = determiner("a", "", "un,una,,")
SOME = determiner("", "some", ",,unos,unas")
MANY = determiner("", "many", ",,muchos,muchas")
NUMBERS = tuple(
    determiner("", en, f",,{es},{es}") for en, es in (pair.split() for pair in _NUMBERS.split(","))
)
INDEFINITE = (A, A, A, SOME, MANY)  # numbers are drawn separately, see _choose_np
DETERMINERS = (
    (THE,) * 10
    + INDEFINITE
    + (
        determiner("this", "these", "este,esta,estos,estas"),
        determiner("my", "my", "mi,mi,mis,mis"),
        determiner("your", "your", "tu,tu,tus,tus"),
        determiner("his", "his", "su,su,sus,sus"),
        determiner("her", "her", "su,su,sus,sus"),
        determiner("our", "our", "nuestro,nuestra,nuestros,nuestras"),
        determiner("their", "their", "su,su,sus,sus"),
        determiner("every", "", "cada,cada,,"),
        determiner("", "all the", ",,todos los,todas las"),
    )
)

PREPOSITIONS = (
    Word("in", "en", "TP"),
    Word("on", "sobre", "T"),
    Word("under", "debajo de", "T"),
    Word("behind", "detrás de", "TP"),
    Word("near", "cerca de", "TP"),
    Word("in front of", "delante de", "TP"),
    Word("next to", "al lado de", "TP"),
    Word("to", "a", "P"),
    Word("from", "de", "P"),
    Word("towards", "hacia", "P"),
    Word("through", "por", "P"),
    Word("around", "alrededor de", "P"),
    Word("at", "en", "P"),
    Word("with", "con", "HAT"),
    Word("without", "sin", "HAT"),
    Word("for", "para", "HA"),
)
ADVERBS = tuple(
    Word(en, es)
    for en, es in (
        ("today", "hoy"),
        ("tomorrow", "mañana"),
        ("now", "ahora"),
        ("here", "aquí"),
        ("there", "allí"),
        ("again", "otra vez"),
        ("slowly", "despacio"),
        ("quickly", "rápidamente"),
        ("well", "bien"),
        ("early", "temprano"),
        ("late", "tarde"),
        ("later", "más tarde"),
        ("at once", "enseguida"),
        ("a lot", "mucho"),
        ("a little", "un poco"),
        ("every day", "todos los días"),
        ("at night", "por la noche"),
        ("in the morning", "por la mañana"),
        ("tonight", "esta noche"),
        ("right now", "ahora mismo"),
        ("next week", "la próxima semana"),
    )
)
FREQUENCY = tuple(
    Word(en, es)
    for en, es in (
        ("always", "siempre"),
        ("never", "nunca"),
        ("often", "a menudo"),
        ("sometimes", "a veces"),
        ("usually", "normalmente"),
        ("rarely", "casi nunca"),
    )
)
CONJUNCTIONS = tuple(
    Word(en, es)
    for en, es in (
        ("and", "y"),
        ("but", "pero"),
        ("because", "porque"),
        ("while", "mientras"),
        ("when", "cuando"),
        ("so", "así que"),
        ("although", "aunque"),
        ("if", "si"),
    )
)
