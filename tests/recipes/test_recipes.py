"""Task recipes: message structure, settings, answer parsing, critic score."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cosmos_reason.api.protocol import ChatMessage
from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason1.constants import REASONING, REASONING_INSTRUCTION, REASONING_SYSTEM_PROMPT
from cosmos_reason.families.registry import get_task
from cosmos_reason.recipes import apply
from cosmos_reason.recipes.recipe import (
    Sampling,
    TaskRecipe,
    UnknownTaskError,
    critic_score,
    describe_task,
    parse_answer,
    recipe_defaults,
)

TASKS = REASON1.recipes


def apply_task(recipe: TaskRecipe, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recipe applied to messages as a client sends them (JSON), read back as JSON."""
    models = [ChatMessage.model_validate(m) for m in messages]
    return [m.model_dump(exclude_none=True) for m in apply.apply_task(recipe, models)]


VIDEO = {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
EXPECTED_NAMES = {
    "critic",
    "plausibility",
    "caption",
    "temporal_caption",
    "embodied_next_action",
    "action_planning",
    "driving",
    "driving_annotation",
    "multiple_choice",
}
# Recipes whose output is <think>...</think> then the answer.
REASONING_TASKS = {
    "critic",
    "plausibility",
    "embodied_next_action",
    "action_planning",
    "driving",
    "multiple_choice",
}


def user_text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else content[-1]["text"]


# --- registry ---


def test_registry_has_every_recipe() -> None:
    assert set(TASKS) == EXPECTED_NAMES
    assert all(name == recipe.name for name, recipe in TASKS.items())
    assert {n for n, r in TASKS.items() if r.reasoning} == REASONING_TASKS


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        TASKS["mine"] = TASKS["caption"]  # type: ignore[index]


def test_get_task_accepts_case_and_hyphens() -> None:
    assert get_task("critic") is TASKS["critic"]
    assert get_task(" Temporal-Caption ") is TASKS["temporal_caption"]


def test_unknown_task_names_the_valid_ones() -> None:
    with pytest.raises(UnknownTaskError) as info:
        get_task("captioning")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "'captioning'" in message
    for name in EXPECTED_NAMES:
        assert name in message


def test_recipe_validates_itself() -> None:
    with pytest.raises(ValueError, match="question"):
        TaskRecipe(
            format=REASONING,
            name="x",
            title="x",
            description="x",
            system_prompt=None,
            default_question="q",
            user_template="no placeholder",
        )
    with pytest.raises(ValueError, match="answer_parser"):
        TaskRecipe(
            format=REASONING,
            name="x",
            title="x",
            description="x",
            system_prompt=None,
            default_question="q",
            answer_parser="xml",
        )


def test_describe_task_is_json_ready() -> None:
    described = describe_task(TASKS["critic"])
    assert described["name"] == "critic"
    assert described["answer_key"] == "anomaly"
    assert described["defaults"]["n"] == 4
    assert describe_task(TASKS["caption"])["answer_key"] == "text"


# --- messages ---


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_every_recipe_builds_system_then_user_with_media_first(name: str) -> None:
    recipe = TASKS[name]
    messages = [{"role": "user", "content": [{"type": "text", "text": "What happens?"}, VIDEO]}]
    out = apply_task(recipe, messages)
    assert [m["role"] for m in out] == ["system", "user"]
    system = out[0]["content"]
    assert recipe.system_prompt and system.startswith(recipe.system_prompt)
    assert (REASONING_INSTRUCTION in system) == (recipe.reasoning and not recipe.own_format)
    if recipe.own_format:
        assert "<think>" in system and "<answer>" in system  # its own template asks for them
    parts = out[1]["content"]
    assert parts[0] == VIDEO
    assert parts[1] == {
        "type": "text",
        "text": recipe.user_template.replace("{question}", "What happens?"),
    }


def test_reasoning_instruction_comes_last() -> None:
    out = apply_task(TASKS["driving"], [{"role": "user", "content": "Is it safe to turn right?"}])
    assert out[0]["content"] == f"{TASKS['driving'].system_prompt}\n\n{REASONING_INSTRUCTION}"
    assert out[1] == {"role": "user", "content": "Is it safe to turn right?"}


def test_client_system_prompt_is_merged_after_recipe() -> None:
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Is it safe?"},
    ]
    system = apply_task(TASKS["driving"], messages)[0]["content"]
    recipe_prompt = TASKS["driving"].system_prompt
    assert system == f"{recipe_prompt}\n\nAnswer in French.\n\n{REASONING_INSTRUCTION}"


