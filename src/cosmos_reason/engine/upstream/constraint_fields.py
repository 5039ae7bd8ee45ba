"""A constraint (constraint.py) as the upstream's own request fields, so that the
upstream enforces it, on the answer only when the output has the reasoning format:

* our own server (api=cosmos): `structured_outputs`, with our `after_thinking: true` when the
  answer is framed (the messages are already prompted, so no instruction is added there);
* vLLM and SGLang (api=vllm): `structured_outputs`; with reasoning, regex and choice become
  one regex over the whole output (free thinking, then the answer tags around the answer).
  A JSON schema or grammar cannot be framed so (vLLM applies its reasoning parsers only to
  models with think tokens, which Reason1 lacks): refused;
* a strict OpenAI server (api=openai): `response_format` for JSON only, without reasoning.

What cannot be expressed raises ValueError (a 400 naming the reason), never dropped.
"""

from __future__ import annotations

from typing import Any

from ...constraint import ANY_OBJECT, Constraint, answer_regex


def constraint_fields(constraint: Constraint | None, api: str) -> dict[str, Any]:
    if constraint is None:
        return {}
    if api == "cosmos":  # the messages are already prompted: no instruction added there, only the frame
        fields = {constraint.kind: _value(constraint)} | ({"after_thinking": True} if constraint.reasoning else {})
        return {"structured_outputs": fields}
    if api == "openai":
        return _openai(constraint)
    if not constraint.reasoning:
        return {"structured_outputs": {constraint.kind: _value(constraint)}}
    regex = answer_regex(constraint)
    if regex is None:
        raise ValueError(
            f"structured output: with reasoning, a vLLM-style upstream cannot hold a {constraint.kind} "
            "constraint to the answer alone (the family may have no think tokens for its reasoning parser); "
            'send "reasoning": false, or use a regex or choice'
        )
    return {"structured_outputs": {"regex": regex}}


def _openai(constraint: Constraint) -> dict[str, Any]:
    if constraint.kind != "json" or constraint.reasoning:
        raise ValueError(
            f"structured output: an OpenAI-style upstream takes a JSON schema without reasoning only, "
            f"not {'reasoning' if constraint.kind == 'json' else constraint.kind}"
        )
    if constraint.spec == ANY_OBJECT:
        return {"response_format": {"type": "json_object"}}
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": constraint.schema, "strict": True},
        }
    }


def _value(constraint: Constraint) -> Any:
    if constraint.kind == "json":
        return constraint.schema
    if constraint.kind == "choice":
        return constraint.choices
    return constraint.spec
