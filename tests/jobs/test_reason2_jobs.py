"""annotate, critic and run-batch on the tiny Cosmos-Reason2 checkpoint, the model loaded in this
process (`--model`), through `cosmos-reason`'s own entry point: the lines carry what Reason2 was
asked (its recipes, not Reason1's), and a --task Reason2 does not have is one line before any item.

The annotate run loads the Reason2 demo from a folder named `Cosmos-Reason1-7B`: the family comes
from the checkpoint's config.json, never from its name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosmos_reason.cli import main
from cosmos_reason.families.reason2.recipes import RECIPES_BY_NAME
from cosmos_reason.recipes.recipe import QUESTION
from tests.media_factory import data_uri, png_bytes

from .conftest import read_lines, write_images, write_video

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def named_like_reason1(reason2_model_dir: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints") / "Cosmos-Reason1-7B"
    folder.symlink_to(reason2_model_dir, target_is_directory=True)
    return folder


def run(capsys, *args: str) -> tuple[int, dict | None, str]:
    """`cosmos-reason ARGS` in this process: exit code, its JSON summary line (if any), stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, (lines[-1] if lines else None), err


def test_annotate_asks_reason2s_caption_and_records_it(tmp_path, capsys, named_like_reason1, demo_cache_dir):
    root = tmp_path / "media"
    write_images(root, 2)
    write_video(root / "clip.mp4", seconds=1)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    out = tmp_path / "captions.jsonl"
    args = ("annotate", str(root), "--task", "caption", "--max-tokens", "4", "--model", str(named_like_reason1))
    code, summary, err = run(capsys, *args, "--out", str(out), "--quiet")
    assert code == 4, err  # broken.jpg's line is an error
    assert (summary["summary"]["done"], summary["summary"]["failed"]) == (3, 1)
    caption = RECIPES_BY_NAME["caption"]
    asked = caption.user_template.replace(QUESTION, caption.default_question)
    rows = {Path(row["item"]).name: row for row in read_lines(out)}
    assert rows["broken.jpg"]["error"]["status"] == 400
    for name in ("img0000.png", "img0001.png", "clip.mp4"):
        row = rows[name]
        assert row["error"] is None and row["model"] == str(named_like_reason1)
        assert row["prompt"] == asked and row["task"] == "caption"
        assert 0 < row["usage"]["completion_tokens"] <= 4
    assert rows["clip.mp4"]["usage"]["prompt_tokens"] > rows["img0000.png"]["usage"]["prompt_tokens"]


def test_annotate_with_a_task_reason2_lacks_is_one_line_before_any_item(tmp_path, capsys, reason2_model_dir):
    root = tmp_path / "media"
    write_images(root, 1)
    out = tmp_path / "out.jsonl"
    code, _, err = run(
        capsys, "annotate", str(root), "--task", "plausibility", "--model", "demo:reason2", "--out", str(out)
    )
    assert code == 2
    message = [line for line in err.splitlines() if line.startswith("cosmos-reason: error:")]
    assert len(message) == 1 and "'plausibility'" in message[0] and "caption" in message[0], err
    assert not out.exists() or read_lines(out) == []


def test_annotate_with_a_recipe_file_on_reason2_asks_its_prompt(tmp_path, capsys, reason2_model_dir):
    """A recipe file is no task of either family: it is sent whole and asked as written, on Reason2 too."""
    root = tmp_path / "media"
    write_images(root, 1)
    recipe = tmp_path / "motion.yaml"
    recipe.write_text("system_prompt: You describe motion.\nuser_prompt: What moves here?\n")
    out = tmp_path / "out.jsonl"
    args = ("annotate", str(root), "--recipe", str(recipe), "--max-tokens", "4", "--model", "demo:reason2")
    code, summary, err = run(capsys, *args, "--out", str(out), "--quiet")
    assert code == 0, err
    (row,) = read_lines(out)
    assert row["error"] is None and row["task"] == "motion" and row["prompt"] == "What moves here?"
    assert 0 < row["usage"]["completion_tokens"] <= 4


