"""`eval --compare A B --html compare.html` without a browser: the comparison page, its links into
the report of each run, and the accuracy side by side (tests/e2e/test_report.py clicks them)."""

import json
import re

import pytest

from cosmos_reason.cli import main
from tests.report.sample import eval_pair, write_jsonl
from tests.report.test_page import page_rows


@pytest.fixture
def compared(tmp_path, capsys):
    a_rows, b_rows = eval_pair()
    a = write_jsonl(tmp_path / "a.jsonl", a_rows)
    b = write_jsonl(tmp_path / "b.jsonl", b_rows)
    out = tmp_path / "out" / "compare.html"
    assert main(["eval", "--compare", str(a), str(b), "--html", str(out), "--no-media", "--quiet"]) == 0
    said = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return out, said


def cells(html: str, row_pattern: str) -> list[list[str]]:
    """The text of each cell of each row matching `row_pattern`."""
    found = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S) for r in re.findall(row_pattern, html, re.S)]
    return [[re.sub(r"<[^>]+>", " ", c).strip() for c in row] for row in found]


def test_each_disagreement_links_to_its_line_in_each_runs_report(compared):
    out, said = compared
    html = out.read_text()
    a_page, b_page = out.with_name("compare.A.html"), out.with_name("compare.B.html")
    assert said["reports"] == [str(a_page), str(b_page)]
    rows = re.findall(r'<tr class="disagreement">(.*?)</tr>', html, re.S)
    links = [re.findall(r'<a class="to-(a|b)[^"]*" href="([^"]*)"', r) for r in rows]
    # q0 (only A right) and q3 (only B right), each with one link into A's report and one into B's;
    # q1 (the same wrong answer in both) is not a disagreement.
    assert [re.search(r"<code>(.*?)</code>", r).group(1) for r in rows] == ["av/q0#0", "robovqa/q3#0"]
    assert links == [
        [("a", "compare.A.html#line=1"), ("b", "compare.B.html#line=6")],
        [("a", "compare.A.html#line=4"), ("b", "compare.B.html#line=3")],
    ]
    # Each fragment's line is that question's line in the report the link goes to.
    for page, side in ((a_page, "a"), (b_page, "b")):
        by_line = {r["line"]: r for r in page_rows(page.read_text())}
        for row_links, qid in zip(links, ["av/q0#0", "robovqa/q3#0"], strict=True):
            line = int(dict(row_links)[side].split("#line=")[1])
            assert by_line[line]["question_id"] == qid
    # The A and B answers shown are each run's own, marked right or wrong.
    assert cells(html, r'<tr class="disagreement">(.*?)</tr>')[1][-2:] == ["no answer ✗", "B ✓"]
    # Both reports link back, and the page loads nothing from outside.
    assert 'href="compare.html"' in a_page.read_text() and "A: " in a_page.read_text()
    assert "http" not in html.replace("http-equiv", "")


def test_accuracy_per_source_side_by_side(compared):
    out, said = compared
    html = out.read_text()
    head = re.search(r'id="accuracy".*?<thead>(.*?)</thead>', html, re.S).group(1)
    body = re.search(r'id="accuracy".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    assert cells(head, r"<tr>(.*?)</tr>") == [["source", "A correct", "A accuracy", "B correct", "B accuracy", "B − A"]]
    assert cells(body, r"<tr[^>]*>(.*?)</tr>") == [
        ["av", "2 / 3", "66.67%", "2 / 4", "50.00%", "-16.67 pts"],
        ["robovqa", "1 / 2", "50.00%", "2 / 2", "100.00%", "+50.00 pts"],
        ["overall", "3 / 5", "60.00%", "4 / 6", "66.67%", "+6.67 pts"],
    ]
    summary = re.search(r'id="summary">(.*?)</p>', out.read_text()).group(1)
    assert summary == (
        "5 questions in both: 2 both right, 1 only A, 1 only B, 1 both wrong (A 60.00%, B 60.00% on them)"
        " · only in A: 0, only in B: 1 (not compared)"
    )
    assert said["a"]["accuracy"]["overall"]["correct"] == 3 and said["b"]["accuracy"]["overall"]["count"] == 6


def test_reports_share_one_preview_folder(tmp_path, capsys):
    from tests.report.sample import make_media

    make_media(tmp_path)
    a_rows, b_rows = eval_pair()
    for rows in (a_rows, b_rows):
        for r in rows:
            if isinstance(r, dict):
                r["item"] = "clips/arm.mp4"
    a = write_jsonl(tmp_path / "a.jsonl", a_rows)
    b = write_jsonl(tmp_path / "b.jsonl", b_rows)
    out = tmp_path / "compare.html"
    assert main(["eval", "--compare", str(a), str(b), "--html", str(out), "--quiet"]) == 0
    frames = sorted(p.name for p in (tmp_path / "compare_files").iterdir())
    assert len(frames) == 4  # one clip, four frames, drawn once for both reports
    for page in ("compare.A.html", "compare.B.html"):
        thumbs = {t for r in page_rows((tmp_path / page).read_text()) for t in r["thumbs"]}
        assert thumbs == {f"compare_files/{name}" for name in frames}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--no-media"], "--no-media goes with --html"),
        (["--html", "{tmp}/a.jsonl/x.html"], "cannot write"),
    ],
)
def test_bad_options_and_unwritable_page_are_one_line(tmp_path, capsys, args, message):
    a_rows, b_rows = eval_pair()
    a = write_jsonl(tmp_path / "a.jsonl", a_rows)
    b = write_jsonl(tmp_path / "b.jsonl", b_rows)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    assert main(["eval", "--compare", str(a), str(b), "--quiet", *args]) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("cosmos-reason: error:") and message in err[-1]


def test_a_file_that_is_not_text_is_one_line(tmp_path, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", eval_pair()[0])
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["eval", "--compare", str(a), str(binary), "--html", str(tmp_path / "c.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cosmos-reason: error:") and "not UTF-8" in err and "\n" not in err
