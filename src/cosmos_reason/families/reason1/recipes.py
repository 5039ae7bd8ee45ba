"""Cosmos-Reason1's task recipes, after what its authors publish for each task.

The prompt texts are in prompts.py; the recipe type and how a recipe is applied are in
the recipes package (docs/reasoning.md#task-recipes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

from ...media.options import MediaOptions as Video
from ...recipes.recipe import QUESTION, Sampling, TaskRecipe
from . import prompts
from .constants import GEOMETRY, REASONING, VIDEO_BUDGET

#: temporal_caption's answer: the events in order, times in seconds.
EVENTS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"start": {"type": "number"}, "end": {"type": "number"}, "caption": {"type": "string"}},
        "required": ["start", "end", "caption"],
        "additionalProperties": False,
    },
}
_TEXT_OR_NULL = {"type": ["string", "null"]}
#: driving_annotation's answer: the keys its prompt (prompts.DRIVING_ANNOTATION_SYSTEM) asks for.
DRIVING_SCHEMA = {
    "type": "object",
    "properties": {
        "weather": _TEXT_OR_NULL,
        "lighting": {"type": "string"},
        "road_conditions": {"type": "string"},
        "road_type": {"type": "string"},
        "junction_type": {"type": "string"},
        "lanes": {"type": "string"},
        "traffic_lights": _TEXT_OR_NULL,
        "traffic_signs": _TEXT_OR_NULL,
        "traffic": {"type": "string"},
        "ego_actions": {"type": "array", "items": {"type": "string"}},
        "hazards": {"type": "array", "items": {"type": "string"}},
        "safety_summary": {"type": "string"},
        "difficulty": {"type": "integer", "minimum": 1, "maximum": 4},
        "rule_violation": {"type": "boolean"},
    },
    "required": [
        "weather",
        "lighting",
        "road_conditions",
        "road_type",
        "junction_type",
        "lanes",
        "traffic_lights",
        "traffic_signs",
        "traffic",
        "ego_actions",
        "hazards",
        "safety_summary",
        "difficulty",
        "rule_violation",
    ],
    "additionalProperties": False,
}

RECIPES = (
    TaskRecipe(
        name="critic",
        title="Video critic",
        description="Checks each component of a (generated) video for physical and "
        "temporal anomalies; answers Yes if there are any. Sample several times and "
        "score with critic_score (fraction of samples answering No).",
        format=REASONING,
        system_prompt=prompts.CRITIC_SYSTEM,
        default_question="Does this video show any anomalies or artifacts?",
        reasoning=True,
        own_format=True,
        answer_parser="yes_no",
        answer_key="anomaly",
        answer_format=("choice", '["Yes", "No"]'),
        # The authors' critic sampling: the score needs n varied reviews, whatever the
        # server's own defaults are (a greedy server would give n identical ones).
        sampling=Sampling(temperature=0.6, top_p=0.95, top_k=50, repetition_penalty=1.05, n=4),
        video=Video(fps=16, total_pixels=VIDEO_BUDGET),
    ),
    TaskRecipe(
        name="plausibility",
        title="Physical plausibility score",
        description="Rates how well a video follows physical common sense, from 1 (not at all) to 5 (fully).",
        format=REASONING,
        system_prompt=prompts.PLAUSIBILITY_SYSTEM,
        default_question="How well does this video follow the laws of physics?",
        reasoning=True,
        own_format=True,
        answer_parser="score_1_5",
        answer_format=("choice", '["1", "2", "3", "4", "5"]'),
        sampling=Sampling(top_k=50),
        video=Video(fps=16, total_pixels=VIDEO_BUDGET),
    ),
    TaskRecipe(
        name="caption",
        title="Video caption",
        description="An 80 to 100 word English caption of the video.",
        format=REASONING,
        system_prompt=prompts.CAPTION_SYSTEM,
        default_question="Write a caption for this video.",
    ),
    TaskRecipe(
        name="temporal_caption",
        title="Timestamped events (JSON)",
        description='A JSON list of events: {"start": s, "end": s, "caption": text}, times in seconds.',
        format=REASONING,
        system_prompt=prompts.TEMPORAL_CAPTION_SYSTEM,
        default_question="List the notable events in this video with their start and end times.",
        answer_parser="json",
        answer_key="events",
        answer_format=("json", json.dumps(EVENTS_SCHEMA)),
    ),
    TaskRecipe(
        name="embodied_next_action",
        title="Embodied next action",
        description="What a robot or person in the video most plausibly does next.",
        format=REASONING,
        system_prompt=prompts.EMBODIED_SYSTEM,
        default_question="What is the most plausible next action for the agent?",
        reasoning=True,
    ),
    TaskRecipe(
        name="action_planning",
        title="Robot action planning",
        description="A step-by-step plan for the agent in the video, each step with its reason and success check.",
        format=REASONING,
        system_prompt=prompts.ACTION_PLANNING_SYSTEM,
        default_question="Plan the next step for the agent in this video.",
        reasoning=True,
        own_format=True,
    ),
    TaskRecipe(
        name="driving",
        title="Driving questions",
        description="Answers questions about a dashcam video from the driver's point of view.",
        format=REASONING,
        system_prompt=prompts.DRIVING_SYSTEM,
        default_question="What should I do next, and why?",
        reasoning=True,
    ),
    TaskRecipe(
        name="driving_annotation",
        title="Driving annotation (JSON)",
        description="A JSON annotation of a dashcam video: weather, lighting, road "
        "conditions, traffic, ego vehicle actions, hazards and more.",
        format=REASONING,
        system_prompt=prompts.DRIVING_ANNOTATION_SYSTEM,
        default_question="Annotate this driving video.",
        answer_parser="json",
        answer_key="annotation",
        answer_format=("json", json.dumps(DRIVING_SCHEMA)),
        # The authors' auto-labelling recipe: 2 fps, 16x9 tokens (~144) a frame.
        video=Video(fps=2, max_pixels=16 * 9 * GEOMETRY.token_pixels),
    ),
    TaskRecipe(
        name="multiple_choice",
        title="Multiple choice",
        description="Answers a question with lettered options by the option's letter.",
        format=REASONING,
        system_prompt=prompts.MULTIPLE_CHOICE_SYSTEM,
        default_question="Which option describes the video best?",
        user_template=QUESTION + "\nAnswer with the letter of the correct option; "
        "put only that single letter inside <answer>.",
        reasoning=True,
        answer_parser="letter",
        answer_format=("regex", "[A-Z]"),
        # The authors' benchmark settings, but max_tokens is the server's (the card's
        # 4096 unless changed): the benchmark retried truncated answers, a server does not.
        sampling=Sampling(repetition_penalty=1.0),
        video=Video(fps=4),
    ),
)

RECIPES_BY_NAME: Mapping[str, TaskRecipe] = MappingProxyType({r.name: r for r in RECIPES})
