"""`cosmos-reason export`: result lines as a flat table (Parquet and/or CSV), one row per line
of the job in input order (docs/report.md).

Columns: `file` and `line` (where the row came from), `item` as written, `path` (the absolute
local path, rows.resolve_path; empty for URLs), then each top-level field; the objects `parsed`,
`error`, `usage`, `timing` and `meta` become one column per key (`parsed_score`,
`error_message`, ...); any other list or object, and any column whose values are of more
than one type, is JSON text.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path
from typing import Any

from .rows import NAME_KEYS, Results, name_of, resolve_path

FLATTENED = ("parsed", "error", "usage", "timing", "meta")
LEADING = ("file", "line", "item", "path", "kind", "task", "prompt", "content", "reasoning")


class MissingPyarrow(Exception):
    pass


def table(results: Results) -> dict[str, list[Any]]:
    """Column name -> values, every column as long as the rows, columns in a stable order."""
    records = [flat_row(row) for row in results.rows]
    names: dict[str, None] = dict.fromkeys(LEADING)
    for record in records:
        names.update(dict.fromkeys(record))
    columns = {name: [record.get(name) for record in records] for name in names}
    return {name: _one_type(values) for name, values in columns.items()}


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    name = name_of(row)
    out: dict[str, Any] = {
        "file": str(Path(row["_file"]).resolve()),
        "line": row["_line"],
        "item": name,
        "path": resolve_path(name, row["_file"]) if "custom_id" not in row or "item" in row else None,
    }
    for key, value in row.items():
        if key.startswith("_") or key in NAME_KEYS and row[key] == name:  # already the `item` column
            continue
        if key in FLATTENED and isinstance(value, dict):
            for sub, inner in value.items():
                out[f"{key}_{sub}"] = _cell(inner)
        elif key in FLATTENED and value is None:
            continue
        else:
            out[key] = _cell(value)
    return out


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=False)
    return value


def _one_type(values: list[Any]) -> list[Any]:
    """A column Parquet can hold: ints with floats become floats; any other mix becomes text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} and kinds == {int, float}:
        return [None if v is None else float(v) for v in values]
    if len(kinds) > 1:
        return [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
    return values


def write_parquet(columns: dict[str, list[Any]], path: str | os.PathLike) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingPyarrow("--parquet needs pyarrow: pip install 'cosmos-reason[export]'") from None
    arrays = {
        name: pa.array(values, type=pa.string() if _all_none(values) else None) for name, values in columns.items()
    }
    _atomic(path, lambda tmp: pq.write_table(pa.table(arrays), tmp))


def write_csv(columns: dict[str, list[Any]], path: str | os.PathLike) -> None:
    names = list(columns)
    count = len(next(iter(columns.values()))) if columns else 0

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(names)
            for i in range(count):
                writer.writerow(["" if columns[n][i] is None else columns[n][i] for n in names])

    _atomic(path, write)


def _all_none(values: list[Any]) -> bool:
    return all(v is None for v in values)


def _atomic(path: str | os.PathLike, write: Any) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:  # name the file the user asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
