"""critic: best-of-N ranking by the critic recipe or by P(Yes), JSONL and a PNG chart."""

from __future__ import annotations

import json
import math
from pathlib import Path

from cosmos_reason.engine.base import Delta, NextTokenScores
from cosmos_reason.jobs.critic import earlier_rows, plot_ranking, question_text, rank, run_critic, write_ranking
from cosmos_reason.jobs.execution import RetryPolicy
from tests.fakes import ScriptedEngine

from .conftest import read_lines, run_jobs, scripted_target, write_video

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ByLengthEngine(ScriptedEngine):
    """Judges a video by its length in seconds: how many of the n critic reviews see an
    anomaly, and P(Yes) for the reward question."""

    def __init__(self, anomalies: dict[int, int], p_yes: dict[int, float]) -> None:
        super().__init__()
        self.anomalies, self.p_yes = anomalies, p_yes

    def _seconds(self, request) -> int:
        return round(request.conversation.videos()[0].duration)

    async def generate(self, request):
        self.requests.append(request)
        bad = self.anomalies[self._seconds(request)]
        for index in range(request.sampling.n):
            answer = "Yes" if index < bad else "No"
            yield Delta(index, f"<think>\nlooked\n</think>\n\n<answer>\n{answer}\n</answer>", 11, 1, "stop")

    async def next_token_logprobs(self, request, candidates):
        p = self.p_yes[self._seconds(request)]
        return NextTokenScores({"Yes": math.log(p), "No": math.log(1 - p)}, 11)


def _candidates(tmp_path: Path) -> list[str]:
    paths = [write_video(tmp_path / f"cand{s}.mp4", seconds=s) for s in (1, 2, 3)]
    corrupt = tmp_path / "cand_corrupt.mp4"
    corrupt.write_bytes(paths[0].read_bytes()[:300])
    return [str(p) for p in [*paths, corrupt]]


async def _rank(candidates, reward: bool, engine, earlier=None) -> list[dict]:
    target = scripted_target(engine)
    try:
        return await run_critic(
            target,
            candidates,
            prompt="A ball rolls off a table.",
            question=None,
            reward=reward,
            n=4,
            options={},
            concurrency=2,
            policy=RetryPolicy(attempts=2, base=0.01),
            quiet=True,
            earlier=earlier,
        )
    finally:
        await target.aclose()


async def test_critic_ranks_by_the_fraction_of_clean_reviews(tmp_path: Path):
    candidates = _candidates(tmp_path)
    engine = ByLengthEngine(anomalies={1: 3, 2: 0, 3: 1}, p_yes={1: 0.5, 2: 0.5, 3: 0.5})
    rows = await _rank(candidates, False, engine)
    assert [Path(r["candidate"]).name for r in rows] == ["cand2.mp4", "cand3.mp4", "cand1.mp4", "cand_corrupt.mp4"]
    assert [r["score"] for r in rows] == [1.0, 0.75, 0.25, None]
    assert [r["rank"] for r in rows] == [1, 2, 3, None]  # the corrupt one failed: unranked
    assert rows[0]["method"] == "critic" and len(rows[0]["critic"]["samples"]) == 4
    assert rows[3]["error"]["status"] == 400 and rows[3]["error"]["message"].startswith(f"{candidates[3]}: ")
    sent = engine.requests[0].conversation.turns[-1].text()
    assert "A ball rolls off a table." in sent and "anomalies" in sent
    out = tmp_path / "ranking.jsonl"
    write_ranking(rows, out)
    assert [r["candidate"] for r in read_lines(out)] == [r["candidate"] for r in rows]
    assert plot_ranking(rows, tmp_path / "ranking.png", title="critic")
    assert (tmp_path / "ranking.png").read_bytes().startswith(PNG_MAGIC)


async def test_reward_ranks_by_p_yes(tmp_path: Path):
    candidates = _candidates(tmp_path)[:3]
    engine = ByLengthEngine(anomalies={1: 0, 2: 0, 3: 0}, p_yes={1: 0.9, 2: 0.2, 3: 0.6})
    rows = await _rank(candidates, True, engine)
    assert [Path(r["candidate"]).name for r in rows] == ["cand1.mp4", "cand3.mp4", "cand2.mp4"]
    assert [round(r["score"], 6) for r in rows] == [0.9, 0.6, 0.2]
    assert rows[0]["method"] == "yes_no" and "Answer Yes or No" in question_text(None, None, True)


def test_ties_keep_the_order_given_and_failures_go_last_unranked():
    rows = [{"candidate": c, "score": s} for c, s in [("a", 0.5), ("b", None), ("c", 0.75), ("d", 0.5)]]
    assert [(r["candidate"], r["rank"]) for r in rank(rows)] == [("c", 1), ("a", 2), ("d", 3), ("b", None)]


