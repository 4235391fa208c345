"""SentencePiece training and loading. Special ids live here."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sentencepiece as spm

from nmt_cli.errors import DataError, UsageError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_IDS = {"pad_id": PAD_ID, "unk_id": UNK_ID, "bos_id": BOS_ID, "eos_id": EOS_ID}
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


@dataclass(frozen=True)
class SpmSettings:
    vocab_size: int = 8000
    model_type: str = "unigram"
    character_coverage: float = 1.0
    byte_fallback: bool = True
    input_sentence_size: int = 1_000_000
    seed: int = 1


def train_spm(sentences: Iterable[str], settings: SpmSettings, what: str = "corpus") -> bytes:
    """Train a SentencePiece model on ``sentences``; return the serialized model proto.

    With more sentences than ``input_sentence_size``, SentencePiece trains on a seeded random sample of
    that many. One trainer thread: the model then does not depend on the machine's core count (the
    trainer's results differ between thread counts), and on few cores its multi-threaded suffix-array
    step is slower anyway.
    """
    spm.set_random_generator_seed(settings.seed)
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(s for s in sentences if s.strip()),
            model_writer=buf,
            vocab_size=settings.vocab_size,
            model_type=settings.model_type,
            character_coverage=settings.character_coverage,
            byte_fallback=settings.byte_fallback,
            input_sentence_size=settings.input_sentence_size,
            shuffle_input_sentence=True,
            max_sentence_length=1 << 16,
            num_threads=1,
            minloglevel=2,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
        )
    except RuntimeError as err:
        raise DataError(_explain_spm_error(str(err), what, settings.byte_fallback)) from None
    return buf.getvalue()


def _explain_spm_error(message: str, what: str, byte_fallback: bool) -> str:
    match = _TOO_HIGH.search(message)
    if match:
        return (
            f"--vocab-size {match.group(1)} is too large for the {what}: "
            f"the largest workable size is {match.group(2)} (try --vocab-size {match.group(2)})"
        )
    match = _TOO_LOW.search(message)
    if match:
        needs = "its characters, the 4 special pieces" + (" and 256 byte pieces" if byte_fallback else "")
        return (
            f"--vocab-size {match.group(1)} is too small for the {what}: {needs} take {match.group(2)} "
            f"(use at least --vocab-size {match.group(2)})"
        )
    return f"SentencePiece training failed on the {what}: {message.splitlines()[-1]}"


def load_spm(proto: bytes) -> spm.SentencePieceProcessor:
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    return sp


def reusable(proto: bytes, where: str) -> bytes:
    """``proto`` when it is a SentencePiece model nmt can encode with (its special ids where nmt puts
    them: pad 0, unk 1, bos 2, eos 3); else a one-line UsageError naming ``where``."""
    try:
        sp = load_spm(proto)
    except (RuntimeError, OSError, ValueError):
        raise UsageError(f"{where}: not a SentencePiece model") from None
    found = {name: int(getattr(sp, name)()) for name in SPECIAL_IDS}
    if found != SPECIAL_IDS:
        raise UsageError(f"{where}: special ids {found}, nmt needs {SPECIAL_IDS} (a model from nmt prepare)")
    return proto


class Tokenizer:
    """Source and target SentencePiece models (the same one when the vocabulary is joint)."""

    def __init__(self, src_proto: bytes, tgt_proto: bytes) -> None:
        self.src_proto = src_proto
        self.tgt_proto = tgt_proto
        self.src = load_spm(src_proto)
        self.tgt = self.src if tgt_proto == src_proto else load_spm(tgt_proto)

    @property
    def joint(self) -> bool:
        return self.src_proto == self.tgt_proto

    @property
    def src_vocab_size(self) -> int:
        return int(self.src.GetPieceSize())

    @property
    def tgt_vocab_size(self) -> int:
        return int(self.tgt.GetPieceSize())

    def encode_src(self, lines: Sequence[str]) -> list[list[int]]:
        return self.src.Encode(list(lines))  # type: ignore[no-any-return]

    def encode_tgt(self, lines: Sequence[str]) -> list[list[int]]:
        return self.tgt.Encode(list(lines))  # type: ignore[no-any-return]

    def src_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.src.IdToPiece(i) for i in ids]

    def tgt_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.tgt.IdToPiece(i) for i in ids]

    def decode_tgt(self, ids: Sequence[int]) -> str:
        return self.tgt.Decode([i for i in ids if i > EOS_ID or i == UNK_ID])  # type: ignore[no-any-return]
