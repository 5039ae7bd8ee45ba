"""A chat request -> what the engine needs: task recipe, reasoning instruction,
sampling and media settings, all merged with explicit request values winning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import APIError
from ..protocol import ChatCompletionRequest, ChatMessage
from ..reasoning import with_reasoning_instruction
from ..settings import Settings
from ..tasks import TaskRecipe, UnknownTaskError, apply_task, get_task, recipe_defaults

_SAMPLING_KEYS = ("temperature", "top_p", "top_k", "repetition_penalty", "max_tokens", "n")


@dataclass(frozen=True)
class Prepared:
    request: ChatCompletionRequest  # with the recipe's messages and sampling filled in
    media_overrides: dict[str, Any]
    recipe: TaskRecipe | None
    reasoning: bool = False  # the output has the reasoning format (the recipe's or the instruction's)


def prepare_request(request: ChatCompletionRequest, settings: Settings) -> Prepared:
    recipe = _recipe(request.task)
    media = request.media_overrides()
    if recipe is not None:
        request, media = _apply_recipe(request, recipe, media)
    instruction = _wants_reasoning_instruction(request, recipe, settings)
    if instruction:
        request = request.model_copy(update={"messages": _with_instruction(request.messages)})
    return Prepared(request, media, recipe, instruction or bool(recipe and recipe.reasoning))


def _recipe(name: str | None) -> TaskRecipe | None:
    if name is None:
        return None
    try:
        return get_task(name)
    except UnknownTaskError as exc:
        raise APIError(400, f"task: {exc}", param="task") from None


def _apply_recipe(
    request: ChatCompletionRequest, recipe: TaskRecipe, media: dict[str, Any]
) -> tuple[ChatCompletionRequest, dict[str, Any]]:
    defaults = recipe_defaults(recipe)
    explicit = request.model_fields_set | ({"max_tokens"} if request.max_completion_tokens else set())
    sampling = {k: v for k, v in defaults.items() if k in _SAMPLING_KEYS and k not in explicit}
    media = {k: v for k, v in defaults.items() if k not in _SAMPLING_KEYS} | media
    dumped = [m.model_dump(exclude_none=True) for m in request.messages]
    messages = [ChatMessage.model_validate(m) for m in apply_task(recipe, dumped)]
    return request.model_copy(update={"messages": messages, **sampling}), media


def _wants_reasoning_instruction(request: ChatCompletionRequest, recipe: TaskRecipe | None, settings: Settings) -> bool:
    if recipe is not None:
        # The recipe already decided; only an explicit request for reasoning adds the generic instruction.
        return bool(request.reasoning) and not recipe.reasoning
    return settings.reasoning if request.reasoning is None else request.reasoning


def _with_instruction(messages: list[ChatMessage]) -> list[ChatMessage]:
    first = messages[0]
    if first.role in ("system", "developer"):
        text = first.content if isinstance(first.content, str) else "".join(
            getattr(part, "text", "") for part in first.content or [])
        return [first.model_copy(update={"content": with_reasoning_instruction(text)}), *messages[1:]]
    return [ChatMessage(role="system", content=with_reasoning_instruction(None)), *messages]
