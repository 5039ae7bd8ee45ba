"""The registry of model families: each chosen from the checkpoint's config (model_type).

Adding a family is a new module (see reason1/) plus its line in FAMILIES.
See docs/architecture.md#model-families.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ..recipes.files import RecipeSpec, with_recipes
from ..recipes.recipe import TaskRecipe, find_task
from .base import ModelFamily
from .reason1 import REASON1
from .reason2 import REASON2

#: Every family the server knows, the default first.
FAMILIES: tuple[ModelFamily, ...] = (REASON1, REASON2)


class UnknownFamilyError(ValueError):
    """No family serves this checkpoint; the message is one line for the user."""


def default_family() -> ModelFamily:
    return FAMILIES[0]


def family_named(name: str) -> ModelFamily:
    for family in FAMILIES:
        if family.name == name:
            return family
    raise UnknownFamilyError(f"unknown model family {name!r}; known: {', '.join(f.name for f in FAMILIES)}")


def get_task(name: str, family: ModelFamily | None = None) -> TaskRecipe:
    """The recipe called ``name`` of `family` (None: the default family); UnknownTaskError names the valid ones."""
    return find_task(name, (family or default_family()).recipes)


def with_recipe_files(family: ModelFamily, specs: Iterable[RecipeSpec]) -> ModelFamily:
    """`family` with the recipes of `serve --recipes DIR` after its own (one named like a built-in replaces it)."""
    specs = tuple(specs)
    return replace(family, recipes=with_recipes(family.recipes, specs, family.reasoning)) if specs else family


def family_for_model_type(model_type: str, source: str = "the model") -> ModelFamily:
    """The family serving checkpoints whose config says `model_type`."""
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    served = ", ".join(f"{f.title} ({'/'.join(f.model_types)})" for f in FAMILIES)
    raise UnknownFamilyError(
        f"model {source!r} is a {model_type!r} checkpoint; cosmos-reason serves {served}, "
        f"e.g. {default_family().default_model}"
    )
