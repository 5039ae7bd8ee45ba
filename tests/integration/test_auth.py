from __future__ import annotations

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
        response = await (guarded.post(path, json=BODY, headers=headers) if "chat" in path
                          else guarded.get(path, headers=headers))
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
