"""Result files like annotate, critic and eval write, over media made on the spot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tests.media_factory import make_video

REASONING = (
    "The robot arm moves toward the red cup, closes its gripper around the rim and lifts it. "
    "The cup rises smoothly and nothing passes through the table, so the motion is plausible."
)


def scene_png(sky: tuple[int, int, int], ball: tuple[int, int, int], x: int) -> bytes:
    image = Image.new("RGB", (320, 180), sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 120, 320, 180), fill=(90, 140, 60))
    draw.ellipse((x, 80, x + 40, 120), fill=ball)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def row(item: str, **fields: Any) -> dict[str, Any]:
    """An annotate line: the fields every line has, then `fields`."""
    base: dict[str, Any] = {
        "item": item,
        "kind": "image" if item.endswith(".png") else "video",
        "sha256": None,
        "key": "k-" + item,
        "prompt": "Describe the scene.",
        "given_prompt": None,
        "task": "caption",
        "options": {},
        "model": "nvidia/Cosmos-Reason1-7B",
        "content": None,
        "reasoning": None,
        "finish_reason": "stop",
        "parsed": None,
        "usage": {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340},
        "request_id": "r-" + item,
        "error": None,
        "timing": {"seconds": 1.5, "attempts": 1, "finished_at": "2026-12-02T10:00:00+00:00"},
    }
    return {**base, **fields}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def make_media(folder: Path) -> Path:
    clips = folder / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    (clips / "ball.png").write_bytes(scene_png((150, 200, 250), (220, 30, 30), 60))
    (clips / "dusk.png").write_bytes(scene_png((250, 170, 90), (30, 30, 200), 200))
    (clips / "arm.mp4").write_bytes(make_video(width=160, height=96, fps=10, seconds=2.0))
    (clips / "drive.mp4").write_bytes(make_video(width=128, height=72, fps=10, seconds=1.0))
    (clips / "broken.jpg").write_bytes(b"not a jpeg")
    return clips


def annotate_rows() -> list[dict[str, Any]]:
    """Items under clips/, relative to the results file's folder, as annotate writes a folder's."""
    return [
        row("clips/ball.png", content="A red ball rolls across a green lawn under a blue sky.", reasoning=REASONING),
        row(
            "clips/arm.mp4",
            task="plausibility",
            prompt="How well does this video follow the laws of physics?",
            content="4",
            reasoning=REASONING,
            parsed={"score": 4},
        ),
        row(
            "clips/drive.mp4",
            task="plausibility",
            prompt="How well does this video follow the laws of physics?",
            content="The car is fine",
            parsed={"parse_error": "no score 1-5 in the answer"},
        ),
        row(
            "clips/broken.jpg",
            kind=None,
            error={"type": "input", "status": None, "message": "not a recognized image or video", "retryable": False},
            usage=None,
            finish_reason=None,
        ),
        row("clips/moved.mp4", content="A forklift lifts a pallet.", parsed=None),
        row(
            "clips/dusk.png",
            task="plausibility",
            prompt="How well does this video follow the laws of physics?",
            content="2",
            parsed={"score": 2},
        ),
    ]


def critic_rows() -> list[dict[str, Any]]:
    def candidate(name: str, rank: int | None, score: float | None, error: Any = None) -> dict[str, Any]:
        return {
            "rank": rank,
            "candidate": name,
            "sha256": None,
            "method": "critic",
            "question": "Does this video show any anomalies or artifacts?",
            "n": 4,
            "options": {},
            "score": score,
            "model": "nvidia/Cosmos-Reason1-7B",
            "critic": {
                "score": score,
                "samples": [{"index": 0, "answer": "No", "reasoning": REASONING, "anomaly": False}],
            }
            if score is not None
            else None,
            "error": error,
            "prompt": "A robot stacks cups.",
        }

    return [
        candidate("clips/arm.mp4", 1, 0.75),
        candidate("clips/drive.mp4", 2, 0.25),
        candidate("clips/gone.mp4", None, None, {"type": "input", "message": "cannot read clips/gone.mp4"}),
    ]


def eval_rows() -> list[dict[str, Any]]:
    def question(i: int, source: str, answer: str | None, correct: str) -> dict[str, Any]:
        return {
            **row("clips/arm.mp4", task="eval", content=f"<answer>{answer}</answer>" if answer else ""),
            "source": source,
            "question": f"Question {i}: what does the arm do next?",
            "choices": {"A": "It lifts the cup", "B": "It drops the cup", "C": "It stops"},
            "correct_answer": correct,
            "answer": answer,
            "is_correct": answer == correct if answer else None,
        }

    return [
        question(0, "robovqa", "A", "A"),
        question(1, "robovqa", "B", "A"),
        question(2, "robovqa", "A", "A"),
        question(3, "bridgev2", None, "C"),
        question(4, "bridgev2", "C", "C"),
    ]


def many_rows(count: int) -> list[dict[str, Any]]:
    """`count` items: every 10th an error, scores cycling 1..5, none with media on disk."""
    rows = []
    for i in range(count):
        if i % 10 == 3:
            rows.append(
                row(
                    f"gen/clip{i:05d}.mp4",
                    task="plausibility",
                    error={"type": "http", "status": 400, "message": f"clip{i:05d}: corrupt"},
                )
            )
        else:
            score = 1 + (i * 7) % 5
            rows.append(
                row(
                    f"gen/clip{i:05d}.mp4",
                    task="plausibility",
                    content=str(score),
                    reasoning=f"reasoning {i}",
                    parsed={"score": score},
                )
            )
    return rows


def eval_pair() -> tuple[list[Any], list[Any]]:
    """Two eval runs over the same five questions, right and wrong known by construction.

    A: av 2/3 (q0 right, q1 wrong, q2 right), robovqa 1/2 (q3 wrong with no answer, q4 right).
    B: av 1/3 (q0 wrong, q1 wrong with the same answer as A, q2 right), robovqa 2/2, and a question
    only B has (q5, not compared). B's lines come in another order, after a line that is not a
    result, so a question's line differs between the two files.
    Answered differently: q0 (only A right) and q3 (only B right); q1 (same wrong answer) is not.
    """

    def question(i: int, source: str, answer: str | None, correct: str) -> dict[str, Any]:
        return {
            **row(f"clips/q{i}.mp4", task="eval", content=f"<answer>{answer}</answer>" if answer else ""),
            "reasoning": f"reasoning about question {i}",
            "question_id": f"{source}/q{i}#0",
            "source": source,
            "question": f"Question {i}: what happens next?",
            "choices": {"A": "It lifts the cup", "B": "It drops the cup", "C": "It stops"},
            "correct_answer": correct,
            "answer": answer,
            "is_correct": answer == correct if answer else None,
        }

    a = [
        question(0, "av", "A", "A"),
        question(1, "av", "B", "C"),
        question(2, "av", "C", "C"),
        question(3, "robovqa", None, "B"),
        question(4, "robovqa", "A", "A"),
    ]
    b = [
        "not a result line",
        question(4, "robovqa", "A", "A"),
        question(3, "robovqa", "B", "B"),
        question(2, "av", "C", "C"),
        question(1, "av", "B", "C"),
        question(0, "av", "B", "A"),
        question(5, "av", "A", "A"),
    ]
    return a, b
