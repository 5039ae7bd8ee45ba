"""Thin routes: fetch the service from app.state, parse, delegate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import asdict
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError

from ..api.protocol import ChatCompletionRequest, ModelCard, ModelList, ScoreRequest
from ..engine.base import EngineError
from ..errors import APIError, ClientGone
from ..media.limits import media_over_limit
from ..recipes.files import recipe_mapping
from ..recipes.recipe import UnknownTaskError, describe_task, find_task
from .errors import from_validation_error

router = APIRouter()
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    try:
        await request.app.state.engine.check_health()
    except EngineError as exc:
        return JSONResponse({"status": "unhealthy", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models")
async def list_models(request: Request) -> ModelList:
    return ModelList(data=[model_card(request)])


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> ModelCard:
    request.app.state.chat.check_model(model_id)
    return model_card(request)


@router.get("/v1/tasks")
async def list_tasks(request: Request) -> dict:
    recipes = request.app.state.chat.family.recipes  # the family's and --recipes DIR's
    return {"object": "list", "data": [describe_task(recipe) for recipe in recipes.values()]}


@router.get("/v1/tasks/{name}")
async def get_task_recipe(name: str, request: Request) -> dict:
    """One task's summary and its whole recipe in the recipe-file keys (JSON is YAML: saved to a
    .yaml file, it loads with --recipe / --recipes)."""
    try:
        recipe = find_task(name, request.app.state.chat.family.recipes)
    except UnknownTaskError as exc:
        raise APIError(404, str(exc), param="name", code="task_not_found") from None
    return {**describe_task(recipe), "recipe": recipe_mapping(recipe)}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> JSONResponse | StreamingResponse:
    body = await parse_body(request, ChatCompletionRequest)
    chat = request.app.state.chat
    request_id = request.scope["state"].get("request_id", "")
    if body.stream:
        # Starlette cancels the body iterator when the client goes, which aborts the generation.
        lines = await until_disconnect(request, chat.stream(body, request_id))
        return StreamingResponse(lines, media_type="text/event-stream", headers={"cache-control": "no-cache"})
    completion = await until_disconnect(request, chat.complete(body, request_id))
    return JSONResponse(completion.model_dump(exclude_none=True))


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run `work` in this task while a watcher waits for the ASGI disconnect message; if the
    client goes first, `work` is cancelled and ClientGone raised.

    `work` runs here rather than in a task of its own, so a request goes on to its engine
    without queueing behind every other ready task: when many requests arrive at once,
    each is forwarded as soon as its own work is done instead of all near the end."""
    task = asyncio.current_task()
    assert task is not None
    state = {"running": True, "gone": False}

    def on_watcher_done(watcher: asyncio.Future) -> None:
        if state["running"] and not watcher.cancelled() and watcher.exception() is None:
            state["gone"] = True
            task.cancel()

    watcher = asyncio.ensure_future(_disconnected(request))
    watcher.add_done_callback(on_watcher_done)
    try:
        return await work
    except asyncio.CancelledError:
        if not state["gone"]:
            raise
        if hasattr(task, "uncancel"):  # Python 3.11+: this cancellation is handled here
            task.uncancel()
        raise ClientGone() from None
    finally:
        state["running"] = False
        watcher.cancel()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("/v1/score")
async def score(request: Request) -> JSONResponse:
    body = await parse_body(request, ScoreRequest)
    request_id = request.scope["state"].get("request_id", "")
    result = await until_disconnect(request, request.app.state.score.score(body, request_id))
    return JSONResponse(result.model_dump(exclude_none=True))


async def parse_body(request: Request, model: type[M]) -> M:
    check_json_content_type(request)
    limits = request.app.state.settings.media
    async with request.app.state.body_budget.reading(request, limits.max_request_bytes) as raw:
        if not raw.strip():
            raise APIError(400, "request body is empty; send a JSON object")
        try:
            body = model.model_validate_json(raw)
        except ValidationError as exc:
            raise from_validation_error(exc) from None
    where = media_over_limit(getattr(body, "messages", ()), limits.max_media_per_request)
    if where is not None:
        raise APIError(
            400,
            f"{where}: too many images and videos in one request; this server takes at most "
            f"{limits.max_media_per_request} (--max-media-per-request)",
            param=where,
        )
    return body


def check_json_content_type(request: Request) -> None:
    """415 unless the body is declared as JSON (parameters such as charset aside). A request
    without a Content-Type is read as JSON, as FastAPI and vLLM do (docs/api.md)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise APIError(
            415,
            f"request body must be JSON, sent with Content-Type: application/json (this one says {declared[:100]!r})",
            code="unsupported_media_type",
        )


def model_card(request: Request) -> ModelCard:
    settings, info = request.app.state.settings, request.app.state.engine.info
    ours = {  # ModelCard allows extra fields: these are ours, beside OpenAI's
        "root": info.source,
        "max_model_len": info.context_length,
        "random_weights": info.random_weights,
        "vocab_size": info.vocab_size or None,
        "description": info.description,
        "family": info.family.name,
        # What a request gets for the sampling fields it leaves out (--default-* over the card's).
        "sampling_defaults": {
            "with_reasoning": asdict(settings.sampling_defaults(info.family, True)),
            "without_reasoning": asdict(settings.sampling_defaults(info.family, False)),
        },
    }
    return ModelCard(id=settings.model_name, created=request.app.state.started, **ours)
