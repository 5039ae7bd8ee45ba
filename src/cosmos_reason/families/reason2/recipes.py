"""Cosmos-Reason2's task recipes: the tasks whose prompts carry over to its format.

Reason2 takes the plain system prompt ("You are a helpful assistant."), puts the task in the
user's text, asks for reasoning with a suffix on that text (constants.REASONING_PROMPT, added
by recipes/apply.py for `reasoning=True`) and answers after `</think>` with no answer tag.
Recipes whose prompts spell out Reason1's `<answer>` template (critic, plausibility, action
planning) are not offered. The recipe type and its application are in the recipes package
(docs/reasoning.md#task-recipes).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ...media.options import MediaOptions as Video
from ...recipes.recipe import QUESTION, TaskRecipe
from .constants import DEFAULT_SYSTEM_PROMPT, REASONING

CAPTION_TEMPLATE = (
    "Write one caption in English of about 80 to 100 words. Describe the main subjects, how they "
    "look and what they do, how they move, the setting, and any camera movement. Use only what "
    "you can see. Reply with the caption only.\n\n" + QUESTION
)
MULTIPLE_CHOICE_TEMPLATE = QUESTION + "\nAnswer with the option's letter from the given choices."

RECIPES = (
    TaskRecipe(
        name="caption",
        title="Video caption",
        description="An 80 to 100 word English caption of the video.",
        format=REASONING,
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        default_question="Write a caption for this video.",
        user_template=CAPTION_TEMPLATE,
    ),
    TaskRecipe(
        name="multiple_choice",
        title="Multiple choice",
        description="Answers a question with lettered options by the option's letter, after reasoning.",
        format=REASONING,
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        default_question="Which option describes the video best?",
        user_template=MULTIPLE_CHOICE_TEMPLATE,
        reasoning=True,
        answer_parser="letter",
        video=Video(fps=4),
    ),
)

RECIPES_BY_NAME: Mapping[str, TaskRecipe] = MappingProxyType({r.name: r for r in RECIPES})
