"""`cosmos-reason report` without a browser: what the page file holds (tests/e2e/test_report.py drives it)."""

import json
import re

import pytest
from PIL import Image

from cosmos_reason.cli import main
from cosmos_reason.report.page import build_report
from tests.report.sample import annotate_rows, critic_rows, eval_rows, make_media, row, write_jsonl


def page_rows(html: str) -> list[dict]:
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert data is not None
    return json.loads(data.group(1))


@pytest.fixture
def results(tmp_path):
    make_media(tmp_path)
    return write_jsonl(tmp_path / "results.jsonl", annotate_rows())


def test_previews_go_in_a_folder_beside_the_page(results, tmp_path):
    report = build_report([results], tmp_path / "out" / "report.html")
    rows = page_rows(report.path.read_text())
    by_name = {r["name"]: r for r in rows}
    assert len(rows) == 6 and report.items == 6 and report.errors == 1
    assert len(by_name["clips/ball.png"]["thumbs"]) == 1
    assert len(by_name["clips/arm.mp4"]["thumbs"]) == 4  # a few frames of a video
    for url in by_name["clips/arm.mp4"]["thumbs"]:
        assert url.startswith("report_files/")
        with Image.open(tmp_path / "out" / url) as frame:
            assert frame.format == "JPEG" and max(frame.size) <= 160
    assert by_name["clips/ball.png"]["href"] == (tmp_path / "clips" / "ball.png").as_uri()
    assert by_name["clips/moved.mp4"]["thumbs"] == []
    assert by_name["clips/moved.mp4"]["media_problem"] == f"missing: {tmp_path / 'clips' / 'moved.mp4'}"
    assert by_name["clips/broken.jpg"]["media_problem"] == "not an image or video"


def test_inline_puts_the_previews_in_the_page(results, tmp_path):
    report = build_report([results], tmp_path / "report.html", inline=True)
    assert report.media_folder is None and not (tmp_path / "report_files").exists()
    thumbs = [t for r in page_rows(report.path.read_text()) for t in r["thumbs"]]
    assert len(thumbs) == 1 + 4 + 4 + 1 and all(t.startswith("data:image/jpeg;base64,") for t in thumbs)


def test_a_rerun_reuses_previews_of_the_same_content(tmp_path):
    make_media(tmp_path)
    results = write_jsonl(tmp_path / "r.jsonl", [row("clips/arm.mp4", sha256="ab" * 32)])
    build_report([results], tmp_path / "report.html")
    frames = sorted((tmp_path / "report_files").iterdir())
    stamps = [f.stat().st_mtime_ns for f in frames]
    (tmp_path / "clips" / "arm.mp4").unlink()
    (tmp_path / "clips" / "arm.mp4").write_bytes(b"")  # same sha256 in the row: not decoded again
    build_report([results], tmp_path / "report.html")
    assert [f.stat().st_mtime_ns for f in sorted((tmp_path / "report_files").iterdir())] == stamps
    assert len(page_rows((tmp_path / "report.html").read_text())[0]["thumbs"]) == 4


def test_text_that_looks_like_html_stays_text(tmp_path):
    evil = "</script><img src=x onerror=alert(1)>"
    results = write_jsonl(tmp_path / "r.jsonl", [row("a.png", content=evil, prompt=evil)])
    html = build_report([results], tmp_path / "report.html", title=evil).path.read_text()
    assert "<img src=x" not in html
    assert page_rows(html)[0]["content"] == evil


def test_odd_values_in_a_line_still_make_a_page_a_browser_can_read(tmp_path):
    lines = ['{"item": "a.png", "score": NaN, "parsed": {"score": Infinity}, "content": {"x": 1}, "prompt": 7}']
    html = build_report([write_jsonl(tmp_path / "r.jsonl", lines)], tmp_path / "r.html").path.read_text()
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert data is not None
    shown = json.loads(data.group(1), parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))[0]
    assert (shown["score"], shown["content"], shown["prompt"]) == (None, '{"x": 1}', "7")


def test_critic_ranking_chart_and_accuracy_table(tmp_path):
    make_media(tmp_path)
    ranking = write_jsonl(tmp_path / "ranking.jsonl", critic_rows())
    evals = write_jsonl(tmp_path / "eval.jsonl", eval_rows())
    html = build_report([ranking, evals], tmp_path / "report.html").path.read_text()
    chart = re.search(r"<svg class=\"chart\".*?</svg>", html, re.S)
    assert chart is not None
    bars = re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', chart.group(0))
    assert [float(w) for w in bars] == [240.0, 80.0]  # 0.75 and 0.25 of the axis, best first
    assert "no score" in chart.group(0) and "best: <strong>clips/arm.mp4</strong>" in html
    accuracy = re.search(r'<section class="panel" id="accuracy">.*?</section>', html, re.S)
    assert accuracy is not None
    cells = re.findall(
        r"<tr class=\"(\w*)\"><td>(\w+)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>"
        r"<td class=\"num\">([\d.]+%)</td>",
        accuracy.group(0),
    )
    assert cells == [
        ("", "bridgev2", "2", "1", "50.0%"),
        ("", "robovqa", "3", "2", "66.7%"),
        ("overall", "overall", "5", "3", "60.0%"),
    ]


def test_cli_writes_the_page_and_counts_bad_lines(results, tmp_path, capsys):
    with results.open("a") as file:
        file.write("oops\n{}\n")
    out = tmp_path / "r.html"
    assert main(["report", str(results), "--out", str(out), "--no-media"]) == 0
    said = capsys.readouterr().out
    assert f"wrote {out}: 6 items, 1 error, 2 lines skipped (not results)" in said
    html = out.read_text()
    assert "2 lines that are not results, skipped" in html and "oops" in html
    assert not (tmp_path / "r_files").exists()


@pytest.mark.parametrize("name, message", [("gone.jsonl", "gone.jsonl: no such file"), ("clips", "is a folder")])
def test_cli_bad_input_is_one_line_and_exit_1(results, tmp_path, capsys, name, message):
    assert main(["report", str(tmp_path / name), "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cosmos-reason: error:") and message in err and "\n" not in err
    assert not (tmp_path / "r.html").exists()


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "example:\n  cosmos-reason report " in capsys.readouterr().out
