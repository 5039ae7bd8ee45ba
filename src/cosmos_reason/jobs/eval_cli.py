"""The `eval` command line (options and output: docs/eval.md); jobs/cli.py registers it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("cosmos_reason.jobs")

EXAMPLE = (
    "cosmos-reason eval data/benchmark --sources robovqa,av --out results.jsonl --server http://localhost:8000\n"
    "  cosmos-reason eval my_labels.jsonl --out mine.jsonl --model nvidia/Cosmos-Reason1-7B --no-reasoning\n"
    "  cosmos-reason eval --compare results.jsonl mine.jsonl --html compare.html"
)


def register_eval(subparsers: argparse._SubParsersAction) -> None:
    from ..commandline import add_command, json_object
    from .flags import target_options

    p = add_command(
        subparsers,
        "eval",
        help="accuracy on a labelled multiple-choice set (the Cosmos-Reason1 benchmark format) (resumable)",
        description="Ask every labelled question the way the Cosmos-Reason1 benchmark script does, "
        "write one JSON line per question and the accuracy per source and overall. "
        "Or compare two such runs (--compare).",
        example=EXAMPLE,
    )
    p.add_argument(
        "input",
        nargs="?",
        metavar="BENCHMARK",
        help="a benchmark folder (<source>/<source>_benchmark_qa_pairs.json with clips/), one such QA file, "
        "or a JSONL/CSV of {media, question, choices, answer}",
    )
    p.add_argument("--out", "-o", help="results JSONL; rerun the same command to resume")
    p.add_argument("--sources", help="only these sources of a benchmark folder, comma-separated (e.g. robovqa,av)")
    p.add_argument(
        "--summary",
        metavar="FILE",
        help="where to write the accuracy table as JSON (default: --out with .accuracy.json)",
    )
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument(
        "--retry-errors", action="store_true", help="also redo questions whose line is an error (not empty answers)"
    )
    p.add_argument(
        "--redo", action="store_true", help="replace lines of questions asked with other options instead of refusing"
    )
    g = p.add_argument_group("how each question is asked (defaults: the benchmark's configs/evaluate.yaml)")
    g.add_argument(
        "--reasoning",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask for <think> reasoning and an <answer> letter (default); --no-reasoning: the benchmark's "
        "letter mode, greedy with 10 tokens, the first capital letter is the answer",
    )
    g.add_argument("--max-tokens", type=int, default=1024, help="default 1024 (reasoning mode and retries)")
    g.add_argument("--temperature", type=float, default=0.6, help="default 0.6 (reasoning mode and retries)")
    g.add_argument("--top-p", type=float, default=0.95, help="default 0.95 (reasoning mode)")
    g.add_argument("--seed", type=int, default=1, help="default 1")
    g.add_argument("--fps", type=float, default=4.0, help="video frames sampled per second (default 4)")
    g.add_argument(
        "--empty-retries",
        type=int,
        default=10,
        help="ask again this many times when no answer letter can be read (default 10)",
    )
    g.add_argument(
        "--options", type=json_object, default={}, metavar="JSON", help="more request or media options (JSON object)"
    )
    c = p.add_argument_group("comparing two runs")
    c.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two results files of eval: accuracy side by side")
    c.add_argument(
        "--html",
        metavar="FILE",
        help="with --compare: also write the comparison as an HTML page, with the report of each run beside it "
        "(FILE's name + .A.html and .B.html, previews in FILE's name + _files/) that each question answered "
        "differently links into",
    )
    c.add_argument("--no-media", action="store_true", help="with --html: the reports draw no previews of the media")
    target_options(p)
    p.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    from .commands import _fail, _setup_logging, run_on_target

    _setup_logging(args.quiet)
    if args.compare:
        if args.input:
            return _fail("give either BENCHMARK (to run) or --compare A B (to compare two runs), not both", 2)
        return compare_command(args)
    if args.html or args.no_media:
        return _fail(f"{'--html' if args.html else '--no-media'} goes with --compare", 2)
    if not args.input:
        return _fail("give a BENCHMARK folder or labelled file (or --compare A B)", 2)
    if not args.out:
        return _fail("give --out results.jsonl", 2)

    from .evaluate import EvalJob, EvalSettings, accuracy_path, default_policy, run_accuracy
    from .labels import EvalInputError, load_questions

    sources = [s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else None
    try:
        questions = load_questions(args.input, sources)
    except EvalInputError as exc:
        return _fail(str(exc))
    if Path(args.input).is_dir():  # as the benchmark script: only the clips that are there
        present = [q for q in questions if q.exists()]
        missing = len(questions) - len(present)
        if not present:
            return _fail(
                f"{args.input}: none of the {len(questions)} questions' clips is there (e.g. {questions[0].media})"
            )
        if missing:
            example = next(q.media for q in questions if not q.exists())
            log.warning(
                "%d of %d questions skipped: their clips are missing (e.g. %s)", missing, len(questions), example
            )
        questions = present
    if args.limit is not None:
        questions = questions[: args.limit]
    settings = EvalSettings(
        reasoning=args.reasoning,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        fps=args.fps,
        empty_retries=max(0, args.empty_retries),
        extra=args.options,
    )
    log.info("%d questions from %s", len(questions), args.input)
    job = EvalJob(
        questions,
        args.out,
        settings,
        concurrency=args.concurrency,
        policy=default_policy(args.retries),
        quiet=args.quiet,
        retry_errors=args.retry_errors,
        timeout=args.timeout,
        redo=args.redo,
    )
    summary = run_on_target(job, args)
    if isinstance(summary, int):
        return summary
    print(summary.text("questions"), file=sys.stderr)
    table = run_accuracy(args.out, questions)
    where = args.summary or accuracy_path(args.out)
    document = {
        "input": args.input,
        "results": args.out,
        "answer_type": "reasoning" if settings.reasoning else "letter",
        "options": settings.options(),
        "empty_retries": settings.empty_retries,
        **table,
    }
    try:
        Path(where).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        return _fail(f"cannot write {where}: {exc.strerror or exc}")
    from ..report.accuracy import format_table

    print(format_table(table), file=sys.stderr)
    overall = table["overall"]
    if overall["empty"] or overall["errors"]:
        print(
            f"counted as wrong: {overall['empty']} without an answer after {settings.empty_retries} retries, "
            f"{overall['errors']} error lines",
            file=sys.stderr,
        )
    print(json.dumps({"summary": summary.as_dict(), "accuracy": table, "accuracy_file": where}))
    return summary.exit_code()


def compare_command(args: argparse.Namespace) -> int:
    from .commands import _fail
    from .evaluate import compare_runs, format_comparison

    if args.no_media and not args.html:
        return _fail("--no-media goes with --html", 2)
    for path in args.compare:
        if not Path(path).is_file():
            return _fail(f"{path}: no such results file")
    try:
        result = compare_runs(*args.compare)
    except UnicodeDecodeError:
        return _fail("not a results JSONL file (not UTF-8 text): " + " or ".join(args.compare))
    except OSError as exc:
        return _fail(f"cannot read {exc.filename}: {exc.strerror or exc}")
    if not result["a"]["accuracy"]["overall"]["count"] or not result["b"]["accuracy"]["overall"]["count"]:
        empty = args.compare[0] if not result["a"]["accuracy"]["overall"]["count"] else args.compare[1]
        return _fail(f"{empty}: no eval lines (lines with is_correct) in it")
    a, b = Path(args.compare[0]), Path(args.compare[1])
    out = args.out or str(a.with_name(f"{a.stem}.vs.{b.stem}.json"))
    reports = None
    try:
        Path(out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if args.html:
            from ..report.compare import write_comparison
            from ..report.rows import InputError

            try:
                written = write_comparison(result, args.html, media=not args.no_media, progress=_bar(args.quiet))
            except InputError as exc:
                return _fail(str(exc))
            reports = [str(p) for p in written.reports]
    except OSError as exc:
        return _fail(f"cannot write {exc.filename or args.html}: {exc.strerror or exc}")
    print(format_comparison(result), file=sys.stderr)
    if reports:
        print(f"wrote {args.html}, linking into the report of each run: {reports[0]}, {reports[1]}", file=sys.stderr)
    summary = {k: v for k, v in result.items() if k != "disagreements"}
    print(json.dumps({"compare": out, "html": args.html, "reports": reports, **summary}))
    return 0


def _bar(quiet: bool):  # type: ignore[no-untyped-def]
    """The report's progress bar over the previews, on a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from functools import partial

    from ..commandline import progress_bar

    return partial(progress_bar, desc="previews")
