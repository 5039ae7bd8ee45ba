"""The structured-output fields of a chat request -> one Constraint (constraint.py),
or a 400 naming the field and the reason. Accepted: OpenAI's `response_format` (json_object,
json_schema), vLLM's `structured_outputs` (json, regex, choice, grammar, json_object) and
its legacy `guided_json`, `guided_regex`, `guided_choice`, `guided_grammar`. Exactly one may
be given; docs/api.md has the table."""

from __future__ import annotations

import json
from typing import Any

from ..api.protocol import ChatCompletionRequest
from ..constraint import ANY_OBJECT, KINDS, Constraint, ConstraintError, Kind, check
from ..errors import APIError
from ..reasoning.format import ReasoningFormat
from ..recipes.recipe import TaskRecipe

LEGACY: dict[str, Kind] = {
    "guided_json": "json",
    "guided_regex": "regex",
    "guided_choice": "choice",
    "guided_grammar": "grammar",
}
# structured_outputs keys that leave the output as we make it anyway
HARMLESS = {
    "disable_fallback": lambda v: True,
    "disable_any_whitespace": lambda v: v is not False,
    "disable_additional_properties": lambda v: v is not True,
    "backend": lambda v: True,
}


def request_constraint(
    request: ChatCompletionRequest, reasoning: ReasoningFormat | None, family_format: ReasoningFormat
) -> Constraint | None:
    """The request's constraint (None without one). `reasoning`: the family's format when the
    output has it, so the constraint applies to the answer only. `structured_outputs.after_thinking`
    (our extension) says the same for a prompt that asks for the family's reasoning itself."""
    if isinstance(request.structured_outputs, dict) and request.structured_outputs.get("after_thinking") is True:
        reasoning = family_format
    found = [
        given
        for given in (
            _response_format(request.response_format),
            _structured(request.structured_outputs),
            *(_legacy(name, getattr(request, name)) for name in LEGACY),
        )
        if given is not None
    ]
    if len(found) > 1:
        names = " and ".join(field for field, _, _ in found)
        raise APIError(
            400,
            f"{names}: give one structured-output constraint, not several",
            param=found[1][0],
            code="invalid_structured_output",
        )
    if not found:
        return None
    field, kind, spec = found[0]
    if request.ignore_eos:
        raise APIError(
            400,
            f"{field}: a constrained answer ends where its structure does; ignore_eos cannot apply",
            param="ignore_eos",
        )
    constraint = Constraint(kind, _spec(field, kind, spec), reasoning)
    try:
        check(constraint)
    except ConstraintError as exc:
        raise APIError(400, f"{field}: {exc}", param=field, code="invalid_structured_output") from None
    return constraint


def recipe_constraint(
    request: ChatCompletionRequest, recipe: TaskRecipe | None, reasoning: ReasoningFormat | None
) -> Constraint | None:
    """The recipe's own answer format as a constraint, when the request has none of its own and
    did not ask for free text (response_format {"type": "text"})."""
    if recipe is None or recipe.answer_format is None:
        return None
    if isinstance(request.response_format, dict) and request.response_format.get("type") == "text":
        return None
    kind, spec = recipe.answer_format
    return Constraint(kind, spec, reasoning)  # type: ignore[arg-type]  # the recipe's kind is one of KINDS


def _response_format(value: Any) -> tuple[str, Kind, Any] | None:
    if value is None:
        return None
    field = "response_format"
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return field, "json", ANY_OBJECT
    if kind == "json_schema":
        inner = value.get("json_schema")
        if not isinstance(inner, dict) or inner.get("schema") is None:
            raise _bad(f"{field}.json_schema.schema", "required: the JSON schema the answer must follow")
        return f"{field}.json_schema.schema", "json", inner["schema"]
    raise _bad(field, 'type must be "text", "json_object" or "json_schema"')


def _structured(value: Any) -> tuple[str, Kind, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("structured_outputs", "must be an object")
    refused = [
        k
        for k, v in value.items()
        if v is not None
        and k not in ("json", "regex", "choice", "grammar", "json_object", "after_thinking")
        and not (k in HARMLESS and HARMLESS[k](v))
    ]
    if refused:
        raise _bad(f"structured_outputs.{refused[0]}", "not supported by this server")
    given: list[tuple[str, Kind, Any]] = [
        (f"structured_outputs.{k}", k, value[k]) for k in KINDS if value.get(k) is not None
    ]
    if value.get("json_object"):
        given.append(("structured_outputs.json_object", "json", ANY_OBJECT))
    if len(given) > 1:
        raise _bad(given[1][0], f"give one of {', '.join(g[0] for g in given)}, not several")
    return given[0] if given else None


def _legacy(name: str, value: Any) -> tuple[str, Kind, Any] | None:
    return None if value is None else (name, LEGACY[name], value)


def _spec(field: str, kind: Kind, value: Any) -> str:
    if kind == "json":
        schema = _json_value(field, value)
        if not isinstance(schema, dict):
            raise _bad(field, "must be a JSON schema object")
        return json.dumps(schema, sort_keys=True, separators=(",", ":"))
    if kind == "choice":
        if not isinstance(value, list) or not value or not all(isinstance(c, str) and c for c in value):
            raise _bad(field, "must be a non-empty list of non-empty strings")
        return json.dumps(value)
    if not isinstance(value, str) or not value:
        what = "a regular expression" if kind == "regex" else "Lark or GBNF"
        raise _bad(field, f"must be a non-empty string ({what})")
    return value


def _json_value(field: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise _bad(field, f"is not valid JSON: {exc}") from None


def _bad(field: str, reason: str) -> APIError:
    return APIError(400, f"{field}: {reason}", param=field.split(".")[0], code="invalid_structured_output")
