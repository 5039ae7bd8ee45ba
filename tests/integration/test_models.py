from __future__ import annotations

from openai.types import Model

from .conftest import MODEL


async def test_models_lists_the_served_model(client):
    response = await client.get("/v1/models")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [Model.model_validate(m).id for m in data] == [MODEL]
    assert data[0]["random_weights"] is True
    assert "scripted" in data[0]["description"]


async def test_model_by_id(client):
    assert (await client.get(f"/v1/models/{MODEL}")).json()["id"] == MODEL
    missing = await client.get("/v1/models/other")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
