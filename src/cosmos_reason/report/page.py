"""`cosmos-reason report`: the results as one HTML page (docs/report.md).

The page needs no network: its CSS and JS are inlined (page.css, page.js), the rows are
embedded as JSON and rendered a page at a time in the browser, and previews are small JPEGs,
either in a folder beside the page (the default: `report_files/` for `report.html`, reused
on the next run for content already drawn) or, with `inline`, in the page as data: URIs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .accuracy import accuracy_table
from .chart import ranking_svg
from .rows import BadLine, Results, count, read_results
from .thumbs import Previews, previews
from .view import view

BAD_LINES_LISTED = 200


@dataclass
class Report:
    path: Path
    items: int
    bad_lines: int
    errors: int
    previews: int
    media_folder: Path | None


def build_report(
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    inline: bool = False,
    media: bool = True,
    title: str | None = None,
    workers: int | None = None,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
    media_folder: str | os.PathLike | None = None,
    back: tuple[str, str] | None = None,
) -> Report:
    """`media_folder`: where the previews go instead of OUT's name + _files (two reports can share
    one); `back`: (href, text) of a link in the header, to the page that led here."""
    results = read_results(inputs)
    out = Path(out)
    views = [view(row, n) for n, row in enumerate(results.rows)]
    default_folder = Path(media_folder) if media_folder is not None else out.with_name(out.stem + "_files")
    folder = None if inline or not media else default_folder
    drawn = _add_previews(views, results.rows, folder, out, media, workers, progress)
    title = title or "Results: " + ", ".join(Path(p).name for p in inputs)
    html = render_page(title, views, results, back)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    errors = sum(1 for v in views if v["error"])
    return Report(out, len(views), len(results.bad), errors, drawn, folder)


# ---- previews -------------------------------------------------------------------------------


def _add_previews(
    views: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    folder: Path | None,
    out: Path,
    media: bool,
    workers: int | None,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None,
) -> int:
    """Fill each view's thumbs (URLs), href and media_problem; return how many items have previews."""
    jobs: dict[str, tuple[str, str | None, str | None]] = {}  # preview key -> (path, kind, sha256)
    for v, row in zip(views, rows, strict=True):
        v["thumbs"], v["media_problem"], v["href"] = [], None, v["url"]
        path = v.get("path")
        if not path:
            continue
        if not os.path.exists(path):
            v["media_problem"] = "missing: " + path
            continue
        v["href"] = Path(path).as_uri()
        if media:
            v["_key"] = _key(path, row.get("sha256"))
            jobs.setdefault(v["_key"], (path, v["kind"], row.get("sha256")))
        else:
            v["media_problem"] = "previews off (--no-media)"
    done: dict[str, tuple[list[str], str | None]] = {}

    def one(key: str) -> tuple[str, tuple[list[str], str | None]]:
        path, kind, sha = jobs[key]
        kept = _kept(folder, key) if folder is not None and sha else []
        if kept:
            return key, ([_relative(out, p) for p in kept], None)
        result = previews(path, kind)
        return key, (_store(result, key, folder, out), result.problem)

    if jobs:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
            results = pool.map(one, list(jobs))
            for key, value in progress(results, len(jobs)) if progress else results:
                done[key] = value
    for v in views:
        key = v.pop("_key", None)
        if key is not None:
            v["thumbs"], v["media_problem"] = done[key]
    return sum(1 for v in views if v["thumbs"])


def _key(path: str, sha256: Any) -> str:
    """Same content, same previews: by sha256 when the row has it, else by path."""
    if isinstance(sha256, str) and sha256:
        return sha256[:24]
    return "p" + hashlib.blake2b(path.encode(), digest_size=12).hexdigest()


