"""SIGTERM drains the real server: no new connections, running streams finish, exit status 0."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest

from .conftest import ServerProcess

pytestmark = pytest.mark.e2e


class StreamReader(threading.Thread):
    """Reads one streaming chat completion in the background, keeping every SSE data line."""

    def __init__(self, url: str, max_tokens: int) -> None:
        super().__init__(daemon=True)
        self.url, self.max_tokens = url, max_tokens
        self.lines: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        body = {
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "stream": True,
            "max_tokens": self.max_tokens,
            "ignore_eos": True,
            "temperature": 0,
            "stream_options": {"include_usage": True},
        }
        try:
            with httpx.stream(
                "POST",
                f"{self.url}/v1/chat/completions",
                json=body,
                timeout=300,
                headers={"x-request-id": "drain-me-1"},
            ) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.lines.append(line[len("data: ") :])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def chunks(self) -> list[dict]:
        return [json.loads(line) for line in self.lines if line != "[DONE]"]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def refuses_connections(url: str) -> bool:
    try:
        httpx.get(f"{url}/health", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def test_sigterm_lets_a_running_stream_finish_then_exits_zero(demo_checkpoint):
    server = ServerProcess(["--model", str(demo_checkpoint), "--shutdown-timeout", "120"])
    try:
        server.wait_ready()
        reader = StreamReader(server.url, max_tokens=300)
        reader.start()
        wait_until(lambda: len(reader.lines) >= 3 or not reader.is_alive(), 120, "the stream to start")
        before = len(reader.lines)
        server.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(server.url), 10, "new connections to be refused")
        reader.join(timeout=180)
        assert server.proc.wait(timeout=60) == 0, server.output()
    finally:
        if server.proc.poll() is None:
            server.stop()
    assert reader.error is None, reader.error
    assert before < 300, "the stream had finished before SIGTERM; nothing was drained"
    chunks = reader.chunks()
    assert reader.lines[-1] == "[DONE]"
    finishes = [
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0].get("finish_reason")
    ]
    assert finishes == ["length"]
    assert chunks[-1]["usage"]["completion_tokens"] == 300
    output = server.output()
    assert "Waiting for connections to close" in output
    assert "access [drain-me-1]: 127.0.0.1" in output and '"POST /v1/chat/completions HTTP/1.1" 200' in output


def test_sigterm_cuts_streams_that_outlast_the_timeout_and_still_exits_zero(demo_checkpoint):
    server = ServerProcess(["--model", str(demo_checkpoint), "--shutdown-timeout", "1"])
    try:
        server.wait_ready()
        reader = StreamReader(server.url, max_tokens=100_000)
        reader.start()
        wait_until(lambda: len(reader.lines) >= 3 or not reader.is_alive(), 120, "the stream to start")
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0, server.output()
        assert time.monotonic() - signalled < 30
        reader.join(timeout=30)
    finally:
        if server.proc.poll() is None:
            server.stop()
    assert "[DONE]" not in reader.lines  # cut, not finished
    assert "timeout graceful shutdown exceeded" in server.output()
