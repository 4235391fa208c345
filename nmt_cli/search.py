"""Batched greedy and beam search, returning ids, scores and attention.

Greedy search streams: sentences leave the batch as they end and waiting ones join it, so few steps
run on a handful of rows (1.9-4.8 ms a step on 1-4 rows against 0.10-0.14 ms a row on full steps);
the padding of joined memories costs about what that saves so far (bench/README.md, search_parts.py).

Beam search is vectorised over batch × beam: at each step the 2k best continuations of every
sentence are taken, those ending in EOS among the top k are set aside as finished, and the k best
that do not end become the new beam. A sentence is done when it holds k finished hypotheses; the
loop stops when every sentence is done. At a sentence's length cap only EOS is allowed, so every
search ends. Scores are GNMT length-normalised: log p / ((5 + |y|) / 6) ** alpha.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt_cli.tokenizer import BOS_ID, EOS_ID


class Rows(Protocol):
    """Per-row search state (a model's memory or recurrent state): rows picked by ``select``, the
    rows of sentences joining a search appended by ``cat``."""

    def select(self, index: Tensor) -> Any: ...

    def cat(self, other: Any) -> Any: ...


class StepModel(Protocol):
    """What search needs of a model: a ``Seq2Seq`` or an ``Ensemble`` of them."""

    def encode(self, src: Tensor, lengths: Tensor) -> tuple[Any, Any]: ...

    def log_probs(self, y: Tensor, memory: Any, state: Any) -> tuple[Tensor, Tensor, Any]: ...

    def to_ids(self, positions: Tensor) -> Tensor: ...

    def to_positions(self, ids: Tensor) -> Tensor: ...


@dataclass
class Hypothesis:
    ids: list[int]  # target ids, without EOS
    score: float  # length-normalised log-probability
    attention: Tensor  # (len(ids) + 1, S): one row per output piece, the last for EOS


def length_penalty(length: int | Tensor, alpha: float) -> float | Tensor:
    return ((5.0 + length) / 6.0) ** alpha


def _force_eos(logp: Tensor, at_cap: Tensor) -> Tensor:
    """Rows where ``at_cap`` may only produce EOS (log-prob 0). Output position EOS_ID is EOS."""
    if not bool(at_cap.any()):
        return logp
    forced = torch.full_like(logp, float("-inf"))
    forced[:, EOS_ID] = 0.0
    return torch.where(at_cap.unsqueeze(1), forced, logp)


# (src (n, S) on the search's device, lengths (n,), output caps (n,)) for up to n waiting sentences, or
# None when none are waiting.
Source = Callable[[int], tuple[Tensor, Tensor, Tensor] | None]


@torch.inference_mode()
def greedy(
    model: StepModel, src: Tensor, lengths: Tensor, max_lens: Tensor, alpha: float = 0.0
) -> list[Hypothesis]:
    """src (B, S), lengths (B,), max_lens (B,) output caps -> one hypothesis per sentence."""
    given = [(src, lengths, max_lens.to(src.device))]
    return greedy_stream(model, lambda n: given.pop() if given else None, src.size(0), alpha)


@torch.inference_mode()
def greedy_stream(model: StepModel, source: Source, rows: int, alpha: float = 0.0) -> list[Hypothesis]:
    """Greedy search of every sentence ``source`` gives, at most ``rows`` at a time -> one hypothesis
    per sentence, in the order given.

    Sentences leave the batch as soon as they end; whenever at most half the rows are left, waiting
    sentences join (encoded then, their memory and state appended), so a batch's last sentences do not
    run alone. Each row's output is capped by its own step count.
    """
    first = source(rows)
    if first is None:
        return []
    live = _Live(first[0].device)
    live.join(model, *first)
    steps: list[tuple[Tensor, Tensor, Tensor]] = []  # per step: (sentence, token, attention (R, S_t))
    while True:
        if live.size() <= rows // 2:
            joining = source(rows - live.size())
            if joining is not None:
                live.join(model, *joining)
        if not live.size():
            break
        logp, attn, state = model.log_probs(live.y, live.memory, live.state)
        logp = _force_eos(logp, live.done >= live.caps)
        best, pos = (x.squeeze(1) for x in logp.topk(1, dim=-1))  # topk as in beam search: same ties
        live.y, live.state = model.to_ids(pos), state
        steps.append((live.who, live.y, attn))
        live.total.index_add_(0, live.who, best.double())
        live.done += 1
        going = live.y.ne(EOS_ID)
        if not bool(going.all()):
            live.keep(going.nonzero().squeeze(1))
    return live.hypotheses(steps, alpha)


class _Live:
    """Greedy search's rows: one per live sentence (``who``: its number in the order given)."""

    def __init__(self, device: torch.device) -> None:
        self.memory: Any = None
        self.state: Any = None
        self.y = self.who = self.caps = self.done = torch.zeros(0, dtype=torch.long, device=device)
        self.lengths: list[int] = []  # source length of every sentence given
        self.total = torch.zeros(0, dtype=torch.float64, device=device)  # summed log-probs of each

    def size(self) -> int:
        return self.y.numel()

    def join(self, model: StepModel, src: Tensor, lengths: Tensor, caps: Tensor) -> None:
        """Sentences src (n, S), lengths (n,), caps (n,) join, after the live ones."""
        memory, state = model.encode(src, lengths)
        dev, n, first = src.device, src.size(0), len(self.lengths)
        self.lengths += lengths.tolist()
        self.total = torch.cat([self.total, torch.zeros(n, dtype=torch.float64, device=dev)])
        joined = torch.arange(first, first + n, device=dev)
        bos = torch.full((n,), BOS_ID, dtype=torch.long, device=dev)
        if not self.size():  # (the first sentences, or all before them have ended)
            self.memory, self.state = memory, state
            self.y, self.who, self.caps, self.done = bos, joined, caps, torch.zeros_like(joined)
            return
        self.memory, self.state = self.memory.cat(memory), self.state.cat(state)
        self.y, self.who = torch.cat([self.y, bos]), torch.cat([self.who, joined])
        self.caps, self.done = torch.cat([self.caps, caps]), torch.cat([self.done, torch.zeros_like(joined)])

    def keep(self, index: Tensor) -> None:
        """Only rows ``index`` go on."""
        self.memory, self.state = self.memory.select(index), self.state.select(index)
        self.y, self.who, self.caps, self.done = (x[index] for x in (self.y, self.who, self.caps, self.done))

    def hypotheses(self, steps: list[tuple[Tensor, Tensor, Tensor]], alpha: float) -> list[Hypothesis]:
        """Every sentence's tokens and attention rows, gathered from the steps in order."""
        if not steps:
            return []
        width = max(a.size(1) for _, _, a in steps)
        who = torch.cat([w for w, _, _ in steps]).cpu()
        order = torch.argsort(who, stable=True)  # each sentence's rows, in step order
        tokens = torch.cat([y for _, y, _ in steps]).cpu()[order]
        attns = torch.cat([F.pad(a.float(), (0, width - a.size(1))) for _, _, a in steps]).cpu()[order]
        counts = torch.bincount(who, minlength=len(self.lengths)).tolist()
        total, out, start = self.total.cpu(), [], 0
        for b, n in enumerate(counts):
            score = float(total[b]) / float(length_penalty(n, alpha))
            ids = tokens[start : start + n - 1].tolist()  # (without the EOS)
            out.append(Hypothesis(ids, score, attns[start : start + n, : self.lengths[b]].clone()))
            start += n
        return out


@torch.inference_mode()
def beam_search(
    model: StepModel,
    src: Tensor,
    lengths: Tensor,
    max_lens: Tensor,
    beam: int,
    alpha: float = 0.6,
    nbest: int = 1,
) -> list[list[Hypothesis]]:
    """src (B, S) -> for each sentence its ``nbest`` best hypotheses, best first.

    Rows are sentence-major (k rows per sentence) and share their sentence's encoder memory; a
    sentence leaves the batch once it is done. Histories are kept as per-step back-pointers and
    read back only for the hypotheses returned.
    """
    batch, k = src.size(0), beam
    memory, state = model.encode(src, lengths)
    dev = src.device  # everything below lives there; the hypotheses come back to the CPU
    state = state.select(torch.arange(batch, device=dev).repeat_interleave(k))  # (B*k rows)
    sent = torch.arange(batch, device=dev)  # original index of each sentence still searching
    # float64 sums: adding a float32 log-prob to them is exact, so candidates of one beam keep the
    # order of their log-probs and beam 1 chooses exactly what greedy chooses.
    scores = torch.full((batch, k), float("-inf"), dtype=torch.float64, device=dev)
    scores[:, 0] = 0.0  # only one live beam at the start
    y = torch.full((batch * k,), BOS_ID, dtype=torch.long, device=dev)
    trail = _Trail()
    finished: list[list[tuple[float, int, int]]] = [[] for _ in range(batch)]  # (score, step, row)
    caps = max_lens.to(dev).repeat_interleave(k)
    for t in range(int(max_lens.max()) + 1):
        logp, attn, state = model.log_probs(y, memory, state)
        trail.attention(attn)
        logp = _force_eos(logp, t >= caps)  # (A*k, V)
        top_scores, origin, positions = _candidates(logp, scores, k)  # (A, 2k) each
        token = model.to_ids(positions)
        is_eos = token.eq(EOS_ID)
        _set_aside(finished, sent, top_scores, origin, is_eos, k, float(length_penalty(t + 1, alpha)), t)
        going = torch.tensor([len(finished[b]) < k for b in sent.tolist()], device=dev)
        if not bool(going.any()):
            break
        scores, alive_pos = top_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=1)  # (A, k)
        pick = origin.gather(1, alive_pos).view(-1)
        y = token.gather(1, alive_pos).view(-1)
        if not bool(going.all()):  # done sentences leave the batch
            keep_rows = going.repeat_interleave(k)
            sent, scores, pick, y, caps = (
                sent[going],
                scores[going],
                pick[keep_rows],
                y[keep_rows],
                caps[keep_rows],
            )
            memory = memory.select(going.nonzero().squeeze(1))
        state = state.select(pick)
        trail.step(pick, y)
    return [_best(finished[b], trail, int(lengths[b]), nbest) for b in range(batch)]


