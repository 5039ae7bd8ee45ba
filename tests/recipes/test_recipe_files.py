"""Task recipe files (recipes/files.py): the reference repositories' prompt files load as they
are, every mistake is one line naming the file and the key, and the shipped recipes are the
same recipes the Python definitions made before they became files."""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from cosmos_reason.api.protocol import ChatMessage
from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.registry import FAMILIES, with_recipe_files
from cosmos_reason.media.options import MediaOptions
from cosmos_reason.recipes.apply import apply_task
from cosmos_reason.recipes.files import (
    RecipeError,
    load_recipe_dir,
    load_recipe_file,
    parse_recipe,
    recipe_mapping,
)
from cosmos_reason.recipes.recipe import QUESTION, describe_task, parse_answer

FILES = Path(__file__).with_name("files")
# Written from the Python recipe definitions at commit 8cb02f2, before they became YAML files,
# by the snippet in test_builtin_recipes_are_what_the_python_definitions_were's docstring.
SNAPSHOT = json.loads(Path(__file__).with_name("builtin_recipes_8cb02f2.json").read_text(encoding="utf-8"))


def write(tmp_path: Path, text: str, name: str = "my_task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- the reference repositories' files --------------------------------------------------


def test_a_cookbook_critic_file_loads_unchanged_with_its_own_reasoning_template():
    spec = load_recipe_file(FILES / "video_critic.yaml")
    assert spec.name == "video_critic" and spec.title == "Video critic"
    assert spec.system_prompt is not None
    assert spec.system_prompt.startswith("You are a helpful video reviewer.")
    assert spec.system_prompt.endswith("</answer>")  # the block's trailing newline is not part of the prompt
    # user_prompt is the question the client's own replaces, as in the reference inference script
    assert (spec.user_template, spec.default_question) == (QUESTION, "Does the video break physics anywhere?")
    # a prompt that spells out <think> asks for reasoning in its own words: no generic instruction
    assert spec.reasoning and spec.own_format
    assert spec.answer_parser == "text" and spec.answer_format is None
    assert spec.sampling == type(spec.sampling)() and spec.video == MediaOptions()


def test_a_cookbook_file_applied_to_a_chat_asks_the_clients_question_under_the_files_system_prompt():
    recipe = load_recipe_file(FILES / "video_critic.yaml").build(REASON1.reasoning)
    media = {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}
    asked = [ChatMessage(role="user", content=[media, {"type": "text", "text": "Is the ball's bounce real?"}])]
    system, user = apply_task(recipe, asked)
    assert system.content == recipe.system_prompt  # its own template: REASON1's instruction is not added
    assert isinstance(user.content, list) and user.content[-1].text == "Is the ball's bounce real?"
    _, user = apply_task(recipe, [ChatMessage(role="user", content=[media])])
    assert isinstance(user.content, list) and user.content[-1].text == "Does the video break physics anywhere?"


def test_files_with_only_a_system_prompt_or_only_a_user_prompt_load():
    question = load_recipe_file(FILES / "question.yaml")
    assert question.system_prompt == "You are a helpful video analyzer. Answer the question."
    assert (question.default_question, question.reasoning, question.own_format) == ("", False, False)
    action = load_recipe_file(FILES / "next_action.yaml")
    assert action.system_prompt is None
    assert action.default_question == "What is the next thing the robot will do?"
    letters = load_recipe_file(FILES / "mc_letters.yaml")
    assert letters.reasoning and letters.own_format  # "<think>" spelled with literal \n in a one-line prompt


def test_our_keys_with_a_question_template_sampling_video_and_an_answer_schema(tmp_path: Path):
    path = write(
        tmp_path,
        """\
name: Shelf-Check
title: Shelf check
description: Whether a shelf is stocked.
system_prompt: You check shop shelves.
user_prompt: |
  {question}
  Reply with JSON.
default_question: Is this shelf stocked?
reasoning: true
answer_key: shelf
schema:
  type: object
  properties: {stocked: {type: boolean}}
  required: [stocked]
sampling: {temperature: 0.2, top_k: 5, n: 2}
video: {fps: 1.5, max_pixels: 50176}
""",
    )
    spec = load_recipe_file(path)
    assert spec.name == "shelf_check"  # the task name a request gives, however the file spells it
    assert spec.user_template == "{question}\nReply with JSON." and spec.default_question == "Is this shelf stocked?"
    assert spec.reasoning and not spec.own_format  # the family's reasoning instruction is added
    assert spec.answer_parser == "json"  # a schema's answers are parsed as JSON unless the file says otherwise
    assert spec.answer_format is not None and spec.answer_format[0] == "json"
    assert json.loads(spec.answer_format[1])["required"] == ["stocked"]
    assert (spec.sampling.temperature, spec.sampling.top_k, spec.sampling.n) == (0.2, 5, 2)
    assert spec.video == MediaOptions(fps=1.5, max_pixels=50176)
    recipe = spec.build(REASON1.reasoning)
    assert parse_answer(recipe, '<think>x</think>\n<answer>{"stocked": true}</answer>') == {"shelf": {"stocked": True}}


def test_every_media_option_is_a_video_setting():
    """`video:` takes every MediaOptions field by its own type, so an option added there is a
    recipe setting with no change to the loader."""
    values = {int: 4, float: 2.0, bool: True, str: "x"}
    hints = {f.name: f.type for f in fields(MediaOptions)}
    video = {}
    for name, hint in hints.items():
        kind = next(t for t in (bool, int, float, str) if t.__name__ in str(hint))
        video[name] = values[kind]
    spec = parse_recipe({"user_prompt": "Q?", "video": video}, source="r.yaml", default_name="r")
    assert spec.video == MediaOptions(**video)


# ---- mistakes: one line naming the file, the key and the fault -------------------------


BAD = [
    ("colour: red\n", "colour: unknown key"),
    ("system_prompt: [a, b]\n", "system_prompt: expected text, got a list"),
    ("user_prompt: What is it?\ndefault_question: Anything?\n", "user_prompt: lacks {question}"),
    ("user_prompt: Q?\nanswer_parser: yes_or_no\n", "answer_parser: 'yes_or_no' is not one of"),
    ("user_prompt: Q?\nreasoning: yes please\n", "reasoning: expected true or false"),
    ("user_prompt: Q?\nown_format: true\nreasoning: false\n", "own_format: true needs reasoning: true"),
    ("user_prompt: Q?\nschema: {type: frobnicate}\n", "schema: invalid JSON schema"),
    ("user_prompt: Q?\nschema: [1, 2]\n", "schema: a JSON schema is a mapping"),
    ("user_prompt: Q?\nanswer_format: {regex: '[a-'}\n", "answer_format.regex: invalid regex"),
    ("user_prompt: Q?\nanswer_format: {choice: []}\n", "answer_format.choice: expected a list of texts"),
    ("user_prompt: Q?\nanswer_format: {xml: <a/>}\n", "answer_format: 'xml' is not one of json, regex"),
    ("user_prompt: Q?\nanswer_format: {choice: [a]}\nschema: {type: object}\n", "schema: give schema or answer_format"),
    ("user_prompt: Q?\nsampling: {temperature: hot}\n", "sampling.temperature: expected a number, got text 'hot'"),
    (
        "user_prompt: Q?\nsampling: {temperature: 7}\n",
        "sampling.temperature: input should be less than or equal to 2, got 7",
    ),
    ("user_prompt: Q?\nsampling: {top_k: 2.5}\n", "sampling.top_k: expected an integer, got a number 2.5"),
    ("user_prompt: Q?\nsampling: {beam_width: 4}\n", "sampling.beam_width: unknown key"),
    ("user_prompt: Q?\nsampling: 0.7\n", "sampling: expected a mapping"),
    ("user_prompt: Q?\nvideo: {fps: true}\n", "video.fps: expected a number, got true"),
    ("user_prompt: Q?\nvideo: {fps: 0}\n", "video.fps: input should be greater than 0, got 0"),
    ("user_prompt: Q?\nvideo: {frame_rate: 2}\n", "video.frame_rate: unknown key (known: fps, nframes"),
    ("name: what?\nuser_prompt: Q?\n", "name: 'what?' is not a task name"),
    ("- system_prompt: a\n", "a recipe is a mapping of keys (system_prompt, user_prompt, ...), got a list"),
    ("system_prompt: |\n  ok\nuser_prompt: [unclosed\n", "line 4, column 1: YAML syntax error"),
    ("system_prompt: a\n  user_prompt: b\n", "line 2, column 14: YAML syntax error: mapping values are not allowed"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[message.split(":")[0] for _, message in BAD])
def test_a_bad_file_is_one_line_naming_the_file_the_key_and_the_fault(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as caught:
        load_recipe_file(path)
    said = str(caught.value)
    assert "\n" not in said
    assert said.startswith(f"{path}: ")
    assert message in said, said


def test_a_file_that_cannot_be_read(tmp_path: Path):
    with pytest.raises(RecipeError, match=r"nothing\.yaml: cannot read the recipe: No such file"):
        load_recipe_file(tmp_path / "nothing.yaml")


# ---- folders --------------------------------------------------------------------------


def test_a_folder_loads_its_yaml_files_in_name_order_and_ignores_the_rest(tmp_path: Path):
    write(tmp_path, "user_prompt: B?\n", "b.yaml")
    write(tmp_path, "user_prompt: A?\n", "a.yml")
    write(tmp_path, "notes", "README.md")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "user_prompt: C?\n", "c.yaml")
    assert [spec.name for spec in load_recipe_dir(tmp_path)] == ["a", "b"]


def test_two_files_with_one_name_and_a_missing_folder_are_refused(tmp_path: Path):
    write(tmp_path, "user_prompt: A?\n", "shelf-check.yaml")
    write(tmp_path, "user_prompt: B?\n", "shelf_check.yml")
    with pytest.raises(RecipeError, match=r"shelf_check\.yml: name: 'shelf_check' is also the name of .*shelf-check"):
        load_recipe_dir(tmp_path)
    with pytest.raises(RecipeError, match="not a folder of recipe files"):
        load_recipe_dir(tmp_path / "missing")


def test_a_folder_recipe_named_like_a_builtin_replaces_it_in_place_with_a_log_line(tmp_path: Path, caplog):
    write(tmp_path, "system_prompt: Describe in five words.\nuser_prompt: Caption it.\n", "caption.yaml")
    write(tmp_path, "user_prompt: Shelf?\n", "shelf.yaml")
    with caplog.at_level(logging.WARNING):
        family = with_recipe_files(REASON1, load_recipe_dir(tmp_path))
    assert list(family.recipes) == [*REASON1.recipes, "shelf"]  # the replaced one keeps its place
    assert family.recipes["caption"].system_prompt == "Describe in five words."
    assert REASON1.recipes["caption"].system_prompt != "Describe in five words."  # the family itself is unchanged
    assert any("caption.yaml replaces the built-in task 'caption'" in r.getMessage() for r in caplog.records)


def test_a_critic_replacement_must_keep_the_answer_that_score_reads(tmp_path: Path):
    write(tmp_path, "user_prompt: Anything odd?\n", "critic.yaml")
    with pytest.raises(RecipeError, match="critic.yaml: answer_parser: a recipe named critic .* yes_no"):
        load_recipe_dir(tmp_path)
    write(tmp_path, "user_prompt: Anything odd?\nanswer_parser: yes_no\nanswer_key: anomaly\n", "critic.yaml")
    assert [spec.name for spec in load_recipe_dir(tmp_path)] == ["critic"]


# ---- the shipped recipes --------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_builtin_recipes_are_what_the_python_definitions_were(family):
    """Every field and GET /v1/tasks entry, in order, equals the snapshot of the Python
    definitions (written at 8cb02f2 with: for each family, for each recipe in family.recipes:
    asdict(recipe) without `format`, answer_format as a list, plus describe_task(recipe)). A
    deliberate change to a built-in recipe's file changes this snapshot with it."""
    loaded = []
    for recipe in family.recipes.values():
        assert recipe.format is family.reasoning
        row = {k: v for k, v in asdict(recipe).items() if k != "format"}
        row["answer_format"] = list(recipe.answer_format) if recipe.answer_format else None
        row["video"] = recipe.video.given()  # media options added since the snapshot are unset here
        row["describe_task"] = describe_task(recipe)
        loaded.append(json.loads(json.dumps(row)))
    assert [r["name"] for r in loaded] == [r["name"] for r in SNAPSHOT[family.name]]
    for got, want in zip(loaded, SNAPSHOT[family.name], strict=True):
        want = want | {"video": {k: v for k, v in want["video"].items() if v is not None}}
        assert got == want, got["name"]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_a_recipe_sent_inline_is_the_recipe_of_its_file(family):
    """annotate --recipe sends recipe_mapping(spec) with each request; the server's parse gives it back."""
    module = importlib.import_module(f"cosmos_reason.families.{family.name}.recipes")
    for name in family.recipes:
        spec = load_recipe_file(Path(module.__file__).with_name("tasks") / f"{name}.yaml")
        again = parse_recipe(json.loads(json.dumps(recipe_mapping(spec))), source=spec.source)
        assert again == spec


def test_the_docs_example_file_loads_as_described(tmp_path: Path):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "reasoning.md").read_text(encoding="utf-8")
    example = docs.split("### Recipe files", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = load_recipe_file(write(tmp_path, example, "shelf_check.yaml"))
    assert (spec.name, spec.answer_parser, spec.answer_key) == ("shelf_check", "json", "shelf")
    assert spec.reasoning and not spec.own_format
    assert spec.default_question == "Is anything on this shelf about to fall?"
