"""`cosmos-reason eval`: accuracy of a model on labelled multiple-choice questions (docs/eval.md).

Each question is asked the way the Cosmos-Reason1 benchmark script asks it
(nvidia-cosmos/cosmos-reason1 at 3e7f1cb, examples/benchmark: tools/eval/utils/input.py
``get_prompt``, tools/eval/evaluate.py ``run_model``, tools/eval/utils/output.py's parsers,
configs/evaluate.yaml): system "Answer the questions.", the video first, then the question,
its ``(A) ...`` choices and the letter instruction (plus the think/answer format when
reasoning); fps 4; reasoning mode samples at temperature 0.6, top_p 0.95, max_tokens 1024,
seed 1; letter mode is greedy with 10 tokens. An answer the parser cannot read (empty) is asked
again up to 10 times, each retry with 256 more tokens and 0.05 more temperature (at most 0.9).

The run is an :class:`~cosmos_reason.jobs.annotate.AnnotateJob` (the same journal: exactly one
line per question, resumable after any crash, transient failures retried); :class:`EvalOutput`
adds the benchmark's fields to every line it writes, so a line copied from a duplicate is
scored against its own label.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..report.accuracy import accuracy_table
from .annotate import AnnotateJob
from .annotate_output import AnnotateOutput
from .execution import RetryPolicy
from .inputs import Item, kind_from_name
from .journal import Row
from .labels import Question
from .work import Work, execute

log = logging.getLogger("cosmos_reason.jobs")

SYSTEM_PROMPT = "Answer the questions."
LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
REASONING_INSTRUCTION = (
    "Please answer the question in the following format: "
    "<think> your reasoning </think> <answer> your single letter answer </answer>."
)
# The benchmark's parsers (tools/eval/utils/output.py): the first capital letter inside the
# first <answer>...</answer> (reasoning), or anywhere in the text (letter).
_ANSWER_OPEN, _ANSWER_CLOSE, _THINK_OPEN, _THINK_CLOSE = "<answer>", "</answer>", "<think>", "</think>"


def question_text(question: str, choices: dict[str, str], reasoning: bool) -> str:
    """The user text the benchmark sends for one question."""
    text = question + "\n" + "\n".join(f"({letter}) {choice}" for letter, choice in choices.items())
    text += "\n" + LETTER_INSTRUCTION
    if reasoning:
        text += "\n" + REASONING_INSTRUCTION
    return text


def _between(text: str, open_tag: str, close_tag: str) -> str | None:
    start = text.find(open_tag)
    if start < 0:
        return None
    end = text.find(close_tag, start + len(open_tag))
    return None if end < 0 else text[start + len(open_tag) : end]


def _first_capital(text: str) -> str:
    return next((ch for ch in text if "A" <= ch <= "Z"), "")


def parse_response(text: str, reasoning: bool) -> tuple[str, str]:
    """(answer letter or "", reasoning text or "") as the benchmark parses a response."""
    if not reasoning:
        return _first_capital(text), ""
    inside = _between(text, _ANSWER_OPEN, _ANSWER_CLOSE)
    thought = _between(text, _THINK_OPEN, _THINK_CLOSE)
    return (_first_capital(inside) if inside is not None else ""), (thought or "").strip()


# ---- settings ------------------------------------------------------------------


@dataclass
class EvalSettings:
    """How each question is asked (defaults: the benchmark's configs/evaluate.yaml)."""

    reasoning: bool = True
    max_tokens: int = 1024
    temperature: float = 0.6
    top_p: float = 0.95
    seed: int | None = 1
    fps: float = 4.0
    empty_retries: int = 10
    extra: dict[str, Any] | None = None  # more request or media options (--options)

    def options(self, retry: int = 0) -> dict[str, Any]:
        """The request options; `retry` n > 0: the n-th retry of an empty answer (more tokens, hotter)."""
        options: dict[str, Any] = {"system": SYSTEM_PROMPT, "raw_output": True, "fps": self.fps}
        if self.reasoning:
            options |= {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}
            options["repetition_penalty"] = 1.0
        else:  # the benchmark's letter mode: greedy, a few tokens
            options |= {"max_tokens": 10, "temperature": 0.0, "top_k": 1}
        if self.seed is not None:
            options["seed"] = self.seed
        options |= self.extra or {}
        if retry:
            # evaluate.py run_model: these replace the first request's values on every retry, in
            # both modes (letter mode keeps top_k 1, so its retries stay greedy).
            options["max_tokens"] = self.max_tokens + 256 * retry
            options["temperature"] = round(min(self.temperature + 0.05 * retry, 0.9), 6)
        return options


def items_for(questions: list[Question], settings: EvalSettings) -> list[Item]:
    options = settings.options()
    items = []
    seen: dict[tuple[str, str], int] = {}
    for q in questions:
        kind = kind_from_name(Path(q.media).name)
        text = question_text(q.question, q.choices, settings.reasoning)
        repeat = seen[q.media, text] = seen.get((q.media, text), -1) + 1
        items.append(
            Item(
                q.media,
                is_url=q.is_url,
                prompt=text,
                options=dict(options),
                kind=kind or ("video" if q.is_url else None),
                meta={
                    "source": q.source,
                    "video_id": q.video_id,
                    "question_id": q.question_id,
                    "question": q.question,
                    "choices": q.choices,
                    "correct_answer": q.answer,
                    "answer_type": "reasoning" if settings.reasoning else "letter",
                }
                | ({"repeat": repeat} if repeat else {}),
            )
        )
    return items


# ---- lines ----------------------------------------------------------------------


def with_eval_fields(row: Row) -> Row:
    """`row` with the benchmark's output fields, scored against the label in its own meta."""
    meta = row.get("meta") or {}
    answer = row.get("answer") or ""
    correct = str(meta.get("correct_answer") or "")
    return {
        **row,
        "datasource": meta.get("source"),
        "source": meta.get("source"),
        "video_id": meta.get("video_id"),
        "question_id": meta.get("question_id"),
        "question": meta.get("question"),
        "choices": meta.get("choices"),
        "correct_answer": correct,
        "answer": answer,
        "full_response": row.get("full_response") or "",
        "is_correct": bool(answer) and row.get("error") is None and answer.lower() == correct.lower(),
        "parsed": {"letter": answer or None},
    }


class EvalOutput(AnnotateOutput):
    def write(self, row: Row) -> None:
        super().write(with_eval_fields(row))


class EvalJob(AnnotateJob):
    """An annotate run of the questions' items that asks again when the answer is empty."""

    output_class = EvalOutput
    progress_desc = "eval"

    def __init__(self, questions: list[Question], out: str, settings: EvalSettings, **kwargs: Any) -> None:
        self.questions = questions
        self.settings = settings
        super().__init__(items_for(questions, settings), out, **kwargs)

    def key_spec(self, item: Item, spec: str) -> str:
        """The same question asked again of the same clip is a question of its own (its own line)."""
        repeat = item.meta.get("repeat")
        return f"{spec}\nrepeat {repeat}" if repeat else spec

    async def run_work(self, work: Work, data: bytes | None) -> Row:
        assert self.target is not None
        reasoning = work.meta.get("answer_type") != "letter"
        row = await execute(self.target, self.model, self.policy, work, data, self.timeout)
        _read_answer(row, reasoning)
        usage = dict(row.get("usage") or {})
        retries = 0
        while row.get("error") is None and not row["answer"] and retries < self.settings.empty_retries:
            retries += 1
            hotter = self.settings.options(retry=retries)
            again = replace(work, options={**work.options, **{k: hotter[k] for k in ("max_tokens", "temperature")}})
            retry = await execute(self.target, self.model, self.policy, again, data, self.timeout)
            _add_usage(usage, retry.get("usage"))
            error = retry.get("error")
            if error is not None:
                if error.get("retryable"):  # the target is failing: the next run redoes the question
                    row = {**retry, **work.base_row()}
                else:  # this retry cannot be asked (e.g. its max_tokens does not fit): the answer stays empty
                    log.warning("%s: retry %d refused: %s", work.item, retries, error.get("message"))
                break
            _read_answer(retry, reasoning)
            if retry["answer"]:
                row = {**retry, **work.base_row()}
        row["empty_retries"] = retries
        if usage:
            row["usage"] = usage
        if row.get("error") is None and not row["answer"]:
            log.warning("%s: no answer after %d retries (%s)", work.item, retries, work.meta.get("question_id"))
        return row


def _read_answer(row: Row, reasoning: bool) -> None:
    """Set `full_response`, `answer` and `reasoning` on a line from the model's text. The request asks
    for raw output (our server keeps the tags); a server that splits the thinking off anyway gets it
    put back in front, as the model wrote it."""
    content = row.get("content") or ""
    split_off = row.get("reasoning")
    full = (
        f"{_THINK_OPEN}\n{split_off}\n{_THINK_CLOSE}\n\n{content}"
        if split_off and _THINK_OPEN not in content
        else content
    )
    answer, thought = parse_response(full, reasoning)
    row["full_response"] = full
    row["answer"] = answer
    row["reasoning"] = thought or split_off or None


def _add_usage(total: dict[str, Any], usage: dict[str, Any] | None) -> None:
    for name, value in (usage or {}).items():
        if isinstance(value, int):
            total[name] = int(total.get(name) or 0) + value


# ---- results -----------------------------------------------------------------------


def read_rows(path: str | Path) -> list[Row]:
    """The JSON object lines of a results file (others, and a half-written last line, are passed over),
    each with "_line": its line number in the file (as the report counts them: lines end at "\n")."""
    rows = []
    with open(path, encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append({**row, "_line": number})
    return rows


def latest_by_question(rows: list[Row]) -> dict[str, Row]:
    """question_id -> its last line (the benchmark's rows without one: source/video_id/prompt)."""
    found: dict[str, Row] = {}
    for row in rows:
        if "is_correct" not in row:
            continue
        qid = row.get("question_id") or f"{row.get('datasource')}/{row.get('video_id')}:{row.get('prompt')}"
        found[str(qid)] = row
    return found


def run_accuracy(out: str, questions: list[Question]) -> dict[str, Any]:
    """The accuracy table of this run's questions, from their lines in `out`."""
    wanted = {q.question_id for q in questions}
    rows = [row for qid, row in latest_by_question(read_rows(out)).items() if qid in wanted]
    return accuracy_table(rows)


def accuracy_path(out: str) -> str:
    path = Path(out)
    return str(path.with_name(path.stem + ".accuracy.json"))


# ---- two runs side by side -------------------------------------------------------


def compare_runs(a_path: str, b_path: str) -> dict[str, Any]:
    a, b = latest_by_question(read_rows(a_path)), latest_by_question(read_rows(b_path))
    common = [qid for qid in a if qid in b]
    tally = {"both_correct": 0, "only_a_correct": 0, "only_b_correct": 0, "both_wrong": 0}
    disagreements = []
    for qid in common:
        ra, rb = a[qid], b[qid]
        ca, cb = bool(ra["is_correct"]), bool(rb["is_correct"])
        name = "both_correct" if ca and cb else "only_a_correct" if ca else "only_b_correct" if cb else "both_wrong"
        tally[name] += 1
        if (ra.get("answer") or "") != (rb.get("answer") or "") or ca != cb:
            disagreements.append(
                {
                    "question_id": qid,
                    "item": ra.get("item") or rb.get("item"),
                    "source": ra.get("source") or ra.get("datasource"),
                    "question": ra.get("question"),
                    "choices": ra.get("choices"),
                    "correct_answer": ra.get("correct_answer"),
                    "a": _side(ra, ca),
                    "b": _side(rb, cb),
                }
            )
    return {
        "a": {"file": str(a_path), "accuracy": accuracy_table(a.values())},
        "b": {"file": str(b_path), "accuracy": accuracy_table(b.values())},
        "common": len(common),
        "only_in_a": len(a) - len(common),
        "only_in_b": len(b) - len(common),
        "common_accuracy": {
            "a": accuracy_table(a[q] for q in common)["overall"],
            "b": accuracy_table(b[q] for q in common)["overall"],
        },
        **tally,
        "disagreements": disagreements,
    }


def _side(row: Row, correct: bool) -> dict[str, Any]:
    """One run's answer to a question, with the line of its results file it was read from."""
    return {"answer": row.get("answer"), "is_correct": correct, "error": _error_text(row), "line": row.get("_line")}


def _error_text(row: Row) -> str | None:
    error = row.get("error")
    return error.get("message") if isinstance(error, dict) else None


def format_comparison(result: dict[str, Any]) -> str:
    a, b = result["a"]["accuracy"], result["b"]["accuracy"]
    names = sorted(set(a["sources"]) | set(b["sources"]))
    lines = [f"A: {result['a']['file']}", f"B: {result['b']['file']}", f"{'source':<24} {'A':>16} {'B':>16}"]
    for name, ba, bb in [(n, a["sources"].get(n), b["sources"].get(n)) for n in names] + [
        ("overall", a["overall"], b["overall"])
    ]:
        lines.append(f"{name or '(none)':<24} {_cell(ba):>16} {_cell(bb):>16}")
    lines.append(
        f"{result['common']} questions in both: {result['both_correct']} both right, {result['only_a_correct']} "
        f"only A, {result['only_b_correct']} only B, {result['both_wrong']} both wrong; "
        f"{len(result['disagreements'])} answered differently"
    )
    if result["only_in_a"] or result["only_in_b"]:
        lines.append(f"only in A: {result['only_in_a']}, only in B: {result['only_in_b']} (not compared)")
    for d in result["disagreements"][:20]:
        lines.append(
            f"  {d['question_id']}: correct {d['correct_answer']}, A {d['a']['answer'] or '-'}, "
            f"B {d['b']['answer'] or '-'}  {d['item']}"
        )
    if len(result["disagreements"]) > 20:
        lines.append(f"  ... {len(result['disagreements']) - 20} more in the JSON file")
    return "\n".join(lines)


def _cell(bucket: dict[str, Any] | None) -> str:
    if not bucket or bucket["accuracy"] is None:
        return "-"
    return f"{100 * bucket['accuracy']:.2f}% ({bucket['correct']}/{bucket['count']})"


def default_policy(retries: int) -> RetryPolicy:
    return RetryPolicy(attempts=max(1, retries))