class UnreadableEngine(ScriptedEngine):
    """Every critic review is text that says neither Yes nor No."""

    async def generate(self, request):
        self.requests.append(request)
        for index in range(request.sampling.n):
            yield Delta(index, "<think>\nhmm\n</think>\n\n<answer>\nMaybe\n</answer>", 11, 1, "stop")


async def test_candidates_whose_reviews_are_all_unreadable_get_no_score_and_no_rank(tmp_path: Path):
    rows = await _rank(_candidates(tmp_path)[:3], False, UnreadableEngine())
    assert [(r["rank"], r["score"]) for r in rows] == [(None, None)] * 3
    assert all(
        r["error"]["type"] == "unreadable" and "none of the 4 critic reviews" in r["error"]["message"] for r in rows
    )
    assert not plot_ranking(rows, tmp_path / "ranking.png", title="critic")  # no chart of empty bars
    assert not (tmp_path / "ranking.png").exists()


def test_critic_command_writes_the_ranking_and_the_chart(tmp_path: Path, fake_server):
    candidates = _candidates(tmp_path)[:2]
    out = tmp_path / "best.jsonl"
    # The fake server's reviews ("A caption of this image.") say neither Yes nor No: nothing to rank.
    result = run_jobs(
        "critic",
        *candidates,
        "--prompt",
        "A cat jumps.",
        "--out",
        str(out),
        "--server",
        fake_server.url,
        "--n",
        "2",
        "--quiet",
    )
    assert result.returncode == 3, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"best": None, "ranking": str(out), "chart": None}
    assert "no candidate could be scored" in result.stderr
    rows = read_lines(out)
    assert [r["rank"] for r in rows] == [None, None] and {r["candidate"] for r in rows} == set(candidates)
    assert not (tmp_path / "best.png").exists()
    common = [
        "critic",
        *candidates,
        "--prompt",
        "A cat jumps.",
        "--out",
        str(out),
        "--server",
        fake_server.url,
        "--n",
        "2",
        "--quiet",
    ]
    assert "2 of 2 kept from" in run_jobs(*common).stderr  # failed for good: kept ...
    assert "kept from" not in run_jobs(*common, "--retry-errors").stderr  # ... until --retry-errors
    reward = run_jobs(
        "critic",
        *candidates,
        "--reward",
        "--out",
        str(tmp_path / "r.jsonl"),
        "--chart",
        str(tmp_path / "r.png"),
        "--server",
        fake_server.url,
        "--quiet",
    )
    assert reward.returncode == 0, reward.stderr
    assert [r["rank"] for r in read_lines(tmp_path / "r.jsonl")] == [1, 2]
    assert (tmp_path / "r.png").read_bytes().startswith(PNG_MAGIC)
    assert all(r["method"] == "yes_no" and r["yes_no"]["p_yes"] > 0 for r in read_lines(tmp_path / "r.jsonl"))


async def test_a_rerun_keeps_scored_rows_and_retry_errors_asks_failed_ones_again(tmp_path: Path):
    candidates = _candidates(tmp_path)[:2]
    out = tmp_path / "ranking.jsonl"
    write_ranking(await _rank(candidates, False, UnreadableEngine()), out)  # both unreadable: no score
    engine = ByLengthEngine(anomalies={1: 0, 2: 1}, p_yes={})
    rows = await _rank(candidates, False, engine, earlier=earlier_rows(out, retry_errors=False))
    assert engine.requests == [] and all(r["reused"] and r["score"] is None for r in rows)  # kept, not asked
    rows = await _rank(candidates, False, engine, earlier=earlier_rows(out, retry_errors=True))
    assert len(engine.requests) == 2 and [r["score"] for r in rows] == [1.0, 0.75]
    write_ranking(rows, out)
    engine = ByLengthEngine(anomalies={1: 0, 2: 1}, p_yes={})
    again = await _rank(candidates, False, engine, earlier=earlier_rows(out, retry_errors=True))
    assert engine.requests == [] and [(r["rank"], r["score"]) for r in again] == [(1, 1.0), (2, 0.75)]
    # Asked another way (another question): scored again.
    target = scripted_target(engine)
    try:
        other = await run_critic(
            target,
            candidates,
            prompt="Another prompt.",
            question=None,
            reward=False,
            n=4,
            options={},
            concurrency=1,
            policy=RetryPolicy(attempts=1),
            quiet=True,
            earlier=earlier_rows(out, retry_errors=False),
        )
    finally:
        await target.aclose()
    assert len(engine.requests) == 2 and not any(r.get("reused") for r in other)
