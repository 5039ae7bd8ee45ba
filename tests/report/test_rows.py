"""Reading result files: the job's lines, bad lines counted, unusable files named in one line."""

import json
import os

import pytest

from cosmos_reason.report.rows import InputError, read_results, resolve_path
from tests.report.sample import annotate_rows, critic_rows, write_jsonl


def test_bad_lines_are_counted_with_where_and_why(tmp_path):
    path = write_jsonl(
        tmp_path / "r.jsonl", [annotate_rows()[0], "not json {", "[1, 2]", {"summary": {}}, critic_rows()[0]]
    )
    results = read_results([path])
    assert [r["item"] if "item" in r else r["candidate"] for r in results.rows] == ["clips/ball.png", "clips/arm.mp4"]
    assert [(b.line, b.reason) for b in results.bad] == [
        (2, "not JSON"),
        (3, "a JSON list, not an object"),
        (4, "no item / candidate / custom_id"),
    ]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe"), "not a JSONL file (not UTF-8 text)"),
        (lambda p: p.write_text("a,b\n1,2\n"), "not a results JSONL file (none of its 2 lines"),
    ],
)
def test_unusable_files_are_one_error_naming_the_file(tmp_path, make, message):
    path = tmp_path / "x.jsonl"
    make(path)
    with pytest.raises(InputError) as info:
        read_results([path])
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_relative_items_resolve_against_the_current_folder_then_the_results_folder(tmp_path, monkeypatch):
    (tmp_path / "run" / "clips").mkdir(parents=True)
    (tmp_path / "run" / "clips" / "a.png").write_bytes(b"x")
    (tmp_path / "cwd" / "clips").mkdir(parents=True)
    (tmp_path / "cwd" / "clips" / "b.png").write_bytes(b"x")
    monkeypatch.chdir(tmp_path / "cwd")
    results = tmp_path / "run" / "r.jsonl"
    assert resolve_path("clips/a.png", results) == str(tmp_path / "run" / "clips" / "a.png")  # beside the results
    assert resolve_path("clips/b.png", results) == str(tmp_path / "cwd" / "clips" / "b.png")  # where the job ran
    assert resolve_path("clips/none.png", results) == str(tmp_path / "cwd" / "clips" / "none.png")
    assert resolve_path("/data/x.mp4", results) == "/data/x.mp4"
    assert resolve_path("file:///data/a%20b.mp4", results) == "/data/a b.mp4"
    assert resolve_path("https://example.com/x.mp4", results) is None
    assert os.path.isabs(resolve_path("../up.png", results))


def test_a_line_separator_inside_an_answer_keeps_the_line_whole_and_the_numbers_right(tmp_path):
    # json.dumps(..., ensure_ascii=False), as the jobs write, keeps U+2028 raw inside a string.
    lines = [json.dumps(r, ensure_ascii=False) for r in annotate_rows()[:3]]
    lines[0] = json.dumps({**annotate_rows()[0], "content": "first\u2028second"}, ensure_ascii=False)
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = read_results([path])
    assert results.bad == []
    assert [r["_line"] for r in results.rows] == [1, 2, 3]
    assert results.rows[0]["content"] == "first\u2028second"
