"""Cosmos-Reason2's task recipes: the tasks whose prompts carry over to its format.

Reason2 takes the plain system prompt ("You are a helpful assistant."), puts the task in the
user's text, asks for reasoning with a suffix on that text (constants.REASONING_PROMPT, added
by recipes/apply.py for `reasoning=True`) and answers after `</think>` with no answer tag.
The texts are written for this project; Reason1's recipes whose prompts spell out its
`<answer>` template (plausibility, action planning) are not offered, and the critic asks for
its Yes/No after the think block instead. The recipe type and its application are in the recipes package
(docs/reasoning.md#task-recipes).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ...media.options import MediaOptions as Video
from ...recipes.recipe import QUESTION, Sampling, TaskRecipe
from .constants import DEFAULT_SYSTEM_PROMPT, REASONING, VIDEO_BUDGET

CAPTION_TEMPLATE = (
    "Write one caption in English of about 80 to 100 words. Describe the main subjects, how they "
    "look and what they do, how they move, the setting, and any camera movement. Use only what "
    "you can see. Reply with the caption only.\n\n" + QUESTION
)
CRITIC_TEMPLATE = (
    "Look for artifacts and anomalies: motion or contact that breaks physics, objects that appear, vanish, "
    "merge or change shape without cause, body parts that move impossibly, and anything inconsistent from "
    "frame to frame. A cartoon style, lighting, blur, camera effects or missing sound are not anomalies.\n\n"
    + QUESTION
    + "\nAnswer Yes or No."
)
MULTIPLE_CHOICE_TEMPLATE = QUESTION + "\nAnswer with the option's letter from the given choices."

RECIPES = (
    TaskRecipe(
        name="critic",
        title="Video critic",
        description="Looks for physical and temporal anomalies in a (generated) video; answers Yes if there "
        "are any. Sample several times and score with critic_score (fraction of samples answering No).",
        format=REASONING,
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        default_question="Does this video show any anomalies or artifacts?",
        user_template=CRITIC_TEMPLATE,
        reasoning=True,
        answer_parser="yes_no",
        answer_key="anomaly",
        # The score needs n varied reviews: the card's reasoning sampling, whatever the server's defaults.
        sampling=Sampling(temperature=0.6, top_p=0.95, top_k=20, repetition_penalty=1.0, n=4),
        video=Video(fps=16, total_pixels=VIDEO_BUDGET),
    ),
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
