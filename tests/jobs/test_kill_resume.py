"""Exactly once after kill -9: the annotate process, killed at random moments, then rerun.

The jobs CLI runs as its own process against a server process (the real app and uvicorn
around a scripted engine), as a user would run it; SIGKILL leaves it no chance to clean up.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.media_factory import png_bytes

from .conftest import ROOT, FakeServer, jobs_command, read_lines, run_jobs, summary_of, write_images

ITEMS = 60


def _line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _start(media: Path, out: Path, server_url: str) -> subprocess.Popen:
    command = jobs_command(
        "annotate",
        str(media),
        "--task",
        "caption",
        "--out",
        str(out),
        "--server",
        server_url,
        "--concurrency",
        "4",
        "--quiet",
    )
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_lines(proc: subprocess.Popen, out: Path, count: int) -> None:
    """Until the output holds `count` lines. The gated server holds the rest of the run, so the
    job is still running once they are there (the deadline only bounds a broken run)."""
    deadline = time.monotonic() + 120
    while _line_count(out) < count:
        assert proc.poll() is None, f"the job ended early (exit {proc.returncode}) at {_line_count(out)} lines"
        assert time.monotonic() < deadline, f"no line {count} after 120 s"
        time.sleep(0.01)


@pytest.fixture
def gated_server():
    """A fake server that answers a /v1 POST only once the test allows it (tests/jobs/fake_server.py)."""
    server = FakeServer(delay=0.01, pieces=["A", " caption", "."], gate=0).wait_ready()
    yield server
    server.stop()


def test_kill_9_at_random_points_then_rerun_gives_exactly_one_line_per_item(tmp_path: Path, gated_server):
    media = tmp_path / "media"
    paths = write_images(media, ITEMS)
    (media / "corrupt.png").write_bytes(png_bytes()[:70])
    out = tmp_path / "results.jsonl"
    rng = random.Random(5)
    kills = []
    for _ in range(4):
        # 10 more answers a round (at most 4 of them taken by the killed run's requests still waiting at the
        # server): each run makes progress, and 4 rounds (40 answers) can never finish the 61 items.
        before = _line_count(out)
        proc = _start(media, out, gated_server.url)
        gated_server.allow(10)
        _wait_for_lines(proc, out, before + 1)
        time.sleep(rng.uniform(0.0, 0.4))  # a random moment: mid-write, mid-request or waiting
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills.append(_line_count(out))
        for number, row in enumerate(read_lines(out), start=1):  # every line whole and valid after each kill
            assert row["item"], number
    print("lines at each kill:", kills)

    gated_server.allow(all=True)
    before = _line_count(out)
    result = run_jobs(
        "annotate",
        str(media),
        "--task",
        "caption",
        "--out",
        str(out),
        "--server",
        gated_server.url,
        "--concurrency",
        "4",
        "--quiet",
    )
    summary = summary_of(result)
    rows = read_lines(out)
    counts = Counter(row["item"] for row in rows)
    assert set(counts) == {str(p) for p in [*paths, media / "corrupt.png"]}
    assert max(counts.values()) == 1, [item for item, n in counts.items() if n > 1]
    assert summary["skipped"] == before and summary["done"] + summary["failed"] + summary["skipped"] == ITEMS + 1
    corrupt = next(row for row in rows if row["item"].endswith("corrupt.png"))
    assert corrupt["error"]["status"] == 400

    again = run_jobs(
        "annotate", str(media), "--task", "caption", "--out", str(out), "--server", gated_server.url, "--quiet"
    )
    assert summary_of(again)["skipped"] == ITEMS + 1 and len(read_lines(out)) == ITEMS + 1


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(tmp_path: Path, gated_server):
    media = tmp_path / "media"
    write_images(media, ITEMS, start_seed=1000)
    out = tmp_path / "results.jsonl"
    proc = _start(media, out, gated_server.url)
    gated_server.allow(5)
    _wait_for_lines(proc, out, 5)  # the other 55 items wait at the server: the run cannot end by itself
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert _line_count(out) == 5
    gated_server.allow(all=True)
    result = run_jobs(
        "annotate", str(media), "--task", "caption", "--out", str(out), "--server", gated_server.url, "--quiet"
    )
    assert result.returncode == 0, result.stderr
    counts = Counter(row["item"] for row in read_lines(out))
    assert len(counts) == ITEMS and set(counts.values()) == {1}
    assert summary_of(result)["skipped"] == 5


def test_transient_server_errors_are_retried_to_completion(tmp_path: Path):
    server = FakeServer(flaky_every=3).wait_ready()  # every third POST answers 503
    try:
        media = tmp_path / "media"
        write_images(media, 12, start_seed=2000)
        out = tmp_path / "results.jsonl"
        result = run_jobs(
            "annotate",
            str(media),
            "--prompt",
            "What is it?",
            "--out",
            str(out),
            "--server",
            server.url + "/v1",
            "--concurrency",
            "2",
            "--quiet",
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    rows = read_lines(out)
    assert len(rows) == 12 and all(row["error"] is None for row in rows)
    assert sum(row["timing"]["attempts"] for row in rows) > 12
    assert json.loads(result.stdout.splitlines()[-1])["summary"]["done"] == 12
