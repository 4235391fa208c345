"""Deterministic synthetic English -> Spanish parallel corpus for ``make demo``.

The corpus comes from a small *synchronous* grammar: every rule emits the source and the target side
together, so each derivation has exactly one translation, and the lexicon avoids homographs and
ambiguous attachments whose translations would differ, so the target is a function of the source
sentence. Everything is lower case; tokens are separated by single spaces; sentences end with a
separate ``.`` (questions: ``?`` and ``¿ ... ?`` on the target side)::

    S        -> CLAUSE [CONJ CLAUSE] .  |  QUESTION ?
    CLAUSE   -> SUBJ [FREQ] VERB [NP] [PP] [ADV]      the cats often eat -> los gatos a menudo comen
              | SUBJ do/does not VERB [NP] [PP] [ADV]  -> SUBJ no VERB ...
              | SUBJ MODAL VERB [NP] [PP] [ADV]        must -> tiene que, cannot -> no puede
              | SUBJ is/are [not] [very] ADJ [PP]      ser or estar (by adjective), agreeing with SUBJ
              | there is/are NP [PP] [ADV]             -> hay NP ...
              | SUBJ says/thinks/knows/believes that CLAUSE  -> dice/piensa/sabe/cree que CLAUSE
    QUESTION -> do/does SUBJ VERB [NP] [PP] [ADV]      -> ¿ VERB SUBJ [NP] [PP] [ADV] ?
    NP       -> DET [very] ADJ [and ADJ] NOUN         -> DET NOUN [muy] ADJ [y/e ADJ]
    PP       -> PREP NP                               a/de + el -> al/del

What makes attention useful: adjectives follow the noun; articles, determiners and adjectives agree
with the noun's gender and number; verbs agree with the subject's person and number; person objects
take the 'personal a' (ve al hombre, llama a la reina); a few words
become two (often -> a menudo, must -> tiene que, next to -> al lado de), a few expressions become one
(look for -> buscar, at once -> enseguida, there is -> hay); questions move the verb before the subject.

Splits: a seeded sample of (adjective, noun) combinations is held out. Train never contains them
(neither attributive nor predicative); every dev and test sentence contains one of them as the adjacent
bigram ``ADJ NOUN`` (e.g. ``red cars``), so dev and test measure unseen combinations alike. Pairs are
unique across all splits, and dev/test keep only sentences whose words (both sides) all occur in train.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

Tokens = list[str]
Pair = tuple[Tokens, Tokens]
Combo = tuple[str, str]  # (adjective, noun) by their English base forms

MAX_SRC_TOKENS = 20
N_HELD_OUT = 60


# --------------------------------------------------------------------------------------------- lexicon
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


def _nouns(cls: str, spec: str) -> tuple[Noun, ...]:
    out = []
    for line in spec.strip().splitlines():
        en, es, gender = line.split()
        en_sg, _, en_pl = en.partition("/")
        es_sg, _, es_pl = es.partition("/")
        out.append(Noun(en_sg, en_pl or _en_s(en_sg), es_sg, es_pl or _es_pl(es_sg), gender == "f", cls))
    return tuple(out)


def _adjs(spec: str) -> tuple[Adj, ...]:
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


def _verbs(spec: str) -> tuple[Verb, ...]:
    out = []
    for line in spec.strip().splitlines():
        en, inf, forms, objects = (part.strip() for part in line.split("|"))
        head, _, particle = en.partition(" ")
        en3 = f"{_en_s(head)} {particle}".strip()
        es = forms.split() or [inf[:-2] + end for end in _ENDINGS[inf[-2:]].split()]
        out.append(Verb(en, en3, inf, tuple(es), objects))
    return tuple(out)


PERSONS = _nouns(
    "H",
    """
man/men hombre m
woman/women mujer f
boy niño m
girl niña f
doctor médico m
nurse enfermera f
friend amigo m
neighbor vecino m
king rey m
queen reina f
farmer granjero m
baker panadero m
actress actriz f
brother hermano m
sister hermana f
mother madre f
father padre m
uncle tío m
aunt tía f
grandmother abuela f
soldier soldado m
waiter camarero m
lawyer abogado m
student estudiante m
teacher profesor m
""",
)
ANIMALS = _nouns(
    "A",
    """
