"""One result line as the report page shows it, whatever job wrote it.

annotate and eval lines are the model's answer to an item; critic lines a candidate's score
with its reviews; run-batch lines a Batch API response. `view` maps each onto the same
fields (name, task, answer, reasoning, parsed, score, error, samples, eval fields) so the
page's filters and sorting treat them alike.
"""

from __future__ import annotations

import json
from typing import Any

from .rows import is_url, name_of, resolve_path

EVAL_KEYS = ("source", "question_id", "question", "correct_answer", "answer", "is_correct")


def view(row: dict[str, Any], index: int) -> dict[str, Any]:
    name = name_of(row)
    parsed = row.get("parsed")
    out: dict[str, Any] = {
        "n": index,
        "name": name,
        "file": row["_file"],
        "line": row["_line"],
        "kind": row.get("kind"),
        "task": task_of(row),
        "prompt": _text(row.get("given_prompt") or row.get("prompt") or row.get("question")),
        "content": _text(row.get("content")),
        "reasoning": _text(row.get("reasoning")),
        "parsed": parsed if isinstance(parsed, dict) else None if parsed is None else {"value": parsed},
        "parse_error": parsed.get("parse_error") if isinstance(parsed, dict) else None,
        "score": score_of(row),
        "rank": row.get("rank"),
        "error": error_text(row.get("error")),
        "model": row.get("model"),
        "finish_reason": row.get("finish_reason"),
        "seconds": (row.get("timing") or {}).get("seconds") if isinstance(row.get("timing"), dict) else None,
        "samples": samples_of(row),
        "url": name if is_url(name) else None,
        "path": resolve_path(name, row["_file"]) if "custom_id" not in row or "item" in row else None,
    }
    if "custom_id" in row and "item" not in row:
        out.update(_batch_fields(row))
    if "is_correct" in row:
        out.update({key: row.get(key) for key in EVAL_KEYS})
        out["prompt"] = row.get("question") or out["prompt"]
        choices = row.get("choices")
        out["options"] = {str(k): str(v) for k, v in choices.items()} if isinstance(choices, dict) else None
    return out


def task_of(row: dict[str, Any]) -> str | None:
    if row.get("task"):
        return str(row["task"])
    if "candidate" in row:
        return "reward" if row.get("method") == "yes_no" else "critic"
    if "custom_id" in row:
        return "batch"
    return "eval" if "is_correct" in row else None


def score_of(row: dict[str, Any]) -> float | None:
    """critic: its score; annotate: critic_score, else the parsed score (plausibility)."""
    parsed = row.get("parsed")
    for value in (row.get("score"), row.get("critic_score"), parsed.get("score") if isinstance(parsed, dict) else None):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def error_text(error: Any) -> str | None:
    if error in (None, "", {}):
        return None
    if isinstance(error, dict):
        message = error.get("message") or json.dumps(error, ensure_ascii=False)
        kind = error.get("type") or error.get("code")
        status = error.get("status")
        prefix = " ".join(str(p) for p in (kind, status) if p not in (None, ""))
        return f"{prefix}: {message}" if prefix else str(message)
    return str(error)


def samples_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The n answers of an item (annotate --n) or the critic's reviews."""
    critic = row.get("critic")
    if isinstance(critic, dict) and isinstance(critic.get("samples"), list):
        return [
            {
                "content": s.get("answer"),
                "reasoning": s.get("reasoning"),
                "note": "anomaly" if s.get("anomaly") else "no anomaly" if s.get("anomaly") is False else "unread",
            }
            for s in critic["samples"]
            if isinstance(s, dict)
        ]
    choices = row.get("choices")
    if isinstance(choices, list):
        return [
            {"content": c.get("content"), "reasoning": c.get("reasoning"), "note": c.get("finish_reason")}
            for c in choices
            if isinstance(c, dict)
        ]
    return []


def _batch_fields(row: dict[str, Any]) -> dict[str, Any]:
    response = _dict(row.get("response"))
    body = _dict(response.get("body"))
    choices = body.get("choices") if isinstance(body.get("choices"), list) else []
    first = _dict(choices[0]) if choices else {}
    message = _dict(first.get("message"))
    error = row.get("error") or (body.get("error") if (response.get("status_code") or 200) >= 400 else None)
    return {
        "model": body.get("model"),
        "content": message.get("content"),
        "reasoning": message.get("reasoning_content") or message.get("reasoning"),
        "finish_reason": first.get("finish_reason"),
        "error": error_text(error),
        "path": None,
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """Text as is; anything else a line may hold there (a number, an object) as JSON."""
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)