def test_critic_samples_reason2s_reviews_and_reward_ranks(tmp_path, capsys, reason2_model_dir):
    videos = [str(write_video(tmp_path / f"candidate{i}.mp4", seconds=1, fps=8 + 4 * i)) for i in range(2)]
    out = tmp_path / "ranking.jsonl"
    common = ("--max-tokens", "4", "--model", "demo:reason2", "--quiet")
    code, _, err = run(capsys, "critic", *videos, "--n", "2", "--out", str(out), *common)
    rows = read_lines(out)
    assert [row["candidate"] for row in rows] != [] and {row["candidate"] for row in rows} == set(videos)
    for row in rows:
        assert row["method"] == "critic" and row["question"] == RECIPES_BY_NAME["critic"].default_question
        assert len(row["critic"]["samples"]) == 2 and row["usage"]["prompt_tokens"] > 0
        # The random model rarely answers Yes or No: such a candidate has no score and says why.
        assert row["score"] is not None or row["error"]["type"] == "unreadable"
    assert code == (3 if any(row["score"] is None for row in rows) else 0), err

    reward = tmp_path / "reward.jsonl"
    code, best, err = run(capsys, "critic", *videos, "--reward", "--out", str(reward), *common)
    assert code == 0, err
    rows = read_lines(reward)
    assert [row["rank"] for row in rows] == [1, 2] and rows[0]["score"] >= rows[1]["score"]
    assert all(abs(row["yes_no"]["p_yes"] + row["yes_no"]["p_no"] - 1) < 1e-6 for row in rows)
    assert best["best"] == rows[0]["candidate"]


def test_run_batch_answers_chat_task_and_score_lines(tmp_path, capsys, reason2_model_dir):
    image = {"type": "image_url", "image_url": {"url": data_uri(png_bytes(), "image/png")}}
    user = [image, {"type": "text", "text": "What is this?"}]

    def line(custom_id: str, url: str, **body) -> str:
        entry = {"custom_id": custom_id, "method": "POST", "url": url, "body": {"max_tokens": 4, **body}}
        return json.dumps(entry) + "\n"

    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        line("chat", "/v1/chat/completions", messages=[{"role": "user", "content": user}])
        + line("task", "/v1/chat/completions", messages=[{"role": "user", "content": [image]}], task="multiple_choice")
        + line("refused", "/v1/chat/completions", messages=[{"role": "user", "content": user}], task="plausibility")
        + line("score", "/v1/score", messages=[{"role": "user", "content": user}])
    )
    out = tmp_path / "out.jsonl"
    code, summary, err = run(
        capsys, "run-batch", "-i", str(batch), "-o", str(out), "--model", "demo:reason2", "--quiet"
    )
    rows = {row["custom_id"]: row for row in read_lines(out)}
    assert set(rows) == {"chat", "task", "refused", "score"}, err
    for name in ("chat", "task"):
        body = rows[name]["response"]["body"]
        assert rows[name]["response"]["status_code"] == 200 and body["model"] == "cosmos-reason2-demo"
        assert 0 < body["usage"]["completion_tokens"] <= 4
    # multiple_choice reasons (Reason2's suffix on the user's text): a longer prompt than the plain chat's.
    task_prompt = rows["task"]["response"]["body"]["usage"]["prompt_tokens"]
    assert task_prompt > rows["chat"]["response"]["body"]["usage"]["prompt_tokens"]
    assert rows["refused"]["response"]["status_code"] == 400
    assert "plausibility" in rows["refused"]["response"]["body"]["error"]["message"]
    yes_no = rows["score"]["response"]["body"]["yes_no"]
    assert abs(yes_no["p_yes"] + yes_no["p_no"] - 1) < 1e-6
    assert code == 4 and summary["summary"]["failed"] == 1, err  # the refused line is an error answer
