from __future__ import annotations

from cosmos_reason.engine.base import EngineStats
from tests.fakes import ScriptedEngine

from .conftest import MODEL, make_client

BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


async def test_metrics_count_requests_tokens_and_latency(client):
    await client.post("/v1/chat/completions", json=BODY)
    await client.post("/v1/chat/completions", json={**BODY, "stream": True})
    await client.post("/v1/chat/completions", json={"messages": []})
    text = (await client.get("/metrics")).text
    assert sample(text, 'cosmos_reason_requests_total{route="/v1/chat/completions",status="200"}') == 2
    assert sample(text, 'cosmos_reason_requests_total{route="/v1/chat/completions",status="400"}') == 1
    assert sample(text, "cosmos_reason_completion_tokens_total") == 8
    assert sample(text, "cosmos_reason_prompt_tokens_total") == 22
    assert sample(text, "cosmos_reason_time_to_first_token_seconds_count") == 2
    assert sample(text, "cosmos_reason_request_latency_seconds_count") == 2
    assert "cosmos_reason_queue_depth" in text


async def test_metrics_need_the_key_unless_public(engine):
    async with make_client(engine, api_keys=("k",)) as guarded:
        assert (await guarded.get("/metrics")).status_code == 401
        assert (await guarded.get("/metrics", headers={"Authorization": "Bearer k"})).status_code == 200
    async with make_client(engine, api_keys=("k",), public_metrics=True) as public:
        assert (await public.get("/metrics")).status_code == 200


async def test_the_load_gauges_read_the_engines_stats():
    engine = ScriptedEngine()
    async with make_client(engine) as client:
        engine.load = EngineStats(running_rows=3, running_requests=1, waiting_requests=2)
        text = (await client.get("/metrics")).text
        assert sample(text, "cosmos_reason_queue_depth") == 2
        assert sample(text, "cosmos_reason_running_sequences") == 3
        engine.load = EngineStats()
        text = (await client.get("/metrics")).text
        assert sample(text, "cosmos_reason_queue_depth") == 0
        assert sample(text, "cosmos_reason_running_sequences") == 0
