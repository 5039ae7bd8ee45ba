"""annotate --recipe FILE: the recipe travels with each request, so a server without the file
applies it; the lines carry its name as their task and its parser's fields."""

from __future__ import annotations

from pathlib import Path

from cosmos_reason.jobs.inputs import discover
from cosmos_reason.recipes.files import load_recipe_file, recipe_mapping
from tests.fakes import ScriptedEngine

from .conftest import FakeServer, annotate, read_lines, run_jobs, summary_of, write_images

RECIPE = """\
system_prompt: |
  You inspect warehouse shelves for hazards.
user_prompt: |
  {question}
  Answer Yes or No.
default_question: Is anything about to fall?
answer_parser: yes_no
answer_key: hazard
sampling: {temperature: 0.25}
video: {fps: 3}
"""


def write_recipe(folder: Path, text: str = RECIPE, name: str = "shelf-hazard.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_server_applies_the_sent_recipe_and_the_line_has_its_parsed_answer(tmp_path: Path):
    spec = load_recipe_file(write_recipe(tmp_path))
    write_images(tmp_path / "media", 2)
    engine = ScriptedEngine(pieces=["Yes", "."])
    out = tmp_path / "out.jsonl"
    items = discover(str(tmp_path / "media"), task=spec.name, options={"recipe": recipe_mapping(spec)})
    job = await annotate(items, out, engine)
    assert (job.summary.done, job.summary.failed) == (2, 0)
    rows = read_lines(out)
    assert [row["task"] for row in rows] == ["shelf_hazard", "shelf_hazard"]
    assert rows[0]["prompt"] == "Is anything about to fall?\nAnswer Yes or No."
    assert rows[0]["parsed"] == {"hazard": True}
    request = engine.requests[0]
    system, user = request.conversation.turns[0], request.conversation.turns[-1]
    assert (system.role, system.text()) == ("system", "You inspect warehouse shelves for hazards.")
    assert user.text() == "Is anything about to fall?\nAnswer Yes or No."
    assert request.sampling.temperature == 0.25


def test_annotate_recipe_on_a_server_that_has_no_copy_of_the_file(tmp_path: Path, fake_server):
    recipe = write_recipe(tmp_path)
    write_images(tmp_path / "media", 2)
    out = tmp_path / "out.jsonl"
    args = ["annotate", str(tmp_path / "media"), "--recipe", str(recipe), "--out", str(out), "--server"]
    result = run_jobs(*args, fake_server.url, "--quiet", "--prompt", "Will the top box fall?")
    assert result.returncode == 0, result.stderr
    assert (summary_of(result)["done"], summary_of(result)["failed"]) == (2, 0)
    rows = read_lines(out)
    assert {row["task"] for row in rows} == {"shelf_hazard"}
    assert rows[0]["prompt"] == "Will the top box fall?\nAnswer Yes or No."
    # the fake server answers "A caption of this image.": the recipe's parser says it is no Yes/No
    assert "expected Yes or No" in rows[0]["parsed"]["parse_error"]
    # a changed recipe is a changed request: the rerun refuses instead of mixing answers
    recipe.write_text(RECIPE.replace("for hazards", "for spills"), encoding="utf-8")
    again = run_jobs(*args, fake_server.url, "--quiet", "--prompt", "Will the top box fall?")
    assert again.returncode == 2 and "--redo" in again.stderr, again.stderr


def test_a_bad_recipe_file_is_exit_1_with_one_line_and_no_output(tmp_path: Path):
    recipe = write_recipe(tmp_path, RECIPE.replace("answer_parser: yes_no", "answer_parser: yesno"))
    write_images(tmp_path / "media", 1)
    out = tmp_path / "out.jsonl"
    result = run_jobs("annotate", str(tmp_path / "media"), "--recipe", str(recipe), "--out", str(out), "--model", "x")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"cosmos-reason: error: {recipe}: answer_parser: 'yesno' is not one of yes_no, score_1_5, letter, json, text"
    ]
    assert not out.exists()
    both = run_jobs(
        "annotate", str(tmp_path / "media"), "--recipe", str(recipe), "--task", "caption", "--out", str(out)
    )
    assert both.returncode == 2 and "give --task NAME or --recipe FILE, not both" in both.stderr


def test_annotate_task_names_a_recipe_the_server_added(tmp_path: Path):
    """A task this client does not ship (serve --recipes) is fetched from GET /v1/tasks/NAME."""
    folder = tmp_path / "recipes"
    folder.mkdir()
    write_recipe(folder)
    write_images(tmp_path / "media", 1)
    out = tmp_path / "out.jsonl"
    server = FakeServer(pieces=["No"], recipes=str(folder)).wait_ready()
    try:
        common = ["annotate", str(tmp_path / "media"), "--out", str(out), "--server", server.url, "--quiet"]
        result = run_jobs(*common, "--task", "shelf-hazard")
        assert result.returncode == 0, result.stderr
        (row,) = read_lines(out)
        assert (row["task"], row["parsed"]) == ("shelf_hazard", {"hazard": False})
        assert row["prompt"] == "Is anything about to fall?\nAnswer Yes or No."
        unknown = run_jobs(*common, "--task", "shelf-hazzard")
        assert unknown.returncode == 2
        assert "unknown task 'shelf-hazzard'; valid tasks: critic," in unknown.stderr
        assert "shelf_hazard (on http://" in unknown.stderr
    finally:
        server.stop()
