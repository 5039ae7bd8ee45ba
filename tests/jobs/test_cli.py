"""The jobs' command lines: what a user sees when the output or the options cannot be used.

Each job's own exit codes and messages are tested with the job (test_annotate.py, test_batch.py,
test_critic.py, test_rerun.py).
"""

from __future__ import annotations

from pathlib import Path

from .conftest import run_jobs, write_images


def test_an_output_that_cannot_be_written_or_bad_options_are_one_line(tmp_path: Path, fake_server):
    media = tmp_path / "media"
    write_images(media, 1)
    for out in (tmp_path, tmp_path / "no" / "such" / "x.jsonl"):
        if not out.is_dir():
            (tmp_path / "no").write_text("a file where a folder should be")
        result = run_jobs("annotate", str(media), "--prompt", "?", "--out", str(out), "--server", fake_server.url)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("cosmos-reason: error: cannot write ")
    bad = run_jobs(
        "annotate",
        str(media),
        "--prompt",
        "?",
        "--out",
        str(tmp_path / "o.jsonl"),
        "--options",
        "{bad",
        "--server",
        fake_server.url,
    )
    assert bad.returncode == 2 and "argument --options: not valid JSON" in bad.stderr
