"""annotate against the real app on a scripted engine (in-process): lines, failures, resume, retries."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from cosmos_reason.engine.base import EngineError, EngineOverloadedError
from cosmos_reason.jobs.annotate import AnnotateJob
from cosmos_reason.jobs.clients import server_target
from cosmos_reason.jobs.execution import RetryPolicy
from cosmos_reason.jobs.inputs import discover
from tests.fakes import ScriptedEngine
from tests.media_factory import png_bytes

from .conftest import MODEL, annotate, free_port, read_lines, run_jobs, summary_of, write_images, write_video

PLAUSIBLE = ["<think>\nThe ball falls", " as it should.\n</think>\n\n<answer>\n4\n</answer>"]


class FlakyEngine(ScriptedEngine):
    """Fails the first `failures` generations with `error`, then answers."""

    def __init__(self, failures: int, error: Exception, **kwargs) -> None:
        super().__init__(**kwargs)
        self.failures = failures
        self.error = error
        self.calls = 0

    async def generate(self, request):
        self.calls += 1
        if self.calls <= self.failures:
            self.requests.append(request)
            raise self.error
        async for delta in super().generate(request):
            yield delta


async def test_each_line_has_item_hash_answer_reasoning_parsed_tokens_timing_model(tmp_path: Path):
    images = write_images(tmp_path / "media", 2)
    video = write_video(tmp_path / "media" / "clip.mp4")
    engine = ScriptedEngine(PLAUSIBLE)
    out = tmp_path / "results.jsonl"
    job = await annotate(discover(str(tmp_path / "media"), task="plausibility"), out, engine, concurrency=2)
    rows = {Path(r["item"]).name: r for r in read_lines(out)}
    assert set(rows) == {"img0000.png", "img0001.png", "clip.mp4"}
    row = rows["clip.mp4"]
    assert row["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert (row["kind"], row["task"], row["given_prompt"], row["model"]) == ("video", "plausibility", None, MODEL)
    assert row["prompt"] == "How well does this video follow the laws of physics?"  # what was asked: the recipe's
    assert row["content"] == "4" and row["reasoning"] == "The ball falls as it should."
    assert row["parsed"] == {"score": 4} and row["error"] is None
    assert row["usage"] == {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
    assert row["timing"]["attempts"] == 1 and row["timing"]["seconds"] >= 0 and row["timing"]["finished_at"]
    assert len(row["key"]) == 64 and row["size"] == video.stat().st_size
    assert rows["img0000.png"]["kind"] == "image"
    # The media went through the server's pipeline: the engine got decoded frames and pixels.
    assert sorted((len(r.conversation.images()), len(r.conversation.videos())) for r in engine.requests) == [
        (0, 1),
        (1, 0),
        (1, 0),
    ]
    assert (job.summary.done, job.summary.failed, job.summary.exit_code()) == (3, 0, 0)
    assert job.summary.prompt_tokens == 33 and images


async def test_a_corrupt_file_gets_an_error_line_and_the_run_goes_on(tmp_path: Path):
    write_images(tmp_path / "media", 3)
    (tmp_path / "media" / "corrupt.png").write_bytes(png_bytes()[:80])
    out = tmp_path / "results.jsonl"
    job = await annotate(discover(str(tmp_path / "media"), prompt="What is shown?"), out, ScriptedEngine())
    rows = {Path(r["item"]).name: r for r in read_lines(out)}
    assert len(rows) == 4
    error = rows["corrupt.png"]["error"]
    assert error["status"] == 400 and "image" in error["message"] and error["retryable"] is False
    assert (
        error["message"].startswith(f"{tmp_path / 'media' / 'corrupt.png'}: ") and "messages[" not in error["message"]
    )
    # An error line has every field of an answer line (null where there is no answer).
    assert set(rows["corrupt.png"]) == set(rows["img0000.png"])
    assert rows["corrupt.png"]["prompt"] == "What is shown?"
    assert rows["corrupt.png"]["content"] is None and rows["corrupt.png"]["sha256"]
    assert all(rows[f"img000{i}.png"]["content"] == "Hello, world!" for i in range(3))
    assert (job.summary.done, job.summary.failed, job.summary.exit_code()) == (3, 1, 4)
    # A permanent failure is done: the rerun does not ask again, but still says the line is an error.
    engine = ScriptedEngine()
    job = await annotate(discover(str(tmp_path / "media"), prompt="What is shown?"), out, engine)
    assert (job.summary.skipped, len(engine.requests)) == (4, 0)
    assert (job.summary.failed_before, job.summary.exit_code()) == (1, 4)
    assert "items with an error line in the output: 1 (1 from an earlier run)" in job.summary.text()
    # --retry-errors asks again (the file is still corrupt: the same error, one line).
    engine = ScriptedEngine()
    job = await annotate(discover(str(tmp_path / "media"), prompt="What is shown?"), out, engine, retry_errors=True)
    assert (job.summary.skipped, job.summary.failed, job.summary.failed_before, len(read_lines(out))) == (3, 1, 0, 4)


async def test_rerun_skips_done_items_copies_duplicates_and_does_new_ones(tmp_path: Path):
    media = tmp_path / "media"
    write_images(media, 3)
    out = tmp_path / "results.jsonl"
    await annotate(discover(str(media), task="caption"), out, ScriptedEngine())
    (media / "new.png").write_bytes(png_bytes(seed=99))
    (media / "zz_copy.png").write_bytes((media / "img0001.png").read_bytes())
    os.utime(media / "img0002.png")  # touched, same content: still done
    engine = ScriptedEngine()
    job = await annotate(discover(str(media), task="caption"), out, engine)
    s = job.summary
    assert (s.skipped, s.done, s.reused, len(engine.requests)) == (3, 1, 1, 1)
    rows = read_lines(out)
    assert len(rows) == 5 and len({r["item"] for r in rows}) == 5
    copy = next(r for r in rows if r["item"].endswith("zz_copy.png"))
    assert copy["reused_from"].endswith("img0001.png") and copy["content"] == "Hello, world!"


async def test_changed_content_is_annotated_again(tmp_path: Path):
    media = tmp_path / "media"
    paths = write_images(media, 2)
    out = tmp_path / "results.jsonl"
    await annotate(discover(str(media), task="caption"), out, ScriptedEngine())
    paths[0].write_bytes(png_bytes(seed=1234))
    job = await annotate(discover(str(media), task="caption"), out, ScriptedEngine())
    assert (job.summary.skipped, job.summary.done) == (1, 1)
    hashes = [r["sha256"] for r in read_lines(out) if r["item"] == str(paths[0])]
    assert len(set(hashes)) == 2


async def test_duplicates_in_one_run_ask_the_model_once(tmp_path: Path):
    media = tmp_path / "media"
    media.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        (media / name).write_bytes(png_bytes(seed=5))
    engine = ScriptedEngine(delay=0.01)
    job = await annotate(discover(str(media), task="caption"), tmp_path / "out.jsonl", engine, concurrency=3)
    assert (job.summary.done, job.summary.reused, len(engine.requests)) == (1, 2, 1)


async def test_transient_failures_are_retried_with_backoff(tmp_path: Path):
    write_images(tmp_path / "media", 3)
    engine = FlakyEngine(3, EngineOverloadedError("busy", retry_after=1))  # 429 + Retry-After
    out = tmp_path / "results.jsonl"
    job = await annotate(discover(str(tmp_path / "media"), task="caption"), out, engine, concurrency=1)
    rows = read_lines(out)
    assert [r["error"] for r in rows] == [None] * 3
    assert sum(r["timing"]["attempts"] for r in rows) == 6 and job.summary.done == 3


async def test_items_failing_after_all_retries_are_redone_by_the_next_run(tmp_path: Path):
    write_images(tmp_path / "media", 3)
    out = tmp_path / "results.jsonl"
    items = discover(str(tmp_path / "media"), task="caption")
    broken = ScriptedEngine(fail=EngineError("GPU fell off"))  # 500 every time
    job = await annotate(items, out, broken, policy=RetryPolicy(attempts=2, base=0.01, cap=0.01))
    rows = read_lines(out)
    assert [(r["error"]["status"], r["error"]["retryable"]) for r in rows] == [(500, True)] * 3
    assert (job.summary.unfinished, job.summary.exit_code()) == (3, 3)
    job = await annotate(items, out, ScriptedEngine())
    rows = read_lines(out)
    assert len(rows) == 3 and all(r["error"] is None for r in rows) and job.summary.done == 3


async def test_a_target_that_keeps_failing_stops_the_run(tmp_path: Path):
    write_images(tmp_path / "media", 20)
    out = tmp_path / "results.jsonl"
    job = await annotate(
        discover(str(tmp_path / "media"), task="caption"),
        out,
        ScriptedEngine(fail=EngineError("down")),
        concurrency=1,
        breaker_limit=3,
        policy=RetryPolicy(attempts=2, base=0.01, cap=0.01),
    )
    assert job.summary.stopped and "3 items in a row" in job.summary.stopped
    assert len(read_lines(out)) == 3 and job.summary.exit_code() == 3


async def test_connection_refused_is_retried_then_stops_with_a_message(tmp_path: Path):
    write_images(tmp_path / "media", 2)
    target = server_target(f"http://127.0.0.1:{free_port()}/v1")
    job = AnnotateJob(
        discover(str(tmp_path / "media"), task="caption"),
        tmp_path / "out.jsonl",
        target=target,
        quiet=True,
        policy=RetryPolicy(attempts=2, base=0.01, cap=0.01),
    )
    try:
        await job.run()
    finally:
        await target.aclose()
    assert "cannot reach" in job.summary.stopped and job.summary.exit_code() == 3


async def test_critic_task_lines_have_every_sample_and_the_critic_score(tmp_path: Path):
    write_video(tmp_path / "media" / "gen.mp4")
    out = tmp_path / "results.jsonl"
    await annotate(
        discover(str(tmp_path / "media"), task="critic"),
        out,
        ScriptedEngine(["<think>\nok\n</think>\n\n<answer>\nNo\n</answer>"]),
    )
    (row,) = read_lines(out)
    assert row["parsed"] == {"anomaly": False} and row["critic_score"] == 1.0
    assert [c["parsed"] for c in row["choices"]] == [{"anomaly": False}] * 4  # the recipe's n=4


async def test_manifest_items_carry_their_own_prompt_task_options_and_meta(tmp_path: Path):
    write_images(tmp_path, 2)
    write_video(tmp_path / "clip.mp4", seconds=2)
    (tmp_path / "notes.txt").write_text("not media")
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"path": "img0000.png", "prompt": "Color?", "max_tokens": 2, "id": "a"},
                {"path": "img0001.png", "task": "caption", "options": {"system": "Be brief."}},
                {"path": "clip.mp4", "prompt": "Motion?", "options": {"nframes": 4}},
                {"path": "notes.txt", "prompt": "?"},
                {"path": "missing.png", "prompt": "?"},
                {"path": "img0000.png", "task": "no_such_task"},
            ]
        )
        + "\n"
    )
    engine = ScriptedEngine()
    out = tmp_path / "results.jsonl"
    job = await annotate(discover(str(manifest), options={"max_tokens": 3}), out, engine, concurrency=1)
    rows = read_lines(out)
    assert len(rows) == 6
    by_request = {(Path(r["item"]).name, r["task"]): r for r in rows}
    first = by_request[("img0000.png", None)]
    assert (first["content"], first["meta"], first["options"]) == ("Hello,", {"id": "a"}, {"max_tokens": 2})
    assert engine.requests[0].sampling.max_tokens == 2
    system = engine.requests[1].conversation.turns[0]
    assert system.role == "system" and "Be brief." in system.text()
    assert engine.requests[2].conversation.videos()[0].num_frames == 4
    assert "not a recognized image or video" in by_request[("notes.txt", None)]["error"]["message"]
    assert "cannot read" in by_request[("missing.png", None)]["error"]["message"]
    assert "unknown task" in by_request[("img0000.png", "no_such_task")]["error"]["message"]
    assert (job.summary.done, job.summary.failed, job.summary.exit_code()) == (3, 3, 4)
    job = await annotate(discover(str(manifest), options={"max_tokens": 3}), out, ScriptedEngine())
    assert job.summary.skipped == 6 and len(read_lines(out)) == 6


async def test_a_foreign_line_in_the_output_is_reported_not_kept_or_dropped(tmp_path: Path, fake_server):
    media = tmp_path / "media"
    write_images(media, 2)
    out = tmp_path / "results.jsonl"
    await annotate(discover(str(media), task="caption"), out, ScriptedEngine())
    with out.open("a") as f:
        f.write("{}\n")
    before = out.read_bytes()
    result = run_jobs(
        "annotate", str(media), "--task", "caption", "--out", str(out), "--server", fake_server.url, "--quiet"
    )
    assert result.returncode == 1 and "results.jsonl:3: a line this job did not write ('{}')" in result.stderr
    assert out.read_bytes() == before


def test_the_progress_total_counts_media_only_and_a_resume_leaves_skipped_items_out_of_the_rate(
    tmp_path: Path, fake_server
):
    media = tmp_path / "media"
    write_images(media, 3)
    (media / "notes.txt").write_text("not media")
    (media / "data.bin").write_bytes(bytes(range(256)) * 4)
    out = tmp_path / "results.jsonl"
    common = ["annotate", str(media), "--task", "caption", "--out", str(out), "--server", fake_server.url]
    first = run_jobs(*common)  # with the bar (tqdm on stderr)
    assert first.returncode == 0, first.stderr
    assert "0/3" in first.stderr and "3/3" in first.stderr and "/5" not in first.stderr, first.stderr
    assert summary_of(first)["ignored"] == 2 and summary_of(first)["total"] == 3
    again = run_jobs(*common, "--quiet")  # the closing log line: done/total and the rate of new work
    assert summary_of(again)["skipped"] == 3
    assert "annotate: 3/3 (0 failed), 0.00/s, ETA ?" in again.stderr, again.stderr


async def test_a_schema_constrains_each_answer_and_its_object_is_parsed(tmp_path: Path):
    """`annotate --schema` (or a manifest row's `schema`) sends it as response_format; `parsed` is the object."""
    write_images(tmp_path, 2)
    schema = {"type": "object", "properties": {"color": {"enum": ["red", "blue"]}}, "required": ["color"]}
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"path": "img0000.png", "prompt": "Color?"},
                {"path": "img0001.png", "prompt": "Color?", "schema": {"type": "object"}},
            ]
        )
        + "\n"
    )
    engine = ScriptedEngine(pieces=['{"color":', '"red"}'])
    out = tmp_path / "results.jsonl"
    await annotate(discover(str(manifest), options={"schema": schema}), out, engine, concurrency=1)
    rows = {Path(r["item"]).name: r for r in read_lines(out)}
    assert rows["img0000.png"]["parsed"] == {"color": "red"} and rows["img0000.png"]["error"] is None
    constraints = sorted(request.sampling.constraint.spec for request in engine.requests)
    assert constraints == sorted([json.dumps(schema, sort_keys=True, separators=(",", ":")), '{"type":"object"}'])
    assert rows["img0001.png"]["options"] == {"schema": {"type": "object"}}  # the row's own schema wins


def test_the_schema_flag_reads_a_jsonschema_file(tmp_path: Path):
    from cosmos_reason.jobs.cli import schema_file

    path = tmp_path / "schema.json"
    path.write_text('{"type": "object"}')
    assert schema_file(str(path)) == {"type": "object"}
    path.write_text("[1]")
    with pytest.raises(Exception, match="JSON object"):
        schema_file(str(path))
