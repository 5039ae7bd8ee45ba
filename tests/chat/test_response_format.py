"""Every structured-output field becomes one Constraint, or a 400 naming the field and why."""

from __future__ import annotations

import json

import pytest

from cosmos_reason.api.protocol import ChatCompletionRequest
from cosmos_reason.chat.fields import check_fields
from cosmos_reason.chat.response_format import request_constraint
from cosmos_reason.constraint import Constraint, llguidance_grammar
from cosmos_reason.errors import APIError
from cosmos_reason.families.reason1.constants import REASONING

SCHEMA = {"type": "object", "properties": {"a": {"enum": ["x", "y"]}}, "required": ["a"]}
CANONICAL = json.dumps(SCHEMA, sort_keys=True, separators=(",", ":"))


def constraint(reasoning: bool = False, **fields) -> Constraint | None:
    """The request's constraint; `reasoning`: the output has Reason1's reasoning format."""
    request = ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}], **fields)
    check_fields(request)
    return request_constraint(request, REASONING if reasoning else None, REASONING)


def refusal(**fields) -> APIError:
    with pytest.raises(APIError) as caught:
        constraint(**fields)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"response_format": {"type": "json_object"}}, Constraint("json", '{"type":"object"}')),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "n", "schema": SCHEMA, "strict": True},
                }
            },
            Constraint("json", CANONICAL),
        ),
        ({"structured_outputs": {"json": SCHEMA}}, Constraint("json", CANONICAL)),
        ({"structured_outputs": {"json": json.dumps(SCHEMA)}}, Constraint("json", CANONICAL)),
        ({"structured_outputs": {"regex": "[0-9]{3}"}}, Constraint("regex", "[0-9]{3}")),
        ({"structured_outputs": {"choice": ["Yes", "No"]}}, Constraint("choice", '["Yes", "No"]')),
        ({"structured_outputs": {"grammar": 'root ::= "a" | "b"'}}, Constraint("grammar", 'root ::= "a" | "b"')),
        ({"structured_outputs": {"json_object": True}}, Constraint("json", '{"type":"object"}')),
        ({"guided_json": SCHEMA}, Constraint("json", CANONICAL)),
        ({"guided_regex": "a|b"}, Constraint("regex", "a|b")),
        ({"guided_choice": ["A", "B"], "guided_decoding_backend": "xgrammar"}, Constraint("choice", '["A", "B"]')),
        ({"guided_grammar": 'start: "a"'}, Constraint("grammar", 'start: "a"')),
    ],
)
def test_each_field_becomes_one_constraint(fields, expected):
    assert constraint(**fields) == expected


def test_reasoning_is_carried_and_text_format_is_no_constraint():
    assert constraint(True, guided_regex="a").reasoning
    assert constraint(response_format={"type": "text"}) is None
    assert constraint() is None


def test_same_schema_written_differently_is_one_cache_key():
    again = {"required": ["a"], "properties": {"a": {"enum": ["x", "y"]}}, "type": "object"}
    assert constraint(guided_json=again) == constraint(guided_json=SCHEMA)


@pytest.mark.parametrize(
    "fields, field, reason",
    [
        ({"guided_json": SCHEMA, "guided_regex": "a"}, "guided_json and guided_regex", "not several"),
        (
            {"response_format": {"type": "json_object"}, "structured_outputs": {"choice": ["a"]}},
            "response_format and structured_outputs.choice",
            "not several",
        ),
        ({"structured_outputs": {"regex": "a", "choice": ["a"]}}, "structured_outputs.choice", "not several"),
        ({"guided_regex": "a(b"}, "guided_regex", "unclosed group"),
        ({"guided_regex": "(?=a)b"}, "guided_regex", "look-around"),
        ({"guided_json": {"type": "array", "uniqueItems": True}}, "guided_json", "uniqueItems"),
        ({"guided_json": {"type": "strin"}}, "guided_json", "strin"),
        ({"guided_json": "{not json"}, "guided_json", "not valid JSON"),
        ({"guided_json": [1]}, "guided_json", "JSON schema object"),
        ({"guided_choice": []}, "guided_choice", "non-empty list"),
        ({"guided_choice": "Yes"}, "guided_choice", "non-empty list"),
        ({"guided_grammar": 'root ::= "a'}, "guided_grammar", "neither Lark nor GBNF"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "n"}}},
            "response_format.json_schema.schema",
            "required",
        ),
        ({"response_format": {"type": "xml"}}, "response_format", "type must be"),
        ({"structured_outputs": {"structural_tag": "x"}}, "structured_outputs.structural_tag", "not supported"),
        ({"structured_outputs": {"whitespace_pattern": " "}}, "structured_outputs.whitespace_pattern", "not supported"),
        ({"guided_regex": "a", "ignore_eos": True}, "guided_regex", "ignore_eos"),
    ],
)
def test_refusals_name_the_field_and_the_reason(fields, field, reason):
    error = refusal(**fields)
    assert str(error).startswith(field), str(error)
    assert reason in str(error)


def test_fields_we_still_cannot_honour_are_refused_not_ignored():
    for fields in ({"guided_whitespace_pattern": " *"}, {"structural_tag": "{}"}, {"ebnf": "root ::= x"}):
        assert "not supported" in str(refusal(**fields))


def test_reasoning_grammar_frames_the_answer_with_the_reason1_tags():
    grammar = json.loads(llguidance_grammar(Constraint("choice", '["A"]', reasoning=REASONING)))
    outer = grammar["grammars"][0]["lark_grammar"]
    assert '"<think>\\n"' in outer and '"\\n\\n<answer>\\n" @answer "\\n</answer>"' in outer
    assert grammar["grammars"][1]["name"] == "answer"


def test_after_thinking_frames_the_constraint_for_a_prompt_that_asks_for_reasoning_itself():
    request = ChatCompletionRequest(
        messages=[{"role": "user", "content": "hi"}],
        structured_outputs={"choice": ["Yes", "No"], "after_thinking": True},
    )
    check_fields(request)
    assert request_constraint(request, None, REASONING).reasoning is REASONING


def test_a_family_without_answer_tags_gets_the_structure_right_after_the_thinking():
    """Reason2 answers after </think> with no tag: its frame holds the structure there."""
    import re

    from cosmos_reason.constraint import answer_regex, check
    from cosmos_reason.families.reason2 import REASON2

    constraint = Constraint("choice", '["Yes", "No"]', REASON2.reasoning)
    check(constraint)  # llguidance takes the framed grammar
    framed = re.compile(answer_regex(constraint))
    assert framed.fullmatch("<think>\nIt rolls.\n</think>\n\nNo")
    assert not framed.fullmatch("<think>\nIt rolls.\n</think>\n\n<answer>\nNo\n</answer>")
