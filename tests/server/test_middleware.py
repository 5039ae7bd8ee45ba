"""Log lines about a request carry its x-request-id: ours, third parties' and the access log."""

from __future__ import annotations

import contextvars
import logging

import httpx

from cosmos_reason.server.app import create_app
from cosmos_reason.server.logs import uvicorn_log_config
from cosmos_reason.server.middleware import REQUEST_ID, RequestIdLogFilter
from cosmos_reason.settings import Settings
from tests.fakes import ScriptedEngine

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "unknown_field": 1}


async def test_log_lines_inside_a_request_carry_its_id(caplog):
    app = create_app(Settings(model="/ckpt", served_model_names=("m",)), ScriptedEngine())
    caplog.handler.addFilter(RequestIdLogFilter())
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        sent = await client.post("/v1/chat/completions", json=BODY, headers={"x-request-id": "trace-42"})
        made = await client.post("/v1/chat/completions", json=BODY)
    assert sent.status_code == made.status_code == 200
    ids = [r.request_id for r in caplog.records if r.name == "cosmos_reason.chat.completions"]
    assert ids == ["trace-42", made.headers["x-request-id"]]


def test_filter_reads_the_current_request_and_defaults_to_a_dash():
    def record() -> logging.LogRecord:
        r = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
        RequestIdLogFilter().filter(r)
        return r

    assert contextvars.Context().run(record).request_id == "-"

    def in_request() -> logging.LogRecord:
        REQUEST_ID.set("abc-1")
        return record()

    assert contextvars.Context().run(in_request).request_id == "abc-1"


def test_access_log_lines_show_the_request_id():
    from uvicorn.logging import AccessFormatter

    config = uvicorn_log_config()
    assert all(h["filters"] == ["request_id"] for h in config["handlers"].values())
    formatter = AccessFormatter(config["formatters"]["access"]["fmt"], use_colors=False)

    def line() -> str:
        REQUEST_ID.set("req-7")
        r = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "POST", "/v1/chat/completions", "1.1", 200),
            None,
        )
        RequestIdLogFilter().filter(r)
        return formatter.format(r)

    text = contextvars.Context().run(line)
    assert "access [req-7]: 127.0.0.1:5000" in text and '"POST /v1/chat/completions HTTP/1.1" 200' in text
