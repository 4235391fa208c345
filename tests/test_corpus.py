"""Readers, cleaning rules, dedup and carving (nmt_cli.data), and the encoded split files (encoded.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmt_cli.data.encoded import EncodedSplit, SplitWriter
from nmt_cli.data.readers import Chunk, decode_chunk, read_file_pair, read_table
from nmt_cli.data.report import SplitReport
from nmt_cli.data.rules import (
    DEV,
    DROPPED,
    TEST,
    TRAIN,
    carve,
    clean_chunk,
    first_occurrences,
    pair_hashes,
    piece_rules,
    source_hashes,
)
from nmt_cli.errors import DataError, UsageError
from nmt_cli.settings import PrepareSettings


def _split_nl(data: bytes) -> list[bytes]:
    """What iterating a binary file holding ``data`` yields."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    return out + ([parts[-1]] if parts[-1] else [])


def pairs_of(chunks: list[Chunk]) -> list[tuple[int, str, str]]:
    return [(n, s, t) for c in chunks for n, s, t in zip(c.lines, c.src, c.tgt)]


# ---------------------------------------------------------------- decoding lines


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\nb\n", ["a", "b"]),
        (b"a\nb", ["a", "b"]),  # last line without \n still counts
        (b"a\r\nb\r\n", ["a", "b"]),  # one trailing \r stripped
        (b"a\r\r\nb", ["a\r", "b"]),  # only one
        (b"a\rb\n", ["a\rb"]),  # a lone \r stays inside the line
        (b"x\xe2\x80\xa8y\n", ["x\u2028y"]),  # U+2028 is not a line break here
        (b"x\xc2\x85y\x0cz\n", ["x\x85y\x0cz"]),  # nor NEL or form feed
        (b"\n\n", ["", ""]),
        (b"last\r", ["last"]),
        (b"", []),
    ],
)
def test_decode_chunk_splits_only_on_newline(data: bytes, expected: list[str]) -> None:
    lines, bad = decode_chunk(_split_nl(data))
    assert lines == expected
    assert bad == []


def test_decode_chunk_replaces_and_reports_invalid_utf8() -> None:
    lines, bad = decode_chunk([b"ok\n", b"bad \xff byte\r\n", b"trunc \xc3\n", b"fine"])
    assert lines == ["ok", "bad \ufffd byte", "trunc \ufffd", "fine"]
    assert bad == [1, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=30), st.booleans())
