"""Accuracy against labels: per-source and overall counts of an eval run's rows.

Shared by `cosmos-reason eval` (its printed and JSON table) and `cosmos-reason report` (its
accuracy section). A row takes part when it has an `is_correct` key; `is_correct` other than
True (False, or null for an item without an answer or with an error) counts as wrong, as the
Cosmos-Reason1 benchmark script counts an unanswered question.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NO_SOURCE = "(no source)"


def accuracy_table(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """{"sources": {source: {"count", "correct", "accuracy"}, ...} (sorted by source),
    "overall": {"count", "correct", "accuracy"}}; accuracy is correct / count, None when count is 0."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        if "is_correct" not in row:
            continue
        source = row.get("source")
        tally = counts.setdefault(NO_SOURCE if source in (None, "") else str(source), [0, 0])
        tally[0] += 1
        tally[1] += row["is_correct"] is True
    total = [sum(t[0] for t in counts.values()), sum(t[1] for t in counts.values())]
    return {
        "sources": {source: _entry(*counts[source]) for source in sorted(counts)},
        "overall": _entry(*total),
    }


def _entry(count: int, correct: int) -> dict[str, Any]:
    return {"count": count, "correct": correct, "accuracy": correct / count if count else None}
