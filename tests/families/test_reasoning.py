"""split_reasoning and the streaming parser: fields, holdback, and stream == split."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re

import pytest

from cosmos_reason.families.reason1.constants import REASONING, REASONING_INSTRUCTION, REASONING_SYSTEM_PROMPT
from cosmos_reason.reasoning import split as reasoning
from cosmos_reason.reasoning.format import ReasoningFormat

TAGS = REASONING.tags
with_reasoning_instruction = REASONING.system_with_instruction


def _format(think_prefilled: bool) -> ReasoningFormat:
    return dataclasses.replace(REASONING, think_prefilled=think_prefilled)


def split_reasoning(text: str, *, think_prefilled: bool = False, **kwargs: object) -> reasoning.ReasoningSplit:
    """Reason1's format; think_prefilled as a family whose chat template opens the think block."""
    return reasoning.split_reasoning(text, _format(think_prefilled), **kwargs)  # type: ignore[arg-type]


def ReasoningStreamParser(*, think_prefilled: bool = False, **kwargs: object) -> reasoning.ReasoningStreamParser:  # noqa: N802
    return reasoning.ReasoningStreamParser(_format(think_prefilled), **kwargs)  # type: ignore[arg-type]


MODES = [
    {},
    {"think_prefilled": True},
    {"unclosed_think": "reasoning"},
    {"think_prefilled": True, "unclosed_think": "reasoning"},
]


def stream(text: str, cuts: list[int], **kwargs: object) -> tuple[str, str]:
    """Feed text cut at the given positions; return concatenated (reasoning, content)."""
    parser = ReasoningStreamParser(**kwargs)  # type: ignore[arg-type]
    reasoning = content = ""
    bounds = [0, *sorted(cuts), len(text)]
    for start, end in itertools.pairwise(bounds):
        delta = parser.feed(text[start:end])
        reasoning += delta.reasoning
        content += delta.content
    delta = parser.finish()
    return reasoning + delta.reasoning, content + delta.content


def expected(text: str, **kwargs: object) -> tuple[str, str]:
    split = split_reasoning(text, **kwargs)  # type: ignore[arg-type]
    return split.reasoning or "", split.content


def visible(text: str) -> list[str]:
    """The non-whitespace characters, as a sorted multiset."""
    return sorted(re.sub(r"\s", "", text))


def strip_tags(text: str) -> str:
    return re.sub("|".join(map(re.escape, TAGS)), "", text)


# (model output, reasoning, content) in the default mode.
CASES = [
    pytest.param(
        "<think>\nThe ball falls.\nGravity.\n</think>\n\n<answer>\nYes\n</answer>",
        "The ball falls.\nGravity.",
        "Yes",
        id="well-formed",
    ),
    pytest.param("The robot picks up the cup.", None, "The robot picks up the cup.", id="no-tags"),
    pytest.param("<answer>\nB\n</answer>", None, "B", id="only-answer"),
    pytest.param(
        "<think>\nstill thinking when cut off",
        None,
        "still thinking when cut off",
        id="unclosed-think",
    ),
    pytest.param(
        "<think>r</think>\n<answer>\nA truncated ans",
        "r",
        "A truncated ans",
        id="unclosed-answer",
    ),
    pytest.param("r</think>\n\nanswer", None, "r\n\nanswer", id="lone-close-not-prefilled"),
    pytest.param(
        "Sure.\n<think>\nr\n</think>\nSo:\n<answer>\nNo\n</answer>\nDone.",
        "r",
        "Sure.\n\nSo:\n\nNo\n\nDone.",
        id="text-before-between-after",
    ),
    pytest.param(
        "<think>r</think>After thinking, yes.",
        "r",
        "After thinking, yes.",
        id="no-answer-tag",
    ),
    pytest.param("<answer><answer>X</answer></answer>", None, "X", id="duplicate-answer"),
    pytest.param("< think>x</think>y", None, "< think>x\n\ny", id="spaced-tag-is-text"),
    pytest.param(
        "<THINK>x</THINK><ANSWER>y</ANSWER>",
        None,
        "<THINK>x</THINK><ANSWER>y</ANSWER>",
        id="uppercase-is-text",
    ),
    pytest.param("<think></think>\n<answer>A</answer>", None, "A", id="empty-think"),
    pytest.param("<think>\n \n</think>", None, "", id="blank-think-no-answer"),
    pytest.param("<think>a<think>b</think>c</think>d", "a\n\nb", "c\n\nd", id="nested-think"),
    pytest.param(
        "The answer is <answer>B</answer>.",
        None,
        "The answer is B.",
        id="inline-answer",
    ),
    pytest.param(
        "<think>x < y and y > z</think>so x<z",
        "x < y and y > z",
        "so x<z",
        id="angle-brackets",
    ),
    pytest.param(
        '<think>\n<overview>\nA cup.\n</overview>\n<component name="cup">\n<anomaly>No</anomaly>\n'
        "</component>\n</think>\n\n<answer>\nNo\n</answer>",
        '<overview>\nA cup.\n</overview>\n<component name="cup">\n<anomaly>No</anomaly>\n</component>',
        "No",
        id="critic-template-tags-kept",
    ),
    pytest.param("", None, "", id="empty"),
    pytest.param("  \n ", None, "  \n ", id="whitespace-only"),
    pytest.param(" The cup.\n", None, " The cup.\n", id="no-tags-verbatim"),
    pytest.param("\n<think>r</think> A \n", "r", "A \n", id="edges-kept-only-where-no-tag"),
    pytest.param("  Hi <answer>Yes</answer>\n", None, "  Hi Yes", id="answer-tags-trim-their-side"),
    pytest.param("<thi", None, "<thi", id="partial-tag-at-end"),
]


