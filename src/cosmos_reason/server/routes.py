"""Thin routes: fetch the service from app.state, parse, delegate."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from ..engine.base import EngineError
from ..errors import APIError
from ..protocol import ChatCompletionRequest, ModelCard, ModelList
from ..tasks import TASKS, describe_task
from .errors import from_validation_error

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    try:
        await request.app.state.engine.check_health()
    except EngineError as exc:
        return JSONResponse({"status": "unhealthy", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/v1/models")
async def list_models(request: Request) -> ModelList:
    return ModelList(data=[model_card(request)])


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> ModelCard:
    request.app.state.chat.check_model(model_id)
    return model_card(request)


@router.get("/v1/tasks")
async def list_tasks() -> dict:
    return {"object": "list", "data": [describe_task(recipe) for recipe in TASKS.values()]}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> JSONResponse | StreamingResponse:
    body = await parse_body(request, ChatCompletionRequest)
    chat = request.app.state.chat
    request_id = request.scope["state"].get("request_id", "")
    if body.stream:
        lines = await chat.stream(body, request_id)
        return StreamingResponse(lines, media_type="text/event-stream", headers={"cache-control": "no-cache"})
    completion = await chat.complete(body, request_id)
    return JSONResponse(completion.model_dump())


async def parse_body(request: Request, model: type[ChatCompletionRequest]) -> ChatCompletionRequest:
    raw = await request.body()
    if not raw.strip():
        raise APIError(400, "request body is empty; send a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def model_card(request: Request) -> ModelCard:
    settings, info = request.app.state.settings, request.app.state.engine.info
    return ModelCard(
        id=settings.model_name,
        created=request.app.state.started,
        root=info.source,
        max_model_len=info.context_length,
        random_weights=info.random_weights,
        description=info.description,
    )