cat gato m
dog perro m
bird pájaro m
horse caballo m
cow vaca f
mouse/mice ratón/ratones m
rabbit conejo m
duck pato m
pig cerdo m
goat cabra f
hen gallina f
frog rana f
monkey mono m
lion león/leones m
bear oso m
wolf/wolves lobo m
fox zorro m
snake serpiente f
spider araña f
turtle tortuga f
""",
)
THINGS = _nouns(
    "T",
    """
book libro m
table mesa f
chair silla f
car coche m
door puerta f
window ventana f
box caja f
key llave f
letter carta f
pen bolígrafo m
bag bolsa f
ball pelota f
hat sombrero m
shoe zapato m
shirt camisa f
dress vestido m
bottle botella f
cup taza f
glass vaso m
plate plato m
knife/knives cuchillo m
spoon cuchara f
lamp lámpara f
clock reloj m
phone teléfono m
computer ordenador m
camera cámara f
bicycle bicicleta f
boat barco m
newspaper periódico m
map mapa m
toy juguete m
guitar guitarra f
blanket manta f
coat abrigo m
ring anillo m
flower flor f
tree árbol m
""",
)
FOODS = _nouns(
    "F",
    """
apple manzana f
banana plátano m
cake pastel m
cookie galleta f
sandwich bocadillo m
egg huevo m
tomato tomate m
potato patata f
carrot zanahoria f
pear pera f
lemon limón/limones m
pizza pizza f
strawberry fresa f
cherry cereza f
onion cebolla f
soup sopa f
""",
)
PLACES = _nouns(
    "P",
    """
house casa f
park parque m
garden jardín/jardines m
kitchen cocina f
school escuela f
city ciudad f
street calle f
forest bosque m
river río m
beach playa f
market mercado m
station estación/estaciones f
church iglesia f
hospital hospital m
library biblioteca f
office oficina f
village pueblo m
mountain montaña f
lake lago m
farm granja f
bridge puente m
room habitación/habitaciones f
restaurant restaurante m
hotel hotel m
museum museo m
shop tienda f
island isla f
castle castillo m
""",
)
NOUNS = PERSONS + ANIMALS + THINGS + FOODS + PLACES

# English, Spanish (masc sg; "sg/pl" = same form for both genders), noun classes (* = all), copula s/e.
ADJECTIVES = _adjs(
    """
red rojo * s
blue azul * s
green verde * s
yellow amarillo * s
white blanco * s
black negro * s
brown marrón/marrones * s
grey gris * s
pink rosa/rosas * s
purple morado * s
big grande * s
small pequeño * s
old viejo * s
new nuevo HTP s
beautiful bonito * s
ugly feo * s
expensive caro TFP s
cheap barato TFP s
heavy pesado TA s
strange extraño * s
famous famoso HAP s
tall alto HAT s
young joven/jóvenes HA s
strong fuerte HA s
fast rápido HAT s
slow lento HAT s
quiet tranquilo HAP s
good bueno * s
bad malo * s
intelligent inteligente HA s
funny gracioso HA s
fresh fresco F s
sweet dulce F s
delicious delicioso F s
clean limpio HATP e
dirty sucio HATP e
happy contento HA e
sad triste HA e
tired cansado HA e
angry enfadado HA e
sick enfermo HA e
busy ocupado H e
broken roto T e
full lleno TP e
empty vacío TP e
hot caliente F e
cold frío TFP e
""",
)

# English | Spanish infinitive | 1sg 2sg 3sg 1pl 3pl (empty: regular) | object classes (empty: intransitive)
TRANSITIVE = _verbs(
    """
