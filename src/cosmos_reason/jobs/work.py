"""One annotate item: its work (plain data, shippable to a Ray actor), the chat request
built from it, and the line that comes back (an answer, or an error naming the item)."""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..families.registry import UnknownFamilyError, default_family, family_named, get_task
from ..media.options import MEDIA_OPTION_NAMES
from ..recipes.files import parse_recipe
from ..recipes.recipe import QUESTION, TaskRecipe, UnknownTaskError, critic_score, parse_answer
from .clients import Target
from .execution import RetriesExhausted, RetryPolicy, with_retries
from .journal import Row

CHAT_PATH = "/v1/chat/completions"
_MIME = {"image": "image/*", "video": "video/*"}


# ---- one item -----------------------------------------------------------------


@dataclass
class Work:
    """Everything needed to run one item; plain data, so it can ship to a Ray actor."""

    item: str
    key: str
    is_url: bool = False
    kind: str | None = None
    prompt: str | None = None
    task: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    read_error: str | None = None
    family: str | None = None  # the served model's family (Target.family): whose task recipes apply

    def base_row(self) -> Row:
        row: Row = {
            "item": self.item,
            "kind": self.kind,
            "sha256": self.sha256,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "key": self.key,
            "prompt": asked_text(self.prompt, self.task, self.options, self.family),
            "given_prompt": self.prompt,
            "task": self.task,
            "options": self.options,
        }
        if self.meta:
            row["meta"] = self.meta
        return row

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_recipe(task: str, family: str | None) -> TaskRecipe:
    """The recipe `task` of the served model's `family`, as the server applies it (a family this
    client does not know, or None: the default family's). UnknownTaskError names the family's tasks."""
    return get_task(task, _served_family(family))


def _served_family(family: str | None):
    try:
        return family_named(family) if family else None
    except UnknownFamilyError:
        return None


def asked_text(
    prompt: str | None, task: str | None, options: dict[str, Any] | None = None, family: str | None = None
) -> str | None:
    """The user text the model is asked: the prompt, or with a task the recipe's template around
    the prompt (none given: the recipe's question), as the server's apply_task builds it."""
    try:
        recipe = work_recipe(task, options or {}, family)
    except (UnknownTaskError, ValueError):
        return prompt
    if recipe is None:
        return prompt
    return recipe.user_template.replace(QUESTION, (prompt or "").strip() or recipe.default_question)


def work_recipe(task: str | None, options: dict[str, Any], family: str | None = None) -> TaskRecipe | None:
    """The item's recipe as the server applies it for the served model's `family` (None or one this
    client does not know: the default family's): its options' `recipe` (annotate --recipe), else
    its task's. UnknownTaskError / RecipeError when there is none such."""
    if options.get("recipe") is not None:
        return _inline_recipe(json.dumps(options["recipe"]), family)
    return task_recipe(task, family) if task else None


@functools.lru_cache(maxsize=16)
def _inline_recipe(text: str, family: str | None) -> TaskRecipe:
    served = _served_family(family) or default_family()
    return parse_recipe(json.loads(text), source="recipe", default_name="recipe").build(served.reasoning)


# The server names a bad media part by its place in the request; the item is what the user knows.
_PART = re.compile(r"^messages\[\d+\]\.content\[0\][\w.]*:\s*")


