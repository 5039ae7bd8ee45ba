"""Reading result files: the job's lines as dicts, the others counted and kept aside.

A line is the job's when it is a JSON object naming what it is about: `item` (annotate, eval),
`candidate` (critic) or `custom_id` (run-batch). Anything else (text, `{}`, a summary) is a
BadLine: listed by the report, skipped by the export, never fatal.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

NAME_KEYS = ("item", "candidate", "custom_id")


class InputError(Exception):
    """A file that cannot be read as results at all (missing, a folder, binary, no JSON)."""


@dataclass
class BadLine:
    file: str
    line: int
    text: str
    reason: str


@dataclass
class Results:
    rows: list[dict[str, Any]] = field(default_factory=list)  # each with "_file" and "_line"
    bad: list[BadLine] = field(default_factory=list)


def read_results(paths: list[str | os.PathLike]) -> Results:
    results = Results()
    for path in paths:
        _read_one(Path(path), results)
    return results


def _read_one(path: Path, results: Results) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a JSONL file") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a JSONL file (not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    before = len(results.rows)
    lines = 0
    # Lines end at "\n" only, as the jobs write them: str.splitlines() would also cut at U+2028 and
    # other separators a model's answer may hold raw (json.dumps keeps them with ensure_ascii=False),
    # breaking that line in two and shifting every later line number.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        lines += 1
        row, reason = parse_line(line)
        if row is None:
            results.bad.append(BadLine(str(path), number, line[:200], reason))
        else:
            results.rows.append({**row, "_file": str(path), "_line": number})
    if lines and len(results.rows) == before:
        raise InputError(
            f"{path}: not a results JSONL file (none of its {lines} lines is a JSON object with {', '.join(NAME_KEYS)})"
        )


def parse_line(line: str) -> tuple[dict[str, Any] | None, str]:
    try:
        value = json.loads(line, parse_constant=_no_constant)
    except ValueError:
        return None, "not JSON"
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not an object"
    if not any(isinstance(value.get(key), str) for key in NAME_KEYS):
        return None, f"no {' / '.join(NAME_KEYS)}"
    return value, ""


def count(number: int, noun: str) -> str:
    """ "1 error", "2 errors"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _no_constant(name: str) -> None:
    """NaN and Infinity (Python's json writes them) read as null: a browser's JSON.parse refuses them."""
    return None


def name_of(row: dict[str, Any]) -> str:
    return next(row[key] for key in NAME_KEYS if isinstance(row.get(key), str))


def is_url(text: str) -> bool:
    return urlparse(text).scheme in ("http", "https", "data")


def resolve_path(item: str, results_file: str | os.PathLike) -> str | None:
    """The absolute local path of an item (None for a URL, a run-batch id).

    annotate and critic write a path as it was given (a folder's files under the folder as
    typed, a manifest's relative to the manifest), so a relative one is relative to where the
    job ran: the current folder, or else the results file's folder, whichever holds the file
    (for a file that is gone: whichever holds its folder; else the current folder)."""
    if item.startswith("file://"):
        return unquote(urlparse(item).path)
    if is_url(item):
        return None
    path = Path(item).expanduser()
    if path.is_absolute():
        return str(path)
    places = (Path.cwd() / path, Path(results_file).resolve().parent / path)
    found = next((p for p in places if p.exists()), None) or next((p for p in places if p.parent.is_dir()), places[0])
    return os.path.normpath(found)
