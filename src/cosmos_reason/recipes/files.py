"""Task recipes as YAML files: the loader of the built-in recipes, `serve --recipes DIR` and
`annotate --recipe FILE`.

A file has the shape of Cosmos-Reason1's and the Cosmos cookbook's `prompts/*.yaml`
(`system_prompt`, `user_prompt`), so theirs load unchanged; every other key is optional
(the format, defaults and errors are in docs/reasoning.md#task-recipes). Loading is two
steps: `parse_recipe` checks a mapping and keeps it as a `RecipeSpec` (plain data, no model
family needed, so a server refuses a bad file before its model loads), and
`RecipeSpec.build` makes the `TaskRecipe` for a family's reasoning format.

Every mistake is a `RecipeError` whose message is one line: the file, the key, what is wrong.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_type_hints

from ..media.options import MediaOptions
from ..reasoning.format import ReasoningFormat
from .answers import PARSERS
from .recipe import ANSWER_FORMAT_KINDS, QUESTION, Sampling, TaskRecipe

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml")
# The keys of the reference repositories' prompt files, then this project's.
REFERENCE_KEYS = ("system_prompt", "user_prompt")
OWN_KEYS = (
    "name",
    "title",
    "description",
    "default_question",
    "reasoning",
    "own_format",
    "answer_parser",
    "answer_key",
    "answer_format",
    "schema",
    "sampling",
    "video",
)
KEYS = REFERENCE_KEYS + OWN_KEYS
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")
_THINK = "<think>"


class RecipeError(ValueError):
    """A recipe file (or an inline recipe) that cannot be used; the message is one line."""


@dataclass(frozen=True)
class RecipeSpec:
    """A checked recipe, before a model family's reasoning format makes it a TaskRecipe."""

    source: str  # the file (or "recipe" for an inline one), for messages
    name: str
    title: str
    description: str
    system_prompt: str | None
    default_question: str
    user_template: str
    reasoning: bool
    own_format: bool
    answer_parser: str
    answer_key: str | None
    answer_format: tuple[str, str] | None
    sampling: Sampling
    video: MediaOptions

    def build(self, fmt: ReasoningFormat) -> TaskRecipe:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}
        return TaskRecipe(format=fmt, **values)


# ---- files and folders ---------------------------------------------------------------


def load_recipe_file(path: str | Path) -> RecipeSpec:
    """The recipe in one YAML file; RecipeError names the file, the key and the fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read the recipe: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_recipe(read_yaml(text, str(path)), source=str(path), default_name=path.stem)


def read_yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{source}: {where}YAML syntax error: {problem}") from None


def load_recipe_dir(folder: str | Path) -> tuple[RecipeSpec, ...]:
    """Every *.yaml / *.yml file in `folder` (not its subfolders), by file name; two files
    giving the same recipe name are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecipeError(f"{folder}: not a folder of recipe files")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    specs: dict[str, RecipeSpec] = {}
    for path in files:
        spec = load_recipe_file(path)
        if spec.name in specs:
            raise RecipeError(f"{path}: name: {spec.name!r} is also the name of {specs[spec.name].source}")
        if spec.name == "critic" and (spec.answer_parser, spec.answer_key) != ("yes_no", "anomaly"):
            raise RecipeError(
                f"{path}: answer_parser: a recipe named critic replaces the built-in one that /v1/score and "
                f"`cosmos-reason critic` use, so it needs answer_parser: yes_no and answer_key: anomaly"
            )
        specs[spec.name] = spec
    return tuple(specs.values())


def builtin_recipes(folder: Path, names: Iterable[str], fmt: ReasoningFormat) -> Mapping[str, TaskRecipe]:
    """A family's shipped recipes, `names` (their files in `folder`) in the order /v1/tasks lists
    them; read on first use, so that importing the families (e.g. for `--help`) stays quick."""
    return _FolderRecipes(folder, tuple(names), fmt)


class _FolderRecipes(Mapping[str, TaskRecipe]):
    def __init__(self, folder: Path, names: tuple[str, ...], fmt: ReasoningFormat) -> None:
        self._folder, self._names, self._fmt = folder, names, fmt
        self._loaded: dict[str, TaskRecipe] | None = None

    def _recipes(self) -> dict[str, TaskRecipe]:
        if self._loaded is None:
            recipes = (load_recipe_file(self._folder / f"{name}.yaml").build(self._fmt) for name in self._names)
            self._loaded = {recipe.name: recipe for recipe in recipes}
        return self._loaded

    def __getitem__(self, name: str) -> TaskRecipe:
        return self._recipes()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._recipes())

    def __len__(self) -> int:
        return len(self._names)


def with_recipes(
    recipes: Mapping[str, TaskRecipe], extra: Iterable[RecipeSpec], fmt: ReasoningFormat
) -> Mapping[str, TaskRecipe]:
    """`recipes` and the `extra` ones after them; an extra one named like a built-in replaces it
    (in its place in the list), with a log line saying so."""
    merged = dict(recipes)
    for spec in extra:
        if spec.name in merged:
            log.warning("recipe %s replaces the built-in task %r", spec.source, spec.name)
        merged[spec.name] = spec.build(fmt)
    return MappingProxyType(merged)


