"""`cosmos-reason critic`: best-of-N selection among candidate videos for one prompt.
Options and outputs: docs/jobs.md ("Best of N").

Each candidate is scored through POST /v1/score: the video-critic recipe's ``n`` reviews
(score: the fraction without anomaly, tasks.critic_score) or, with ``--reward``
(``method=yes_no``), P(Yes) from one forward pass. Candidates are ranked best first (ties
keep the given order), written as JSONL and drawn as a bar chart; one without a score is
listed last with ``rank: null``. A rerun keeps the rows of candidates asked the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..media.sniff import classify_bytes
from .clients import Target
from .execution import Progress, RetriesExhausted, RetryPolicy, in_thread, run_pool, with_retries
from .inputs import is_url, kind_from_name, read_bytes
from .journal import dumps
from .work import Work, item_message, media_url, split_options, task_recipe

log = logging.getLogger("cosmos_reason.jobs")
SCORE_PATH = "/v1/score"
REWARD_QUESTION = "Is this video physically plausible and free of visual artifacts? Answer Yes or No."


def question_text(prompt: str | None, question: str | None, reward: bool, family: str | None = None) -> str:
    """The text sent with each video: the generation prompt as context, then the question (none given:
    the served family's critic question)."""
    asked = question or (REWARD_QUESTION if reward else task_recipe("critic", family).default_question)
    if prompt:
        return f'This video was generated from the prompt: "{prompt}"\n{asked}'
    return asked


def request_key(row: dict[str, Any]) -> str:
    """What a row's score depends on: the candidate and its content, and how it was asked."""
    return json.dumps(
        [row.get(name) for name in ("candidate", "sha256", "method", "question", "n", "options", "model")],
        sort_keys=True,
        ensure_ascii=False,
    )


def earlier_rows(path: str | os.PathLike, *, retry_errors: bool) -> dict[str, dict]:
    """request_key -> a row of an earlier ranking worth keeping (scored, or failed for good
    unless retry_errors); nothing when the file is missing or not a ranking."""
    rows: dict[str, dict] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict) or "candidate" not in row:
            continue
        error = row.get("error")
        if error and (retry_errors or (isinstance(error, dict) and error.get("retryable"))):
            continue
        row.pop("rank", None)
        rows[request_key(row)] = row
    return rows


async def score_candidate(
    target: Target,
    model: str | None,
    policy: RetryPolicy,
    candidate: str,
    *,
    text: str,
    reward: bool,
    n: int,
    options: dict[str, Any],
    timeout: float | None = None,
    earlier: dict[str, dict] | None = None,
) -> dict:
    row: dict[str, Any] = {
        "candidate": candidate,
        "sha256": None,
        "method": "yes_no" if reward else "critic",
        "question": text,
        "n": None if reward else n,
        "options": options,
        "score": None,
        "model": model,
    }
    try:
        if is_url(candidate):
            data, kind = None, kind_from_name(candidate) or "video"
        else:
            data = await in_thread(read_bytes, candidate)
            row["sha256"] = hashlib.sha256(data).hexdigest()
        if earlier and request_key(row) in earlier:
            return {**earlier[request_key(row)], "reused": True}
        if data is not None:
            kind = await in_thread(classify_bytes, data)
            if kind is None:
                return {
                    **row,
                    "error": {
                        "type": "input",
                        "status": None,
                        "retryable": False,
                        "message": "not a recognized image or video",
                    },
                }
    except OSError as exc:
        return {
            **row,
            "error": {
                "type": "input",
                "status": None,
                "retryable": False,
                "message": f"cannot read {candidate}: {exc.strerror or exc}",
            },
        }
    work = Work(candidate, key="", is_url=data is None, kind=kind)
    request, media = split_options(options)
    body: dict[str, Any] = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": f"{kind}_url", f"{kind}_url": {"url": media_url(work, data)}},
                    {"type": "text", "text": text},
                ],
            }
        ],
        "method": row["method"],
        **request,
    }
    if not reward:
        body["n"] = n
    if model:
        body["model"] = model
    if media:
        body["media_options"] = media
    try:
        reply, _ = await with_retries(lambda: target.post(SCORE_PATH, body, timeout=timeout), policy, what=candidate)
    except RetriesExhausted as exc:
        return {
            **row,
            "error": {"type": "transient", "status": exc.last.status, "retryable": True, "message": str(exc)},
        }
    if not reply.ok:
        return {
            **row,
            "error": {
                "type": "http",
                "status": reply.status,
                "retryable": False,
                "message": item_message(work, reply.error_message()),
            },
        }
    result = reply.body
    if reward:
        row["score"] = result["yes_no"]["p_yes"]
        row["yes_no"] = result["yes_no"]
    else:
        row["score"] = result["critic"]["score"]
        row["critic"] = result["critic"]
        samples = result["critic"].get("samples") or []
        if samples and all(sample.get("anomaly") is None for sample in samples):
            example = samples[0].get("parse_error") or repr((samples[0].get("answer") or "")[:60])
            row["score"] = None
            row["error"] = {
                "type": "unreadable",
                "status": reply.status,
                "retryable": False,
                "message": f"{candidate}: none of the {len(samples)} critic reviews could be read as "
                f"Yes/No (e.g. {example}): no score",
            }
    row["usage"] = result.get("usage")
    row["request_id"] = reply.request_id
    row.setdefault("error", None)
    return row


