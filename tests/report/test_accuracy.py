"""accuracy_table: per-source and overall accuracy of eval rows."""

from cosmos_reason.report.accuracy import NO_SOURCE, accuracy_table
from tests.report.sample import eval_rows


def core(bucket):
    return {key: bucket[key] for key in ("count", "correct", "accuracy")}


def test_counts_per_source_and_overall():
    table = accuracy_table(eval_rows())
    assert {name: core(b) for name, b in table["sources"].items()} == {
        "bridgev2": {"count": 2, "correct": 1, "accuracy": 0.5},
        "robovqa": {"count": 3, "correct": 2, "accuracy": 2 / 3},
    }
    assert list(table["sources"]) == ["bridgev2", "robovqa"]  # sorted
    assert core(table["overall"]) == {"count": 5, "correct": 3, "accuracy": 0.6}


def test_unanswered_counts_as_wrong_and_rows_without_is_correct_are_left_out():
    rows = [
        {"source": "a", "is_correct": None},
        {"source": "a", "is_correct": True, "answer": "B"},
        {"source": "a"},  # an annotate row: not part of the table
        {"is_correct": "yes"},  # only True is correct
    ]
    table = accuracy_table(rows)
    assert table["sources"]["a"] == {"count": 2, "correct": 1, "accuracy": 0.5, "empty": 1, "errors": 0}
    assert core(table["sources"][NO_SOURCE]) == {"count": 1, "correct": 0, "accuracy": 0.0}
    assert table["overall"]["count"] == 3


def test_no_rows_has_no_accuracy():
    assert accuracy_table([]) == {
        "sources": {},
        "overall": {"count": 0, "correct": 0, "accuracy": None, "empty": 0, "errors": 0},
    }