# ---- one mapping -----------------------------------------------------------------------


def parse_recipe(data: Any, *, source: str, default_name: str | None = None) -> RecipeSpec:
    """Check a recipe's mapping (a file's YAML, or an inline recipe's JSON) and keep it."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(
            f"{source}: a recipe is a mapping of keys ({', '.join(REFERENCE_KEYS)}, ...), got {_kind(data)}"
        )
    for key in data:
        if key not in KEYS:
            raise RecipeError(f"{source}: {key}: unknown key (known: {', '.join(KEYS)})")

    def text(key: str, required: bool = False) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                raise RecipeError(f"{source}: {key}: missing")
            return None
        if not isinstance(value, str):
            raise RecipeError(f"{source}: {key}: expected text, got {_kind(value)}")
        return value

    def flag(key: str) -> bool | None:
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            raise RecipeError(f"{source}: {key}: expected true or false, got {_kind(value)}")
        return value

    raw_name = text("name") or default_name
    if raw_name is None:
        raise RecipeError(f"{source}: name: missing (an inline recipe needs one)")
    name = raw_name.strip().lower().replace("-", "_")
    if not _NAME.fullmatch(name):
        raise RecipeError(f"{source}: name: {raw_name!r} is not a task name (letters, digits, _ and -)")

    system_prompt = (text("system_prompt") or "").rstrip() or None
    user_prompt = (text("user_prompt") or "").rstrip()
    default_question = text("default_question")
    if QUESTION in user_prompt:  # a template: the client's question goes in it
        user_template, question = user_prompt, (default_question or "").strip()
    elif default_question is not None:
        raise RecipeError(
            f"{source}: user_prompt: lacks {QUESTION}; without it, user_prompt is itself the default "
            f"question, so default_question has no place (put {QUESTION} where the question goes)"
        )
    else:  # the reference repositories' meaning: the question, replaced by the client's own
        user_template, question = QUESTION, user_prompt.strip()

    prompts = (system_prompt or "") + user_prompt
    reasoning = flag("reasoning")
    own_format = flag("own_format")
    if reasoning is None:  # a prompt spelling out <think> asks for reasoning in its own words
        reasoning = bool(own_format) or _THINK in prompts
    if own_format is None:
        own_format = reasoning and _THINK in prompts
    if own_format and not reasoning:
        raise RecipeError(f"{source}: own_format: true needs reasoning: true")

    answer_format = _answer_format(data, source)
    parser = text("answer_parser") or ("json" if answer_format and answer_format[0] == "json" else "text")
    if parser not in PARSERS:
        raise RecipeError(f"{source}: answer_parser: {parser!r} is not one of {', '.join(PARSERS)}")
    answer_key = text("answer_key")
    if answer_key is not None and not answer_key.strip():
        raise RecipeError(f"{source}: answer_key: empty")

    spec = RecipeSpec(
        source=source,
        name=name,
        title=text("title") or name.replace("_", " ").capitalize(),
        description=text("description") or "",
        system_prompt=system_prompt,
        default_question=question,
        user_template=user_template,
        reasoning=reasoning,
        own_format=own_format,
        answer_parser=parser,
        answer_key=answer_key,
        answer_format=answer_format,
        sampling=Sampling(**_settings(data, "sampling", Sampling, source)),
        video=MediaOptions(**_settings(data, "video", MediaOptions, source)),
    )
    try:
        spec.build(_ANY_FORMAT)  # TaskRecipe's own checks
    except ValueError as exc:
        raise RecipeError(f"{source}: {exc}") from None
    return spec


def recipe_mapping(spec: RecipeSpec | TaskRecipe) -> dict[str, Any]:
    """The recipe as a file's mapping (what `annotate --recipe` sends as the request's `recipe`,
    GET /v1/tasks/NAME's `recipe`): parse_recipe of it gives `spec` back."""
    out: dict[str, Any] = {"name": spec.name, "title": spec.title, "description": spec.description}
    if spec.system_prompt is not None:
        out["system_prompt"] = spec.system_prompt
    if spec.user_template == QUESTION:
        out["user_prompt"] = spec.default_question
    else:
        out["user_prompt"] = spec.user_template
        out["default_question"] = spec.default_question
    out |= {"reasoning": spec.reasoning, "own_format": spec.own_format, "answer_parser": spec.answer_parser}
    if spec.answer_key is not None:
        out["answer_key"] = spec.answer_key
    if spec.answer_format is not None:
        kind, value = spec.answer_format
        out["answer_format"] = {kind: json.loads(value) if kind in ("json", "choice") else value}
    for key, values in (("sampling", spec.sampling), ("video", spec.video)):
        given = {f.name: getattr(values, f.name) for f in fields(values) if getattr(values, f.name) is not None}
        if given:
            out[key] = given
    return out


