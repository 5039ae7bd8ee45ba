"""Parse a task's final answer text into fields.

Each parser takes the answer text (the content after split_reasoning) and
returns a value or raises ValueError; :func:`parse_answer_text` turns that into
``{key: value}`` or ``{"parse_error": "..."}``, because a model that strays
from the format is a normal outcome, not a server fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# Markdown emphasis and quotes the model sometimes wraps a short answer in.
_WRAPPING = "*_`\"' \n\t"


def _bare(text: str) -> str:
    return text.strip().strip(_WRAPPING).strip()


def _quote(text: str, limit: int = 80) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def parse_yes_no(text: str) -> bool:
    """True for yes, False for no: the first word decides, else the only one of the two words used."""
    bare = _bare(text).lower()
    first = re.match(r"[a-z]+", bare)
    if first and first.group() in ("yes", "no"):
        return first.group() == "yes"
    found = set(re.findall(r"\b(yes|no)\b", bare))  # e.g. "The answer is: No."
    if len(found) == 1:
        return found.pop() == "yes"
    raise ValueError(f"expected Yes or No, got {_quote(text)}")


def parse_score_1_5(text: str) -> int:
    """The one integer 1..5 the answer states ("4", "Score: 4", "4/5", "**4**")."""
    # "/5" and "out of 5" name the scale, not a second score.
    bare = re.sub(r"\s*(?:/|out of)\s*5\b", "", _bare(text), flags=re.IGNORECASE)
    numbers = re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", bare)
    if len(numbers) == 1 and numbers[0] in ("1", "2", "3", "4", "5"):
        return int(numbers[0])
    raise ValueError(f"expected one score from 1 to 5, got {_quote(text)}")


# "B", "(B)", "b.", then "B. text" / "(B) text", then "The answer is B" / "Option (C)".
_LETTER_ALONE = re.compile(r"[(\[]?([A-Za-z])[)\]]?\.?")
_LETTER_FIRST = re.compile(r"(?:[(\[]([A-Za-z])[)\]]|([A-Z])[.):])(?:\s|$)")
# The word is matched in any case, the letter only in upper case, so the
# article in "the answer is a ball" is never read as option A.
_LETTER_NAMED = re.compile(r"\b(?i:option|choice|answer)(?:\s+is)?\s*:?\s*[(\[]?([A-Z])\b")


def parse_letter(text: str) -> str:
    """The chosen option's letter, upper case."""
    bare = _bare(text)
    match = _LETTER_ALONE.fullmatch(bare) or _LETTER_FIRST.match(bare) or _LETTER_NAMED.search(bare)
    if match is None:
        raise ValueError(f"expected an option letter, got {_quote(text)}")
    return next(group for group in match.groups() if group).upper()


_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_json(text: str) -> Any:
    """The first JSON object or array in the answer. Tolerates code fences,
    prose around it and trailing commas (the reference templates show them)."""
    fenced = _FENCE.search(text)
    body = (fenced.group(1) if fenced else text).strip()
    starts = [i for i in (body.find("{"), body.find("[")) if i != -1]
    if not starts:
        raise ValueError(f"no JSON object or array in {_quote(text)}")
    body = body[min(starts) :]
    errors: list[json.JSONDecodeError] = []
    for candidate in (body, _TRAILING_COMMA.sub(r"\1", body)):
        try:
            return json.JSONDecoder().raw_decode(candidate)[0]
        except json.JSONDecodeError as exc:
            errors.append(exc)
    first = errors[0]  # the untouched text's error is the one that makes sense to the reader
    raise ValueError(f"invalid JSON: {first.msg} at line {first.lineno} column {first.colno}")


def parse_text(text: str) -> str:
    return text.strip()


# kind -> (default field name, parser)
PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "yes_no": ("yes", parse_yes_no),
    "score_1_5": ("score", parse_score_1_5),
    "letter": ("letter", parse_letter),
    "json": ("json", parse_json),
    "text": ("text", parse_text),
}


def parse_answer_text(kind: str, text: str, key: str | None = None) -> dict[str, Any]:
    """``{key: parsed value}``, or ``{"parse_error": message}`` if the answer does not fit."""
    default_key, parser = PARSERS[kind]
    try:
        return {key or default_key: parser(text)}
    except ValueError as exc:
        return {"parse_error": str(exc)}
