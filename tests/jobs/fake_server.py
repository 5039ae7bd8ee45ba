"""A test server: create_app and uvicorn around tests.fakes.ScriptedEngine.

Usage: python tests/jobs/fake_server.py '{"port": 8123, "delay": 0.01, "pieces": [...],
"api_key": null, "flaky_every": 0, "gate": null, "recipes": null}'. flaky_every=k answers every k-th /v1 POST
with 503; recipes: a folder of recipe files, as serve --recipes.

gate=k answers only the first k /v1 POSTs; the rest wait until the test allows more with
POST /test/allow {"more": n} (or {"all": true}). A test that must signal a job mid-run
thereby knows the run cannot finish first, however slow or fast the machine is.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

from cosmos_reason.recipes.files import load_recipe_dir  # noqa: E402
from cosmos_reason.server.app import create_app  # noqa: E402
from cosmos_reason.settings import Settings  # noqa: E402
from tests.fakes import ScriptedEngine  # noqa: E402


def main() -> None:
    config = json.loads(sys.argv[1])
    engine = ScriptedEngine(pieces=config.get("pieces"), delay=config.get("delay", 0.0))
    settings = Settings(
        model="/ckpt",
        served_model_names=("test-model",),
        api_keys=(config["api_key"],) if config.get("api_key") else (),
        recipes=load_recipe_dir(config["recipes"]) if config.get("recipes") else (),
    )
    app = create_app(settings, engine)
    every = int(config.get("flaky_every") or 0)
    if every:
        count = {"n": 0}

        @app.middleware("http")
        async def flaky(request, call_next):
            if request.method == "POST" and request.url.path.startswith("/v1/"):
                count["n"] += 1
                if count["n"] % every == 0:
                    return JSONResponse(
                        {"error": {"message": "injected failure", "type": "server_error"}}, status_code=503
                    )
            return await call_next(request)

    if config.get("gate") is not None:
        _add_gate(app, int(config["gate"]))
    uvicorn.run(app, host="127.0.0.1", port=int(config["port"]), log_level="warning")


def _add_gate(app, allowed: int) -> None:
    state = {"allowed": allowed, "used": 0}
    changed = asyncio.Condition()

    @app.middleware("http")
    async def gate(request, call_next):
        if request.url.path == "/test/allow":
            body = await request.json()
            async with changed:
                state["allowed"] = float("inf") if body.get("all") else state["allowed"] + int(body.get("more", 0))
                changed.notify_all()
            return JSONResponse(state | {"allowed": str(state["allowed"])})
        if request.method == "POST" and request.url.path.startswith("/v1/"):
            async with changed:
                await changed.wait_for(lambda: state["used"] < state["allowed"])
                state["used"] += 1
        return await call_next(request)


if __name__ == "__main__":
    main()
