"""Translate with an exported nmt model: ``python model.pyz [INPUT] [-o OUTPUT] < in > out``.

This file is the artifact's ``__main__.py`` (``nmt export`` copies it into the zip next to the two
``torch.export`` programs, the SentencePiece models and ``meta.json``). It needs Python, torch and
sentencepiece, nothing of nmt: it imports only those and the standard library, and defines the one
custom operator the encoder program calls (``nmt_export::encoder_rnn``), since a traced program cannot
hold a recurrence over a dynamic number of steps.

It translates as ``nmt translate --beam 1`` does: one output line per input line (blank lines give
empty lines without reaching the model), sources cropped at the model's ``--max-src-len`` pieces,
sorted by length within chunks and batched, greedy search with the same length caps, sentences
leaving the batch when they end. Exit codes: 0 done, 1 unreadable input or output, 2 bad usage.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import select
import sys
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import sentencepiece as spm
import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
CHARS_PER_PIECE = 16  # SentencePiece's longest piece: N pieces never span more characters than 16 N


@torch.library.custom_op("nmt_export::encoder_rnn", mutates_args=())
def encoder_rnn(
    x: Tensor, lengths: Tensor, weights: list[Tensor], lstm: bool, layers: int
) -> tuple[Tensor, Tensor, Tensor]:
    """A bidirectional batch-first GRU/LSTM over padded x (B, S, E) with lengths (B,), packed.

    weights: the layer's flat weights in ``nn.GRU``/``nn.LSTM`` order. -> states (B, S, 2H) (zeros at
    padding), final h and c (2L, B, H) in (layer, direction) order (c: empty for a GRU).
    """
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    hidden = weights[1].size(1)
    h0 = x.new_zeros(2 * layers, x.size(0), hidden)
    data, batch_sizes = packed.data, packed.batch_sizes
    if lstm:
        out, h, c = torch.lstm(data, batch_sizes, [h0, h0], weights, True, layers, 0.0, False, True)
    else:
        out, h = torch.gru(data, batch_sizes, h0, weights, True, layers, 0.0, False, True)
        c = x.new_zeros(0)
    unsorted = packed.unsorted_indices
    assert unsorted is not None  # (enforce_sorted=False)
    states, _ = pad_packed_sequence(
        PackedSequence(out, batch_sizes, packed.sorted_indices, unsorted),
        batch_first=True,
        total_length=x.size(1),
    )
    if lstm:
        c = c.index_select(1, unsorted)
    return states, h.index_select(1, unsorted), c


@encoder_rnn.register_fake
def _encoder_rnn_shapes(
    x: Tensor, lengths: Tensor, weights: list[Tensor], lstm: bool, layers: int
) -> tuple[Tensor, Tensor, Tensor]:
    hidden = weights[1].size(1)
    final = x.new_empty(2 * layers, x.size(0), hidden)
    return x.new_empty(x.size(0), x.size(1), 2 * hidden), final, final.clone() if lstm else x.new_empty(0)


class Artifact:
    """The zip's contents: programs, tokenizers and settings."""

    def __init__(self, path: str) -> None:
        with zipfile.ZipFile(path) as zf:
            self.meta: dict[str, Any] = json.loads(zf.read("meta.json"))
            self.encode = torch.export.load(io.BytesIO(zf.read("encode.pt2"))).module()
            self.step = torch.export.load(io.BytesIO(zf.read("step.pt2"))).module()
            self.src = _spm(zf.read("src.model"))
            self.tgt = _spm(zf.read("tgt.model"))
        self.out_ids = torch.tensor(self.meta["out_ids"], dtype=torch.long)
        dims = self.meta["row_dims"]
        self.memory_dims = [dims[name] for name in self.meta["memory"]]
        self.state_dims = [dims[name] for name in self.meta["state"]]


def _spm(proto: bytes) -> spm.SentencePieceProcessor:
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    return sp


def _rows(tensors: Sequence[Tensor], dims: Sequence[int], keep: Tensor) -> tuple[Tensor, ...]:
    return tuple(t.index_select(d, keep) for t, d in zip(tensors, dims))


