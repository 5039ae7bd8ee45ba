"""Task recipes: named prompt + settings presets a request selects with "task".

A recipe turns the client's chat into the prompt its task needs (system
prompt, the question wrapped in the task's template, the reasoning format
instruction) and supplies the task's recommended sampling and video settings.
Precedence: the request's own value, then the recipe's (only what it sets), then
the server's defaults (--default-*), which are the model card's unless changed. Recipes follow what the
Cosmos-Reason1 authors publish for each task; prompt texts are in
task_prompts.py.

Message rules of :func:`apply_task`:

* System: the recipe's system prompt comes first (it defines the task), then
  the client's own system text as extra instructions (Qwen's default "You are
  a helpful assistant." adds nothing and is dropped), then the reasoning
  format instruction if the recipe uses the generic one. All system (and
  "developer") messages collapse into one system message at the front.
* User: in the LAST user message, the client's text parts become the
  question (or question_override, or the recipe's default question when both
  are empty), wrapped in the recipe's template. Media parts keep their order
  and go before the text, as in the model card's examples. A string content
  stays a string. With no user message, one is added.
* The input is not modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

from . import task_prompts as prompts
from .answers import PARSERS, parse_answer_text
from .media.vision_math import VIDEO_TOTAL_PIXELS_8K_TOKENS
from .reasoning import (
    DEFAULT_SYSTEM_PROMPT,
    split_reasoning,
    with_reasoning_instruction,
)

QUESTION = "{question}"


@dataclass(frozen=True)
class Sampling:
    """The sampling a recipe is about. None: not set, so the server's defaults apply
    (--default-temperature etc., which are the model card's unless changed)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    n: int | None = None


@dataclass(frozen=True)
class Video:
    """Video sampling overrides; None leaves the server's default."""

    fps: float | None = None
    total_pixels: int | None = None
    max_pixels: int | None = None
    nframes: int | None = None


@dataclass(frozen=True)
class TaskRecipe:
    name: str
    title: str
    description: str
    system_prompt: str | None
    default_question: str
    user_template: str = QUESTION  # must contain "{question}"
    reasoning: bool = False  # output has <think>...</think> then the answer
    # The system prompt spells out its own <think>/<answer> template, so the
    # generic reasoning instruction would only contradict it.
    own_format: bool = False
    answer_parser: str = "text"  # a key of answers.PARSERS
    answer_key: str | None = (
        None  # field name in parse_answer's result; None: the kind's
    )
    sampling: Sampling = field(default_factory=Sampling)
    video: Video = field(default_factory=Video)

    def __post_init__(self) -> None:
        if QUESTION not in self.user_template:
            raise ValueError(f"task {self.name!r}: user_template lacks {QUESTION}")
        if self.answer_parser not in PARSERS:
            raise ValueError(
                f"task {self.name!r}: answer_parser must be one of {sorted(PARSERS)}"
            )
        if self.own_format and not self.reasoning:
            raise ValueError(f"task {self.name!r}: own_format needs reasoning")


class UnknownTaskError(KeyError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


_RECIPES = (
    TaskRecipe(
        name="critic",
        title="Video critic",
        description="Checks each component of a (generated) video for physical and "
        "temporal anomalies; answers Yes if there are any. Sample several times and "
        "score with critic_score (fraction of samples answering No).",
        system_prompt=prompts.CRITIC_SYSTEM,
        default_question="Does this video show any anomalies or artifacts?",
        reasoning=True,
        own_format=True,
        answer_parser="yes_no",
        answer_key="anomaly",
        # The authors' critic sampling: the score needs n varied reviews, whatever the
        # server's own defaults are (a greedy server would give n identical ones).
        sampling=Sampling(
            temperature=0.6, top_p=0.95, top_k=50, repetition_penalty=1.05, n=4
        ),
        video=Video(fps=16, total_pixels=VIDEO_TOTAL_PIXELS_8K_TOKENS),
    ),
    TaskRecipe(
        name="plausibility",
        title="Physical plausibility score",
        description="Rates how well a video follows physical common sense, "
        "from 1 (not at all) to 5 (fully).",
        system_prompt=prompts.PLAUSIBILITY_SYSTEM,
        default_question="How well does this video follow the laws of physics?",
        reasoning=True,
        own_format=True,
        answer_parser="score_1_5",
        sampling=Sampling(top_k=50),
        video=Video(fps=16, total_pixels=VIDEO_TOTAL_PIXELS_8K_TOKENS),
    ),
    TaskRecipe(
        name="caption",
        title="Video caption",
        description="An 80 to 100 word English caption of the video.",
        system_prompt=prompts.CAPTION_SYSTEM,
        default_question="Write a caption for this video.",
    ),
    TaskRecipe(
        name="temporal_caption",
        title="Timestamped events (JSON)",
        description='A JSON list of events: {"start": s, "end": s, "caption": text}, '
        "times in seconds.",
        system_prompt=prompts.TEMPORAL_CAPTION_SYSTEM,
        default_question="List the notable events in this video with their start and end times.",
        answer_parser="json",
        answer_key="events",
    ),
    TaskRecipe(
        name="embodied_next_action",
        title="Embodied next action",
        description="What a robot or person in the video most plausibly does next.",
        system_prompt=prompts.EMBODIED_SYSTEM,
        default_question="What is the most plausible next action for the agent?",
        reasoning=True,
    ),
    TaskRecipe(
        name="action_planning",
        title="Robot action planning",
        description="A step-by-step plan for the agent in the video, each step with "
        "its reason and success check.",
        system_prompt=prompts.ACTION_PLANNING_SYSTEM,
        default_question="Plan the next step for the agent in this video.",
        reasoning=True,
        own_format=True,
    ),
    TaskRecipe(
        name="driving",
        title="Driving questions",
        description="Answers questions about a dashcam video from the driver's point of view.",
        system_prompt=prompts.DRIVING_SYSTEM,
        default_question="What should I do next, and why?",
        reasoning=True,
    ),
    TaskRecipe(
        name="driving_annotation",
        title="Driving annotation (JSON)",
        description="A JSON annotation of a dashcam video: weather, lighting, road "
        "conditions, traffic, ego vehicle actions, hazards and more.",
        system_prompt=prompts.DRIVING_ANNOTATION_SYSTEM,
        default_question="Annotate this driving video.",
        answer_parser="json",
        answer_key="annotation",
        # The authors' auto-labelling recipe: 2 fps, 16x9 tokens (~144) a frame.
        video=Video(fps=2, max_pixels=16 * 9 * 28 * 28),
    ),
    TaskRecipe(
        name="multiple_choice",
        title="Multiple choice",
        description="Answers a question with lettered options by the option's letter.",
        system_prompt=prompts.MULTIPLE_CHOICE_SYSTEM,
        default_question="Which option describes the video best?",
        user_template=QUESTION + "\nAnswer with the letter of the correct option; "
        "put only that single letter inside <answer>.",
        reasoning=True,
        answer_parser="letter",
        # The authors' benchmark settings, but max_tokens is the server's (the card's
        # 4096 unless changed): the benchmark retried truncated answers, a server does not.
        sampling=Sampling(repetition_penalty=1.0),
        video=Video(fps=4),
    ),
)

TASKS: Mapping[str, TaskRecipe] = MappingProxyType({r.name: r for r in _RECIPES})


def get_task(name: str) -> TaskRecipe:
    """The recipe called ``name`` ("Critic" and "temporal-caption" are accepted too)."""
    key = name.strip().lower().replace("-", "_")
    if key not in TASKS:
        raise UnknownTaskError(name)
    return TASKS[key]


def recipe_defaults(recipe: TaskRecipe) -> dict[str, Any]:
    """The recipe's set sampling and video values, flat (temperature, ..., n, fps,
    total_pixels, max_pixels, nframes); the caller lets explicit request values win."""
    values = asdict(recipe.sampling) | asdict(recipe.video)
    return {key: value for key, value in values.items() if value is not None}


def describe_task(recipe: TaskRecipe) -> dict[str, Any]:
    """A JSON-ready summary for listing tasks."""
    return {
        "name": recipe.name,
        "title": recipe.title,
        "description": recipe.description,
        "reasoning": recipe.reasoning,
        "answer_parser": recipe.answer_parser,
        "answer_key": recipe.answer_key or PARSERS[recipe.answer_parser][0],
        "default_question": recipe.default_question,
        "defaults": recipe_defaults(recipe),
    }


def apply_task(
    recipe: TaskRecipe,
    messages: Sequence[Mapping[str, Any]],
    question_override: str | None = None,
) -> list[dict[str, Any]]:
    """New chat messages carrying the recipe's prompts (rules in the module docstring)."""
    system_texts = [_system_text(m) for m in messages if m.get("role") in _SYSTEM_ROLES]
    chat = [_copy(m) for m in messages if m.get("role") not in _SYSTEM_ROLES]
    users = [i for i, m in enumerate(chat) if m.get("role") == "user"]
    if users:
        chat[users[-1]] = _wrap_user(recipe, chat[users[-1]], question_override)
    else:
        chat.append(
            {"role": "user", "content": _question_text(recipe, question_override or "")}
        )
    system = _merge_system(recipe, system_texts)
    return ([{"role": "system", "content": system}] if system else []) + chat


def parse_answer(recipe: TaskRecipe, answer_text: str) -> dict[str, Any]:
    """Parse the answer by the recipe's kind: e.g. {"anomaly": True}, {"score": 4},
    {"letter": "B"}, {"events": [...]}, or {"parse_error": "..."}.

    A full output with tags is accepted too: only its content is parsed.
    """
    content = split_reasoning(answer_text).content
    return parse_answer_text(recipe.answer_parser, content, recipe.answer_key)


def critic_score(parsed_answers: Sequence[Mapping[str, Any]]) -> float:
    """Fraction of critic samples that found no anomaly, over ALL samples: as
    the authors score it, an unparsable sample counts as not clean."""
    if not parsed_answers:
        raise ValueError("critic_score needs at least one parsed answer")
    clean = sum(1 for parsed in parsed_answers if parsed.get("anomaly") is False)
    return clean / len(parsed_answers)


_SYSTEM_ROLES = ("system", "developer")


def _copy(message: Mapping[str, Any]) -> dict[str, Any]:
    copied = dict(message)
    if isinstance(copied.get("content"), list):
        copied["content"] = [dict(part) for part in copied["content"]]
    return copied


def _system_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if content is None or isinstance(content, str):
        return (content or "").strip()
    if any(part.get("type") != "text" for part in content):
        raise ValueError("a system message may only contain text parts")
    return "\n".join(part.get("text", "") for part in content).strip()


def _merge_system(recipe: TaskRecipe, client_texts: list[str]) -> str | None:
    client = [_drop_default(text) for text in client_texts]
    parts = [recipe.system_prompt or "", *client]
    text = "\n\n".join(part for part in parts if part) or None
    if recipe.reasoning and not recipe.own_format:
        return with_reasoning_instruction(text)
    return text


def _drop_default(text: str) -> str:
    # Clients often send Qwen's default persona (alone or before their own
    # text); next to a task's prompt it only adds noise.
    return text.removeprefix(DEFAULT_SYSTEM_PROMPT).strip()


def _question_text(recipe: TaskRecipe, question: str) -> str:
    # str.replace, not format(): templates and questions may contain braces (JSON).
    return recipe.user_template.replace(
        QUESTION, question.strip() or recipe.default_question
    )


def _wrap_user(
    recipe: TaskRecipe, message: dict[str, Any], question_override: str | None
) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):
        own = "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
        media = [part for part in content if part.get("type") != "text"]
    else:
        own, media = content or "", None
    text = _question_text(
        recipe, own if question_override is None else question_override
    )
    message["content"] = (
        text if media is None else [*media, {"type": "text", "text": text}]
    )
    return message
