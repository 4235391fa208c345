"""The filter report: for each split, how many pairs were read and kept, and what each rule did.

Every drop and every repair is counted under its rule with the first ``EXAMPLES`` line numbers, so a
user can look at the lines themselves. ``nmt prepare`` writes it to DATA/report.json and prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

EXAMPLES = 5  # line numbers kept per rule


@dataclass
class RuleCount:
    """How often one rule fired, and the first ``EXAMPLES`` line numbers where it did."""

    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, lineno: int) -> None:
        self.count += 1
        if len(self.lines) < EXAMPLES:
            self.lines.append(lineno)


@dataclass
class SplitReport:
    """What happened to one split: totals, drops per rule, repairs.

    ``total`` counts every pair (row) read, so for train ``total == kept + dropped + carved_out``.
    """

    lines_of: str = ""
    total: int = 0
    kept: int = 0
    dropped: dict[str, RuleCount] = field(default_factory=dict)
    repaired: dict[str, RuleCount] = field(default_factory=dict)
    carved_out: dict[str, int] = field(default_factory=dict)  # pairs moved to dev/test

    def expect(self, dropped: Sequence[str], repaired: Sequence[str]) -> None:
        """List these rules in the report (in this order) even if they never fire."""
        for rule in dropped:
            self.dropped.setdefault(rule, RuleCount())
        for rule in repaired:
            self.repaired.setdefault(rule, RuleCount())

    def drop(self, rule: str, lineno: int) -> None:
        self.dropped.setdefault(rule, RuleCount()).add(lineno)

    def repair(self, rule: str, lineno: int) -> None:
        self.repaired.setdefault(rule, RuleCount()).add(lineno)

    def to_json(self, texts: dict[str, str]) -> dict[str, Any]:
        """The report as JSON, each rule with its count, first lines and ``texts[rule]`` (what it means)."""

        def entries(counts: dict[str, RuleCount]) -> dict[str, Any]:
            return {
                k: {"count": v.count, "first_lines": v.lines, "rule": texts.get(k, k)}
                for k, v in counts.items()
            }

        return {
            "lines_of": self.lines_of,
            "total": self.total,
            "kept": self.kept,
            "dropped": entries(self.dropped),
            "repaired": entries(self.repaired),
            "carved_out": self.carved_out,
        }