def test_default_persona_is_dropped_and_reasoning_prompt_not_duplicated() -> None:
    for client in ("You are a helpful assistant.", REASONING_SYSTEM_PROMPT):
        messages = [
            {"role": "system", "content": [{"type": "text", "text": client}]},
            {"role": "user", "content": "Next?"},
        ]
        system = apply_task(TASKS["embodied_next_action"], messages)[0]["content"]
        assert "helpful assistant" not in system
        assert system.count("Answer the question in the following format") == 1


def test_several_system_and_developer_messages_collapse_to_one_in_front() -> None:
    messages = [
        {"role": "system", "content": "One."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "developer", "content": "Two."},
        {"role": "user", "content": "Caption it"},
    ]
    out = apply_task(TASKS["caption"], messages)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"].endswith("\n\nOne.\n\nTwo.")
    assert out[1]["content"] == "Hi"  # only the LAST user message is wrapped
    assert out[3]["content"] == "Caption it"


def test_system_message_with_media_is_refused() -> None:
    with pytest.raises(ValueError, match="system"):
        apply_task(TASKS["caption"], [{"role": "system", "content": [IMAGE]}])


def test_media_keep_their_order_and_text_parts_join_after_them() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare"},
                IMAGE,
                {"type": "text", "text": "these two."},
                VIDEO,
            ],
        }
    ]
    parts = apply_task(TASKS["multiple_choice"], messages)[1]["content"]
    assert parts[:2] == [IMAGE, VIDEO]
    assert parts[2]["text"].startswith("Compare\nthese two.\nAnswer with the letter")
    assert len(parts) == 3


def test_no_question_uses_the_default_question() -> None:
    out = apply_task(TASKS["critic"], [{"role": "user", "content": [VIDEO]}])
    assert out[1]["content"] == [
        VIDEO,
        {"type": "text", "text": TASKS["critic"].default_question},
    ]
    out = apply_task(TASKS["caption"], [{"role": "user", "content": "   "}])
    assert out[1]["content"] == TASKS["caption"].default_question


def test_no_user_message_adds_one() -> None:
    out = apply_task(TASKS["plausibility"], [])
    assert out[1] == {"role": "user", "content": TASKS["plausibility"].default_question}


def test_question_with_braces_is_kept_verbatim() -> None:
    question = 'Use {"a": 1} and {question} literally'
    out = apply_task(TASKS["multiple_choice"], [{"role": "user", "content": question}])
    assert user_text(out[1]).startswith(question + "\n")


def test_input_messages_are_not_modified() -> None:
    messages = [
        {"role": "system", "content": "S"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Q"}, VIDEO],
            "name": "u",
        },
    ]
    models = [ChatMessage.model_validate(m) for m in messages]
    before = copy.deepcopy(models)
    out = apply.apply_task(TASKS["critic"], models)
    assert models == before
    assert out[1].name == "u"  # other message fields survive


# --- settings ---


def test_a_recipe_sets_only_what_it_is_about() -> None:
    """Nothing else: the server's defaults (the card's unless changed) fill the rest."""
    assert recipe_defaults(TASKS["caption"]) == {}
    assert recipe_defaults(TASKS["multiple_choice"]) == {"repetition_penalty": 1.0, "fps": 4}


def test_critic_settings_are_the_authors() -> None:
    assert recipe_defaults(TASKS["critic"]) == {
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 50,
        "repetition_penalty": 1.05,
        "n": 4,
        "fps": 16,
        "total_pixels": 8192 * 28 * 28,
    }


