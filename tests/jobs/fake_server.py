"""A test server: create_app and uvicorn around tests.fakes.ScriptedEngine.

Usage: python tests/jobs/fake_server.py '{"port": 8123, "delay": 0.01, "pieces": [...],
"api_key": null, "flaky_every": 0}'. flaky_every=k answers every k-th /v1 POST with 503.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

from cosmos_reason.server.app import create_app  # noqa: E402
from cosmos_reason.settings import Settings  # noqa: E402
from tests.fakes import ScriptedEngine  # noqa: E402


def main() -> None:
    config = json.loads(sys.argv[1])
    engine = ScriptedEngine(pieces=config.get("pieces"), delay=config.get("delay", 0.0))
    settings = Settings(model="/ckpt", served_model_names=("test-model",),
                        api_keys=(config["api_key"],) if config.get("api_key") else ())
    app = create_app(settings, engine)
    every = int(config.get("flaky_every") or 0)
    if every:
        count = {"n": 0}

        @app.middleware("http")
        async def flaky(request, call_next):
            if request.method == "POST" and request.url.path.startswith("/v1/"):
                count["n"] += 1
                if count["n"] % every == 0:
                    return JSONResponse({"error": {"message": "injected failure", "type": "server_error"}},
                                        status_code=503)
            return await call_next(request)

    uvicorn.run(app, host="127.0.0.1", port=int(config["port"]), log_level="warning")


if __name__ == "__main__":
    main()
