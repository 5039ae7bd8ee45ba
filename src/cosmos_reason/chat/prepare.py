"""A chat request -> what the engine needs: task recipe, reasoning instruction and media
settings, merged with explicit request values winning (recipes/apply.py has the rules)."""

from __future__ import annotations

from dataclasses import dataclass

from ..api.protocol import ChatCompletionRequest
from ..errors import APIError
from ..families.base import ModelFamily
from ..families.registry import get_task
from ..media.options import MediaOptions
from ..recipes.apply import apply_recipe, with_instruction
from ..recipes.recipe import TaskRecipe, UnknownTaskError
from ..settings import Settings
from .messages import media_options


@dataclass(frozen=True)
class Prepared:
    request: ChatCompletionRequest  # with the recipe's messages and sampling filled in
    media_options: MediaOptions  # the request's own over its recipe's
    recipe: TaskRecipe | None
    reasoning: bool = False  # the output has the family's reasoning format (the recipe's or the instruction's)


def prepare_request(request: ChatCompletionRequest, settings: Settings, family: ModelFamily) -> Prepared:
    recipe = _recipe(request.task, family)
    media = request.media_options.options() if request.media_options else MediaOptions()
    media = media.over(media_options(request.processor_media_values(), "mm_processor_kwargs"))
    try:
        if recipe is not None:
            request, media = apply_recipe(request, recipe, media)
        instruction = _wants_reasoning_instruction(request, recipe, settings)
        if instruction:
            request = request.model_copy(update={"messages": with_instruction(request.messages, family.reasoning)})
    except ValueError as exc:  # a system message with media parts
        raise APIError(400, f"messages: {exc}", param="messages") from None
    return Prepared(request, media, recipe, instruction or bool(recipe and recipe.reasoning))


def _recipe(name: str | None, family: ModelFamily) -> TaskRecipe | None:
    if name is None:
        return None
    try:
        return get_task(name, family)
    except UnknownTaskError as exc:
        raise APIError(400, f"task: {exc}", param="task") from None


def _wants_reasoning_instruction(request: ChatCompletionRequest, recipe: TaskRecipe | None, settings: Settings) -> bool:
    if recipe is not None:
        # The recipe already decided; only an explicit request for reasoning adds the generic instruction.
        return bool(request.reasoning) and not recipe.reasoning
    return settings.reasoning if request.reasoning is None else request.reasoning
