"""The synthetic demo corpus: determinism, splits, held-out combinations, and a few fixed translations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nmt_cli.data.demo import grammar, lexicon, phrases

SPLITS = ("train", "dev", "test")
Corpus = dict[str, list[tuple[str, str]]]


def read_corpus(out_dir: Path) -> Corpus:
    corpus: Corpus = {}
    for split in SPLITS:
        src = (out_dir / f"{split}.en").read_text(encoding="utf-8").split("\n")
        tgt = (out_dir / f"{split}.es").read_text(encoding="utf-8").split("\n")
        assert src[-1] == "" and tgt[-1] == "", "files must end with a newline"
        assert len(src) == len(tgt)
        assert not any(line.endswith(" .") for line in src + tgt), "files hold detokenized text"
        pairs = zip(src[:-1], tgt[:-1], strict=True)
        corpus[split] = [(grammar.tokenize(s), grammar.tokenize(t)) for s, t in pairs]
    return corpus


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, int], Corpus]:
    out_dir = tmp_path_factory.mktemp("demo") / "nested" / "corpus"
    info = grammar.write_demo_corpus(out_dir)
    return info, read_corpus(out_dir)


@pytest.fixture(scope="module")
def corpus(written: tuple[dict[str, int], Corpus]) -> Corpus:
    return written[1]


def held_out_bigrams(seed: int = 13) -> tuple[set[str], set[str]]:
    """Source bigrams 'red car(s)' and target bigrams 'coche(s) rojo(s)' of the held-out combinations."""
    nouns = {noun.en: noun for noun in lexicon.NOUNS}
    adjs = {adj.en: adj for adj in lexicon.ADJECTIVES}
    src: set[str] = set()
    tgt: set[str] = set()
    for adj_en, noun_en in grammar.held_out_combos(seed):
        noun, adj = nouns[noun_en], adjs[adj_en]
        src |= {f"{adj_en} {noun.en}", f"{adj_en} {noun.en_pl}"}
        tgt |= {f"{noun.es} {adj.es[noun.fem]}", f"{noun.es_pl} {adj.es[2 + noun.fem]}"}
    return src, tgt


def has_any(sentence: str, bigrams: set[str]) -> bool:
    words = sentence.split()
    return any(f"{a} {b}" in bigrams for a, b in zip(words, words[1:], strict=False))


def test_counts_and_files(written: tuple[dict[str, int], Corpus]) -> None:
    info, corpus = written
    assert {split: len(corpus[split]) for split in SPLITS} == {"train": 20000, "dev": 500, "test": 500}
    assert {split: info[split] for split in SPLITS} == {"train": 20000, "dev": 500, "test": 500}
    assert info["held_out_combos"] == len(grammar.held_out_combos()) > 0
    for pairs in corpus.values():
        for src, tgt in pairs:
            assert src and tgt and "\r" not in src + tgt
            assert src.split() == src.split(" ") and tgt.split() == tgt.split(" "), "single spaces"


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    sizes = {"n_train": 2000, "n_dev": 100, "n_test": 100}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        grammar.write_demo_corpus(tmp_path / name, seed=seed, **sizes)
    for split in SPLITS:
        for lang in ("en", "es"):
            a, b, c = ((tmp_path / d / f"{split}.{lang}").read_bytes() for d in "abc")
            assert a == b
            assert a != c


def test_generate_pairs_is_seeded() -> None:
    assert grammar.generate_pairs(200, random.Random(1)) == grammar.generate_pairs(200, random.Random(1))
    assert grammar.generate_pairs(200, random.Random(1)) != grammar.generate_pairs(200, random.Random(2))


def test_vocabulary_size(corpus: Corpus) -> None:
    src = {w for pairs in corpus.values() for s, _ in pairs for w in s.split()}
    tgt = {w for pairs in corpus.values() for _, t in pairs for w in t.split()}
    assert len(src) >= 300
    assert len(tgt) >= 300


def test_source_lengths(corpus: Corpus) -> None:
    lengths = [len(s.split()) for pairs in corpus.values() for s, _ in pairs]
    assert min(lengths) >= 3 and max(lengths) <= 20
    assert max(lengths) == 20, "long sentences should occur"
    assert 7 <= sum(lengths) / len(lengths) <= 13


def test_pairs_unique_and_translation_is_a_function(corpus: Corpus) -> None:
    pairs = [pair for split in SPLITS for pair in corpus[split]]
    assert len(set(pairs)) == len(pairs), "duplicate pairs"
    sources = [src for src, _ in pairs]
    assert len(set(sources)) == len(sources), "a source sentence occurs twice (with two translations)"


def test_translation_is_a_function_with_repeats() -> None:
    pairs = grammar.generate_pairs(40000, random.Random(0))
    translation: dict[str, str] = {}
    for src, tgt in pairs:
        assert translation.setdefault(src, tgt) == tgt, src
    assert len(translation) < len(pairs), "the check needs repeated sources to mean anything"


def test_test_and_dev_are_unseen_combinations(corpus: Corpus) -> None:
    src_bigrams, tgt_bigrams = held_out_bigrams()
    train = set(corpus["train"])
    for split in ("dev", "test"):
        assert not train & set(corpus[split])
        assert not {s for s, _ in train} & {s for s, _ in corpus[split]}
        assert all(has_any(src, src_bigrams) for src, _ in corpus[split])
        assert all(has_any(tgt, tgt_bigrams) for _, tgt in corpus[split])
    assert not any(has_any(src, src_bigrams) for src, _ in train)
    assert not any(has_any(tgt, tgt_bigrams) for _, tgt in train)


def test_held_out_words_still_occur_in_train(corpus: Corpus) -> None:
    train_words = {w for src, _ in corpus["train"] for w in src.split()}
    for adj, noun in grammar.held_out_combos():
        assert adj in train_words and noun in train_words


def test_every_dev_and_test_word_occurs_in_train(corpus: Corpus) -> None:
    src_vocab = {w for src, _ in corpus["train"] for w in src.split()}
    tgt_vocab = {w for _, tgt in corpus["train"] for w in tgt.split()}
    for split in ("dev", "test"):
        for src, tgt in corpus[split]:
            assert set(src.split()) <= src_vocab, src
            assert set(tgt.split()) <= tgt_vocab, tgt


@pytest.mark.parametrize(
    ("english", "spanish"),
    [
        ("the red cars", "los coches rojos"),
        ("the red car", "el coche rojo"),
        ("a white house", "una casa blanca"),
        ("an old map", "un mapa viejo"),
        ("these very small birds", "estos pájaros muy pequeños"),
        ("two green apples", "dos manzanas verdes"),
        ("the tall and intelligent queens", "las reinas altas e inteligentes"),
        ("all the brown mice", "todos los ratones marrones"),
        ("our happy cows", "nuestras vacas contentas"),
    ],
)
def test_noun_phrase_reordering_and_agreement(english: str, spanish: str) -> None:
    assert phrases.translate_phrase(english) == spanish


@pytest.mark.parametrize("bad", ["a red cars", "red the car", "the car red", "a old map", "the red and car"])
def test_noun_phrase_outside_the_grammar_is_refused(bad: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        phrases.translate_phrase(bad)


@pytest.mark.parametrize(
    ("subject", "verb", "obj", "english", "spanish"),
    [
        ("the cat", "see", "the dog", "the cat sees the dog .", "el gato ve el perro ."),
        (
            "the cats",
            "see",
            "the red cars",
            "the cats see the red cars .",
            "los gatos ven los coches rojos .",
        ),
        ("I", "sleep", None, "I sleep .", "yo duermo ."),
        (
            "we",
            "look for",
            "the old teacher",
            "we look for the old teacher .",
            "nosotros buscamos al profesor viejo .",
        ),
        ("she", "wait for", "her mother", "she waits for her mother .", "ella espera a su madre ."),
        ("the boy", "pick up", "a box", "the boy picks up a box .", "el niño recoge una caja ."),
    ],
)
def test_clause_agreement(subject: str, verb: str, obj: str | None, english: str, spanish: str) -> None:
    assert phrases.translate_clause(subject, verb, obj) == (english, spanish)


def test_corpus_exercises_the_grammar(corpus: Corpus) -> None:
    targets = [tgt for _, tgt in corpus["train"]]

    def share(word: str) -> float:
        return sum(f" {word} " in f" {t} " for t in targets) / len(targets)

    for word in ("¿", "hay", "que", "al", "del", "a menudo", "tiene que", "no", "muy", "e"):
        assert share(word) > 0.001, word
