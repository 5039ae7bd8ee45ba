"""create_app(settings, engine): the whole HTTP surface, with no module-level state."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ..chat.completions import ChatService
from ..chat.score import ScoreService
from ..engine.base import Engine
from ..media.loader import MediaLoader
from ..metrics import Metrics
from ..settings import Settings
from .auth import APIKeyMiddleware
from .body import BodyBudget
from .errors import install_error_handlers
from .middleware import RequestCountMiddleware, RequestIdMiddleware, UpperCaseMethodMiddleware
from .routes import router
from .same_origin import SameOriginMiddleware
from .ui import router as ui_router

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, engine: Engine, media: MediaLoader | None = None, *, warn_open: bool = True
) -> FastAPI:
    """The app; `warn_open=False` for an app nobody else can reach (the jobs' in-process target),
    which needs no API key and so no warning about having none."""
    family = engine.info.family
    loader = media or MediaLoader.from_settings(
        settings.media, family.geometry, family.video, text_timestamps=family.text_timestamps
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await engine.shutdown()
        await loader.close()

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN (nothing offline, and a
    # third party's code on our origin). The schema stays, keyed like /v1.
    app = FastAPI(title="cosmos-reason", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.started = int(time.time())
    assert settings.max_buffered_body_bytes is not None  # Settings.__post_init__ fills it in
    app.state.body_budget = BodyBudget(settings.max_buffered_body_bytes)
    app.state.metrics = metrics = Metrics()
    metrics.watch_engine(engine.stats)
    loader.metrics = metrics
    loader.context_length = lambda: engine.info.context_length or None
    app.state.chat = ChatService(settings, engine, loader, metrics)
    app.state.score = ScoreService(app.state.chat)
    app.include_router(router)
    app.include_router(ui_router)
    install_error_handlers(app)
    # Outermost last: method fix-up and request id wrap auth, so 401s carry an id too.
    protected = ("/openapi.json",) if settings.public_metrics else ("/openapi.json", "/metrics")
    app.add_middleware(APIKeyMiddleware, keys=settings.api_keys, protected_paths=protected)
    if not settings.api_keys:  # with keys, the key is the gate (server/same_origin.py)
        app.add_middleware(SameOriginMiddleware, bound_host=settings.host)
    app.add_middleware(RequestCountMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(UpperCaseMethodMiddleware)
    if not settings.api_keys and warn_open:
        log.warning("no API key configured: the server accepts every request (set --api-key or COSMOS_REASON_API_KEY)")
    return app
