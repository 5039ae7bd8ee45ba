"""Accuracy against labels: the table `cosmos-reason eval` prints and writes, and `cosmos-reason
report` shows in its accuracy section.

A row takes part when it has an ``is_correct`` key (eval's rows; the benchmark's own output rows
too). Every such row is a question asked: ``is_correct`` other than True (False, or null for an
item without an answer or with an error) counts as wrong, as the Cosmos-Reason1 benchmark script
counts an unanswered question; empty answers and error lines are also counted under ``empty`` /
``errors`` so the table says how many.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NO_SOURCE = "(no source)"


def _bucket() -> dict[str, Any]:
    return {"count": 0, "correct": 0, "accuracy": None, "empty": 0, "errors": 0}


def accuracy_table(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """{"sources": {source: {count, correct, accuracy, empty, errors}} (sorted by source),
    "overall": {...}}; accuracy is correct / count, None when count is 0."""
    sources: dict[str, dict[str, Any]] = {}
    overall = _bucket()
    for row in rows:
        if not isinstance(row, Mapping) or "is_correct" not in row:
            continue
        source = row.get("source") or row.get("datasource")
        name = NO_SOURCE if source in (None, "") else str(source)
        for bucket in (sources.setdefault(name, _bucket()), overall):
            bucket["count"] += 1
            bucket["correct"] += row["is_correct"] is True
            if row.get("error"):
                bucket["errors"] += 1
            elif not row.get("answer"):
                bucket["empty"] += 1
    for bucket in (*sources.values(), overall):
        bucket["accuracy"] = bucket["correct"] / bucket["count"] if bucket["count"] else None
    return {"sources": dict(sorted(sources.items())), "overall": overall}


def format_table(table: dict[str, Any]) -> str:
    """The table as text: one line per source, then overall."""
    lines = [f"{'source':<24} {'questions':>9} {'correct':>8} {'accuracy':>9} {'empty':>6} {'errors':>7}"]
    entries = list(table["sources"].items()) + [("overall", table["overall"])]
    for name, b in entries:
        accuracy = "-" if b["accuracy"] is None else f"{100 * b['accuracy']:.2f}%"
        lines.append(f"{name:<24} {b['count']:>9} {b['correct']:>8} {accuracy:>9} {b['empty']:>6} {b['errors']:>7}")
    return "\n".join(lines)