def _kept(folder: Path, key: str) -> list[Path]:
    return sorted(folder.glob(f"{key}-*.jpg"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def _store(result: Previews, key: str, folder: Path | None, out: Path) -> list[str]:
    if folder is None:
        return ["data:image/jpeg;base64," + base64.b64encode(frame).decode() for frame in result.frames]
    urls = []
    for i, frame in enumerate(result.frames):
        path = folder / f"{key}-{i}.jpg"
        path.write_bytes(frame)
        urls.append(_relative(out, path))
    return urls


def _relative(out: Path, path: Path) -> str:
    return quote(os.path.relpath(path, out.parent).replace(os.sep, "/"))


# ---- the page ---------------------------------------------------------------------------------


def render_page(title: str, views: list[dict[str, Any]], results: Results, back: tuple[str, str] | None = None) -> str:
    template = _asset("page.html")
    sections = accuracy_section(results.rows) + critic_sections(results.rows) + bad_lines_section(results.bad)
    data = json.dumps(views, ensure_ascii=False, separators=(",", ":"), default=str)
    parts = {
        "title": escape(title),
        "back": f'<p class="back"><a href="{escape(back[0])}">← {escape(back[1])}</a></p>' if back else "",
        "css": _asset("page.css"),
        "js": _asset("page.js"),
        "summary": escape(summary_text(views, results)),
        "sections": sections,
        # "<" only occurs inside JSON strings, where \u003c means the same: no "</script>" can end the block
        "data": data.replace("<", "\\u003c"),
    }
    for name, value in parts.items():
        template = template.replace("{{" + name + "}}", value)
    return template


def _asset(name: str) -> str:
    return files("cosmos_reason.report").joinpath(name).read_text(encoding="utf-8")


def summary_text(views: list[dict[str, Any]], results: Results) -> str:
    tasks = Counter(v["task"] for v in views if v["task"])
    parts = [count(len(views), "item")]
    if tasks:
        parts.append(", ".join(f"{task}: {count}" for task, count in tasks.most_common()))
    parts.append(count(sum(1 for v in views if v["error"]), "error"))
    parse_errors = sum(1 for v in views if v["parse_error"])
    if parse_errors:
        parts.append(count(parse_errors, "parse error"))
    if results.bad:
        parts.append(count(len(results.bad), "line") + " not results")
    models = sorted({str(v["model"]) for v in views if v["model"]})
    if models:
        parts.append("model " + ", ".join(models))
    return " · ".join(parts)


def accuracy_section(rows: list[dict[str, Any]]) -> str:
    if not any("is_correct" in row for row in rows):
        return ""
    table = accuracy_table(rows)
    body = "".join(_accuracy_row(escape(source), entry, "") for source, entry in table["sources"].items())
    body += _accuracy_row("overall", table["overall"], "overall")
    return (
        '<section class="panel" id="accuracy"><h2>Accuracy</h2><table><thead><tr><th>source</th>'
        '<th class="num">count</th><th class="num">correct</th><th class="num">accuracy</th></tr></thead>'
        f"<tbody>{body}</tbody></table></section>"
    )


def _accuracy_row(name: str, entry: dict[str, Any], cls: str) -> str:
    accuracy = "–" if entry["accuracy"] is None else f"{100 * entry['accuracy']:.1f}%"
    return (
        f'<tr class="{cls}"><td>{name}</td><td class="num">{entry["count"]}</td>'
        f'<td class="num">{entry["correct"]}</td><td class="num">{accuracy}</td></tr>'
    )


def critic_sections(rows: list[dict[str, Any]]) -> str:
    """One ranking chart per critic file, in its rank order (candidates without a score last)."""
    by_file: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if "candidate" in row:
            by_file.setdefault(row["_file"], []).append(row)
    html = []
    for file, ranking in by_file.items():
        ranking = sorted(ranking, key=lambda r: (r.get("rank") is None, r.get("rank") or 0))
        scores = [
            (str(r["candidate"]), r["score"] if isinstance(r.get("score"), (int, float)) else None) for r in ranking
        ]
        method = "P(Yes)" if ranking[0].get("method") == "yes_no" else "critic score"
        prompt = next((r.get("prompt") for r in ranking if r.get("prompt")), None)
        title = f"Ranking by {method}" + (f' for "{prompt}"' if prompt else "")
        best = scores[0][0] if scores and scores[0][1] is not None else None
        html.append(
            f'<section class="panel ranking"><h2>Critic ranking: {escape(Path(file).name)}</h2>'
            f"<p>{'best: <strong>' + escape(best) + '</strong>' if best else 'no candidate has a score'}</p>"
            f"{ranking_svg(scores, title)}</section>"
        )
    return "".join(html)


def bad_lines_section(bad: list[BadLine]) -> str:
    if not bad:
        return ""
    items = "".join(
        f"<li>{escape(Path(b.file).name)}:{b.line} ({escape(b.reason)}): <code>{escape(b.text)}</code></li>"
        for b in bad[:BAD_LINES_LISTED]
    )
    more = f"<p>… and {len(bad) - BAD_LINES_LISTED} more</p>" if len(bad) > BAD_LINES_LISTED else ""
    return (
        f'<section class="panel bad-lines" id="bad-lines"><details><summary>{count(len(bad), "line")} '
        f"that {'is' if len(bad) == 1 else 'are'} not results, skipped</summary>"
        f"<ul>{items}</ul>{more}</details></section>"
    )