@torch.inference_mode()
def greedy(art: Artifact, seqs: Sequence[list[int]], max_len_ratio: float, max_len: int) -> list[list[int]]:
    """Source id lists (one batch) -> output id lists, as nmt's ``search.greedy``."""
    lengths = torch.tensor([len(s) + 1 for s in seqs], dtype=torch.long)  # with EOS
    src = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        src[i, : len(s) + 1] = torch.tensor(s + [EOS_ID], dtype=torch.long)
    caps = torch.clamp((lengths.float() * max_len_ratio).long() + 10, max=max_len)
    memory, state = art.encode(src, lengths)
    batch, steps = src.size(0), int(caps.max()) + 1
    active, y = torch.arange(batch), torch.full((batch,), BOS_ID, dtype=torch.long)
    ids = torch.full((batch, steps), EOS_ID, dtype=torch.long)
    out_len = torch.zeros(batch, dtype=torch.long)
    for t in range(steps):
        logp, _, state = art.step(y, memory, state)
        at_cap = t >= caps
        if bool(at_cap.any()):  # only EOS at a sentence's cap
            forced = torch.full_like(logp, float("-inf"))
            forced[:, EOS_ID] = 0.0
            logp = torch.where(at_cap.unsqueeze(1), forced, logp)
        y = art.out_ids[logp.topk(1, dim=-1)[1].squeeze(1)]
        ids[active, t] = y
        out_len[active] += 1
        going = y.ne(EOS_ID)
        if not bool(going.any()):
            break
        if not bool(going.all()):
            keep = going.nonzero().squeeze(1)
            active, y, caps = active[keep], y[keep], caps[keep]
            memory = _rows(memory, art.memory_dims, keep)
            state = _rows(state, art.state_dims, keep)
    return [ids[b, : int(out_len[b]) - 1].tolist() for b in range(batch)]


def _ready(fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def chunks(fd: int, size: int) -> Iterator[list[bytes]]:
    """Lines (without ``\\n``) in chunks of ``size``; a chunk ends early when no more input is ready."""
    buf, eof = b"", False
    lines: list[bytes] = []
    while True:
        while len(lines) < size and not eof and (not lines or _ready(fd)):
            data = os.read(fd, 1 << 16)
            if not data:
                eof = True
                break
            *complete, buf = (buf + data).split(b"\n")
            lines += complete
        if eof and buf:
            lines, buf = lines + [buf], b""
        if not lines:
            return
        yield lines[:size]
        lines = lines[size:]


def _warn(message: str) -> None:
    print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr)


def translate_chunk(art: Artifact, raw: list[bytes], first: int, batch_size: int) -> list[str]:
    """Raw lines -> translations, one per line."""
    decode = art.meta["decode"]
    limit = int(decode["max_src_len"])
    texts = []
    for i, line in enumerate(raw):
        line = line[:-1] if line.endswith(b"\r") else line
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            _warn(f"line {first + i}: invalid UTF-8 at byte {err.start}, replaced with U+FFFD")
            text = line.decode("utf-8", errors="replace")
        texts.append(text.strip()[: limit * CHARS_PER_PIECE])
    todo = [i for i, text in enumerate(texts) if text]
    seqs = art.src.Encode([texts[i] for i in todo])
    for i, ids in zip(todo, seqs):
        if len(ids) > limit:
            _warn(f"line {first + i}: {len(ids)} pieces, longer than --max-src-len {limit}; cropped")
            del ids[limit:]
    order = sorted(range(len(todo)), key=lambda k: len(seqs[k]))
    out = [""] * len(raw)
    for start in range(0, len(order), batch_size):
        group = order[start : start + batch_size]
        hyps = greedy(art, [seqs[k] for k in group], float(decode["max_len_ratio"]), int(decode["max_len"]))
        for k, ids in zip(group, hyps):
            out[todo[k]] = art.tgt.Decode([i for i in ids if i > EOS_ID or i == UNK_ID])
    return out


def main(argv: Sequence[str] | None = None, path: str | None = None) -> int:
    here = path or os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(
        prog=os.path.basename(here),
        description="Translate lines with an exported nmt model (greedy search): one output line "
        "per input line. Exit codes: 0 done, 1 unreadable input or output, 2 bad usage.",
    )
    parser.add_argument("input", nargs="?", default="-", help="input file; - (default): stdin")
    parser.add_argument("-o", "--output", default="-", help="output file; - (default): stdout")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="sentences per batch (0: the model's default)"
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--info", action="store_true", help="print the artifact's meta.json and exit")
    args = parser.parse_args(argv)
    art = Artifact(here)
    if args.info:
        print(json.dumps(art.meta, indent=2, sort_keys=True))
        return 0
    if args.batch_size < 0 or args.threads < 0:
        parser.error("--batch-size and --threads must be at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch_size or int(art.meta["decode"]["batch_size"])
    try:
        fd = sys.stdin.fileno() if args.input == "-" else os.open(args.input, os.O_RDONLY)
        out = sys.stdout if args.output == "-" else open(args.output + ".tmp", "w", encoding="utf-8")
    except OSError as err:
        _warn(f"{err.filename}: {err.strerror}")
        return 1
    first = 1
    try:
        for raw in chunks(fd, 4 * batch):
            for line in translate_chunk(art, raw, first, batch):
                out.write(line + "\n")
            out.flush()
            first += len(raw)
    except BrokenPipeError:  # the reader left (| head): stop quietly, as nmt translate does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if out is not sys.stdout:
        out.close()
        os.replace(args.output + ".tmp", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
