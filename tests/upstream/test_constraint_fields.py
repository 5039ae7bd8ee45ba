"""Structured output forwarded as each kind of upstream's own field, or refused with the reason."""

from __future__ import annotations

import json
import re

import pytest

from cosmos_reason.constraint import Constraint, answer_regex
from cosmos_reason.engine.base import Conversation, SamplingParams, Text, Turn
from cosmos_reason.engine.upstream.wire import chat_body
from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason1.constants import REASONING

SCHEMA = {"type": "object", "properties": {"a": {"enum": ["x"]}}}
CONVERSATION = Conversation((Turn("user", (Text("Hi"),)),))


def body(constraint: Constraint, api: str) -> dict:
    return chat_body(CONVERSATION, SamplingParams(max_tokens=9, constraint=constraint), "m", api, REASON1)


def test_vllm_gets_structured_outputs():
    assert body(Constraint("json", json.dumps(SCHEMA)), "vllm")["structured_outputs"] == {"json": SCHEMA}
    assert body(Constraint("choice", '["A", "B"]'), "vllm")["structured_outputs"] == {"choice": ["A", "B"]}
    assert body(Constraint("regex", "[0-9]+"), "vllm")["structured_outputs"] == {"regex": "[0-9]+"}
    assert "response_format" not in body(Constraint("regex", "a"), "vllm")


def test_our_own_server_frames_the_answer_itself():
    """The messages arrive prompted: the upstream adds no instruction (reasoning false, so a recipe's
    own template is not doubled), it only frames the constraint after the thinking."""
    sent = body(Constraint("json", json.dumps(SCHEMA), reasoning=REASONING), "cosmos")
    assert sent["structured_outputs"] == {"json": SCHEMA, "after_thinking": True} and sent["raw_output"]
    assert sent["reasoning"] is False
    assert body(Constraint("regex", "a"), "cosmos")["structured_outputs"] == {"regex": "a"}


def test_openai_gets_response_format_for_json_only():
    assert body(Constraint("json", '{"type":"object"}'), "openai")["response_format"] == {"type": "json_object"}
    sent = body(Constraint("json", json.dumps(SCHEMA)), "openai")["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == SCHEMA
    for constraint in (Constraint("regex", "a"), Constraint("json", json.dumps(SCHEMA), reasoning=REASONING)):
        with pytest.raises(ValueError, match="OpenAI-style upstream"):
            body(constraint, "openai")


def test_vllm_with_reasoning_gets_one_regex_over_thinking_and_answer():
    regex = body(Constraint("choice", '["Yes", "No."]', reasoning=REASONING), "vllm")["structured_outputs"]["regex"]
    whole = re.compile(regex)
    assert whole.fullmatch("<think>\nsome </thin thought <b>\n</think>\n\n<answer>\nNo.\n</answer>")
    assert not whole.fullmatch("<think>\nx</think>y</think>\n\n<answer>\nNo.\n</answer>")  # thinking ends at the tag
    assert not whole.fullmatch("<think>\nx</think>\n\n<answer>\nNo!\n</answer>")
    with pytest.raises(ValueError, match="reasoning"):
        body(Constraint("json", json.dumps(SCHEMA), reasoning=REASONING), "vllm")


@pytest.mark.parametrize("thinking", ["", "a", "<", "</", "</think", "<</thi", "x<<</thinky", "</think >", "\n<a>\n"])
def test_the_thinking_regex_admits_any_text_without_the_closing_tag(thinking):
    regex = re.compile(answer_regex(Constraint("regex", "A", reasoning=REASONING)))
    assert regex.fullmatch(f"<think>\n{thinking}</think>\n\n<answer>\nA\n</answer>")
    assert not regex.fullmatch(f"<think>\n{thinking}</think></think>\n\n<answer>\nA\n</answer>")