def test_other_recipe_overrides() -> None:
    assert recipe_defaults(TASKS["plausibility"])["fps"] == 16
    assert recipe_defaults(TASKS["plausibility"])["top_k"] == 50
    assert recipe_defaults(TASKS["multiple_choice"])["repetition_penalty"] == 1.0
    assert recipe_defaults(TASKS["multiple_choice"])["fps"] == 4
    assert recipe_defaults(TASKS["driving_annotation"])["fps"] == 2


def test_request_values_win_when_caller_merges() -> None:
    merged = recipe_defaults(TASKS["critic"]) | {"n": 8, "temperature": 0.2}
    assert merged["n"] == 8 and merged["temperature"] == 0.2 and merged["top_k"] == 50


def test_sampling_unset_fields_are_left_out() -> None:
    recipe = TaskRecipe(
        format=REASONING,
        name="x",
        title="x",
        description="x",
        system_prompt=None,
        default_question="q",
        sampling=Sampling(temperature=None, top_p=0.9, max_tokens=None),
    )
    assert recipe_defaults(recipe) == {"top_p": 0.9}


# --- answers ---

CRITIC_OUTPUT = """<think>
<overview>
A robot arm picks up an orange bottle.
</overview>

<component name="Gripper">
<analysis>
The gripper closes around the bottle, which then passes through the fingers.
</analysis>
<anomaly>Yes</anomaly>
</component>
</think>

<answer>
Yes
</answer>"""


@pytest.mark.parametrize(
    ("answer", "parsed"),
    [
        ("Yes", {"anomaly": True}),
        ("No", {"anomaly": False}),
        ("no.", {"anomaly": False}),
        ("**Yes**", {"anomaly": True}),
        ("No, the motion is consistent.", {"anomaly": False}),
        ("The answer is: Yes.", {"anomaly": True}),
        (
            "Yes, the bottle has no contact with the gripper.",
            {"anomaly": True},
        ),  # first word decides
        (CRITIC_OUTPUT, {"anomaly": True}),  # a full output: only its answer counts
    ],
)
def test_yes_no(answer: str, parsed: dict[str, Any]) -> None:
    assert parse_answer(TASKS["critic"], answer) == parsed


@pytest.mark.parametrize("answer", ["", "Maybe", "Either yes or no", "Noted."])
def test_yes_no_malformed(answer: str) -> None:
    parsed = parse_answer(TASKS["critic"], answer)
    assert set(parsed) == {"parse_error"}
    assert "Yes or No" in parsed["parse_error"]


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("4", 4),
        ("\n2\n", 2),
        ("Score: 5", 5),
        ("3/5", 3),
        ("**1**", 1),
        ("4 out of 5", 4),
        ("<think>gravity ok</think>\n<answer>\n5\n</answer>", 5),
    ],
)
def test_score(answer: str, score: int) -> None:
    assert parse_answer(TASKS["plausibility"], answer) == {"score": score}


@pytest.mark.parametrize("answer", ["", "6", "0", "3.5", "between 2 and 3", "excellent"])
def test_score_malformed(answer: str) -> None:
    assert set(parse_answer(TASKS["plausibility"], answer)) == {"parse_error"}


@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("B", "B"),
        ("(C)", "C"),
        ("a", "A"),
        ("D.", "D"),
        ("B. The cup falls.", "B"),
        ("(A) Left", "A"),
        ("The answer is C", "C"),
        ("Option (D)", "D"),
        ("<think>Only C fits.</think><answer>C</answer>", "C"),
    ],
)
def test_letter(answer: str, letter: str) -> None:
    assert parse_answer(TASKS["multiple_choice"], answer) == {"letter": letter}


# "the answer is a ball": a lower-case letter inside a sentence is a word, not an option.
@pytest.mark.parametrize(
    "answer",
    ["", "A ball falls off the table", "None of them", "42", "the answer is a ball"],
)
def test_letter_malformed(answer: str) -> None:
    assert set(parse_answer(TASKS["multiple_choice"], answer)) == {"parse_error"}


def test_json_events() -> None:
    answer = '[{"start": 0.0, "end": 2.5, "caption": "A car stops."}, {"start": 2.5, "end": 4, "caption": "It turns."}]'
    assert parse_answer(TASKS["temporal_caption"], answer) == {
        "events": [
            {"start": 0.0, "end": 2.5, "caption": "A car stops."},
            {"start": 2.5, "end": 4, "caption": "It turns."},
        ]
    }


