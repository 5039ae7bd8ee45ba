"""A rerun of annotate on the same --out with other options: refused, naming the difference; --redo replaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_reason.jobs.inputs import discover
from cosmos_reason.jobs.rerun import OptionsChanged
from tests.fakes import ScriptedEngine

from .conftest import annotate, read_lines, run_jobs, write_images


async def test_a_rerun_with_other_options_is_refused_naming_the_difference_and_redo_replaces(tmp_path: Path):
    media = tmp_path / "media"
    write_images(media, 3)
    out = tmp_path / "results.jsonl"
    await annotate(discover(str(media), task="caption", options={"max_tokens": 8}), out, ScriptedEngine())
    before = out.read_bytes()
    engine = ScriptedEngine()
    with pytest.raises(OptionsChanged) as refused:
        await annotate(discover(str(media), prompt="Is it raining?", options={"max_tokens": 4}), out, engine)
    message = str(refused.value)
    assert "3 of these items" in message and '"Is it raining?"' in message and "max_tokens 8 -> 4" in message
    assert 'task "caption" -> (none)' in message and "--out" in message and "--redo" in message
    assert out.read_bytes() == before and engine.requests == []  # nothing asked, nothing written
    job = await annotate(
        discover(str(media), prompt="Is it raining?", options={"max_tokens": 4}), out, ScriptedEngine(), redo=True
    )
    rows = read_lines(out)
    assert job.summary.done == 3 and len(rows) == 3
    assert {(r["given_prompt"], r["task"], r["options"]["max_tokens"]) for r in rows} == {("Is it raining?", None, 4)}
    # The same command again resumes as usual.
    job = await annotate(
        discover(str(media), prompt="Is it raining?", options={"max_tokens": 4}), out, ScriptedEngine()
    )
    assert job.summary.skipped == 3


def test_the_annotate_command_refuses_other_options_with_exit_2(tmp_path: Path, fake_server):
    media = tmp_path / "media"
    write_images(media, 2)
    out = tmp_path / "results.jsonl"
    common = ["annotate", str(media), "--out", str(out), "--server", fake_server.url, "--quiet"]
    assert run_jobs(*common, "--task", "caption").returncode == 0
    refused = run_jobs(*common, "--task", "caption", "--fps", "2")
    assert refused.returncode == 2 and "fps (none) -> 2.0" in refused.stderr and "--redo" in refused.stderr
    assert len(read_lines(out)) == 2
