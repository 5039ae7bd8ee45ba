from __future__ import annotations

import httpx
import pytest

from cosmos_reason.server.app import create_app
from cosmos_reason.settings import Settings
from tests.fakes import ScriptedEngine

MODEL = "test-model"


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


def make_client(engine, **settings) -> httpx.AsyncClient:
    app = create_app(Settings(model="/ckpt", served_model_names=(MODEL,), **settings), engine)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(engine):
    async with make_client(engine) as c:
        yield c
