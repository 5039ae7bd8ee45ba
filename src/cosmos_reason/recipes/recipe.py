"""Task recipes: named prompt + settings presets a request selects with "task".

A recipe turns the client's chat into the prompt its task needs and supplies the task's
recommended sampling and video settings; each model family ships its own as YAML files
(families/<family>/tasks/, listed in its recipes.py), read by recipes/files.py like the files
of `serve --recipes` and `annotate --recipe`. How a recipe is applied to a request is
recipes/apply.py; the rules (precedence, message handling) are in docs/reasoning.md#task-recipes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..constraint import KINDS
from ..media.options import MediaOptions
from ..reasoning.split import split_reasoning
from .answers import PARSERS, parse_answer_text

if TYPE_CHECKING:
    from ..reasoning.format import ReasoningFormat

QUESTION = "{question}"
ANSWER_FORMAT_KINDS = KINDS  # a structured-output constraint's kinds


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
class TaskRecipe:
    name: str
    title: str
    description: str
    system_prompt: str | None
    default_question: str
    format: ReasoningFormat  # the family's: how reasoning is asked for and split off
    user_template: str = QUESTION  # must contain "{question}"
    reasoning: bool = False  # output has the think block, then the answer
    # The system prompt spells out its own reasoning template, so the family's
    # generic reasoning instruction would only contradict it.
    own_format: bool = False
    answer_parser: str = "text"  # a key of answers.PARSERS
    answer_key: str | None = None  # field name in parse_answer's result; None: the kind's
    # The structure its answer must have, as a structured-output constraint (kind, spec): e.g.
    # ("choice", '["Yes", "No"]'), ("json", <schema as JSON text>). Applied unless the request
    # gives its own constraint or asks for response_format {"type": "text"}; None: free text.
    answer_format: tuple[str, str] | None = None
    sampling: Sampling = field(default_factory=Sampling)
    video: MediaOptions = field(default_factory=MediaOptions)  # video sampling it is about; None: not set

    def __post_init__(self) -> None:
        if QUESTION not in self.user_template:
            raise ValueError(f"task {self.name!r}: user_template lacks {QUESTION}")
        if self.answer_parser not in PARSERS:
            raise ValueError(f"task {self.name!r}: answer_parser must be one of {sorted(PARSERS)}")
        if self.own_format and not self.reasoning:
            raise ValueError(f"task {self.name!r}: own_format needs reasoning")
        if self.answer_format is not None and self.answer_format[0] not in ANSWER_FORMAT_KINDS:
            raise ValueError(f"task {self.name!r}: answer_format kind must be one of {', '.join(ANSWER_FORMAT_KINDS)}")


class UnknownTaskError(KeyError):
    def __init__(self, name: str, valid: Sequence[str]) -> None:
        self.name = name
        super().__init__(f"unknown task {name!r}; valid tasks: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def find_task(name: str, recipes: Mapping[str, TaskRecipe]) -> TaskRecipe:
    """The recipe called ``name`` among `recipes` ("Critic" and "temporal-caption" are accepted too);
    families.registry.get_task looks in a model family's."""
    key = name.strip().lower().replace("-", "_")
    if key not in recipes:
        raise UnknownTaskError(name, list(recipes))
    return recipes[key]


def recipe_defaults(recipe: TaskRecipe) -> dict[str, Any]:
    """The recipe's set sampling and video values, flat (temperature, ..., n, fps,
    total_pixels, max_pixels, nframes); the caller lets explicit request values win."""
    sampling = {key: value for key, value in asdict(recipe.sampling).items() if value is not None}
    return sampling | recipe.video.given()


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
        "answer_format": recipe.answer_format[0] if recipe.answer_format else "text",
        "defaults": recipe_defaults(recipe),
    }


def parse_answer(recipe: TaskRecipe, answer_text: str) -> dict[str, Any]:
    """Parse the answer by the recipe's kind: e.g. {"anomaly": True}, {"score": 4},
    {"letter": "B"}, {"events": [...]}, or {"parse_error": "..."}.

    A full output with tags is accepted too: only its content is parsed.
    """
    content = split_reasoning(answer_text, recipe.format).content
    return parse_answer_text(recipe.answer_parser, content, recipe.answer_key)


def critic_score(parsed_answers: Sequence[Mapping[str, Any]]) -> float:
    """Fraction of critic samples that found no anomaly, over ALL samples: as
    the authors score it, an unparsable sample counts as not clean."""
    if not parsed_answers:
        raise ValueError("critic_score needs at least one parsed answer")
    clean = sum(1 for parsed in parsed_answers if parsed.get("anomaly") is False)
    return clean / len(parsed_answers)