see | ver | veo ves ve vemos ven | HATFP
eat | comer | | F
buy | comprar | | TF
sell | vender | | TF
open | abrir | | T
close | cerrar | cierro cierras cierra cerramos cierran | T
paint | pintar | | TP
clean | limpiar | | TP
wash | lavar | | TFA
cook | cocinar | | F
carry | llevar | | TFA
need | necesitar | | TF
use | usar | | T
find | encontrar | encuentro encuentras encuentra encontramos encuentran | HATF
visit | visitar | | HP
love | amar | | HA
help | ayudar | | HA
call | llamar | | HA
draw | dibujar | | HATP
break | romper | | T
fix | arreglar | | T
prepare | preparar | | F
hide | esconder | | TF
bring | traer | traigo traes trae traemos traen | TF
catch | atrapar | | A
push | empujar | | T
forget | olvidar | | T
remember | recordar | recuerdo recuerdas recuerda recordamos recuerdan | HATP
prefer | preferir | prefiero prefieres prefiere preferimos prefieren | TFP
hug | abrazar | | HA
follow | seguir | sigo sigues sigue seguimos siguen | HA
look for | buscar | | HATF
look at | mirar | | HATP
wait for | esperar | | H
listen to | escuchar | | HA
take care of | cuidar | | HAP
pick up | recoger | recojo recoges recoge recogemos recogen | TF
turn off | apagar | | T
throw away | tirar | | TF
""",
)
INTRANSITIVE = _verbs(
    """
sleep | dormir | duermo duermes duerme dormimos duermen |
run | correr | |
walk | caminar | |
swim | nadar | |
dance | bailar | |
sing | cantar | |
work | trabajar | |
play | jugar | juego juegas juega jugamos juegan |
cry | llorar | |
travel | viajar | |
rest | descansar | |
study | estudiar | |
arrive | llegar | |
live | vivir | |
jump | saltar | |
shout | gritar | |
talk | hablar | |
return | volver | vuelvo vuelves vuelve volvemos vuelven |
win | ganar | |
lose | perder | pierdo pierdes pierde perdemos pierden |
""",
)
SAY = _verbs(
    """
