"""The jobs' targets: what building one leaves behind in the process."""

from __future__ import annotations

import logging

import pytest

from cosmos_reason.jobs.clients import server_target
from cosmos_reason.server.app import create_app
from cosmos_reason.settings import Settings
from tests.fakes import ScriptedEngine
from tests.jobs.conftest import scripted_target

OPEN_WARNING = "no API key configured"


async def test_an_in_process_target_does_not_silence_the_open_server_warning_for_others(caplog):
    """The in-process app needs no key (nobody else can reach it), so it does not warn; a server
    built afterwards in the same process still warns that it accepts every request."""
    caplog.set_level(logging.WARNING)
    target = scripted_target(ScriptedEngine())
    await target.aclose()
    assert not [r for r in caplog.records if OPEN_WARNING in r.getMessage()]
    create_app(Settings(model="/ckpt"), ScriptedEngine())
    assert [r for r in caplog.records if OPEN_WARNING in r.getMessage()]


@pytest.mark.parametrize("value,header", [(" first , second", "Bearer first"), (" , ", None)])
async def test_server_target_reads_the_key_from_the_env_as_serve_does(monkeypatch, value, header):
    """COSMOS_REASON_API_KEY, comma-separated as `serve` reads it: the first key is sent."""
    monkeypatch.setenv("COSMOS_REASON_API_KEY", value)
    target = server_target("http://127.0.0.1:1/v1")
    try:
        assert target.client.headers.get("authorization") == header
    finally:
        await target.aclose()