def test_json_in_fence_with_prose_and_trailing_commas() -> None:
    answer = 'Here it is:\n```json\n{\n  "weather": "light rain",\n  "difficulty": 3,\n}\n```\nHope this helps.'
    assert parse_answer(TASKS["driving_annotation"], answer) == {
        "annotation": {"weather": "light rain", "difficulty": 3},
    }


def test_json_with_text_after_it() -> None:
    answer = '{"weather": "clear"} That is all.'
    assert parse_answer(TASKS["driving_annotation"], answer) == {"annotation": {"weather": "clear"}}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("It is raining.", "no JSON"),
        ('{"weather": "clear", "lighting": ', "invalid JSON"),
        ("", "no JSON"),
    ],
)
def test_json_malformed(answer: str, error: str) -> None:
    parsed = parse_answer(TASKS["driving_annotation"], answer)
    assert set(parsed) == {"parse_error"} and error in parsed["parse_error"]


def test_text_answer_is_trimmed() -> None:
    assert parse_answer(TASKS["caption"], "\n A red car turns left. \n") == {"text": "A red car turns left."}
    out = "<think>plan</think>\n\n<answer>\nStep 1: grasp the cup.\n</answer>"
    assert parse_answer(TASKS["action_planning"], out) == {"text": "Step 1: grasp the cup."}


# --- critic score ---


def test_critic_score_is_fraction_answering_no() -> None:
    samples = [parse_answer(TASKS["critic"], a) for a in ("No", "Yes", "No", "No")]
    assert critic_score(samples) == 0.75
    assert critic_score([{"anomaly": True}] * 4) == 0.0
    assert critic_score([{"anomaly": False}]) == 1.0


def test_critic_score_counts_unparsable_samples_as_not_clean() -> None:
    assert critic_score([{"anomaly": False}, {"parse_error": "x"}]) == 0.5


def test_critic_score_needs_samples() -> None:
    with pytest.raises(ValueError):
        critic_score([])


# --- answer formats ---


EXAMPLE_ANSWERS = {
    "critic": "<think>\nfine\n</think>\n\n<answer>\nNo\n</answer>",
    "plausibility": "<think>\nok\n</think>\n\n<answer>\n4\n</answer>",
    "temporal_caption": '[{"start":0,"end":1.5,"caption":"a ball rolls"}]',
    "multiple_choice": "<think>\nB fits\n</think>\n\n<answer>\nB\n</answer>",
    "driving_annotation": json.dumps(
        {
            "weather": None,
            "lighting": "dusk or dawn",
            "road_conditions": "dry asphalt",
            "road_type": "highway",
            "junction_type": "none",
            "lanes": "3",
            "traffic_lights": None,
            "traffic_signs": None,
            "traffic": "light",
            "ego_actions": ["keeps lane"],
            "hazards": [],
            "safety_summary": "Calm.",
            "difficulty": 1,
            "rule_violation": False,
        }
    ),
}


def test_recipes_with_a_machine_readable_answer_constrain_it_and_their_answers_parse() -> None:
    from cosmos_reason.constraint import Constraint, check

    formatted = {name for name, recipe in TASKS.items() if recipe.answer_format}
    assert formatted == set(EXAMPLE_ANSWERS)
    for name in formatted:
        recipe = TASKS[name]
        check(Constraint(*recipe.answer_format, REASONING if recipe.reasoning else None))  # type: ignore[arg-type]
        assert "parse_error" not in parse_answer(recipe, EXAMPLE_ANSWERS[name]), name
        assert describe_task(recipe)["answer_format"] == recipe.answer_format[0]
    assert describe_task(TASKS["caption"])["answer_format"] == "text"


def test_an_answer_format_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="answer_format kind"):
        TaskRecipe(
            format=REASONING,
            name="x",
            title="x",
            description="x",
            system_prompt=None,
            default_question="q",
            answer_format=("xml", "<a/>"),
        )
