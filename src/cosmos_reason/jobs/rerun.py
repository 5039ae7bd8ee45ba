"""A rerun of `annotate` on the same --out with other options (another prompt, task or option).

Each line records what was asked (``prompt``/``given_prompt``, ``task``, ``options``), so a
rerun can tell "resume the same request" from "ask something else". Asking something else
of items that already have lines would leave two lines per item, one per request, which
nobody reading the file expects; so it is refused before any request is sent, with the
difference named. ``--redo`` instead removes those items' old lines (atomically: the file
is rewritten to a temporary one and renamed over it) and asks again. A manifest that asks
several questions of one item is fine: only a question the file has not seen yet, for an
item that has lines for other questions, is a change.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from .inputs import Item


class OptionsChanged(Exception):
    """The output holds lines for these items asked with other options (the message says which)."""


def spec_text(prompt: str | None, task: str | None, options: dict[str, Any]) -> str:
    """The request's identity apart from the media: canonical JSON of prompt, task, options."""
    return json.dumps(
        {"prompt": prompt, "task": task, "options": options}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def row_spec(row: dict[str, Any]) -> str:
    """The spec a line was asked with. `given_prompt` is the --prompt (null: the task's question);
    lines written before it existed have the given prompt in `prompt`."""
    prompt = row["given_prompt"] if "given_prompt" in row else row.get("prompt")
    return spec_text(prompt, row.get("task"), row.get("options") or {})


def changed_items(items: Iterable[Item], specs_in_file: dict[str, set[str]]) -> dict[str, tuple[str, str]]:
    """item -> (a spec in the file, the new spec) for every item this run would ask something new
    while the file has lines for it asked otherwise."""
    asked: dict[str, set[str]] = defaultdict(set)
    for item in items:
        asked[item.source].add(spec_text(item.prompt, item.task, item.options))
    changed = {}
    for source, specs in asked.items():
        old = specs_in_file.get(source)
        if old and not specs <= old:
            changed[source] = (min(old - specs or old), min(specs - old))
    return changed


def difference(old_spec: str, new_spec: str) -> str:
    """What differs, as the user set it: 'prompt "A" -> "B"', 'options.fps 2 -> 4'."""
    old, new = json.loads(old_spec), json.loads(new_spec)
    parts = [
        f"{name} {_show(old[name])} -> {_show(new[name])}" for name in ("prompt", "task") if old[name] != new[name]
    ]
    for key in sorted(old["options"].keys() | new["options"].keys()):
        a, b = old["options"].get(key), new["options"].get(key)
        if a != b:
            parts.append(f"{key} {_show(a)} -> {_show(b)}")
    return ", ".join(parts) or "the request"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + '..."'


def refusal(out: str, changed: dict[str, tuple[str, str]]) -> str:
    item, (old, new) = next(iter(changed.items()))
    return (
        f"{out} already has lines for {len(changed)} of these items asked with other options "
        f"({difference(old, new)}; e.g. {item}): rerunning would add a second line per item. "
        f"Use a new --out for the new answers, or --redo to replace those items' lines"
    )
