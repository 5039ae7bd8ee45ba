"""run-batch: OpenAI Batch API files in, Batch API output out, checked with the openai SDK's types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai.types import BatchError as OpenAIBatchError
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from pydantic import TypeAdapter

from cosmos_reason.engine.base import EngineError
from cosmos_reason.jobs.batch import BatchInputError, BatchJob, BatchRequestOutput, read_requests
from cosmos_reason.jobs.execution import RetryPolicy
from tests.fakes import ScriptedEngine
from tests.media_factory import data_uri, png_bytes

from .conftest import MODEL, read_lines, run_jobs, scripted_target, summary_of

FAST = RetryPolicy(attempts=2, base=0.01, cap=0.01)


def _chat(custom_id: str, content, **body) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": 4, **body},
    }


def _requests() -> list[dict]:
    image = {"type": "image_url", "image_url": {"url": data_uri(png_bytes(), "image/png")}}
    return [
        _chat("plain", "Say hello."),
        _chat("image", [image, {"type": "text", "text": "What is this?"}]),
        _chat("streamed", "Stream it.", stream=True, stream_options={"include_usage": True}),
        _chat("task", [image], task="caption"),
        _chat("corrupt", [{"type": "image_url", "image_url": {"url": data_uri(png_bytes()[:50], "image/png")}}]),
        _chat("other-model", "Hi", model="gpt-4o-mini"),
        {
            "custom_id": "score",
            "method": "POST",
            "url": "/v1/score",
            "body": {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "Plausible?"}]}]},
        },
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


async def _run(requests_path: Path, out: Path, engine, **kwargs) -> BatchJob:
    target = scripted_target(engine)
    job = BatchJob(read_requests(requests_path), out, target, quiet=True, policy=FAST, **kwargs)
    try:
        await job.run()
    finally:
        await target.aclose()
    return job


def test_the_input_lines_are_openai_batch_requests():
    adapter = TypeAdapter(CompletionCreateParamsNonStreaming)
    for request in _requests():
        if request["url"] == "/v1/chat/completions":
            adapter.validate_python({k: v for k, v in request["body"].items() if k not in ("stream", "task")})


async def test_batch_output_matches_the_openai_batch_format(tmp_path: Path):
    requests = _write(tmp_path / "requests.jsonl", _requests())
    out = tmp_path / "results.jsonl"
    job = await _run(requests, out, ScriptedEngine())
    rows = {row["custom_id"]: row for row in read_lines(out)}
    assert set(rows) == {r["custom_id"] for r in _requests()}
    for row in rows.values():
        assert set(row) == {"id", "custom_id", "response", "error"} and row["id"].startswith("batch_req_")
        assert BatchRequestOutput.model_validate(row).model_dump() == row
        assert row["error"] is None and row["response"]["request_id"]
    for custom_id in ("plain", "image", "streamed", "task"):
        response = rows[custom_id]["response"]
        assert response["status_code"] == 200
        completion = ChatCompletion.model_validate(response["body"])  # the SDK's own type
        assert completion.choices[0].message.content and completion.usage.completion_tokens == 4
    assert rows["corrupt"]["response"]["status_code"] == 400
    assert "image" in rows["corrupt"]["response"]["body"]["error"]["message"]
    assert rows["other-model"]["response"]["status_code"] == 404
    assert 0 < rows["score"]["response"]["body"]["yes_no"]["p_yes"] < 1
    assert (job.summary.done, job.summary.failed, job.summary.exit_code()) == (5, 2, 4)


async def test_force_model_sends_every_request_to_the_served_model(tmp_path: Path):
    requests = _write(tmp_path / "requests.jsonl", [_chat("a", "Hi", model="gpt-4o-mini")])
    out = tmp_path / "results.jsonl"
    await _run(requests, out, ScriptedEngine(), force_model=True)
    (row,) = read_lines(out)
    assert row["response"]["status_code"] == 200 and row["response"]["body"]["model"] == MODEL


async def test_rerun_skips_answered_custom_ids_and_redoes_the_unanswered(tmp_path: Path):
    requests = _write(tmp_path / "requests.jsonl", [_chat(f"r{i}", f"Question {i}") for i in range(4)])
    out = tmp_path / "results.jsonl"
    job = await _run(requests, out, ScriptedEngine(fail=EngineError("down")), breaker_limit=100)
    rows = read_lines(out)
    assert [row["response"] for row in rows] == [None] * 4 and job.summary.unfinished == 4
    error = OpenAIBatchError.model_validate(rows[0]["error"])  # the SDK's error type reads it
    assert error.code == "retries_exhausted" and "HTTP 500" in error.message
    with out.open("a") as f:
        f.write('{"id": "batch_req_x", "custom_id": "r9", "resp')  # a line cut by a crash
    engine = ScriptedEngine()
    job = await _run(requests, out, engine)
    rows = read_lines(out)
    assert sorted(row["custom_id"] for row in rows) == ["r0", "r1", "r2", "r3"]
    assert all(row["response"]["status_code"] == 200 for row in rows)
    engine = ScriptedEngine()
    job = await _run(requests, out, engine)
    assert job.summary.skipped == 4 and engine.requests == []


def test_an_openai_output_line_round_trips():
    line = {
        "id": "batch_req_123",
        "custom_id": "request-2",
        "response": {
            "status_code": 200,
            "request_id": "req_123",
            "body": {
                "id": "chatcmpl-123",
                "object": "chat.completion",
                "created": 1711652795,
                "model": "gpt-3.5-turbo",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hello."},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 22, "completion_tokens": 2, "total_tokens": 24},
            },
        },
        "error": None,
    }
    assert BatchRequestOutput.model_validate(line).model_dump() == line


def test_invalid_input_files_are_refused_with_the_line(tmp_path: Path):
    path = _write(tmp_path / "dup.jsonl", [_chat("a", "x"), _chat("a", "y")])
    with pytest.raises(BatchInputError, match=r"dup.jsonl:2: custom_id 'a' repeats line 1"):
        read_requests(path)
    path = _write(tmp_path / "get.jsonl", [{**_chat("a", "x"), "method": "GET"}])
    with pytest.raises(BatchInputError, match=r"get.jsonl:1: method"):
        read_requests(path)
    path.write_text('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"}\n')
    with pytest.raises(BatchInputError, match=r"body"):
        read_requests(path)


def test_run_batch_command_against_a_server(tmp_path: Path, fake_server):
    requests = _write(tmp_path / "requests.jsonl", [_chat(f"r{i}", f"Q{i}") for i in range(6)])
    out = tmp_path / "results.jsonl"
    result = run_jobs("run-batch", "-i", str(requests), "-o", str(out), "--server", fake_server.url, "--quiet")
    assert result.returncode == 0, result.stderr
    assert summary_of(result)["done"] == 6
    rows = read_lines(out)
    assert sorted(r["custom_id"] for r in rows) == [f"r{i}" for i in range(6)]
    again = run_jobs("run-batch", "-i", str(requests), "-o", str(out), "--server", fake_server.url, "--quiet")
    assert summary_of(again)["skipped"] == 6 and len(read_lines(out)) == 6
    bad = run_jobs("run-batch", "-i", str(tmp_path / "missing.jsonl"), "-o", str(out), "--server", fake_server.url)
    assert bad.returncode == 1 and "missing.jsonl" in bad.stderr


async def test_a_batch_file_naming_another_model_stops_early_and_names_force_model(tmp_path: Path):
    requests = _write(
        tmp_path / "requests.jsonl", [_chat(f"r{i}", f"Q{i}", model="nvidia/Cosmos-Reason1-7B") for i in range(20)]
    )
    out = tmp_path / "results.jsonl"
    engine = ScriptedEngine()
    job = await _run(requests, out, engine, concurrency=1)
    assert "--force-model" in job.summary.stopped and "nvidia/Cosmos-Reason1-7B" in job.summary.stopped
    assert MODEL in job.summary.stopped and job.summary.exit_code() == 3
    assert read_lines(out) == []  # nothing recorded: the rerun with --force-model does them all
    job = await _run(requests, out, ScriptedEngine(), force_model=True)
    assert (job.summary.done, job.summary.exit_code(), len(read_lines(out))) == (20, 0, 20)


async def test_error_lines_make_a_non_zero_exit_and_count_on_resume_and_retry_errors_redoes_them(tmp_path: Path):
    requests = _write(
        tmp_path / "requests.jsonl", [_chat("a", "Hi"), _chat("b", "Hi", model="other"), _chat("c", "Hi")]
    )
    out = tmp_path / "results.jsonl"
    job = await _run(requests, out, ScriptedEngine(), concurrency=1)
    assert (job.summary.done, job.summary.failed, job.summary.stopped) == (2, 1, None)  # one miss: no stop
    assert job.summary.exit_code() == 4 and "--retry-errors" in job.summary.text("requests")
    job = await _run(requests, out, ScriptedEngine())
    assert (job.summary.skipped, job.summary.failed_before, job.summary.exit_code()) == (3, 1, 4)
    assert "requests with an error line in the output: 1 (1 from an earlier run)" in job.summary.text("requests")
    engine = ScriptedEngine()
    job = await _run(requests, out, engine, retry_errors=True, force_model=True)
    assert (job.summary.skipped, job.summary.done, job.summary.exit_code()) == (2, 1, 0)
    rows = {row["custom_id"]: row for row in read_lines(out)}
    assert len(rows) == 3 and all(row["response"]["status_code"] == 200 for row in rows.values())


def test_run_batch_command_with_another_model_exits_non_zero_with_the_hint(tmp_path: Path, fake_server):
    requests = _write(
        tmp_path / "requests.jsonl", [_chat(f"r{i}", f"Q{i}", model="nvidia/Cosmos-Reason1-7B") for i in range(6)]
    )
    out = tmp_path / "results.jsonl"
    result = run_jobs("run-batch", "-i", str(requests), "-o", str(out), "--server", fake_server.url, "--quiet")
    assert result.returncode == 3 and "--force-model" in result.stderr, result.stderr
    forced = run_jobs(
        "run-batch", "-i", str(requests), "-o", str(out), "--server", fake_server.url, "--quiet", "--force-model"
    )
    assert forced.returncode == 0 and summary_of(forced)["done"] == 6, forced.stderr


async def test_response_format_in_a_request_body_is_honoured(tmp_path: Path):
    schema = {"type": "object", "properties": {"a": {"enum": ["x"]}}}
    rows = [
        _chat(
            "json",
            "JSON please.",
            response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        ),
        _chat("bad", "JSON please.", guided_regex="(?=x)"),
    ]
    engine = ScriptedEngine(pieces=['{"a":"x"}'])
    await _run(_write(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", engine)
    assert [request.sampling.constraint.kind for request in engine.requests] == ["json"]
    lines = {line["custom_id"]: line for line in read_lines(tmp_path / "out.jsonl")}
    assert lines["json"]["response"]["body"]["choices"][0]["message"]["content"] == '{"a":"x"}'
    assert lines["bad"]["response"]["status_code"] == 400
