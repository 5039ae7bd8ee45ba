"""FIFOs, devices and sockets are never opened, and a signal stops a job even while a read is stuck.

Each case runs the jobs CLI (or a small driver) in its own process with a subprocess
timeout: before the fix these hung forever, so the timeout only bounds a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import ROOT, read_lines, run_jobs, summary_of, write_images

HANG = 90  # seconds: only reached when the job hangs


def test_a_fifo_in_the_folder_is_not_read_and_the_run_finishes(tmp_path: Path, fake_server):
    media = tmp_path / "media"
    write_images(media, 2)
    os.mkfifo(media / "pipe.png")  # a media name, so before the fix it was an item and opened
    os.mkfifo(media / "stream")
    out = tmp_path / "out.jsonl"
    result = run_jobs(
        "annotate",
        str(media),
        "--prompt",
        "What is it?",
        "--out",
        str(out),
        "--server",
        fake_server.url,
        "--quiet",
        timeout=HANG,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(Path(r["item"]).name for r in read_lines(out)) == ["img0000.png", "img0001.png"]
    assert summary_of(result)["done"] == 2


def test_a_fifo_named_in_a_manifest_gets_an_error_line(tmp_path: Path, fake_server):
    write_images(tmp_path, 1)
    os.mkfifo(tmp_path / "pipe.png")
    manifest = tmp_path / "list.csv"
    manifest.write_text("path\nimg0000.png\npipe.png\n")
    out = tmp_path / "out.jsonl"
    result = run_jobs(
        "annotate",
        str(manifest),
        "--prompt",
        "What is it?",
        "--out",
        str(out),
        "--server",
        fake_server.url,
        "--quiet",
        timeout=HANG,
    )
    rows = {Path(r["item"]).name: r for r in read_lines(out)}
    assert rows["img0000.png"]["error"] is None
    assert "not a regular file" in rows["pipe.png"]["error"]["message"], rows["pipe.png"]
    assert result.returncode == 4 and summary_of(result)["failed"] == 1


DRIVER = textwrap.dedent("""
    import json, os, signal, sys, threading
    from cosmos_reason.jobs import annotate
    from cosmos_reason.jobs.inputs import Item

    def stuck(path):  # a read that never returns (a hung network mount): the signal arrives meanwhile
        os.kill(os.getpid(), getattr(signal, sys.argv[3]))
        threading.Event().wait()

    class Target:
        description = "nowhere"
        family = None
        async def model_id(self):
            return "m"
        async def aclose(self):
            pass

    annotate.classify_file = stuck
    job = annotate.AnnotateJob([Item(sys.argv[1])], sys.argv[2], target=Target(), quiet=True)
    summary = annotate.run_job(job, job.run)
    print(json.dumps(summary.as_dict()))
    sys.exit(summary.exit_code())
""")


def _driver(tmp_path: Path, signal_name: str) -> subprocess.CompletedProcess:
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    return subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path / "x.bin"), str(tmp_path / "out.jsonl"), signal_name],
        capture_output=True,
        text=True,
        timeout=HANG,
        cwd=ROOT,
    )


def test_sigterm_stops_a_job_whose_read_is_stuck(tmp_path: Path):
    result = _driver(tmp_path, "SIGTERM")
    assert result.returncode == 130, result.stderr
    assert '"interrupted": true' in result.stdout


def test_ctrl_c_stops_a_job_whose_read_is_stuck(tmp_path: Path):
    result = _driver(tmp_path, "SIGINT")
    assert result.returncode == 130, result.stderr


def test_a_fifo_as_input_is_refused_at_once_unless_read_as_a_manifest(tmp_path: Path):
    import threading

    from cosmos_reason.jobs.inputs import InputError, discover

    pipe = tmp_path / "list"
    os.mkfifo(pipe)
    try:
        discover(str(pipe))
    except InputError as exc:
        assert "a FIFO, not a file or folder to annotate" in str(exc) and "--manifest" in str(exc)
    else:
        raise AssertionError("a FIFO INPUT was accepted")
    write_images(tmp_path, 1)
    writer = threading.Thread(target=lambda: pipe.write_text(str(tmp_path / "img0000.png") + "\n"))
    writer.start()  # the reader waits for it: a pipe the user asked to read
    items = discover(str(pipe), manifest=True)
    writer.join()
    assert [item.source for item in items] == [str(tmp_path / "img0000.png")]
