"""report and export over a file that annotate itself wrote (the app on a scripted engine), run
from the folder the job ran in, as a user would: relative items, an error line, previews."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from cosmos_reason.cli import main
from cosmos_reason.jobs.inputs import discover
from tests.fakes import ScriptedEngine
from tests.jobs.conftest import annotate, write_images, write_video

PLAUSIBLE = ["<think>\nThe ball falls", " as it should.\n</think>\n\n<answer>\n4\n</answer>"]


async def test_report_and_export_of_a_real_annotate_run(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_images(Path("media"), 2)
    write_video(Path("media") / "clip.mp4")
    Path("media/broken.jpg").write_bytes(b"not a jpeg")
    await annotate(discover("media", task="plausibility"), Path("results.jsonl"), ScriptedEngine(PLAUSIBLE))
    written = [json.loads(line) for line in Path("results.jsonl").read_text().splitlines()]
    assert {r["item"] for r in written} == {
        "media/img0000.png",
        "media/img0001.png",
        "media/clip.mp4",
        "media/broken.jpg",
    }

    assert main(["report", "results.jsonl", "--out", "out/report.html", "-q"]) == 0
    assert "4 items, 1 error (previews in out/report_files)" in capsys.readouterr().out
    html = Path("out/report.html").read_text()
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert data is not None
    rows = {r["name"]: r for r in json.loads(data.group(1))}
    assert rows["media/clip.mp4"]["reasoning"] == "The ball falls as it should."
    assert rows["media/clip.mp4"]["score"] == 4.0
    assert len(rows["media/clip.mp4"]["thumbs"]) == 4 and len(rows["media/img0000.png"]["thumbs"]) == 1
    assert all((Path("out") / t).is_file() for r in rows.values() for t in r["thumbs"])
    assert rows["media/broken.jpg"]["error"].startswith("input: not a recognized image or video")

    assert main(["export", "results.jsonl", "--parquet", "results.parquet"]) == 0
    df = pd.read_parquet("results.parquet")
    assert df["item"].tolist() == [r["item"] for r in written]  # the file's order
    assert df["path"].tolist() == [str(tmp_path / r["item"]) for r in written]
    scores = dict(zip(df["item"], df["parsed_score"], strict=True))
    assert scores["media/clip.mp4"] == 4 and pd.isna(scores["media/broken.jpg"])
