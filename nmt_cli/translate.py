"""Stream of lines -> stream of translations: order kept, one output line per input line, always.

Lines are read lazily in chunks (a chunk ends early when the input pauses, so interactive pipes
get answers before EOF); inside a chunk sentences are sorted by length and batched, and the
results are written back in input order and flushed. Empty and whitespace-only lines never reach
the model.

Memory stays flat whatever the input, a line of gigabytes without a newline included: a source longer
than --max-src-len pieces is cropped (or split, ``--long-input split``) anyway, so only the characters
that can matter are kept (:func:`max_source_chars`: ``CHARS_PER_PIECE`` characters per piece, a piece
being at most that long; with ``split`` at most ``SPLIT_PARTS`` parts). A longer line is cut to that many
characters before it is tokenized, and while it is read (at 4 bytes a character, before decoding; the
rest of the line is read and dropped), and it gets the long line's warning; it still gives one output
line.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import nmt_cli.kernels.bf16 as bf16
import nmt_cli.kernels.fp32 as fp32
from nmt_cli import alignment, devices, display
from nmt_cli.batching import source_batch
from nmt_cli.ensemble import Ensemble, check_tokenizers
from nmt_cli.kernels.int8 import quantize_int8
from nmt_cli.model import Seq2Seq
from nmt_cli.record import load_model_record, tuned_alpha
from nmt_cli.search import Hypothesis, StepModel, beam_search, greedy_stream
from nmt_cli.settings import DEFAULT_ALPHA, DecodeSettings
from nmt_cli.textio import (
    STDIN,
    ChunkReader,
    TextSink,
    decode_line,
    is_blank,
    open_input_fd,
    open_output,
    write_line,
)
from nmt_cli.tokenizer import Tokenizer

# SentencePiece's longest piece (its default max_sentencepiece_length): N pieces never span more than
# 16 N characters, so cropping a line at 16 * --max-src-len characters changes no crop of N pieces
# (whitespace runs aside, which SentencePiece collapses).
CHARS_PER_PIECE = 16
SPLIT_PARTS = 64  # --long-input split: at most this many parts of --max-src-len pieces per line
CHUNK_BATCHES = 4  # a chunk (sorted by length, then batched) holds at most this many batches' lines
UTF8_MAX = 4  # bytes a character takes at most


def max_source_chars(opts: DecodeSettings) -> int:
    """Characters of a source line that can reach the model; the rest is cut before tokenizing."""
    parts = SPLIT_PARTS if opts.long_input == "split" else 1
    return opts.max_src_len * CHARS_PER_PIECE * parts


@dataclass
class Result:
    """One input line's translation(s)."""

    lineno: int
    src: str
    hyps: list[Hypothesis] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    src_pieces: list[str] = field(default_factory=list)
    tgt_pieces: list[list[str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


def load_model(
    model_path: str | Path, opts: DecodeSettings, device: torch.device | None = None
) -> tuple[Seq2Seq, Tokenizer]:
    """Checkpoint -> model in eval mode (optionally int8-quantized) on ``device`` (the CPU by
    default) and its tokenizer."""
    rec = load_model_record(model_path, opts.checkpoint, warn=display.warn)
    model = Seq2Seq(rec.model_settings)  # (not on the meta device: that imports torch._dynamo, +0.8 s)
    model.load_state_dict(rec.weights)
    model.eval()
    if opts.quantize == "int8":
        model = quantize_int8(model)
    if device is not None and device.type != "cpu":
        model.to(device)
    return model, Tokenizer(rec.spm_src, rec.spm_tgt)


def load_models(
    paths: Sequence[str | Path], opts: DecodeSettings
) -> tuple[StepModel, Tokenizer, torch.device]:
    """One checkpoint -> its model; several -> their :class:`Ensemble` (refused unless they share
    their tokenizers). Returns the model to search with, the (first model's) tokenizer and the device
    (--device) the models are on."""
    device = devices.resolve(opts.device)
    devices.check_precision(device, opts.quantize)
    if devices.precision(device, opts.quantize) != opts.quantize:
        display.warn(f"--quantize bf16: {bf16.BF16_WARNING}; decoding in fp32 instead")
    loaded = [load_model(path, opts, device) for path in paths]
    if device.type != "cpu":
        display.info(f"decoding on {devices.describe(device, opts.quantize)}")
    choose_products(loaded[0][0], opts, device)
    if len(loaded) == 1:
        return loaded[0][0], loaded[0][1], device
    tokenizers = [(tok.src_proto, tok.tgt_proto) for _, tok in loaded]
    check_tokenizers([str(p) for p in paths], tokenizers)
    return Ensemble([model for model, _ in loaded]), loaded[0][1], device


def choose_products(model: Seq2Seq, opts: DecodeSettings, device: torch.device) -> None:
    """fp32 search on a CPU: MKL or oneDNN for the products, whichever multiplies a search step's rows
    through the model's output layer faster here (kernels/fp32.py); torch's own products otherwise."""
    if device.type != "cpu" or devices.precision(device, opts.quantize) != "none":
        fp32.set_backend("mkl")
        return
    layer = model.generator.linear or model.decoder.out
    fp32.choose(layer.weight, layer.bias, devices.sentences_per_batch(opts, device) * opts.beam)


class Translator:
    """Lines -> translations with one model: tokenize, crop or split long sources, search in batches."""

    def __init__(
        self, model: StepModel, tok: Tokenizer, opts: DecodeSettings, device: torch.device | None = None
    ) -> None:
        self.model, self.tok, self.opts = model, tok, opts
        self.device = device or torch.device("cpu")
        self.batch = devices.sentences_per_batch(opts, self.device)
        self.alpha = DEFAULT_ALPHA if opts.alpha is None else opts.alpha
        self.precision = devices.precision(self.device, opts.quantize)

    def _segments(self, lineno: int, ids: list[int], cut: bool) -> list[list[int]]:
        """A source's pieces, cropped or split when longer than --max-src-len (``cut``: its text was cut
        at :func:`max_source_chars`)."""
        limit = self.opts.max_src_len
        if len(ids) <= limit and not cut:
            return [ids]
        size = f"more than {max_source_chars(self.opts)} characters" if cut else f"{len(ids)} pieces"
        if self.opts.long_input == "crop":
            parts, action = [ids[:limit]], "cropped"
        else:
            parts = [ids[i : i + limit] for i in range(0, len(ids), limit)]
            action = "split"
            if len(parts) > SPLIT_PARTS or cut:
                parts = parts[:SPLIT_PARTS]
                action += f", the rest past {len(parts)} parts cropped"
        display.warn(f"line {lineno}: {size}, longer than --max-src-len {limit}; {action}")
        return parts

    def _batch(self, seqs: Sequence[list[int]]) -> tuple[Tensor, Tensor, Tensor]:
        """Source id lists -> src (B, S) on the device, lengths (B,), output caps (B,) on the device."""
        src, lengths = source_batch(seqs)
        caps = torch.clamp((lengths.float() * self.opts.max_len_ratio).long() + 10, max=self.opts.max_len)
        return src.to(self.device), lengths, caps.to(self.device)

    def _search(self, seqs: Sequence[list[int]]) -> list[list[Hypothesis]]:
        """Source id lists (one batch) -> n-best lists."""
        src, lengths, caps = self._batch(seqs)
        with devices.autocast(self.device, self.precision):
            return beam_search(self.model, src, lengths, caps, self.opts.beam, self.alpha, self.opts.nbest)

    def _greedy(self, seqs: Sequence[list[int]]) -> list[list[Hypothesis]]:
        """Source id lists (sorted by length) -> one hypothesis each: ``batch`` rows at a time, waiting
        sentences joining as others end (search.greedy_stream)."""
        taken = 0

        def source(n: int) -> tuple[Tensor, Tensor, Tensor] | None:
            nonlocal taken
            group = seqs[taken : taken + n]
            taken += len(group)
            return self._batch(group) if group else None

        with devices.autocast(self.device, self.precision):
            return [[h] for h in greedy_stream(self.model, source, self.batch, self.alpha)]

    def translate(
        self, lines: Sequence[str], first_lineno: int = 1, cut: Collection[int] = ()
    ) -> list[Result]:
        """Translate a chunk of lines; blank lines give empty results without touching the model.

        ``cut``: numbers of the lines already cut while they were read (they are warned about here).
        """
        results = [Result(first_lineno + i, line) for i, line in enumerate(lines)]
        todo = [r for r in results if not is_blank(r.src)]
        most = max_source_chars(self.opts)
        texts = [r.src.strip() for r in todo]
        too_long = [r.lineno in cut or len(text) > most for r, text in zip(todo, texts)]
        encoded = self.tok.encode_src([text[:most] for text in texts])
        segments: list[tuple[int, int, list[int]]] = []  # (result index, part, ids)
        for k, (res, ids) in enumerate(zip(todo, encoded)):
            res.src_pieces = self.tok.src_pieces(ids)
            parts = self._segments(res.lineno, ids, too_long[k])
            segments += [(k, part, seg) for part, seg in enumerate(parts)]
        segments.sort(key=lambda s: len(s[2]))
        seqs = [seg for _, _, seg in segments]
        if self.opts.beam == 1:
            searched = self._greedy(seqs)
        else:
            batches = range(0, len(seqs), self.batch)
            searched = [nbest for i in batches for nbest in self._search(seqs[i : i + self.batch])]
        found = {(k, part): nbest for (k, part, _), nbest in zip(segments, searched, strict=True)}
        n_parts = Counter(k for k, _, _ in segments)
        for k, res in enumerate(todo):
            self._finish(res, [found[(k, p)] for p in range(n_parts[k])])
        return results

    def _finish(self, res: Result, parts: list[list[Hypothesis]]) -> None:
        if len(parts) == 1:
            res.hyps = parts[0]
        else:  # a split line: join the best of each part
            ids = [i for p in parts for i in p[0].ids]
            res.hyps = [Hypothesis(ids, sum(p[0].score for p in parts), torch.zeros(len(ids) + 1, 0))]
        res.texts = [self.tok.decode_tgt(h.ids) for h in res.hyps]
        res.tgt_pieces = [self.tok.tgt_pieces(h.ids) for h in res.hyps]


class Writer:
    """One output format: text, Moses n-best, Pharaoh alignments, or JSON Lines."""

    def __init__(self, out: TextSink, opts: DecodeSettings) -> None:
        self.out, self.opts = out, opts
        self.next_id = 0

    def write(self, res: Result) -> None:
        if self.opts.json_out:
            write_line(self.out, json.dumps(self._json(res), sort_keys=True, ensure_ascii=False))
        elif self.opts.nbest > 1:
            hyps = res.texts or [""]
            scores = [h.score for h in res.hyps] or [0.0]
            for text, score in zip(hyps, scores):
                write_line(self.out, f"{res.lineno - 1} ||| {text} ||| {score:.4f}")
        elif self.opts.align:
            write_line(self.out, f"{res.text} ||| {self._pharaoh(res, 0)}")
        else:
            write_line(self.out, res.text)

    def _pharaoh(self, res: Result, k: int) -> str:
        if not res.hyps:
            return ""
        hyp, tgt = res.hyps[k], res.tgt_pieces[k]
        attn = hyp.attention[: len(tgt), : len(res.src_pieces)]
        if attn.numel() == 0:
            return ""
        pairs = alignment.pharaoh(attn)
        if self.opts.align_level == "word":
            src_w, tgt_w = alignment.word_ids(res.src_pieces), alignment.word_ids(tgt)
            pairs = sorted({(src_w[s], tgt_w[t]) for s, t in pairs})
        return alignment.format_pharaoh(pairs)

    def _json(self, res: Result) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": res.lineno - 1,
            "src": res.src,
            "hyp": res.text,
            "score": res.hyps[0].score if res.hyps else None,
            "alignment": self._pharaoh(res, 0),
        }
        if self.opts.nbest > 1:
            obj["nbest"] = [{"hyp": t, "score": h.score} for t, h in zip(res.texts, res.hyps)]
        if self.opts.attention_matrix and res.hyps:
            obj["src_pieces"] = res.src_pieces
            obj["tgt_pieces"] = res.tgt_pieces[0]
            obj["attention"] = [[round(float(w), 5) for w in row] for row in res.hyps[0].attention.tolist()]
        return obj


def show_attention(res: Result, words: bool) -> None:
    if not res.hyps or res.hyps[0].attention.numel() == 0:
        return
    src, tgt = res.src_pieces + ["</s>"], res.tgt_pieces[0] + ["</s>"]
    attn = res.hyps[0].attention[: len(tgt), : len(src)]
    if words:
        attn = alignment.merge_to_words(attn, src, tgt)
        src, tgt = alignment.words(src), alignment.words(tgt)
    else:
        src, tgt = [display.piece_label(p) for p in src], [display.piece_label(p) for p in tgt]
    display.heatmap(src, tgt, attn.tolist(), title=f"line {res.lineno}: {res.src[:70]}")


def _decoded_chunks(
    fd: int, where: str, opts: DecodeSettings, chunk: int
) -> Iterator[tuple[int, list[str], set[int]]]:
    """(first line number, decoded lines, numbers of the lines cut while read) per chunk; invalid UTF-8
    warned about or refused. A line is never kept past what :func:`max_source_chars` can use."""
    cut: set[int] = set()
    reader = ChunkReader(
        fd,
        chunk,
        max_line_bytes=UTF8_MAX * max_source_chars(opts),
        on_cut=cut.add,
        where=where,
    )
    lineno = 1
    for raw_lines in reader.chunks():
        lines = [
            decode_line(raw, where, lineno + i, opts.strict_utf8, display.warn)
            for i, raw in enumerate(raw_lines)
        ]
        yield lineno, lines, set(cut)
        cut.clear()
        lineno += len(lines)


def _setup(model_paths: Sequence[str], opts: DecodeSettings) -> DecodeSettings:
    """Threads; and without --alpha, the length penalty tuned on dev for a single run (finish.json)."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    if opts.alpha is None and len(model_paths) == 1:
        tuned = tuned_alpha(model_paths[0])
        if tuned is not None:
            return replace(opts, alpha=tuned)
    return opts


def translate_stream(model_paths: Sequence[str], input_file: str, output: str, opts: DecodeSettings) -> int:
    """Translate ``input_file`` (``-`` = stdin) to ``output`` (``-`` = stdout) with one model or the
    ensemble of several; returns lines written.

    The input may be any readable path but a directory (a FIFO, ``/dev/fd/N`` included). An output file
    is all or nothing (see :func:`textio.open_output`); stdout gets each chunk as soon as it is done.
    """
    opts = _setup(model_paths, opts)
    fd = sys.stdin.fileno() if input_file == "-" else open_input_fd(input_file)
    try:
        model, tok, device = load_models(model_paths, opts)
        translator = Translator(model, tok, opts, device)
        written = 0
        with open_output(output) as out:
            writer = Writer(out, opts)
            where = STDIN if input_file == "-" else input_file
            for first, lines, cut in _decoded_chunks(fd, where, opts, translator.batch * CHUNK_BATCHES):
                for res in translator.translate(lines, first, cut):
                    writer.write(res)
                    if opts.show_attention:
                        show_attention(res, opts.heatmap_words)
                    written += 1
                out.flush()  # each chunk reaches the reader as soon as it is done
    finally:
        if input_file != "-":
            os.close(fd)
    return written


def translate_lines(model_paths: Sequence[str], lines: Sequence[str], opts: DecodeSettings) -> list[str]:
    """Translate lines already read (``evaluate -m``) and return one hypothesis per line."""
    opts = _setup(model_paths, opts)
    model, tok, device = load_models(model_paths, opts)
    translator = Translator(model, tok, opts, device)
    out: list[str] = []
    chunk = translator.batch * CHUNK_BATCHES
    for start in range(0, len(lines), chunk):
        out += [r.text for r in translator.translate(lines[start : start + chunk], start + 1)]
    return out
