from __future__ import annotations

import json

import pytest

from .conftest import MODEL, make_client

KEY = "sk-test-0123456789"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
async def guarded(engine):
    async with make_client(engine, api_keys=(KEY, "second-key")) as c:
        yield c


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"bearer {KEY}"},
        {"Authorization": f"BEARER {KEY}"},
        {"Authorization": KEY},  # the user guide's curl sends the bare key
        {"X-Api-Key": KEY},
        {"Authorization": "Bearer second-key"},
    ],
)
async def test_accepted_key_forms(guarded, headers):
    response = await guarded.post("/v1/chat/completions", json=BODY, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "wrong"}, {"Authorization": "Bearer"}]
)
async def test_rejected_keys_get_openai_401(guarded, headers):
    for path in ("/v1/chat/completions", "/v1/models"):
        response = await (
            guarded.post(path, json=BODY, headers=headers) if "chat" in path else guarded.get(path, headers=headers)
        )
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "authentication_error"
        assert "API key" in error["message"]
        assert KEY not in response.text


async def test_unknown_v1_paths_are_guarded_too(guarded):
    assert (await guarded.get("/v1/anything")).status_code == 401


async def test_health_stays_open(guarded):
    assert (await guarded.get("/health")).status_code == 200


async def test_no_keys_means_open(client):
    assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200


async def test_the_openapi_schema_needs_the_key_and_the_cdn_doc_pages_are_off(guarded):
    assert (await guarded.get("/openapi.json")).status_code == 401
    schema = await guarded.get("/openapi.json", headers={"Authorization": f"Bearer {KEY}"})
    assert schema.status_code == 200 and "/v1/chat/completions" in schema.json()["paths"]
    # /docs and /redoc would load their scripts from a CDN: not served, with or without a key
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        response = await guarded.get(path, headers={"Authorization": f"Bearer {KEY}"})
        assert response.status_code == 404 and "cdn" not in response.text.lower()


async def test_the_openapi_schema_is_open_when_the_server_is(client):
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 404


# ---- without a key: only this server's own pages and addresses (server/same_origin.py) ------------

PLAIN = {"content-type": "text/plain"}  # what a foreign page can post without a CORS preflight


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},  # a page elsewhere posting to us
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Origin": "http://test:8080"},  # same name, another port: another origin
        {"Host": "evil.example.com"},  # DNS rebinding: the attacker's name, now resolving to us
        {"Host": "evil.example.com:8000", "Origin": "http://evil.example.com:8000"},
    ],
)
async def test_a_keyless_server_refuses_what_only_a_foreign_page_sends(client, engine, headers):
    response = await client.post("/v1/chat/completions", content=json.dumps(BODY), headers={**PLAIN, **headers})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "permission_error" and "--api-key" in error["message"]
    assert engine.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, the openai SDK: no Origin
        {"Origin": "http://test"},  # the playground, same origin
        {"Host": "localhost:8000", "Origin": "http://localhost:8000"},
        {"Host": "127.0.0.1:8000"},
        {"Host": "[::1]:8000"},
        {"Host": "10.1.2.3:8000"},
        {"Host": "cosmos-reason:8000"},  # a compose service name
        {"Host": "app.localhost"},
    ],
)
async def test_a_keyless_server_serves_its_own_page_and_plain_clients(client, headers):
    response = await client.post("/v1/chat/completions", json=BODY, headers=headers)
    assert response.status_code == 200, response.text


async def test_with_a_key_the_key_is_the_gate(guarded):
    foreign = {"Host": "api.example.com", "Origin": "https://app.example.com"}
    assert (await guarded.post("/v1/chat/completions", json=BODY, headers=foreign)).status_code == 401
    keyed = {**foreign, "Authorization": f"Bearer {KEY}"}
    assert (await guarded.post("/v1/chat/completions", json=BODY, headers=keyed)).status_code == 200