@pytest.mark.parametrize(("text", "reasoning", "content"), CASES)
def test_split_cases(text: str, reasoning: str | None, content: str) -> None:
    assert split_reasoning(text) == (reasoning, content)


@pytest.mark.parametrize(("text", "reasoning", "content"), CASES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(m) or "default")
def test_stream_equals_split_at_every_cut(
    text: str, reasoning: str | None, content: str, mode: dict[str, object]
) -> None:
    want = expected(text, **mode)
    assert stream(text, [], **mode) == want
    assert stream(text, list(range(1, len(text))), **mode) == want  # one character a delta
    for cut in range(len(text) + 1):
        assert stream(text, [cut], **mode) == want
    if len(text) <= 30:
        for cuts in itertools.combinations(range(1, len(text)), 2):
            assert stream(text, list(cuts), **mode) == want


@pytest.mark.parametrize(("text", "reasoning", "content"), CASES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(m) or "default")
def test_nothing_lost_no_tag_leaks(text: str, reasoning: str | None, content: str, mode: dict[str, object]) -> None:
    got_reasoning, got_content = expected(text, **mode)
    assert visible(got_reasoning + got_content) == visible(strip_tags(text))
    for tag in TAGS:
        assert tag not in got_reasoning
        assert tag not in got_content


def test_prefilled_lone_close_is_reasoning() -> None:
    text = "The arm moves left.\n</think>\n\n<answer>\nGrasp the cup.\n</answer>"
    assert split_reasoning(text, think_prefilled=True) == (
        "The arm moves left.",
        "Grasp the cup.",
    )


def test_unclosed_think_as_reasoning_mode() -> None:
    assert split_reasoning("<think>cut off", unclosed_think="reasoning") == (
        "cut off",
        "",
    )
    assert split_reasoning("pre <think>cut off", unclosed_think="reasoning") == (
        "cut off",
        "pre",
    )


def test_only_first_think_block_is_reasoning() -> None:
    text = "<think>a</think><answer>b</answer><think>c</think>"
    assert split_reasoning(text) == ("a", "b\n\nc")


# --- streaming holdback: what the client sees while the output is generated ---


def test_untagged_text_streams_at_once() -> None:
    parser = ReasoningStreamParser()
    assert parser.feed("The robot").content == "The robot"
    assert parser.feed(" picks up").content == " picks up"
    assert parser.feed(" the cup. ").content == " the cup."  # trailing space held
    assert parser.feed("Then").content == " Then"
    assert parser.finish() == ("", "")


def test_partial_tag_is_held_until_decided() -> None:
    parser = ReasoningStreamParser()
    assert parser.feed("x <th").content == "x"
    assert parser.feed("ere").content == " <there"  # not a tag after all
    assert parser.feed(" <").content == ""
    assert parser.finish().content == " <"  # a lone "<" at the end is text


def test_tag_split_across_many_deltas_never_leaks() -> None:
    parser = ReasoningStreamParser()
    seen = [parser.feed(ch) for ch in "<think>ok</think><answer>fine</answer>"]
    seen.append(parser.finish())
    assert "".join(d.reasoning for d in seen) == "ok"
    assert "".join(d.content for d in seen) == "fine"
    assert all("<" not in d.reasoning + d.content for d in seen)


def test_think_block_held_until_closed_by_default() -> None:
    parser = ReasoningStreamParser()
    assert parser.feed("<think>\nThe cup is").reasoning == ""
    assert parser.feed(" on the table.\n").reasoning == ""
    delta = parser.feed("</think>\n\n<answer>\nIt is")
    assert delta == ("The cup is on the table.", "It is")
    assert parser.feed(" safe.\n</answer>").content == " safe."
    assert parser.finish() == ("", "")


def test_unclosed_held_think_is_released_as_content_on_finish() -> None:
    parser = ReasoningStreamParser()
    assert parser.feed("<think>\nlong reasoning cut by max_tokens") == ("", "")
    assert parser.finish() == ("", "long reasoning cut by max_tokens")


def test_reasoning_mode_streams_reasoning_live() -> None:
    parser = ReasoningStreamParser(unclosed_think="reasoning")
    assert parser.feed("<think>\nThe cup").reasoning == "The cup"
    assert parser.feed(" is red.\n</thi").reasoning == " is red."
    assert parser.feed("nk>\n<answer>Red").content == "Red"
    assert parser.finish() == ("", "")


