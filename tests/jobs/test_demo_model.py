"""End to end on the real (tiny, random) demo model: the `cosmos-reason` command, in-process and
against the real server process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosmos_reason.server.process import ServerProcess

from .conftest import ROOT, read_lines, summary_of, write_images, write_video

pytestmark = pytest.mark.e2e
API_KEY = "jobs-e2e-key"


def _cosmos_reason(*args: str, env: dict) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("cosmos-reason")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, **env}
    )


@pytest.fixture(scope="module")
def demo_server(demo_model_dir, demo_cache_dir):
    server = ServerProcess(["--model", "demo", "--api-key", API_KEY], env={"COSMOS_REASON_CACHE": str(demo_cache_dir)})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _media(root: Path) -> Path:
    write_images(root, 2)
    write_video(root / "clip.mp4", seconds=1)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    (root / "notes.txt").write_text("not media")
    return root


def _check(rows: list[dict], root: Path) -> None:
    by_name = {Path(r["item"]).name: r for r in rows}
    assert set(by_name) == {"img0000.png", "img0001.png", "clip.mp4", "broken.jpg"}
    assert by_name["broken.jpg"]["error"]["status"] == 400
    for name in ("img0000.png", "img0001.png", "clip.mp4"):
        row = by_name[name]
        assert row["error"] is None and row["model"] == "cosmos-reason1-demo"
        assert row["usage"]["completion_tokens"] <= 6 and row["usage"]["prompt_tokens"] > 10
        assert "parsed" in row and (row["parsed"].keys() & {"score", "parse_error"})  # random weights: usually an error
    assert by_name["clip.mp4"]["kind"] == "video" and by_name["clip.mp4"]["usage"]["prompt_tokens"] > 100


def test_annotate_in_process_with_the_cosmos_reason_command(tmp_path: Path, demo_model_dir, demo_cache_dir):
    root = _media(tmp_path / "media")
    out = tmp_path / "results.jsonl"
    args = [
        "annotate",
        str(root),
        "--task",
        "plausibility",
        "--max-tokens",
        "6",
        "--model",
        "demo",
        "--out",
        str(out),
        "--concurrency",
        "2",
        "--quiet",
    ]
    result = _cosmos_reason(*args, env={"COSMOS_REASON_CACHE": str(demo_cache_dir)})
    assert result.returncode == 4, result.stderr  # every item has its line; broken.jpg's is an error
    summary = summary_of(result)
    assert (summary["done"], summary["failed"], summary["ignored"]) == (3, 1, 1)
    _check(read_lines(out), root)


def test_annotate_against_the_server(tmp_path: Path, demo_server):
    root = _media(tmp_path / "media")
    out = tmp_path / "results.jsonl"
    args = [
        "annotate",
        str(root),
        "--task",
        "plausibility",
        "--max-tokens",
        "6",
        "--server",
        demo_server.url,
        "--api-key",
        API_KEY,
        "--concurrency",
        "4",
        "--quiet",
    ]
    result = _cosmos_reason(*args, "--out", str(out), env={})
    assert result.returncode == 4, result.stderr  # broken.jpg's line is an error
    _check(read_lines(out), root)
    again = _cosmos_reason(*args, "--out", str(out), env={})
    assert summary_of(again)["skipped"] == 4 and len(read_lines(out)) == 4
    bad_key = _cosmos_reason(
        "annotate",
        str(root),
        "--prompt",
        "?",
        "--server",
        demo_server.url,
        "--api-key",
        "nope",
        "--out",
        str(tmp_path / "x.jsonl"),
        "--quiet",
        env={},
    )
    assert bad_key.returncode == 1 and "401" in bad_key.stderr