say | decir | digo dices dice decimos dicen |
think | pensar | pienso piensas piensa pensamos piensan |
know | saber | sé sabes sabe sabemos saben |
believe | creer | |
""",
)
VERBS = TRANSITIVE + INTRANSITIVE

SER = ("soy", "eres", "es", "somos", "son")
ESTAR = ("estoy", "estás", "está", "estamos", "están")
EN_BE = ("am", "are", "is", "are", "are")


@dataclass(frozen=True)
class Modal:
    en: str
    en3: str
    es: tuple[str, ...]  # finite forms by person
    before: str = ""  # Spanish word before the finite form ("no")
    after: str = ""  # Spanish word after it ("que")


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


def _det(en_sg: str, en_pl: str, es: str) -> Det:
    ms, fs, mp, fp = es.split(",")
    return Det(en_sg, en_pl, (ms, fs, mp, fp))


_NUMBERS = "two dos,three tres,four cuatro,five cinco,six seis,seven siete,eight ocho,nine nueve,ten diez"
THE = _det("the", "the", "el,la,los,las")
A = _det("a", "", "un,una,,")
SOME = _det("", "some", ",,unos,unas")
MANY = _det("", "many", ",,muchos,muchas")
NUMBERS = tuple(_det("", en, f",,{es},{es}") for en, es in (pair.split() for pair in _NUMBERS.split(",")))
INDEFINITE = (A, A, A, SOME, MANY)  # numbers are drawn separately, see _choose_np
DETERMINERS = (
    (THE,) * 10
    + INDEFINITE
    + (
        _det("this", "these", "este,esta,estos,estas"),
        _det("my", "my", "mi,mi,mis,mis"),
        _det("your", "your", "tu,tu,tus,tus"),
        _det("his", "his", "su,su,sus,sus"),
        _det("her", "her", "su,su,sus,sus"),
        _det("our", "our", "nuestro,nuestra,nuestros,nuestras"),
        _det("their", "their", "su,su,sus,sus"),
        _det("every", "", "cada,cada,,"),
        _det("", "all the", ",,todos los,todas las"),
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


@cache
def _nouns_of(classes: str) -> tuple[Noun, ...]:
    return tuple(n for n in NOUNS if n.cls in classes)


@cache
def _adjs_of(cls: str) -> tuple[Adj, ...]:
    return tuple(a for a in ADJECTIVES if cls in a.classes)


# ------------------------------------------------------------------------------- phrases (deterministic)
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


# ------------------------------------------------------------------------------------ random choices
@dataclass
class _Ctx:
    """Sampling state: the generator, combinations to avoid (train) or to include (dev/test)."""

    rng: random.Random
    avoid: frozenset[Combo] = frozenset()
    owed: tuple[tuple[Adj, Noun], ...] = ()
    force: bool = False  # the next noun phrase must use one of ``owed``
    _adjs: dict[str, tuple[Adj, ...]] = field(default_factory=dict)

    def adjectives(self, noun: Noun) -> tuple[Adj, ...]:
        if noun.en not in self._adjs:
            pool = _adjs_of(noun.cls)
            self._adjs[noun.en] = tuple(a for a in pool if (a.en, noun.en) not in self.avoid)
        return self._adjs[noun.en]


def _choose_np(ctx: _Ctx, classes: str, dets: tuple[Det, ...] = DETERMINERS, p_number: float = 0.06) -> NP:
    rng = ctx.rng
    det = rng.choice(NUMBERS if rng.random() < p_number else dets)
    plural = not det.en_sg or (bool(det.en_pl) and rng.random() < 0.4)
    if ctx.force:
        owed = [combo for combo in ctx.owed if combo[1].cls in classes]
        if owed:
            adj, noun = rng.choice(owed)
            ctx.force = False
            return NP(det, noun, plural, (adj,))
    noun = rng.choice(_nouns_of(classes))
    r = rng.random()
    if r >= 0.45:
        return NP(det, noun, plural)
    pool = ctx.adjectives(noun)
    if r < 0.05:
        return NP(det, noun, plural, tuple(rng.sample(pool, 2)))
    return NP(det, noun, plural, (rng.choice(pool),), very=r > 0.41)


def _choose_subject(ctx: _Ctx, classes: str = "HA", p_pronoun: float = 0.35) -> Subject:
    if ctx.rng.random() < p_pronoun:
        return ctx.rng.choice(PRONOUNS)
    return _choose_np(ctx, classes)


def _choose_tail(ctx: _Ctx, objects: str, p_pp: float = 0.35, p_adv: float = 0.3) -> Tail:
    rng = ctx.rng
    obj = _choose_np(ctx, objects) if objects else None
    pp = None
    if rng.random() < p_pp:
        prep = rng.choice(PREPOSITIONS)
        pp = (prep, _choose_np(ctx, prep.classes))
    return Tail(obj, pp, rng.choice(ADVERBS) if rng.random() < p_adv else None)


def _choose_verb_clause(ctx: _Ctx) -> VerbClause:
    rng = ctx.rng
    subj = _choose_subject(ctx)
    verb = rng.choice(TRANSITIVE if rng.random() < 0.6 else INTRANSITIVE)
    r = rng.random()
    modal = rng.choice(MODALS) if r < 0.15 else None
    freq = rng.choice(FREQUENCY) if r >= 0.8 else None
    return VerbClause(subj, verb, _choose_tail(ctx, verb.objects), freq, 0.15 <= r < 0.27, modal)


def _choose_copula(ctx: _Ctx) -> CopulaClause:
    rng = ctx.rng
    subj = _choose_subject(ctx, "HATFP", 0.25)
    adj = rng.choice(_adjs_of("H") if isinstance(subj, Pronoun) else ctx.adjectives(subj.noun))
    r = rng.random()
    return CopulaClause(subj, adj, r < 0.2, r > 0.85, _choose_tail(ctx, "", p_adv=0.15))


def _choose_clause(ctx: _Ctx, allow_say: bool) -> Clause:
    r = ctx.rng.random()
    if r < 0.14:
        return _choose_copula(ctx)
    if r < 0.22:
        return ThereClause(_choose_np(ctx, "HATF", INDEFINITE, 0.3), _choose_tail(ctx, ""))
    if allow_say and r < 0.32:
        subj = _choose_subject(ctx, "H")
        inner = _choose_clause(ctx, allow_say=False)
        assert not isinstance(inner, SayClause)
        return SayClause(subj, ctx.rng.choice(SAY), inner)
    return _choose_verb_clause(ctx)


def _choose_sentence(ctx: _Ctx) -> Pair:
    rng = ctx.rng
    if rng.random() < 0.08:
        subj = _choose_subject(ctx, p_pronoun=0.4)
        verb = rng.choice(VERBS)
        return Question(subj, verb, _choose_tail(ctx, verb.objects, p_pp=0.25, p_adv=0.2)).pair()
    first = _choose_clause(ctx, allow_say=True)
    if rng.random() < 0.3:
        return realize_sentence(first, rng.choice(CONJUNCTIONS), _choose_clause(ctx, allow_say=True))
    return realize_sentence(first)


def _sample(ctx: _Ctx) -> Pair:
    """One sentence pair within the length limit (and, in dev/test, with a held-out combination)."""
    while True:
        ctx.force = bool(ctx.owed)
        en, es = _choose_sentence(ctx)
        if len(en) <= MAX_SRC_TOKENS and not ctx.force:
            return en, es


# ------------------------------------------------------------------------------------------ public API
def generate_pairs(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` (source, target) sentences from the whole grammar; repeats are possible."""
    ctx = _Ctx(rng)
    return [(" ".join(en), " ".join(es)) for en, es in (_sample(ctx) for _ in range(n))]


