"""The generator of the demo corpus: random choices over the grammar, the splits, the files.

``write_demo_corpus`` draws held-out (adjective, noun) combinations first, then train (avoiding them),
then dev and test (each sentence holding one of them, all words known from train), from one seeded
``random.Random``: the same seed gives byte-identical files. See the package docstring for the grammar.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from nmt_cli.data.demo.function_words import (
    ADVERBS,
    CONJUNCTIONS,
    DETERMINERS,
    FREQUENCY,
    INDEFINITE,
    MODALS,
    NUMBERS,
    PREPOSITIONS,
    PRONOUNS,
)
from nmt_cli.data.demo.lexicon import INTRANSITIVE, NOUNS, SAY, TRANSITIVE, VERBS, adjs_of, nouns_of
from nmt_cli.data.demo.phrases import (
    NP,
    Clause,
    CopulaClause,
    Pair,
    Question,
    SayClause,
    Subject,
    Tail,
    ThereClause,
    VerbClause,
    realize_sentence,
)
from nmt_cli.data.demo.words import Adj, Det, Noun, Pronoun
from nmt_cli.errors import UsageError

Combo = tuple[str, str]  # (adjective, noun) by their English base forms

MAX_SRC_TOKENS = 20
N_HELD_OUT = 60


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
            pool = adjs_of(noun.cls)
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
    noun = rng.choice(nouns_of(classes))
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
    adj = rng.choice(adjs_of("H") if isinstance(subj, Pronoun) else ctx.adjectives(subj.noun))
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
    combos = [(adj, noun) for noun in NOUNS for adj in adjs_of(noun.cls)]
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
        hint = "raise --train-size (dev and test use only words seen in train)" if vocab else "lower it"
        raise UsageError(f"could only generate {len(out)} of {n} distinct sentence pairs: {hint}")
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
