"""A chat request -> what the engine needs: task recipe, reasoning instruction and media
settings, merged with explicit request values winning (recipes/apply.py has the rules)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from ..api.protocol import ChatCompletionRequest
from ..errors import APIError
from ..families.base import ModelFamily
from ..families.registry import get_task
from ..media.options import MediaOptions
from ..recipes.apply import apply_recipe, with_instruction
from ..recipes.files import RecipeError, RecipeSpec, parse_recipe
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
    recipe = _inline_recipe(request, family) if request.recipe is not None else _recipe(request.task, family)
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


def _inline_recipe(request: ChatCompletionRequest, family: ModelFamily) -> TaskRecipe:
    """The request's own recipe (a recipe file's keys, as `annotate --recipe` sends them)."""
    if request.task is not None:
        raise APIError(400, "give task (a recipe by name) or recipe (a recipe itself), not both", param="recipe")
    try:
        return _parsed(json.dumps(request.recipe)).build(family.reasoning)
    except RecipeError as exc:
        raise APIError(400, str(exc), param="recipe") from None


@functools.lru_cache(maxsize=64)
def _parsed(recipe: str) -> RecipeSpec:
    """A job sends the same recipe with every item: it is checked once (its answer format compiles)."""
    return parse_recipe(json.loads(recipe), source="recipe", default_name="recipe")


def _wants_reasoning_instruction(request: ChatCompletionRequest, recipe: TaskRecipe | None, settings: Settings) -> bool:
    if recipe is not None:
        # The recipe already decided; only an explicit request for reasoning adds the generic instruction.
        return bool(request.reasoning) and not recipe.reasoning
    return settings.reasoning if request.reasoning is None else request.reasoning