def test_decode_chunk_keeps_the_line_count(lines: list[bytes], final_newline: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    decoded, _ = decode_chunk(_split_nl(data))
    expected = len(lines) if final_newline or not lines or lines[-1] else len(lines) - 1
    assert len(decoded) == expected
    assert decoded == decode_chunk(_split_nl(data))[0]  # deterministic, fast path or not


# ---------------------------------------------------------------- file pairs and tables


def test_read_file_pair_plain_and_gz_agree(tmp_path: Path) -> None:
    src, tgt = "uno\ndos\r\ntres", "one\ntwo\nthree\n"
    (tmp_path / "a.es").write_text(src, encoding="utf-8")
    (tmp_path / "a.en").write_text(tgt, encoding="utf-8")
    with gzip.open(tmp_path / "b.es.gz", "wt", encoding="utf-8") as fh:
        fh.write(src)
    with gzip.open(tmp_path / "b.en.gz", "wt", encoding="utf-8") as fh:
        fh.write(tgt)
    plain = pairs_of(list(read_file_pair(tmp_path / "a.es", tmp_path / "a.en", SplitReport())))
    packed = pairs_of(list(read_file_pair(tmp_path / "b.es.gz", tmp_path / "b.en.gz", SplitReport())))
    assert plain == packed == [(1, "uno", "one"), (2, "dos", "two"), (3, "tres", "three")]


@pytest.mark.parametrize(("n_src", "n_tgt", "last_newline"), [(10, 9, True), (9, 10, True), (5, 7, False)])
def test_read_file_pair_mismatch_names_counts_and_line(
    tmp_path: Path, n_src: int, n_tgt: int, last_newline: bool
) -> None:
    end = "\n" if last_newline else ""
    (tmp_path / "s").write_text("\n".join(f"s{i}" for i in range(n_src)) + end)
    (tmp_path / "t").write_text("\n".join(f"t{i}" for i in range(n_tgt)) + end)
    with pytest.raises(DataError) as err:
        list(read_file_pair(tmp_path / "s", tmp_path / "t", SplitReport()))
    message = str(err.value)
    assert f"has {n_src} lines" in message and f"has {n_tgt}" in message
    assert f"diverge at line {min(n_src, n_tgt) + 1}" in message


def test_read_file_pair_missing_file(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("a\n")
    with pytest.raises(DataError, match="no such file"):
        list(read_file_pair(tmp_path / "s", tmp_path / "nope", SplitReport()))


def test_tsv_columns_by_index_and_bad_rows_counted(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_bytes(b"1\ta\tA\n2\tb\n3\tc\tC\textra\n\n5\te\tE\r\n")
    report = SplitReport()
    pairs = pairs_of(list(read_table(path, "2,1", report)))
    assert pairs == [(1, "A", "a"), (3, "C", "c"), (5, "E", "e")]
    assert report.dropped["bad_row"].count == 2 and report.dropped["bad_row"].lines == [2, 4]
    assert report.total == 2  # the readers count the rows they drop; clean_chunk counts the rest


def test_csv_by_header_name_with_quotes(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,en,es\n1,"Hello, world","Hola, ""mundo"""\n2,bare\rcr,x\n3,"open\n', encoding="utf-8")
    report = SplitReport()
    pairs = pairs_of(list(read_table(path, "es,en", report)))
    assert pairs == [(2, 'Hola, "mundo"', "Hello, world"), (3, "x", "bare\rcr")]
    assert report.dropped["bad_row"].lines == [4]  # an unclosed quote does not swallow lines


def test_table_unknown_header_and_bad_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("en\tes\na\tb\n")
    with pytest.raises(DataError, match="no column named 'fr'"):
        list(read_table(path, "en,fr", SplitReport()))
    with pytest.raises(UsageError, match="two columns"):
        list(read_table(path, "0,1,2", SplitReport()))


# ---------------------------------------------------------------- cleaning rules


OPTS = PrepareSettings(max_chars=20)


@pytest.mark.parametrize(
    ("src", "tgt", "rule"),
    [
        ("", "x", "empty"),
        ("x", "   \t ", "empty"),
        ("\u3000\u00a0", "x", "empty"),
        ("\u200b", "x", "empty"),  # zero-width only
        ("a\x07b", "x", "control_chars"),
        ("a\rb", "x", "control_chars"),  # a lone CR inside a line
        ("x", "a\x85b", "control_chars"),  # NEL
        ("x", "a" * 21, "too_long_chars"),
        ("same", " same ", "copy"),  # compared after stripping
        ("held out", "x", "in_dev_test"),
        ("", "a\x07" * 30, "empty"),  # the first rule broken counts
        ("tab\tinside", "ok", None),
        ("x\u2028y", "ok", None),  # U+2028 is not a control character
        ("\u200bword", "ok", None),
    ],
)
def test_text_rules(src: str, tgt: str, rule: str | None) -> None:
    report = SplitReport()
    kept = clean_chunk(Chunk([7], [src], [tgt]), OPTS, report, {"held out"})
    fired = {name: c.lines for name, c in report.dropped.items()}
    assert fired == ({rule: [7]} if rule else {})
    assert len(kept) == (0 if rule else 1)
    assert report.total == 1


def test_kept_pairs_are_stripped_and_copies_can_be_kept() -> None:
    report = SplitReport()
    kept = clean_chunk(
        Chunk([1, 2], [" a ", "b"], ["x\t", "b"]), PrepareSettings(drop_copies=False), report, set()
    )
    assert (kept.src, kept.tgt, list(kept.lines)) == (["a", "b"], ["x", "b"], [1, 2])


def test_first_lines_are_capped_but_counts_are_not() -> None:
    report = SplitReport()
    clean_chunk(Chunk(list(range(1, 21)), [""] * 20, ["x"] * 20), OPTS, report, set())
    assert report.dropped["empty"].count == 20
    assert report.dropped["empty"].lines == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("src_len", "tgt_len", "code"),
    [(5, 5, 0), (201, 10, 1), (10, 201, 1), (10, 3, 2), (9, 1, 0), (30, 10, 0), (31, 10, 2), (0, 12, 2)],
)
def test_piece_rules(src_len: int, tgt_len: int, code: int) -> None:
    got = piece_rules(np.array([src_len]), np.array([tgt_len]), PrepareSettings())
    assert got.tolist() == [code]


def test_duplicates_keep_the_first_occurrence() -> None:
    src, tgt = ["a", "b", "a", "a", "c", "b"], ["x", "y", "x", "z", "x", "y"]
    assert first_occurrences(pair_hashes(src, tgt)).tolist() == [True, True, False, True, True, False]
    assert first_occurrences(np.zeros(0, np.uint64)).tolist() == []


# ---------------------------------------------------------------- carving dev/test


def carve_sources(
    sources: list[str], sizes: list[int], seed: int = 1, drop: bool = True
) -> dict[int, set[str]]:
    route = np.full(len(sources), TRAIN, dtype=np.int8)
    if drop:
        route[::17] = DROPPED  # dropped pairs are never carved
    carve(source_hashes(sources, seed), route, sizes)
    return {code: {s for s, r in zip(sources, route) if r == code} for code in (TRAIN, DEV, TEST, DROPPED)}


def test_carve_shares_no_source_and_is_order_free() -> None:
    rng = np.random.default_rng(0)
    sources = [f"sentence {int(i)}" for i in rng.integers(0, 400, size=2000)]  # many repeated sources
    splits = carve_sources(sources, [100, 50])
    assert not (splits[TRAIN] & splits[DEV]) and not (splits[TRAIN] & splits[TEST])
    assert not (splits[DEV] & splits[TEST])
    dev_pairs = sum(1 for i, s in enumerate(sources) if s in splits[DEV] and i % 17)
    assert 100 <= dev_pairs < 100 + 20  # whole sources, so a little over the size at most
    again = carve_sources(sources, [100, 50])
    assert again[DEV] == splits[DEV] and again[TEST] == splits[TEST]
    other_seed = carve_sources(sources, [100, 50], seed=2)
    assert other_seed[DEV] != splits[DEV]
    in_order = carve_sources(sources, [100, 50], drop=False)
    shuffled = carve_sources([sources[i] for i in rng.permutation(len(sources))], [100, 50], drop=False)
    assert shuffled == in_order


def test_carve_takes_everything_when_asked_too_much() -> None:
    splits = carve_sources([f"s{i}" for i in range(30)], [1000, 5])
    assert not splits[TRAIN] and not splits[TEST] and len(splits[DEV]) == 28


# ---------------------------------------------------------------- encoded splits


def test_split_writer_batches_equal_single_adds(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pairs = [
        (rng.integers(4, 100, rng.integers(0, 9)).tolist(), rng.integers(4, 100, rng.integers(1, 9)).tolist())
    ]
    pairs += [([5, 6], [7]), ([], [8, 9, 10])] * 3
    one, many = tmp_path / "one", tmp_path / "many"
    one.mkdir()
    many.mkdir()
    writer = SplitWriter(one, "train")
    for s, t in pairs:
        writer.add(s, t)
    writer.close()
    writer = SplitWriter(many, "train")
    writer.add_batch([s for s, _ in pairs[:3]], [t for _, t in pairs[:3]])
    writer.add_batch([], [])
    writer.add_batch([s for s, _ in pairs[3:]], [t for _, t in pairs[3:]])
    writer.close()
    for name in ("train.src.ids", "train.tgt.ids", "train.offsets.npy"):
        assert (one / name).read_bytes() == (many / name).read_bytes()
    split = EncodedSplit(many, "train")
    assert len(split) == len(pairs)
    for i, (s, t) in enumerate(pairs):
        assert split.src(i).tolist() == s and split.tgt(i).tolist() == t
    assert split.src_lengths.tolist() == [len(s) for s, _ in pairs]
    assert not any(p.name.startswith(".") for p in many.iterdir())


def test_offsets_are_built_in_blocks(tmp_path: Path) -> None:
    from nmt_cli.data import encoded

    lengths = np.array([[1, 2], [3, 0], [0, 4], [5, 6], [7, 8]], dtype="<i8")
    (tmp_path / "l").write_bytes(lengths.tobytes())
    encoded._write_offsets(tmp_path / "l", tmp_path / "o.npy", 5, block=2)
    offsets = np.load(tmp_path / "o.npy")
    assert offsets.tolist() == [[0, 1, 4, 4, 9, 16], [0, 2, 2, 6, 12, 20]]


def test_empty_split_reads_back(tmp_path: Path) -> None:
    SplitWriter(tmp_path, "dev").close()
    split = EncodedSplit(tmp_path, "dev")
    assert len(split) == 0 and split.src_lengths.tolist() == []