# ---- the parts -------------------------------------------------------------------------


def _answer_format(data: dict[str, Any], source: str) -> tuple[str, str] | None:
    """answer_format: {KIND: VALUE} (json: a schema, choice: a list of texts, regex / grammar:
    text), or schema: SCHEMA for {json: SCHEMA}; checked as the server checks a request's."""
    from ..constraint import Constraint, ConstraintError, check

    if "schema" in data and data.get("answer_format") is not None:
        raise RecipeError(f"{source}: schema: give schema or answer_format, not both")
    if data.get("schema") is not None:
        key, value = "schema", {"json": data["schema"]}
    elif data.get("answer_format") is not None:
        key, value = "answer_format", data["answer_format"]
    else:
        return None
    kinds = ", ".join(ANSWER_FORMAT_KINDS)
    if not (isinstance(value, dict) and len(value) == 1):
        raise RecipeError(
            f"{source}: answer_format: expected one of {kinds} with its value, e.g. {{choice: [Yes, No]}}"
        )
    ((kind, spec),) = value.items()
    if kind not in ANSWER_FORMAT_KINDS:
        raise RecipeError(f"{source}: answer_format: {kind!r} is not one of {kinds}")
    where = key if key == "schema" else f"answer_format.{kind}"
    if kind == "json" and not isinstance(spec, dict):
        raise RecipeError(f"{source}: {where}: a JSON schema is a mapping, got {_kind(spec)}")
    if kind == "choice" and not (isinstance(spec, list) and spec and all(isinstance(c, str) for c in spec)):
        raise RecipeError(f"{source}: {where}: expected a list of texts, e.g. [Yes, No]")
    if kind in ("regex", "grammar") and not isinstance(spec, str):
        raise RecipeError(f"{source}: {where}: expected text, got {_kind(spec)}")
    text = json.dumps(spec) if kind in ("json", "choice") else spec
    try:
        check(Constraint(kind, text))  # type: ignore[arg-type]  # kind is one of KINDS
    except ConstraintError as exc:
        what = "invalid JSON schema" if kind == "json" else f"invalid {kind}"
        raise RecipeError(f"{source}: {where}: {what}: {exc}") from None
    return kind, text


def _settings(data: dict[str, Any], key: str, kind: type, source: str) -> dict[str, Any]:
    """The `key` mapping's values for the dataclass `kind`'s fields, each of its field's type
    (so a field added to MediaOptions is a recipe setting at once), in the range a request may ask."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecipeError(
            f"{source}: {key}: expected a mapping such as {{{fields(kind)[0].name}: ...}}, got {_kind(value)}"
        )
    hints = get_type_hints(kind)
    known = [f.name for f in fields(kind)]
    for name, item in value.items():
        if name not in hints:
            raise RecipeError(f"{source}: {key}.{name}: unknown key (known: {', '.join(known)})")
        wanted = _base_type(hints[name])
        if item is not None and not _is_a(item, wanted):
            raise RecipeError(
                f"{source}: {key}.{name}: expected {_TYPE_WORDS.get(wanted, wanted.__name__)}, got {_kind(item)}"
            )
    given = {name: item for name, item in value.items() if item is not None}
    _check_range(given, key, source)
    return given


def _check_range(values: dict[str, Any], key: str, source: str) -> None:
    """The limits a request's own values have (api/protocol.py), on the recipe's."""
    from pydantic import ValidationError

    from ..api.protocol import ChatCompletionRequest, MediaOverrides

    try:
        if key == "video":
            MediaOverrides.model_validate({k: v for k, v in values.items() if k in MediaOverrides.model_fields})
        else:
            ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": ""}], **values})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = next((str(part) for part in error["loc"] if part in values), "")
        said = error["msg"][:1].lower() + error["msg"][1:]  # pydantic's "Input should be ..."
        raise RecipeError(f"{source}: {key}.{name}: {said}, got {values.get(name)!r}") from None


_TYPE_WORDS = {float: "a number", int: "an integer", bool: "true or false", str: "text"}


def _base_type(hint: Any) -> Any:
    """`float | None` -> float."""
    args = [a for a in getattr(hint, "__args__", (hint,)) if a is not type(None)]
    return args[0] if args else hint


def _is_a(value: Any, wanted: Any) -> bool:
    if not isinstance(wanted, type):  # e.g. a Literal: the range check (api/protocol.py) decides
        return True
    if isinstance(value, bool) or wanted is bool:
        return wanted is bool and isinstance(value, bool)
    if wanted is float:
        return isinstance(value, (int, float))
    return isinstance(value, wanted)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    words = {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number"}
    shown = repr(value) if isinstance(value, (str, int, float)) and len(repr(value)) <= 40 else ""
    return words.get(type(value), type(value).__name__) + (f" {shown}" if shown else "")


# Any family's format will do for TaskRecipe's own checks.
_ANY_FORMAT = ReasoningFormat(instruction="", placement="system", default_system_prompt="")
