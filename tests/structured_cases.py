"""Structured-output cases for the end-to-end proofs (tests/e2e, tests/upstream, the benchmark):
bounded enough that the random demo model completes them within a small max_tokens."""

from __future__ import annotations

import json
import re

import jsonschema

SCENE = {
    "type": "object",
    "properties": {
        "weather": {"enum": ["sunny", "rain", "snow"]},
        "events": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "t": {"type": "integer", "minimum": 0, "maximum": 99},
                    "actors": {"type": "array", "maxItems": 2, "items": {"enum": ["car", "person"]}},
                },
                "required": ["t", "actors"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["weather", "events"],
    "additionalProperties": False,
}
PLATE = r"[A-Z]{2}-[0-9]{3}"
ANSWERS = ["Yes", "No", "Not sure"]

#: name -> (request fields, max_tokens without reasoning)
CASES = {
    "json": ({"response_format": {"type": "json_schema", "json_schema": {"name": "scene", "schema": SCENE}}}, 60),
    "regex": ({"structured_outputs": {"regex": PLATE}}, 12),
    "choice": ({"guided_choice": ANSWERS}, 8),
}


def check(name: str, content: str) -> None:
    """AssertionError (or a JSON/schema error) unless `content` is a valid answer for the case."""
    if name == "json":
        jsonschema.validate(json.loads(content), SCENE)
    elif name == "regex":
        assert re.fullmatch(PLATE, content), content
    else:
        assert content in ANSWERS, content


def max_tokens(name: str, reasoning: bool) -> int:
    """With reasoning the thinking may take half of max_tokens: double the answer's room."""
    room = CASES[name][1]
    return 2 * room + 16 if reasoning else room
