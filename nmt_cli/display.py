"""Everything people look at: the stderr console, tables, progress and the attention heatmap.

Nothing here writes to stdout: Rich wraps lines and interprets ``[...]`` markup, so data never
goes through it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

_console: Console | None = None


def console() -> Console:
    """The shared stderr console (colour off with NO_COLOR or when stderr is not a terminal)."""
    global _console
    if _console is None:
        _console = Console(stderr=True, highlight=False, no_color="NO_COLOR" in os.environ, soft_wrap=True)
    return _console


def warn(message: str) -> None:
    console().print(Text(f"nmt: warning: {message}", style="yellow"))


def info(message: str) -> None:
    console().print(Text(f"nmt: {message}"))


def show_filter_report(report: dict[str, Any], out: Path) -> None:
    """One table: for every split, kept/total, then each rule's count and first line numbers.

    Rules that dropped nothing are listed too (dimmed), so the table says what was checked. What each
    rule means is shown on wide consoles (it is always in report.json).
    """
    wide = console().width >= 120
    table = Table(title=f"nmt prepare → {out}", title_justify="left", caption_justify="left")
    for name in ("split", "rule", "count", "first lines", *(["meaning"] if wide else [])):
        table.add_column(
            name, justify="right" if name == "count" else "left", style="dim" * (name == "meaning")
        )
    sources = []
    for split, rep in report.items():
        table.add_row(
            Text(split, style="bold"),
            Text("kept / total", style="bold"),
            f"{rep['kept']:,} / {rep['total']:,}",
        )
        fired = False
        for kind in ("dropped", "repaired"):
            for rule, entry in rep[kind].items():
                fired = fired or entry["count"] > 0
                style = "" if entry["count"] else "dim"
                cells: list[Text | str] = [
                    Text(rule if kind == "dropped" else f"{rule} (repaired)", style=style),
                    Text(f"{entry['count']:,}", style=style),
                    ", ".join(f"{n:,}" for n in entry["first_lines"]),
                ]
                table.add_row("", *cells, *([entry["rule"]] if wide else []))
        for name, count in rep.get("carved_out", {}).items():
            table.add_row(
                "", f"moved to {name}", f"{count:,}", "", *(["held out by source hash"] if wide else [])
            )
        if fired and rep.get("lines_of"):
            sources.append(f"{split}: {rep['lines_of']}")
        table.add_section()
    if sources:
        table.caption = "line numbers are " + "; ".join(sources)
    console().print(table)


# Each weight is drawn as a character (readable without colour, in logs and with NO_COLOR) and,
# on a colour terminal, in a matching shade.
_GLYPHS = " ·░▒▓█"
_COLOURS = ["grey23", "grey42", "grey58", "grey74", "grey89", "bright_white"]


def _glyph(weight: float) -> tuple[str, str]:
    level = min(len(_GLYPHS) - 1, max(0, int(weight * (len(_GLYPHS) - 1) + 0.5)))
    return _GLYPHS[level], _COLOURS[level]


def piece_label(piece: str) -> str:
    """'▁word' -> 'word'; a piece inside a word gets a leading '·' ('erca' -> '·erca')."""
    if piece.startswith("\u2581"):
        return piece[1:] or "▁"
    return piece if piece.startswith("<") else "·" + piece


def heatmap(
    src: Sequence[str], tgt: Sequence[str], weights: Sequence[Sequence[float]], title: str = ""
) -> None:
    """Draw attention: source labels across, target labels down, shade = weight (rows sum to 1).

    Source labels run top-down above their column. Wide sources are folded into blocks of columns
    that fit the terminal, each repeating the target labels, so 60-piece sentences stay readable.
    """
    con = console()
    src_l, tgt_l = list(src), list(tgt)
    label_w = min(16, max((len(t) for t in tgt_l), default=1))
    cell_w = 3
    per_block = max(1, (max(con.width, 40) - label_w - 2) // cell_w)
    if title:
        con.print(Text(title, style="bold"))
    for start in range(0, len(src_l), per_block):
        _heat_block(src_l, tgt_l, weights, start, min(len(src_l), start + per_block), label_w, cell_w)
    legend = Text(" " * (label_w + 1) + "weight 0 ")
    for glyph, colour in zip(_GLYPHS, _COLOURS):
        legend.append(glyph * 2, style=colour)
    legend.append(" 1")
    con.print(legend, no_wrap=True, overflow="crop")


def _heat_block(
    src: Sequence[str],
    tgt: Sequence[str],
    weights: Sequence[Sequence[float]],
    start: int,
    stop: int,
    label_w: int,
    cell_w: int,
) -> None:
    con = console()
    height = min(12, max((len(s) for s in src[start:stop]), default=0))
    for row in range(height):  # vertical source labels, one character per line
        line = Text(" " * (label_w + 1))
        for s in src[start:stop]:
            line.append(f"{s[row] if row < len(s) else ' ':<{cell_w}}", style="cyan")
        con.print(line, no_wrap=True, overflow="crop")
    for i, piece in enumerate(tgt):
        line = Text(f"{piece[:label_w]:>{label_w}} ", style="magenta")
        for j in range(start, stop):
            glyph, colour = _glyph(float(weights[i][j]))
            line.append(glyph * (cell_w - 1) + " ", style=colour)
        con.print(line, no_wrap=True, overflow="crop")
    con.print()


class Progress:
    """Training progress on stderr: a Rich bar on a terminal, plain lines otherwise."""

    def __init__(self, start_step: int, max_steps: int, enabled: bool) -> None:
        self.enabled = enabled
        self.interactive = enabled and console().is_terminal
        self.max_steps = max_steps
        self.tokens, self.t0 = 0, 0.0
        self._bar: Any = None
        self._task: Any = None
        self.start_step = start_step

    def __enter__(self) -> Progress:
        import time

        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.t0 = time.monotonic()
        if self.interactive:
            self._bar = RichProgress(
                TextColumn("step {task.completed:>6.0f}"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console(),
                transient=False,
            )
            self._bar.__enter__()
            total = self.max_steps if self.max_steps else None
            self._task = self._bar.add_task("train", total=total, completed=self.start_step, status="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, step: int, loss: float, tokens: int, lr: float) -> None:
        import time

        self.tokens += tokens
        if self._bar is not None:
            rate = self.tokens / max(time.monotonic() - self.t0, 1e-9)
            status = f"loss {loss:6.3f}  {rate:7.0f} tok/s  lr {lr:.2e}"
            self._bar.update(self._task, completed=step, status=status)

    def log_step(self, record: dict[str, Any], lr: float, elapsed: float) -> None:
        """Without a terminal (a log file, CI): one plain line every ``--log-every`` updates."""
        if not self.enabled or self.interactive:
            return
        total = f"/{self.max_steps}" if self.max_steps else ""
        minutes, seconds = divmod(int(elapsed), 60)
        clock = f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
        console().print(
            Text(
                f"nmt: step {record['step']}{total}  epoch {record['epoch']}  loss {record['loss']:.3f}  "
                f"{record['tgt_tokens_per_s']:.0f} tok/s  lr {lr:.2e}  {clock}"
            )
        )

    def log_validation(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        parts = [
            f"step {record['step']}",
            f"epoch {record['epoch']}",
            f"train loss {record['train_loss']:.3f}",
        ]
        if "bleu" in record:
            parts += [
                f"dev loss {record['dev_loss']:.3f}",
                f"ppl {record['dev_ppl']:.2f}",
                f"BLEU {record['bleu']:.2f}",
                f"chrF {record['chrf']:.2f}",
            ]
            if record.get("best"):
                parts.append("(best)")
        console().print(Text("nmt: " + "  ".join(parts)))


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(_SPARKS[int((v - lo) / span * (len(_SPARKS) - 1))] for v in values)


def show_training_summary(run: Path, history: Sequence[dict[str, Any]]) -> None:
    """Dev BLEU and loss over the run as sparklines, and where the best checkpoint is."""
    con = console()
    scored = [h for h in history if "bleu" in h]
    if not scored:
        con.print(Text(f"nmt: training finished; checkpoints in {run}"))
        return
    best = max(scored, key=lambda h: h["bleu"])
    con.print(Text(f"nmt: dev BLEU  {sparkline([h['bleu'] for h in scored])}  last {scored[-1]['bleu']:.2f}"))
    con.print(
        Text(
            f"nmt: dev loss  {sparkline([h['dev_loss'] for h in scored])}  last {scored[-1]['dev_loss']:.3f}"
        )
    )
    con.print(Text(f"nmt: best BLEU {best['bleu']:.2f} at step {best['step']}; checkpoints in {run}"))
