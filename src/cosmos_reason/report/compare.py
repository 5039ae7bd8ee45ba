"""The page of `cosmos-reason eval --compare A B --html compare.html` (docs/eval.md).

Beside compare.html it writes the report of each run (`compare.A.html`, `compare.B.html`, made
by :func:`~cosmos_reason.report.page.build_report`, previews shared in `compare_files/`), and the
comparison links into them: each question the runs answered differently links to its line in
A's report and in B's (`#line=N`, the report's own fragment key), so one click shows the item
with its media, answer and folded reasoning. Like the report it needs no network and no JS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from .page import _asset, _relative, build_report


@dataclass
class Comparison:
    page: Path
    reports: tuple[Path, Path]
    media_folder: Path | None


def report_paths(out: str | os.PathLike) -> tuple[Path, Path, Path]:
    """compare.html -> (compare.A.html, compare.B.html, compare_files/)."""
    out = Path(out)
    return out.with_name(out.stem + ".A.html"), out.with_name(out.stem + ".B.html"), out.with_name(out.stem + "_files")


def write_comparison(
    result: dict[str, Any],
    out: str | os.PathLike,
    *,
    media: bool = True,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> Comparison:
    """Write the report of each run, then the comparison page linking into them.
    Raises the report's InputError for a file it cannot read, OSError for one it cannot write."""
    out = Path(out)
    a_page, b_page, folder = report_paths(out)
    back = (_relative(a_page, out), "comparison: " + out.name)
    for side, page in (("a", a_page), ("b", b_page)):
        file = result[side]["file"]
        build_report(
            [file],
            page,
            media=media,
            title=f"{side.upper()}: {file}",
            progress=progress,
            media_folder=folder,
            back=back,
        )
    html = comparison_page(result, _relative(out, a_page), _relative(out, b_page))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    drawn = media and folder.is_dir()
    return Comparison(out, (a_page, b_page), folder if drawn else None)


def comparison_page(result: dict[str, Any], a_href: str, b_href: str) -> str:
    """The page: both runs' accuracy per source side by side, and every question they answered
    differently, each linked to its line in the report of A (`a_href`) and of B (`b_href`)."""
    a, b = result["a"], result["b"]
    runs = "".join(
        f"<tr><th>{name.upper()}</th><td>{escape(run['file'])}</td>"
        f'<td><a class="report-{name}" href="{escape(href)}">report</a></td></tr>'
        for name, run, href in (("a", a, a_href), ("b", b, b_href))
    )
    runs = f'<section class="panel" id="runs"><h2>Runs</h2><table>{runs}</table></section>'
    title = f"Comparison: {Path(a['file']).name} vs {Path(b['file']).name}"
    body = runs + accuracy_side_by_side(a["accuracy"], b["accuracy"]) + disagreements_section(result, a_href, b_href)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>{escape(title)}</title>\n<style>{_asset('page.css')}</style>\n</head>\n<body>\n"
        f'<header><h1>{escape(title)}</h1><p class="summary" id="summary">{escape(summary_text(result))}</p></header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def summary_text(result: dict[str, Any]) -> str:
    text = (
        f"{result['common']} questions in both: {result['both_correct']} both right, "
        f"{result['only_a_correct']} only A, {result['only_b_correct']} only B, {result['both_wrong']} both wrong"
    )
    common = result["common_accuracy"]
    if result["common"]:
        text += f" (A {percent(common['a']['accuracy'])}, B {percent(common['b']['accuracy'])} on them)"
    if result["only_in_a"] or result["only_in_b"]:
        text += f" · only in A: {result['only_in_a']}, only in B: {result['only_in_b']} (not compared)"
    return text


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def accuracy_side_by_side(a: dict[str, Any], b: dict[str, Any]) -> str:
    """One row per source of either run, then overall: each run's correct / count and accuracy, B − A."""
    names = sorted(set(a["sources"]) | set(b["sources"]))
    rows = [(escape(n), a["sources"].get(n), b["sources"].get(n), "") for n in names]
    rows.append(("overall", a["overall"], b["overall"], "overall"))
    body = "".join(
        f'<tr class="{cls}"><td>{name}</td>{_accuracy_cells(ea)}{_accuracy_cells(eb)}'
        f'<td class="num">{_difference(ea, eb)}</td></tr>'
        for name, ea, eb, cls in rows
    )
    return (
        '<section class="panel" id="accuracy"><h2>Accuracy</h2><table><thead><tr><th>source</th>'
        '<th class="num">A correct</th><th class="num">A accuracy</th>'
        '<th class="num">B correct</th><th class="num">B accuracy</th><th class="num">B − A</th></tr></thead>'
        f"<tbody>{body}</tbody></table></section>"
    )


def _accuracy_cells(entry: dict[str, Any] | None) -> str:
    if not entry:
        return '<td class="num">–</td><td class="num">–</td>'
    return (
        f'<td class="num">{entry["correct"]} / {entry["count"]}</td><td class="num">{percent(entry["accuracy"])}</td>'
    )


def _difference(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or a["accuracy"] is None or b["accuracy"] is None:
        return "–"
    return f"{100 * (b['accuracy'] - a['accuracy']):+.2f} pts"


def disagreements_section(result: dict[str, Any], a_href: str, b_href: str) -> str:
    rows = "".join(_disagreement(d, a_href, b_href) for d in result["disagreements"])
    if not rows:
        return '<section class="panel" id="disagreements"><h2>Answered differently</h2><p>None.</p></section>'
    return (
        f'<section class="panel" id="disagreements"><h2>Answered differently ({len(result["disagreements"])})</h2>'
        "<p>Each answer links to its item in that run's report: media, answer and reasoning.</p>"
        "<table><thead><tr><th>question</th><th>item</th><th>correct</th><th>A</th><th>B</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _disagreement(d: dict[str, Any], a_href: str, b_href: str) -> str:
    question = escape(d.get("question") or "")
    return (
        f'<tr class="disagreement"><td><code>{escape(str(d["question_id"]))}</code>'
        f"{'<br>' + question if question else ''}</td><td>{escape(str(d.get('item') or ''))}</td>"
        f"<td>{escape(str(d.get('correct_answer') or '–'))}</td>"
        f"<td>{_answer_link(d['a'], a_href, 'a')}</td><td>{_answer_link(d['b'], b_href, 'b')}</td></tr>"
    )


def _answer_link(side: dict[str, Any], href: str, which: str) -> str:
    text = (side.get("answer") or ("error" if side.get("error") else "no answer")) + (
        " ✓" if side["is_correct"] else " ✗"
    )
    title = f' title="{escape(side["error"])}"' if side.get("error") else ""
    if side.get("line") is None:
        return escape(text)
    verdict = "right" if side["is_correct"] else "wrong"
    return f'<a class="to-{which} {verdict}" href="{escape(href)}#line={int(side["line"])}"{title}>{escape(text)}</a>'
