"""The results file: durable appends, repair after a crash, one writer at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosmos_reason.jobs.journal import ForeignLines, Journal, JournalLocked


def _open(path: Path, drop=None) -> tuple[Journal, list[tuple[int, dict]]]:
    seen: list[tuple[int, dict]] = []
    journal = Journal(path).open(lambda offset, row: seen.append((offset, row)), drop=drop)
    return journal, seen


def test_append_then_reopen_indexes_every_line_with_its_offset(tmp_path: Path):
    path = tmp_path / "out" / "results.jsonl"  # the folder is created
    with Journal(path).open() as journal:
        offsets = [journal.append({"item": f"x{i}", "text": "line\nbreak é"}) for i in range(3)]
    journal, seen = _open(path)
    with journal:
        assert [offset for offset, _ in seen] == offsets
        assert [row["item"] for _, row in seen] == ["x0", "x1", "x2"]
        assert journal.read_row(offsets[1]) == {"item": "x1", "text": "line\nbreak é"}
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


def test_a_half_written_last_line_is_cut_off(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"item": "a"}\n{"item": "b"}\n{"item": "c", "content": "trunc')
    journal, seen = _open(path)
    with journal:
        assert journal.truncated_bytes == len('{"item": "c", "content": "trunc')
        assert [row["item"] for _, row in seen] == ["a", "b"]
        journal.append({"item": "c"})
    assert [json.loads(line)["item"] for line in path.read_text().splitlines()] == ["a", "b", "c"]


def test_invalid_and_dropped_lines_are_removed_atomically(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    path.write_text(
        '{"item": "a"}\nnot json\n[1, 2]\n{"item": "b", "error": {"retryable": true}}\n{"item": "c"}\n{"item": "d"'
    )
    journal, seen = _open(path, drop=lambda row: bool((row.get("error") or {}).get("retryable")))
    with journal:
        assert (journal.invalid_lines, journal.dropped_lines) == (2, 1)
        assert [row["item"] for _, row in seen] == ["a", "c"]
        offset = journal.append({"item": "b"})
        assert journal.read_row(seen[1][0]) == {"item": "c"}
        assert journal.read_row(offset) == {"item": "b"}
    assert [json.loads(line)["item"] for line in path.read_text().splitlines()] == ["a", "c", "b"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_only_one_job_writes_a_file(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    with Journal(path).open():
        with pytest.raises(JournalLocked, match="another job"):
            Journal(path).open()
    with Journal(path).open():  # released on close
        pass


@pytest.mark.parametrize("content", ['{"item": "a"}\n{}\n', '{"item": "a"}\nnot json\n', "path,prompt\nx.png,hi"])
def test_lines_that_are_not_ours_are_reported_and_the_file_is_left_alone(tmp_path: Path, content: str):
    path = tmp_path / "results.jsonl"
    path.write_text(content)
    with pytest.raises(ForeignLines, match=r"results.jsonl:[12]: a line this job did not write.*Nothing was changed"):
        Journal(path).open(ours=lambda row: "item" in row)
    assert path.read_text() == content
    with Journal(path).open(ours=lambda row: True) if "{}" in content else Journal(tmp_path / "x").open():
        pass  # and the lock was released