def rank(rows: list[dict]) -> list[dict]:
    """Best first; ties keep input order; candidates without a score last, unranked (rank None)."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["score"] is None, -(rows[i]["score"] or 0.0), i))
    return [{"rank": r + 1 if rows[i]["score"] is not None else None, **rows[i]} for r, i in enumerate(order)]


def best(rows: list[dict]) -> str | None:
    """The best candidate of a ranking, None when no candidate has a score."""
    return rows[0]["candidate"] if rows and rows[0]["score"] is not None else None


async def run_critic(
    target: Target,
    candidates: list[str],
    *,
    prompt: str | None,
    question: str | None,
    reward: bool,
    n: int,
    options: dict[str, Any],
    concurrency: int,
    policy: RetryPolicy,
    quiet: bool,
    timeout: float | None = None,
    earlier: dict[str, dict] | None = None,
) -> list[dict]:
    """Score and rank the candidates; `earlier` (earlier_rows) holds rows to keep instead of asking again."""
    model, _ = await with_retries(target.model_id, policy, what="GET /v1/models")
    text = question_text(prompt, question, reward, target.family)
    rows: list[dict | None] = [None] * len(candidates)
    progress = Progress(len(candidates), quiet=quiet, desc="critic", unit="video")

    async def one(index: int) -> None:
        rows[index] = await score_candidate(
            target,
            model,
            policy,
            candidates[index],
            text=text,
            reward=reward,
            n=n,
            options=options,
            timeout=timeout,
            earlier=earlier,
        )
        progress.advance()

    try:
        await run_pool(range(len(candidates)), one, concurrency)
    finally:
        progress.close()
    ranked = rank([row for row in rows if row is not None])
    for row in ranked:
        row["prompt"] = prompt
    return ranked


def write_ranking(rows: list[dict], out: str | os.PathLike) -> None:
    """All lines at once, atomically (a ranking is only meaningful whole)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        for row in rows:
            f.write(dumps(row))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)


def plot_ranking(rows: list[dict], path: str | os.PathLike, *, title: str) -> bool:
    """A horizontal bar chart of the scores, best on top. False when matplotlib is missing or no
    candidate has a score (a chart of empty bars would only look like a result)."""
    if best(rows) is None:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no chart (pip install 'cosmos-reason[plot]')")
        return False
    labels = [_label(row) for row in rows]
    scores = [row["score"] if row["score"] is not None else 0.0 for row in rows]
    colors = [
        "#2e7d32" if i == 0 and rows[0]["score"] is not None else ("#c62828" if row["score"] is None else "#78909c")
        for i, row in enumerate(rows)
    ]
    height = max(2.0, 0.45 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    try:
        y = list(range(len(rows)))[::-1]
        ax.barh(y, scores, color=colors)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("score")
        ax.set_title(title, fontsize=10)
        for yi, row, score in zip(y, rows, scores, strict=False):
            text = "no score" if row["score"] is None else f"{score:.3f}"
            if score > 0.88:  # no room right of the bar: inside it
                ax.text(score - 0.01, yi, text, va="center", ha="right", fontsize=8, color="white")
            else:
                ax.text(score + 0.01, yi, text, va="center", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return True


def _label(row: dict) -> str:
    name = row["candidate"]
    name = name.rsplit("/", 1)[-1] if len(name) > 40 else name
    return f"#{row['rank']} {name[:40]}" if row["rank"] is not None else f"- {name[:40]}"


def chart_title(reward: bool, n: int, prompt: str | None) -> str:
    what = "reward: P(Yes)" if reward else f"critic: fraction of {n} reviews without anomaly"
    shown = (prompt[:70] + "...") if prompt and len(prompt) > 70 else prompt
    return f"{what}\n{json.dumps(shown) if shown else ''}".strip()
