"""Structured output with reasoning on Cosmos-Reason2's tokenizer, where `<think>` (151667) and
`</think>` (151668) are one added token each: the grammar names them as tokens, so the model's
own tags pass, the thinking cannot smuggle a textual `</think>`, and past its budget the closing
token is forced."""

from __future__ import annotations

import pytest
import torch

from cosmos_reason.constraint import Constraint
from cosmos_reason.engine.hf.grammar import GrammarFailed, Grammars, apply_grammars
from cosmos_reason.families.reason2.constants import REASONING

THINK, END_THINK = 151667, 151668


@pytest.fixture(scope="module")
def grammars(reason2_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reason2_model_dir)
    return tokenizer, Grammars(tokenizer, 151936)


def choice(grammars, max_tokens: int):
    _, compiled = grammars
    return compiled.compile(Constraint("choice", '["Yes", "No"]', REASONING)).row(max_tokens=max_tokens)


def test_the_models_think_tokens_frame_the_answer(grammars):
    tokenizer, _ = grammars
    row = choice(grammars, max_tokens=64)
    text = tokenizer.encode("\nThe cup tips.", add_special_tokens=False)
    for token in [THINK, *text, END_THINK, *tokenizer.encode("\n\nNo", add_special_tokens=False)]:
        row.advance(token)
    assert row.matcher.is_accepting()


def test_the_thinking_cannot_close_with_the_tags_text(grammars):
    tokenizer, _ = grammars
    row = choice(grammars, max_tokens=64)
    # "</", "think", ">" as plain text tokens: the split would end the thinking there, the grammar may not.
    for token in [THINK, *tokenizer.encode("\nhm ", add_special_tokens=False)]:
        row.advance(token)
    pieces = sum((tokenizer.encode(text, add_special_tokens=False) for text in ("</", "think", ">")), [])
    assert END_THINK not in pieces
    with pytest.raises(GrammarFailed):
        for token in pieces:
            row.advance(token)


def test_past_its_budget_the_thinking_is_closed_by_the_token(grammars):
    tokenizer, _ = grammars
    row = choice(grammars, max_tokens=6)  # the thinking may take 3 tokens: <think>, "\n", "ab"
    for token in [THINK, *tokenizer.encode("\nab", add_special_tokens=False)]:
        row.advance(token)
    logits = torch.zeros(1, 151936)
    assert apply_grammars(logits, [row]) == [None]
    assert torch.isfinite(logits[0]).nonzero().view(-1).tolist() == [END_THINK]
