"""Forced decoding (``nmt score``): the model's log-probability of given targets.

Each target is fed to the decoder piece by piece, exactly as search feeds its own choices (the same
step, in the same float32 log-probs summed in float64), so the score of a model's own greedy output
is the score greedy search gave it. The total counts every target piece and the final EOS; the
normalised score is the total divided by that count (the mean log-probability per piece). A piece
outside the model's output vocabulary is scored as ``<unk>``, the piece the model would write for it
(an ensemble whose models' output vocabularies differ gives it -inf).

Pairs come from two line-aligned files, a TSV (source TAB target), or a Moses n-best list
(``translate --nbest``: ``id ||| hypothesis ||| score``) with its source file. Every input line gets
one output line, in order, whatever it holds; a pair with an empty source gets no score (an empty
line, or ``null`` in JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nmt_cli import devices, display
from nmt_cli.batching import pad, source_batch
from nmt_cli.errors import DataError
from nmt_cli.search import StepModel
from nmt_cli.settings import DecodeSettings
from nmt_cli.textio import STDIN, is_blank, open_output, read_all_lines, read_lines, write_line
from nmt_cli.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer
from nmt_cli.translate import load_models

CHUNK = 2000  # pairs read, scored and written at a time
NBEST_SEP = " ||| "


@dataclass
class Pair:
    """One input line: the pair to score; ``nbest_id`` and ``old_score`` for an n-best line."""

    lineno: int
    src: str
    tgt: str
    nbest_id: int | None = None
    old_score: str | None = None


@dataclass
class Score:
    total: float | None  # log-probability of the target pieces and EOS; None for an empty source
    pieces: int  # target pieces + EOS

    @property
    def normalised(self) -> float | None:
        return None if self.total is None else self.total / self.pieces


# ------------------------------------------------------------------------------------------ inputs


def pairs_from_files(src: str, tgt: str, opts: DecodeSettings) -> Iterator[Pair]:
    """Two line-aligned files (one may be ``-``); a DataError when their line counts differ."""
    sources = read_lines(src, opts.strict_utf8, display.warn)
    targets = read_lines(tgt, opts.strict_utf8, display.warn)
    lineno = 0
    while True:
        s, t = next(sources, None), next(targets, None)
        if s is None or t is None:
            break
        lineno += 1
        yield Pair(lineno, s, t)
    if s is not None or t is not None:
        longer, shorter = (src, tgt) if s is not None else (tgt, src)
        raise DataError(f"{longer}: more lines than {shorter} ({shorter} has {lineno})")


def pairs_from_tsv(path: str, opts: DecodeSettings) -> Iterator[Pair]:
    """Lines ``source TAB target``; a blank line is an empty pair; other lines are refused."""
    where = STDIN if path == "-" else path
    for lineno, line in enumerate(read_lines(path, opts.strict_utf8, display.warn), start=1):
        fields = line.split("\t")
        if len(fields) == 1 and is_blank(line):
            yield Pair(lineno, "", "")
        elif len(fields) == 2:
            yield Pair(lineno, fields[0], fields[1])
        else:
            raise DataError(f"{where}, line {lineno}: expected source TAB target, found {len(fields)} fields")


def pairs_from_nbest(nbest: str, src: str, opts: DecodeSettings) -> Iterator[Pair]:
    """A Moses n-best list (``id ||| hyp ||| score``, ids 0-based lines of ``src``) and its source."""
    sources = read_all_lines(src, opts.strict_utf8, display.warn)
    where = STDIN if nbest == "-" else nbest
    for lineno, line in enumerate(read_lines(nbest, opts.strict_utf8, display.warn), start=1):
        fields = line.split(NBEST_SEP)
        if len(fields) < 3 or not fields[0].strip().isdigit():
            raise DataError(f"{where}, line {lineno}: not an n-best line (id ||| hypothesis ||| score)")
        index = int(fields[0])
        if index >= len(sources):
            raise DataError(f"{where}, line {lineno}: id {index}, but {src} has {len(sources)} lines")
        yield Pair(lineno, sources[index], fields[1], index, fields[2].strip())


# ------------------------------------------------------------------------------------------ scoring


class ForcedScorer:
    """Pairs -> scores with one model or an ensemble: batched by source length, stepwise."""

    def __init__(
        self, model: StepModel, tok: Tokenizer, opts: DecodeSettings, device: torch.device | None = None
    ) -> None:
        self.model, self.tok, self.opts = model, tok, opts
        self.device = device or torch.device("cpu")
        self.precision = devices.precision(self.device, opts.quantize)

    def score(self, pairs: Sequence[Pair]) -> list[Score]:
        todo = [k for k, p in enumerate(pairs) if not is_blank(p.src)]
        srcs = self.tok.encode_src([pairs[k].src.strip() for k in todo])
        tgts = self.tok.encode_tgt([pairs[k].tgt.strip() for k in todo])
        out = [Score(None, 0) for _ in pairs]
        for k, ids in zip(todo, srcs):
            if len(ids) > self.opts.max_src_len:
                display.warn(
                    f"line {pairs[k].lineno}: {len(ids)} source pieces, longer than --max-src-len "
                    f"{self.opts.max_src_len}; cropped"
                )
        order = sorted(range(len(todo)), key=lambda i: (len(srcs[i]), len(tgts[i])))
        size = self.opts.batch_size or 64
        for start in range(0, len(order), size):
            group = order[start : start + size]
            totals = self._batch([srcs[i][: self.opts.max_src_len] for i in group], [tgts[i] for i in group])
            for i, total in zip(group, totals):
                out[todo[i]] = Score(total, len(tgts[i]) + 1)
        return out

    @torch.inference_mode()
    def _batch(self, srcs: list[list[int]], tgts: list[list[int]], eos: bool = True) -> list[float]:
        """Source and target id lists -> total log-probabilities of the targets' pieces and (``eos``)
        their EOS, teacher forced."""
        src, lengths = source_batch(srcs)
        gold = pad(tgts, suffix=EOS_ID if eos else PAD_ID).to(self.device)  # (B, T)
        inputs = pad(tgts, prefix=BOS_ID).to(self.device)  # (B, T)
        real = gold.ne(PAD_ID)
        totals = torch.zeros(len(srcs), dtype=torch.float64, device=self.device)
        with devices.autocast(self.device, self.precision):
            memory, state = self.model.encode(src.to(self.device), lengths)
            for t in range(gold.size(1)):
                logp, _, state = self.model.log_probs(inputs[:, t], memory, state)  # (B, n_out)
                picked = logp.gather(1, self.model.to_positions(gold[:, t]).unsqueeze(1)).squeeze(1)
                totals += torch.where(real[:, t], picked.double(), 0.0)
        return totals.tolist()


# ------------------------------------------------------------------------------------------ output


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def format_line(pair: Pair, score: Score, json_out: bool) -> str:
    """One output line: ``total TAB normalised`` (an n-best line with its score replaced by the
    normalised one), or a JSON object."""
    if json_out:
        obj: dict[str, Any] = {
            "id": pair.lineno - 1,
            "src": pair.src,
            "tgt": pair.tgt,
            "score": score.total,
            "normalised": score.normalised,
            "pieces": score.pieces,
        }
        if pair.nbest_id is not None:
            obj.update(id=pair.nbest_id, line=pair.lineno - 1, old_score=pair.old_score)
        return json.dumps(obj, ensure_ascii=False, sort_keys=True)
    if pair.nbest_id is not None:
        return NBEST_SEP.join([str(pair.nbest_id), pair.tgt, _number(score.normalised)])
    if score.total is None:
        return ""
    return f"{_number(score.total)}\t{_number(score.normalised)}"


def _chunks(pairs: Iterator[Pair]) -> Iterator[list[Pair]]:
    chunk: list[Pair] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reranked(scored: Iterator[tuple[Pair, Score]]) -> Iterator[str]:
    """n-best lines (grouped by id, as translate writes them) -> the best-scoring hypothesis per id."""
    best: tuple[int, float, str] | None = None
    done: set[int] = set()
    for pair, score in scored:
        assert pair.nbest_id is not None
        value = float("-inf") if score.normalised is None else score.normalised
        if best is not None and best[0] != pair.nbest_id:
            yield best[2]
            done.add(best[0])
            best = None
        if pair.nbest_id in done:
            raise DataError(
                f"line {pair.lineno} of the n-best list: id {pair.nbest_id} again after other ids "
                "(--rerank needs each id's hypotheses together, as translate --nbest writes them)"
            )
        if best is None or value > best[1]:
            best = (pair.nbest_id, value, pair.tgt)
    if best is not None:
        yield best[2]


def score_stream(
    model_paths: Sequence[str], pairs: Iterator[Pair], output: str, opts: DecodeSettings, rerank: bool = False
) -> int:
    """Score ``pairs`` and write one line each to ``output`` (``-`` = stdout; a file is written whole
    or not at all), or with ``rerank`` (n-best input) the best hypothesis of each source line.
    Returns the lines written."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    model, tok, device = load_models(model_paths, opts)
    scorer = ForcedScorer(model, tok, opts, device)

    def scored() -> Iterator[tuple[Pair, Score]]:
        for chunk in _chunks(pairs):
            yield from zip(chunk, scorer.score(chunk))

    written = 0
    with open_output(output) as out:
        lines = _reranked(scored()) if rerank else (format_line(p, s, opts.json_out) for p, s in scored())
        for line in lines:
            write_line(out, line)
            written += 1
            if written % CHUNK == 0:
                out.flush()
    return written


def open_pairs(inputs: Sequence[str], nbest: str | None, opts: DecodeSettings) -> Iterator[Pair]:
    """The pairs of ``nmt score``'s arguments: SRC TGT files, one TSV (``-`` = stdin), or an n-best
    list with its source (``--nbest FILE`` and one SRC argument)."""
    if nbest is not None:
        return pairs_from_nbest(nbest, inputs[0], opts)
    if len(inputs) == 2:
        return pairs_from_files(inputs[0], inputs[1], opts)
    path = inputs[0] if inputs else "-"
    if path != "-" and not os.path.exists(path):
        raise DataError(f"{path}: cannot read: no such file")
    return pairs_from_tsv(path, opts)
