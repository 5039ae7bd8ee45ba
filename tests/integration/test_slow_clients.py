"""Slow and large request bodies: read deadlines (server/http.py) and the server-wide body budget
(server/body.py).

The deadlines live in uvicorn's protocol, so those tests run the app under a real uvicorn on a
local port and talk raw HTTP over a socket; the budget is plain ASGI and runs in-process, with
one body held half-sent by the test itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from cosmos_reason.media.settings import MediaSettings
from cosmos_reason.server.app import create_app
from cosmos_reason.server.http import http_protocol
from cosmos_reason.server.process import free_port
from cosmos_reason.settings import Settings
from tests.fakes import ScriptedEngine

from .conftest import MODEL, make_client

DEADLINE = 0.5  # the server's read timeouts in these tests
PATIENCE = 60.0  # how long the test waits for the server to act: generous, for a loaded machine


@asynccontextmanager
async def real_server(**settings) -> AsyncIterator[int]:
    settings = Settings(
        model="/ckpt", served_model_names=(MODEL,), header_read_timeout=DEADLINE, body_read_timeout=DEADLINE, **settings
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, ScriptedEngine()),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=http_protocol(settings.header_read_timeout, settings.body_read_timeout),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(PATIENCE):
            while not server.started:
                await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task


async def answer_to(port: int, sent: bytes, trickle: bytes = b"") -> bytes:
    """Send `sent`, then `trickle` one byte at a time, and return all the server answers
    before it closes the connection (the test fails if it never does)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def drip() -> None:
        try:
            for i in range(len(trickle)):
                writer.write(trickle[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0.02)
        except ConnectionError:
            pass  # the server hung up: what the test waits for

    dripping = asyncio.create_task(drip())
    try:
        writer.write(sent)
        async with asyncio.timeout(PATIENCE):
            return await reader.read()
    finally:
        dripping.cancel()
        writer.close()


def error_of(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


async def test_a_stalled_request_head_is_answered_408_and_closed():
    async with real_server() as port:
        answer = await answer_to(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-")
        status, error = error_of(answer)
        assert status == 408 and "--header-read-timeout" in error["message"]


async def test_a_head_sent_one_byte_at_a_time_is_cut_off_too():
    # Each byte arrives well within the deadline; the whole head never does.
    padding = b"X-Pad: " + b"a" * 100_000 + b"\r\n"
    async with real_server() as port:
        answer = await answer_to(port, b"GET /health HTTP/1.1\r\nHost: localhost\r\n", trickle=padding)
        assert error_of(answer)[0] == 408


async def test_a_stalled_body_is_answered_408_and_the_server_keeps_serving():
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}).encode()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    async with real_server() as port:
        status, error = error_of(await answer_to(port, head + body[:10]))
        assert status == 408 and "--body-read-timeout" in error["message"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post(
                "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
        assert response.status_code == 200, response.text


# ---- the server-wide body budget ---------------------------------------------------------------


def chat_body(size: int) -> bytes:
    """A valid chat request of exactly `size` bytes."""
    empty = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": ""}]})
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x" * (size - len(empty))}]}).encode()


class HeldBody:
    """A body the test sends half of, then holds until `release()`."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.half_read = asyncio.Event()
        self.gate = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.body[: len(self.body) // 2]
        self.half_read.set()  # the server asked for more: it holds the first half
        await self.gate.wait()
        yield self.body[len(self.body) // 2 :]


BUDGET = 10_000
JSON = {"content-type": "application/json"}


def budget_client():
    return make_client(ScriptedEngine(), max_buffered_body_bytes=BUDGET, media=MediaSettings(max_request_bytes=BUDGET))


async def test_bodies_beyond_the_server_wide_budget_get_503_while_one_within_it_works():
    async with budget_client() as client:
        held = HeldBody(chat_body(6_000))
        first = asyncio.create_task(
            client.post(
                "/v1/chat/completions", content=held.chunks(), headers={**JSON, "content-length": str(len(held.body))}
            )
        )
        await held.half_read.wait()

        # 6000 held + 6000 more > 10000: refused from Content-Length, and while it streams without one
        second = chat_body(6_000)
        refused = await client.post("/v1/chat/completions", content=second, headers=JSON)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert "--max-buffered-body-bytes" in refused.json()["error"]["message"]

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(second), 1000):
                yield second[start : start + 1000]

        assert (await client.post("/v1/chat/completions", content=streamed(), headers=JSON)).status_code == 503
        # within what is left, a body is served at once
        assert (await client.post("/v1/chat/completions", content=chat_body(3_000), headers=JSON)).status_code == 200

        held.gate.set()
        assert (await first).status_code == 200
        # the held body's bytes are back: the refused one now fits
        assert (await client.post("/v1/chat/completions", content=second, headers=JSON)).status_code == 200


async def test_one_body_beyond_the_per_request_limit_is_still_a_413():
    async with budget_client() as client:
        response = await client.post("/v1/chat/completions", content=chat_body(BUDGET + 1), headers=JSON)
        assert response.status_code == 413


def test_the_budget_must_hold_at_least_one_largest_body():
    with pytest.raises(ValueError, match="--max-buffered-body-bytes"):
        Settings(max_buffered_body_bytes=1000, media=MediaSettings(max_request_bytes=2000))
    # unset, it grows with a larger --max-request-bytes instead of refusing it
    assert Settings(media=MediaSettings(max_request_bytes=2**30)).max_buffered_body_bytes == 2**30
    assert Settings().max_buffered_body_bytes == 256 * 2**20
