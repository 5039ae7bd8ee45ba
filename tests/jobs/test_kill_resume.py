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

from tests.media_factory import png_bytes

from .conftest import ROOT, jobs_command, read_lines, run_jobs, summary_of, write_images

ITEMS = 60


def _line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _start(media: Path, out: Path, server_url: str) -> subprocess.Popen:
    command = jobs_command("annotate", str(media), "--task", "caption", "--out", str(out), "--server", server_url,
                           "--concurrency", "4", "--quiet")
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_mid_run(proc: subprocess.Popen, out: Path, rng: random.Random, sig: int = signal.SIGKILL) -> bool:
    """Wait for the run to write something new, then signal it at a random moment; False if it finished first."""
    before = _line_count(out)
    deadline = time.monotonic() + 60
    while _line_count(out) <= before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.4))
    if proc.poll() is not None:
        return False
    proc.send_signal(sig)
    proc.wait(timeout=30)
    return True


def test_kill_9_at_random_points_then_rerun_gives_exactly_one_line_per_item(tmp_path: Path, fake_server):
    media = tmp_path / "media"
    paths = write_images(media, ITEMS)
    (media / "corrupt.png").write_bytes(png_bytes()[:70])
    out = tmp_path / "results.jsonl"
    rng = random.Random(5)
    kills = []
    for _ in range(4):
        proc = _start(media, out, fake_server.url)
        if not _kill_mid_run(proc, out, rng):
            break
        kills.append(_line_count(out))
        for number, row in enumerate(read_lines(out), start=1):  # every line whole and valid after each kill
            assert row["item"], number
    print("lines at each kill:", kills)
    assert len(kills) >= 2 and kills[0] < ITEMS + 1, f"kills did not land mid-run: {kills}"

    before = _line_count(out)  # a round may also have finished the run before its kill
    result = run_jobs("annotate", str(media), "--task", "caption", "--out", str(out), "--server", fake_server.url,
                      "--concurrency", "4", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = summary_of(result)
    rows = read_lines(out)
    counts = Counter(row["item"] for row in rows)
    assert set(counts) == {str(p) for p in [*paths, media / "corrupt.png"]}
    assert max(counts.values()) == 1, [item for item, n in counts.items() if n > 1]
    assert summary["skipped"] == before and summary["done"] + summary["failed"] + summary["skipped"] == ITEMS + 1
    corrupt = next(row for row in rows if row["item"].endswith("corrupt.png"))
    assert corrupt["error"]["status"] == 400

    again = run_jobs("annotate", str(media), "--task", "caption", "--out", str(out), "--server", fake_server.url,
                     "--quiet")
    assert summary_of(again)["skipped"] == ITEMS + 1 and len(read_lines(out)) == ITEMS + 1


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(tmp_path: Path, fake_server):
    media = tmp_path / "media"
    write_images(media, ITEMS, start_seed=1000)
    out = tmp_path / "results.jsonl"
    proc = _start(media, out, fake_server.url)
    if _kill_mid_run(proc, out, random.Random(1), sig=signal.SIGINT):
        assert proc.returncode == 130
    result = run_jobs("annotate", str(media), "--task", "caption", "--out", str(out), "--server", fake_server.url,
                      "--quiet")
    assert result.returncode == 0, result.stderr
    counts = Counter(row["item"] for row in read_lines(out))
    assert len(counts) == ITEMS and set(counts.values()) == {1}


def test_transient_server_errors_are_retried_to_completion(tmp_path: Path):
    from .conftest import FakeServer

    server = FakeServer(flaky_every=3).wait_ready()  # every third POST answers 503
    try:
        media = tmp_path / "media"
        write_images(media, 12, start_seed=2000)
        out = tmp_path / "results.jsonl"
        result = run_jobs("annotate", str(media), "--prompt", "What is it?", "--out", str(out), "--server",
                          server.url + "/v1", "--concurrency", "2", "--quiet")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    rows = read_lines(out)
    assert len(rows) == 12 and all(row["error"] is None for row in rows)
    assert sum(row["timing"]["attempts"] for row in rows) > 12
    assert json.loads(result.stdout.splitlines()[-1])["summary"]["done"] == 12
