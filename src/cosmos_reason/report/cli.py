"""Command lines of `report` and `export` (docs/report.md); `register(subparsers)` adds them.
Exit codes: 0 written, 1 the input cannot be used or the output cannot be written, 2 bad arguments."""

from __future__ import annotations

import argparse
import sys
from functools import partial

from ..commandline import add_command, progress_bar


def register(subparsers: argparse._SubParsersAction) -> None:
    report = add_command(
        subparsers,
        "report",
        help="an HTML page to review results JSONL (annotate, critic, eval, run-batch): media, answers, scores",
        description="Write one HTML page (no network needed) to review result files: each item's media, "
        "answer, folded reasoning, parsed fields, scores and errors, with search, filters, sorting and paging; "
        "a critic run's ranking chart; an eval run's accuracy per source.",
        example="cosmos-reason report captions.jsonl --out report.html   # previews in report_files/",
    )
    report.add_argument("inputs", nargs="+", metavar="RESULTS", help="JSONL files written by annotate, critic, eval")
    report.add_argument("--out", "-o", default="report.html", help="the HTML page (default report.html)")
    report.add_argument(
        "--inline",
        action="store_true",
        help="put the previews in the page as data: URIs (one file to send; larger) instead of "
        "a folder beside it (OUT's name + _files)",
    )
    report.add_argument("--no-media", action="store_true", help="no previews: don't read the media files")
    report.add_argument("--title", help="the page's title (default: the files' names)")
    report.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    report.set_defaults(func=report_command)

    export = add_command(
        subparsers,
        "export",
        help="results JSONL as a Parquet and/or CSV table: one row per item, flat columns",
        description="Write result files as a table: one row per item in input order, parsed fields as "
        "columns (parsed_score, ...), absolute paths, error columns. Read it with pandas or DuckDB.",
        example="cosmos-reason export captions.jsonl --parquet captions.parquet --csv captions.csv",
    )
    export.add_argument("inputs", nargs="+", metavar="RESULTS", help="JSONL files written by annotate, critic, eval")
    export.add_argument("--parquet", metavar="FILE", help="write a Parquet file (needs the [export] extra: pyarrow)")
    export.add_argument("--csv", metavar="FILE", help="write a CSV file")
    export.set_defaults(func=export_command)


def report_command(args: argparse.Namespace) -> int:
    from .page import build_report
    from .rows import InputError, count

    progress = None if args.quiet or not sys.stderr.isatty() else partial(progress_bar, desc="previews")
    try:
        report = build_report(
            args.inputs, args.out, inline=args.inline, media=not args.no_media, title=args.title, progress=progress
        )
    except InputError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    where = f" (previews in {report.media_folder})" if report.media_folder and report.previews else ""
    bad = f", {count(report.bad_lines, 'line')} skipped (not results)" if report.bad_lines else ""
    print(f"wrote {report.path}: {count(report.items, 'item')}, {count(report.errors, 'error')}{bad}{where}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    from .export import MissingPyarrow, table, write_csv, write_parquet
    from .rows import InputError, count, read_results

    if not args.parquet and not args.csv:
        args.command_parser.error("say where to write: --parquet FILE and/or --csv FILE")
    try:
        results = read_results(args.inputs)
        columns = table(results)
        if args.parquet:
            write_parquet(columns, args.parquet)
        if args.csv:
            write_csv(columns, args.csv)
    except (InputError, MissingPyarrow) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {exc.filename or 'the output'}: {exc.strerror or exc}")
    written = " and ".join(p for p in (args.parquet, args.csv) if p)
    bad = f"; {count(len(results.bad), 'line')} skipped (not results)" if results.bad else ""
    print(f"wrote {count(len(results.rows), 'row')}, {count(len(columns), 'column')} to {written}{bad}")
    return 0


def _fail(message: str) -> int:
    print(f"cosmos-reason: error: {message}", file=sys.stderr)
    return 1