def _candidates(logp: Tensor, scores: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """logp (A*k, V) log-probs of the next piece, scores (A, k) of the beams -> each sentence's 2k best
    continuations: their scores (A, 2k) in float64, the rows (A, 2k) they extend, their output positions."""
    n_sent, width = scores.size(0), min(2 * k, logp.size(1))
    row_lp, row_tok = logp.topk(width, dim=1)  # (A*k, 2k): no beam needs more of its row
    cand = (scores.view(-1, 1) + row_lp.double()).view(n_sent, k * width)
    top_scores, top_idx = cand.topk(min(2 * k, k * width), dim=1)  # (A, 2k)
    rows = torch.arange(n_sent, device=logp.device) * k
    origin = top_idx // width + rows.unsqueeze(1)  # rows of the beams extended
    return top_scores, origin, row_tok.view(n_sent, k * width).gather(1, top_idx)


def _set_aside(
    finished: list[list[tuple[float, int, int]]],
    sent: Tensor,
    top_scores: Tensor,
    origin: Tensor,
    is_eos: Tensor,
    k: int,
    penalty: float,
    t: int,
) -> None:
    """Candidates (A, 2k) among each sentence's k best that end with EOS -> finished (score, t, row)."""
    in_top = torch.arange(top_scores.size(1), device=top_scores.device) < k
    ends = is_eos & in_top.unsqueeze(0) & torch.isfinite(top_scores)
    if bool(ends.any()):
        where = ends.nonzero()
        a, j = where[:, 0], where[:, 1]
        found = zip(sent[a].tolist(), (top_scores[a, j] / penalty).tolist(), origin[a, j].tolist())
        for b, norm, row in found:
            finished[b].append((norm, t, row))


class _Trail:
    """Beam histories as back-pointers: per step, the attention of every row, and for every row
    of the next step its parent row and token. A finished hypothesis is read back in O(length)."""

    def __init__(self) -> None:
        self.attns: list[Tensor] = []  # step t: (R_t, S)
        self.parents: list[Tensor] = []  # step t: (R_t+1,) rows of step t
        self.tokens: list[Tensor] = []  # step t: (R_t+1,) token chosen at step t
        self._lists: tuple[list[list[int]], list[list[int]]] | None = None

    def attention(self, attn: Tensor) -> None:
        self.attns.append(attn)

    def step(self, parents: Tensor, tokens: Tensor) -> None:
        self.parents.append(parents)
        self.tokens.append(tokens)

    def read(self, t: int, row: int) -> tuple[list[int], Tensor]:
        """The hypothesis that ended (with EOS) at step t in ``row`` -> ids, attention (t + 1, S)."""
        if self._lists is None:
            self._lists = [p.tolist() for p in self.parents], [x.tolist() for x in self.tokens]
        parents, tokens = self._lists
        rows = [row]
        for s in range(t - 1, -1, -1):
            rows.append(parents[s][rows[-1]])
        rows.reverse()  # rows[s]: the hypothesis's row at step s
        ids = [tokens[s][rows[s + 1]] for s in range(t)]
        return ids, torch.stack([self.attns[s][rows[s]] for s in range(t + 1)])


def _best(found: list[tuple[float, int, int]], trail: _Trail, src_len: int, nbest: int) -> list[Hypothesis]:
    out = []
    for score, t, row in sorted(found, key=lambda f: -f[0])[:nbest]:
        ids, attn = trail.read(t, row)
        out.append(Hypothesis(ids, score, attn[:, :src_len].cpu()))
    return out
