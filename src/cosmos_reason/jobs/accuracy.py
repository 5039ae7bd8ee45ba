"""Accuracy of labelled answers: the table `cosmos-reason eval` prints and writes, and the report shows.

A row counts when it has an ``is_correct`` field (eval's rows; the benchmark's own output rows
too). Every such row is a question asked: an empty answer (none after every retry) or an error
line counts as wrong, and is also counted under ``empty`` / ``errors`` so the table says how many.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _bucket() -> dict[str, Any]:
    return {"count": 0, "correct": 0, "accuracy": None, "empty": 0, "errors": 0}


def accuracy_table(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """{"sources": {name: {count, correct, accuracy, empty, errors}}, "overall": {...}}; accuracy is
    correct / count (None when count is 0). Sources are listed by name."""
    sources: dict[str, dict[str, Any]] = {}
    overall = _bucket()
    for row in rows:
        if not isinstance(row, dict) or "is_correct" not in row:
            continue
        name = str(row.get("source") or row.get("datasource") or "")
        for bucket in (sources.setdefault(name, _bucket()), overall):
            bucket["count"] += 1
            bucket["correct"] += bool(row["is_correct"])
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
        lines.append(
            f"{name or '(none)':<24} {b['count']:>9} {b['correct']:>8} {accuracy:>9} {b['empty']:>6} {b['errors']:>7}"
        )
    return "\n".join(lines)