def test_feed_after_finish_raises() -> None:
    parser = ReasoningStreamParser()
    parser.finish()
    with pytest.raises(RuntimeError):
        parser.feed("x")


def test_realistic_token_stream() -> None:
    tokens = [
        "<",
        "think",
        ">\n",
        "The",
        " car",
        " ahead",
        " brakes",
        ".\n",
        "</",
        "think",
        ">\n\n",
        "<",
        "answer",
        ">\n",
        "Slow",
        " down",
        ".\n",
        "</",
        "answer",
        ">",
    ]
    parser = ReasoningStreamParser()
    deltas = [parser.feed(t) for t in tokens] + [parser.finish()]
    assert "".join(d.reasoning for d in deltas) == "The car ahead brakes."
    assert "".join(d.content for d in deltas) == "Slow down."


# --- property tests over random texts and random cuts ---

FRAGMENTS = [
    *TAGS,
    "<",
    ">",
    "/",
    "<th",
    "</th",
    "ink>",
    "<ans",
    "wer>",
    "think",
    "answer",
    " ",
    "\n",
    "\n\n",
    "a",
    "Yes",
    "No.",
    "x y",
    "<THINK>",
    "< think>",
]


def assert_edges(text: str, field: str, mode: dict[str, object]) -> None:
    """A field keeps whitespace at an edge only where no tag was removed: then it is the text's own."""
    if not re.search("|".join(map(re.escape, TAGS)), text) and not mode.get("think_prefilled"):
        assert field in ("", text)
        return
    lead = field[: len(field) - len(field.lstrip())]
    trail = field[len(field.rstrip()) :]
    if field.strip():
        assert text.startswith(lead) and (not lead or not mode.get("think_prefilled"))
        assert text.endswith(trail)


def check_properties(text: str, cuts: list[int], mode: dict[str, object]) -> None:
    reasoning, content = expected(text, **mode)
    assert stream(text, cuts, **mode) == (reasoning, content)
    assert visible(reasoning + content) == visible(strip_tags(text))  # nothing lost
    assert_edges(text, reasoning, mode)
    assert_edges(text, content, mode)
    # A tag can only appear if removing the model's own tags glued one together.
    for tag in TAGS:
        if tag not in strip_tags(text):
            assert tag not in reasoning and tag not in content


def test_properties_on_seeded_random_texts() -> None:
    # Runs everywhere; the hypothesis version below searches further and shrinks.
    rng = random.Random(1234)
    for _ in range(3000):
        text = "".join(rng.choices(FRAGMENTS, k=rng.randint(0, 25)))
        cuts = [rng.randint(0, len(text)) for _ in range(rng.randint(0, 8))]
        check_properties(text, cuts, rng.choice(MODES))


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # not in the test extra yet; the seeded test above still runs
    pass
else:
    texts = st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join) | st.text(max_size=40)

    @settings(max_examples=500, deadline=None)
    @given(text=texts, data=st.data(), mode=st.sampled_from(MODES))
    def test_properties_hypothesis(text: str, data: st.DataObject, mode: dict[str, object]) -> None:
        cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
        check_properties(text, cuts, mode)


# --- the system prompt ---


def test_reasoning_system_prompt_is_the_model_cards() -> None:
    assert REASONING_SYSTEM_PROMPT == (
        "You are a helpful assistant. Answer the question in the following format: "
        "<think>\nyour reasoning\n</think>\n\n<answer>\nyour answer\n</answer>."
    )


@pytest.mark.parametrize(
    "client",
    [None, "", "  ", "You are a helpful assistant.", "You are a helpful assistant.\n"],
)
def test_instruction_without_client_prompt_is_the_model_cards(
    client: str | None,
) -> None:
    assert with_reasoning_instruction(client) == REASONING_SYSTEM_PROMPT


def test_instruction_appended_to_client_prompt_once() -> None:
    merged = with_reasoning_instruction("You are a robotics expert.")
    assert merged == f"You are a robotics expert.\n\n{REASONING_INSTRUCTION}"
    assert with_reasoning_instruction(merged) == merged
    assert with_reasoning_instruction(REASONING_SYSTEM_PROMPT) == REASONING_SYSTEM_PROMPT


def test_a_family_without_answer_tags_keeps_them_as_text() -> None:
    """Reason2-style output: the answer is whatever follows </think>; <answer> means nothing there."""
    fmt = ReasoningFormat(instruction="", placement="user", default_system_prompt="")
    text = "<think>\nIt rolls.\n</think>\n\nThe ball <answer> rolls."
    assert reasoning.split_reasoning(text, fmt) == ("It rolls.", "The ball <answer> rolls.")
    parser = reasoning.ReasoningStreamParser(fmt)
    streamed = [parser.feed(text[:30]), parser.feed(text[30:]), parser.finish()]
    assert "".join(d.content for d in streamed) == "The ball <answer> rolls."