def item_message(work: Work, message: str) -> str:
    """'messages[1].content[0].image_url: image could not be decoded' -> 'a/b.png: image could not ...'."""
    return _PART.sub(lambda _: f"{work.item}: ", message, count=1)


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request fields, media_options)."""
    media = {k: v for k, v in options.items() if k in MEDIA_OPTION_NAMES}
    request = {k: v for k, v in options.items() if k not in MEDIA_OPTION_NAMES}
    return request, media


def media_url(work: Work, data: bytes | None) -> str:
    if work.is_url:
        return work.item
    assert data is not None
    return f"data:{_MIME.get(work.kind or '', 'application/octet-stream')};base64,{base64.b64encode(data).decode()}"


def build_body(work: Work, data: bytes | None, model: str | None) -> dict[str, Any]:
    """The chat request for one item: the media part, then the prompt (none: the task's question)."""
    request, media = split_options(dict(work.options))
    system = request.pop("system", None)
    schema = request.pop("schema", None)
    if schema is not None:  # structured output (docs/api.md); the reply's `parsed` is the object
        request["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    kind = work.kind or "image"
    content: list[dict[str, Any]] = [{"type": f"{kind}_url", f"{kind}_url": {"url": media_url(work, data)}}]
    if work.prompt:
        content.append({"type": "text", "text": work.prompt})
    messages: list[dict[str, Any]] = [{"role": "system", "content": str(system)}] if system else []
    messages.append({"role": "user", "content": content})
    body: dict[str, Any] = {"messages": messages, **request}
    if model:
        body["model"] = model
    if work.task and "recipe" not in request:  # with the recipe itself (annotate --recipe), not its name
        body["task"] = work.task
    if media:
        body["media_options"] = media
    body["stream"] = False
    return body


def result_fields(body: dict[str, Any], recipe: TaskRecipe | None, schema: bool = False) -> Row:
    """Answer, reasoning, parsed fields and usage from a chat completion, the answer parsed by the
    item's `recipe` (work_recipe). With a `schema` the answer is JSON constrained to it: `parsed` is
    the object (null if it was cut short)."""
    parse = recipe is not None and recipe.answer_parser != "text" and not schema
    choices = []
    for choice in sorted(body.get("choices") or [], key=lambda c: c.get("index", 0)):
        message = choice.get("message") or {}
        content = message.get("content")
        choices.append(
            {
                "content": content,
                "reasoning": message.get("reasoning_content") or message.get("reasoning"),
                "finish_reason": choice.get("finish_reason"),
                "parsed": _json_answer(content) if schema else parse_answer(recipe, content or "") if parse else None,
            }
        )
    first = choices[0] if choices else {}
    fields: Row = {
        "model": body.get("model"),
        "content": first.get("content"),
        "reasoning": first.get("reasoning"),
        "finish_reason": first.get("finish_reason"),
        "parsed": first.get("parsed"),
        "usage": body.get("usage"),
    }
    if len(choices) > 1:
        fields["choices"] = choices
    if recipe is not None and recipe.name == "critic" and choices:
        fields["critic_score"] = critic_score([c["parsed"] or {} for c in choices])
    return fields


def _json_answer(content: str | None) -> Any:
    try:
        return json.loads(content or "")
    except ValueError:  # cut short by max_tokens
        return None


def error_row(
    work: Work, message: str, *, kind: str, status: int | None = None, retryable: bool = False, **extra: Any
) -> Row:
    """An error line with the same fields as an answer's (null where there is no answer)."""
    return {
        **work.base_row(),
        "model": None,
        "content": None,
        "reasoning": None,
        "finish_reason": None,
        "parsed": None,
        "usage": None,
        "request_id": None,
        "error": {"type": kind, "status": status, "message": message, "retryable": retryable},
        **extra,
    }


def reused_row(original: Row, work: Work) -> Row:
    """`work`'s line copied from `original`, the line of an item with the same content and request."""
    row = {**original, **work.base_row()}
    row["prompt"] = original.get("prompt", row["prompt"])  # what was asked (the same key: the same text)
    row["reused_from"] = original.get("item")
    row["timing"] = {"seconds": 0.0, "attempts": 0, "finished_at": _now()}
    for name in ("kind", "sha256"):
        if row.get(name) is None:
            row[name] = original.get(name)
    return row


async def execute(
    target: Target, model: str | None, policy: RetryPolicy, work: Work, data: bytes | None, timeout: float | None = None
) -> Row:
    """Run one item and return its line (an answer or an error; never raises for the item's own faults)."""
    started = time.monotonic()
    work.family = work.family or target.family  # the recipes of the model that answers
    if work.read_error:
        return _timed(error_row(work, work.read_error, kind="input"), started, 0)
    if work.kind is None:
        return _timed(
            error_row(work, "not a recognized image or video (checked by magic bytes, Pillow and PyAV)", kind="input"),
            started,
            0,
        )
    if not work.prompt and not work.task and not work.options.get("recipe"):
        return _timed(error_row(work, "no prompt and no task for this item", kind="input"), started, 0)
    try:
        recipe = work_recipe(work.task, work.options, work.family)
    except (UnknownTaskError, ValueError) as exc:  # a task this client does not know, a bad recipe
        return _timed(error_row(work, str(exc), kind="input"), started, 0)
    body = build_body(work, data, model)
    try:
        reply, attempts = await with_retries(
            lambda: target.post(CHAT_PATH, body, timeout=timeout), policy, what=work.item
        )
    except RetriesExhausted as exc:
        return _timed(
            error_row(work, str(exc), kind="transient", status=exc.last.status, retryable=True), started, exc.attempts
        )
    if not reply.ok:
        usage = reply.body.get("usage") if isinstance(reply.body, dict) else None
        row = error_row(
            work,
            item_message(work, reply.error_message()),
            kind="http",
            status=reply.status,
            model=model,
            request_id=reply.request_id,
            usage=usage,
        )
        return _timed(row, started, attempts, reply.seconds)
    row = {
        **work.base_row(),
        **result_fields(reply.body, recipe, "schema" in work.options),
        "request_id": reply.request_id,
        "error": None,
    }
    return _timed(row, started, attempts, reply.seconds)


def _timed(row: Row, started: float, attempts: int, request_seconds: float | None = None) -> Row:
    timing: dict[str, Any] = {"seconds": round(time.monotonic() - started, 4), "attempts": attempts}
    if request_seconds is not None:
        timing["request_seconds"] = round(request_seconds, 4)
    timing["finished_at"] = _now()
    row["timing"] = timing
    return row


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
