"""serve --recipes DIR through the app: the folder's recipes are listed in GET /v1/tasks (which
the playground's task list reads) and selected with "task"; a request may also carry a
recipe itself ("recipe", as annotate --recipe sends it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cosmos_reason.families.registry import default_family
from cosmos_reason.recipes.files import load_recipe_dir, load_recipe_file
from tests.fakes import ScriptedEngine

from .conftest import MODEL, make_client

SHELF = """\
system_prompt: |
  You inspect warehouse shelves for hazards.
user_prompt: Is anything about to fall?
title: Shelf hazards
sampling: {temperature: 0.25, n: 2}
video: {fps: 3}
"""
USER = [{"role": "user", "content": "Look at the second shelf."}]
ROOT = Path(__file__).resolve().parents[2]


def recipes_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "shelf-hazards.yaml").write_text(SHELF, encoding="utf-8")
    (folder / "caption.yaml").write_text("system_prompt: Five words only.\nuser_prompt: Caption it.\n")
    return folder


async def test_the_folders_recipes_are_listed_and_a_task_request_gets_their_prompts_and_settings(tmp_path: Path):
    engine = ScriptedEngine()
    async with make_client(engine, recipes=load_recipe_dir(recipes_folder(tmp_path))) as client:
        listed = (await client.get("/v1/tasks")).json()["data"]
        names = [task["name"] for task in listed]
        assert names == [*default_family().recipes, "shelf_hazards"]  # the replaced caption keeps its place
        shelf = listed[-1]
        assert (shelf["title"], shelf["default_question"]) == ("Shelf hazards", "Is anything about to fall?")
        assert shelf["defaults"] == {"temperature": 0.25, "n": 2, "fps": 3}
        caption = next(task for task in listed if task["name"] == "caption")
        assert caption["default_question"] == "Caption it."

        body = {"model": MODEL, "messages": USER, "task": "shelf-hazards"}
        reply = await client.post("/v1/chat/completions", json=body)
        assert reply.status_code == 200 and len(reply.json()["choices"]) == 2
        turns = engine.requests[-1].conversation.turns
        assert (turns[0].role, turns[0].text()) == ("system", "You inspect warehouse shelves for hazards.")
        assert turns[-1].text() == "Look at the second shelf."
        assert engine.requests[-1].sampling.temperature == 0.25

        await client.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "task": "caption"})
        assert engine.requests[-1].conversation.turns[0].text() == "Five words only."


async def test_without_the_folder_its_tasks_are_unknown(tmp_path: Path):
    async with make_client(ScriptedEngine()) as client:
        reply = await client.post(
            "/v1/chat/completions", json={"model": MODEL, "messages": USER, "task": "shelf_hazards"}
        )
        assert reply.status_code == 400 and "unknown task 'shelf_hazards'" in reply.json()["error"]["message"]


async def test_a_request_may_carry_the_recipe_itself():
    engine = ScriptedEngine()
    recipe = {"name": "shelf", "system_prompt": "You inspect shelves.", "user_prompt": "{question} (Yes/No)"}
    async with make_client(engine) as client:
        reply = await client.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "recipe": recipe})
        assert reply.status_code == 200
        turns = engine.requests[-1].conversation.turns
        assert turns[0].text() == "You inspect shelves."
        assert turns[-1].text() == "Look at the second shelf. (Yes/No)"

        bad = {**recipe, "sampling": {"temperature": "warm"}}
        reply = await client.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "recipe": bad})
        error = reply.json()["error"]
        assert reply.status_code == 400 and error["param"] == "recipe"
        assert error["message"] == "recipe: sampling.temperature: expected a number, got text 'warm'"

        both = {"model": MODEL, "messages": USER, "recipe": recipe, "task": "caption"}
        reply = await client.post("/v1/chat/completions", json=both)
        assert reply.status_code == 400 and "not both" in reply.json()["error"]["message"]


def test_serve_refuses_to_start_on_a_bad_recipe_file_with_one_line(tmp_path: Path):
    folder = recipes_folder(tmp_path)
    (folder / "broken.yaml").write_text("user_prompt: Q?\nvideo: {fps: fast}\n")
    result = subprocess.run(
        [sys.executable, "-m", "cosmos_reason", "serve", "--model", "demo", "--recipes", str(folder), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert lines == [f"cosmos-reason: error: {folder / 'broken.yaml'}: video.fps: expected a number, got text 'fast'"]


async def test_one_tasks_recipe_comes_back_in_the_file_keys_and_loads_as_the_same_recipe(tmp_path: Path):
    """GET /v1/tasks/NAME: saved as a .yaml file (JSON is YAML), it loads as the recipe the server has."""
    family = default_family()
    async with make_client(ScriptedEngine()) as client:
        for name, recipe in family.recipes.items():
            reply = await client.get(f"/v1/tasks/{name.replace('_', '-')}")
            assert reply.status_code == 200
            saved = tmp_path / f"{name}.yaml"
            saved.write_text(json.dumps(reply.json()["recipe"], indent=1), encoding="utf-8")
            assert load_recipe_file(saved).build(family.reasoning) == recipe
        missing = await client.get("/v1/tasks/shelf")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"].startswith("unknown task 'shelf'; valid tasks: critic,")