def _held_out(rng: random.Random) -> tuple[tuple[Adj, Noun], ...]:
    combos = [(adj, noun) for noun in NOUNS for adj in _adjs_of(noun.cls)]
    return tuple(rng.sample(combos, N_HELD_OUT))


def held_out_combos(seed: int = 13) -> tuple[Combo, ...]:
    """The (adjective, noun) combinations that ``write_demo_corpus(seed=seed)`` keeps out of train."""
    return tuple((adj.en, noun.en) for adj, noun in _held_out(random.Random(seed)))


def _split(
    ctx: _Ctx, n: int, seen: set[str], vocab: tuple[set[str], set[str]] | None = None
) -> list[tuple[str, str]]:
    """``n`` new pairs: unseen sources, and (for dev/test) only words known from train."""
    out: list[tuple[str, str]] = []
    for _ in range(50 * n + 1000):
        if len(out) == n:
            return out
        en, es = _sample(ctx)
        src = " ".join(en)
        if src in seen or (vocab and not (vocab[0].issuperset(en) and vocab[1].issuperset(es))):
            continue
        seen.add(src)
        out.append((src, " ".join(es)))
    if len(out) < n:
        raise RuntimeError(f"could only generate {len(out)} of {n} distinct sentence pairs")
    return out


def detokenize(sentence: str) -> str:
    """Written form: punctuation attached ('¿ come él ?' -> '¿come él?'), as people write it."""
    return sentence.replace("¿ ", "¿").replace(" ?", "?").replace(" .", ".").replace(" ,", ",")


def tokenize(sentence: str) -> str:
    """Inverse of :func:`detokenize` for the grammar's own sentences."""
    return sentence.replace("¿", "¿ ").replace("?", " ?").replace(".", " .").replace(",", " ,")


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_bytes("".join(detokenize(line) + "\n" for line in lines).encode("utf-8"))


def write_demo_corpus(
    out_dir: Path, seed: int = 13, n_train: int = 20000, n_dev: int = 500, n_test: int = 500
) -> dict[str, int]:
    """Write ``{train,dev,test}.{en,es}`` into ``out_dir``; byte-identical for the same seed."""
    rng = random.Random(seed)
    held = _held_out(rng)
    seen: set[str] = set()
    train = _split(_Ctx(rng, avoid=frozenset((a.en, n.en) for a, n in held)), n_train, seen)
    vocab = ({w for s, _ in train for w in s.split()}, {w for _, t in train for w in t.split()})
    dev = _split(_Ctx(rng, owed=held), n_dev, seen, vocab)
    test = _split(_Ctx(rng, owed=held), n_test, seen, vocab)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, pairs in (("train", train), ("dev", dev), ("test", test)):
        _write_lines(out_dir / f"{name}.en", [src for src, _ in pairs])
        _write_lines(out_dir / f"{name}.es", [tgt for _, tgt in pairs])
    return {
        "train": len(train),
        "dev": len(dev),
        "test": len(test),
        "train_src_words": len(vocab[0]),
        "train_tgt_words": len(vocab[1]),
        "held_out_combos": len(held),
    }


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
