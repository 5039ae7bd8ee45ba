"""Structured output in the hf engine on the random demo checkpoint: its free text is
gibberish, so every answer that parses is the constraint's doing."""

from __future__ import annotations

import asyncio
import json
import re

import jsonschema

from cosmos_reason.constraint import Constraint
from cosmos_reason.families.reason1.constants import REASONING
from cosmos_reason.reasoning.format import ReasoningFormat
from cosmos_reason.reasoning.split import split_reasoning
from tests.structured_cases import SCENE

from .conftest import collect

SCHEMA = SCENE  # bounded: the random model completes it within a small max_tokens


def json_constraint(schema: dict = SCHEMA, reasoning: ReasoningFormat | None = None) -> Constraint:
    return Constraint("json", json.dumps(schema), reasoning)


async def test_json_schema_answers_parse_and_validate(engine):
    out = await collect(
        engine, "Describe the scene.", max_tokens=80, n=3, temperature=1.0, seed=3, constraint=json_constraint()
    )
    for choice in out.values():
        assert choice["finish"] == "stop", choice
        jsonschema.validate(json.loads(choice["text"]), SCHEMA)


async def test_regex_and_choice(engine):
    regex = await collect(engine, "When?", max_tokens=20, constraint=Constraint("regex", r"[0-9]{2}:[0-9]{2} (am|pm)"))
    assert re.fullmatch(r"[0-9]{2}:[0-9]{2} (am|pm)", regex[0]["text"]), regex
    choice = await collect(
        engine,
        "Yes or no?",
        max_tokens=8,
        n=4,
        temperature=1.0,
        constraint=Constraint("choice", '["Yes", "No", "Maybe not"]'),
    )
    assert {c["text"] for c in choice.values()} <= {"Yes", "No", "Maybe not"}
    assert all(c["finish"] == "stop" for c in choice.values())


async def test_greedy_is_token_identical_where_the_constraint_allows_everything(engine):
    free = await collect(engine, "hello", max_tokens=24)
    anything = await collect(engine, "hello", max_tokens=24, constraint=Constraint("regex", r"(.|\n)*"))
    assert anything == free


async def test_greedy_keeps_the_unconstrained_prefix_while_it_is_allowed(engine):
    free = (await collect(engine, "hello", max_tokens=12))[0]["text"]
    prefix = free[:6]
    pattern = re.escape(prefix) + "[0-9]{3}"
    out = await collect(engine, "hello", max_tokens=24, constraint=Constraint("regex", pattern))
    assert re.fullmatch(pattern, out[0]["text"]), (free, out)


async def test_constrained_and_free_rows_share_a_batch(engine):
    free_alone = await collect(engine, "a b c", max_tokens=20)
    together = await asyncio.gather(
        collect(engine, "a b c", max_tokens=20),
        collect(engine, "Describe.", max_tokens=80, n=2, constraint=json_constraint()),
        collect(engine, "Pick.", max_tokens=8, constraint=Constraint("choice", '["left", "right"]')),
    )
    assert together[0] == free_alone
    for choice in together[1].values():
        jsonschema.validate(json.loads(choice["text"]), SCHEMA)
    assert together[2][0]["text"] in ("left", "right")


async def test_a_structure_that_does_not_fit_ends_with_length(engine):
    out = await collect(engine, "Count.", max_tokens=5, constraint=Constraint("regex", "[a-z]{50}"))
    assert out[0]["finish"] == "length"
    assert re.fullmatch("[a-z]*", out[0]["text"])


async def test_with_reasoning_the_thinking_is_free_and_the_answer_is_the_structure(engine):
    out = await collect(
        engine,
        "Describe.",
        max_tokens=100,
        n=2,
        temperature=1.0,
        seed=1,
        constraint=json_constraint(reasoning=REASONING),
    )
    for choice in out.values():
        assert choice["finish"] == "stop", choice
        text = choice["text"]
        assert text.startswith("<think>\n") and "</think>\n\n<answer>\n" in text and text.endswith("\n</answer>")
        split = split_reasoning(text, REASONING)
        jsonschema.validate(json.loads(split.content), SCHEMA)
        assert split.reasoning  # the gibberish thinking, cut at half of max_tokens at the latest


def test_a_row_forced_to_close_its_thinking_shares_a_mask_step_with_others(loaded):
    import torch

    from cosmos_reason.engine.hf.grammar import Grammars, apply_grammars

    tokenizer = loaded.processor.tokenizer
    vocab = loaded.model.config.get_text_config().vocab_size
    grammars = Grammars(tokenizer, vocab)
    thinking = grammars.compile(json_constraint(reasoning=REASONING)).row(max_tokens=4)
    for token in tokenizer.encode("<think>\nabc", add_special_tokens=False):
        thinking.advance(token)  # past its budget of 2: the closing tag comes next
    plain = grammars.compile(Constraint("choice", '["Yes"]')).row(max_tokens=4)
    logits = torch.zeros(3, vocab)
    assert apply_grammars(logits, [thinking, None, plain]) == [None, None, None]
    close = tokenizer.encode("</think>", add_special_tokens=False)
    assert torch.isfinite(logits[0]).nonzero().view(-1).tolist() == close[:1]
    assert torch.isfinite(logits[1]).all()
    assert tokenizer.decode(torch.isfinite(logits[2]).nonzero().view(-1)[:1]) in "Yes"
