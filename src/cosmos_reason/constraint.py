"""Structured output: the one constraint every request field becomes (chat/response_format.py
reads the fields), and what it means as an llguidance grammar (the hf engine masks tokens
with it; requests are checked with it whatever the engine). docs/api.md has the user's view.

A constraint is a kind (json, regex, choice, grammar) and its spec as text, so that it is
hashable (compiled grammars are cached by it) and can be forwarded to an upstream as given.
With `reasoning` (the model family's ReasoningFormat) the constraint applies to the answer
only: the thinking is free text that ends at the first think-close tag, then the answer
(inside the family's answer tags, if it has them) is exactly the structure, then the model's
end of turn (`reasoning_frame` is the one place that assembles the tags).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from .reasoning.format import ReasoningFormat

Kind = Literal["json", "regex", "choice", "grammar"]
KINDS: tuple[Kind, ...] = ("json", "regex", "choice", "grammar")

# Compact JSON (no whitespace between tokens), as OpenAI's structured outputs write it: a
# model may not pad an object with endless blanks, and every answer parses the same way.
JSON_OPTIONS = {"whitespace_flexible": False}
ANY_OBJECT = '{"type":"object"}'


class ConstraintError(ValueError):
    """The constraint cannot be honoured; the message says why (the client's mistake)."""


@dataclass(frozen=True)
class Constraint:
    kind: Kind
    spec: str  # json: the schema as JSON text; regex: the pattern; choice: a JSON list; grammar: its text
    reasoning: ReasoningFormat | None = None  # the family's format: applies to the answer after the thinking

    @property
    def schema(self) -> dict[str, Any]:
        return json.loads(self.spec)

    @property
    def choices(self) -> list[str]:
        return json.loads(self.spec)


def reasoning_frame(fmt: ReasoningFormat) -> tuple[str, str, str]:
    """The reasoning format around a constrained answer: (opens the thinking, closes the
    thinking and opens the answer, closes the answer), from the family's tags."""
    opening = f"{fmt.answer_open}\n" if fmt.answer_open else ""
    closing = f"\n{fmt.answer_close}" if fmt.answer_close else ""
    return f"{fmt.think_open}\n", f"{fmt.think_close}\n\n{opening}", closing


def thinking_end(fmt: ReasoningFormat) -> str:
    """The text that ends the free thinking (forced when the thinking runs out of budget)."""
    return fmt.think_close


def llguidance_grammar(constraint: Constraint) -> str:
    """The llguidance grammar (its JSON form) that admits exactly the constrained output."""
    answer = _answer_grammar(constraint)
    if constraint.reasoning is None:
        return json.dumps({"grammars": [answer]})
    fmt = constraint.reasoning
    opening, middle, closing = reasoning_frame(fmt)
    close = thinking_end(fmt)
    if fmt.think_tokens:  # the tags are tokens (named <think> in Lark), the thinking is text without them
        outer = (
            f"start: {fmt.think_open} {_lark_string(opening[len(fmt.think_open) :])} thinking {fmt.think_close} "
            f"{_lark_string(middle[len(close) :])} @answer {_lark_string(closing)}\n"
            f"thinking: /{_lark_regex(_without(close))}/\n"
        )
    else:
        outer = (
            f"start: {_lark_string(opening)} thinking {_lark_string(middle[len(close) :])} @answer "
            f"{_lark_string(closing)}\n"
            f"thinking[lazy]: /(.|\\n)*{_lark_regex_literal(close)}/\n"
        )
    return json.dumps({"grammars": [{"lark_grammar": outer}, {**answer, "name": "answer"}]})


def answer_regex(constraint: Constraint) -> str | None:
    """The constraint as one regular expression (regex and choice only), framed by the
    reasoning format when it has one; None when a regex cannot say it (json, grammar)."""
    if constraint.kind == "regex":
        answer = constraint.spec
    elif constraint.kind == "choice":
        answer = "|".join(_regex_literal(c) for c in constraint.choices)
    else:
        return None
    if constraint.reasoning is None:
        return answer
    opening, middle, closing = reasoning_frame(constraint.reasoning)
    close = thinking_end(constraint.reasoning)
    return _regex_literal(opening) + _without(close) + _regex_literal(middle) + f"({answer})" + _regex_literal(closing)


def _without(word: str) -> str:
    """A regex for any text that does not contain `word` (whose first character occurs in it
    only there, as in a tag): runs of that character, each followed by a proper prefix of the
    rest of the word and then a character that breaks it, or by the end of the text."""
    first, rest = _regex_literal(word[0]), word[1:]
    breaks = ""
    for k in range(len(rest) - 1, -1, -1):
        char = _regex_literal(rest[k])
        broken = f"[^{char}{first}]"
        breaks = broken if not breaks else f"{broken}|{char}({breaks})"
    prefixes = ""
    for k in range(len(rest) - 2, -1, -1):
        prefixes = f"({_regex_literal(rest[k])}{prefixes})?"
    partial = f"{first}+{prefixes}"
    return f"([^{first}]|({partial})*{first}+({breaks}))*({partial})*"


def _regex_literal(text: str) -> str:
    return "".join("\\n" if c == "\n" else ("\\" + c if c in "\\^$.|?*+()[]{}-" else c) for c in text)


def check(constraint: Constraint) -> None:
    """ConstraintError unless llguidance accepts the grammar (bad schema, unsupported keyword,
    a regex that does not compile, a grammar that does not parse)."""
    import llguidance

    failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(llguidance_grammar(constraint), None)
    if failed:
        raise ConstraintError(_first_line(messages[0]) if messages else "the grammar is invalid")


def _answer_grammar(constraint: Constraint) -> dict[str, Any]:
    import llguidance

    if constraint.kind == "json":
        schema = constraint.schema
        return {"json_schema": {**schema, "x-guidance": JSON_OPTIONS}}
    if constraint.kind == "choice":
        return {"lark_grammar": "start: " + " | ".join(_lark_string(c) for c in constraint.choices)}
    if constraint.kind == "regex":
        return {"lark_grammar": f"start: /{_lark_regex(constraint.spec)}/"}
    try:
        text = llguidance.gbnf_to_lark.any_to_lark(constraint.spec)  # GBNF (llama.cpp, xgrammar) or Lark
    except Exception as exc:  # the converter raises plain exceptions for input it cannot read
        raise ConstraintError(f"the grammar is neither Lark nor GBNF: {_first_line(str(exc))}") from None
    return {"lark_grammar": text}


def _lark_string(text: str) -> str:
    return json.dumps(text)


def _lark_regex(pattern: str) -> str:
    """A regex inside lark's /.../: an unescaped slash would end it."""
    return re.sub(r"(?<!\\)((?:\\\\)*)/", r"\1\\/", pattern)


def _lark_regex_literal(text: str) -> str:
    return _lark_regex(re.escape(text))


def _first_line(message: str) -> str:
    """llguidance's message in one line: its first line and, for a regex, the parser's verdict."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return message
    verdict = next((line for line in lines[1:] if line.startswith("error:")), "")
    return f"{lines[0]} {verdict}".strip()[:500]
