"""What `cosmos-reason eval` asks: labelled multiple-choice questions about videos or images.

Two inputs (docs/eval.md):

* the Cosmos-Reason1 benchmark layout (nvidia-cosmos/cosmos-reason1, examples/benchmark):
  ``<source>/<source>_benchmark_qa_pairs.json``, a list of
  ``{"video": "clips/x.mp4", "qa_pairs": {"question", "index2ans", "answer"}}`` (``qa_pairs``
  may also be a list of such objects), under the given folder or directly in it;
* a plain labelled set, JSONL or CSV rows of ``{media, question, choices, answer}`` with
  optional ``source`` and ``id``: ``choices`` a list (lettered A, B, ... in order) or an object
  letter -> text; ``answer`` the letter or the text of one choice.

Every mistake in a file is an :class:`EvalInputError` whose one-line message names the file
and the entry.
"""

from __future__ import annotations

import csv
import io
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .inputs import is_url, kind_from_name

QA_SUFFIX = "_benchmark_qa_pairs.json"


class EvalInputError(ValueError):
    """The benchmark folder or labelled file cannot be used; the message names the place."""


@dataclass
class Question:
    """One labelled question about one clip or image."""

    source: str  # the benchmark's datasource (robovqa, av, ...) or the row's `source`
    media: str  # a local path or a URL
    video_id: str  # the clip's name without extension, as the benchmark's output names it
    question: str
    choices: dict[str, str]  # letter -> text, in the order asked
    answer: str  # the correct letter
    question_id: str  # stable across runs: what `eval --compare` matches rows by

    @property
    def is_url(self) -> bool:
        return is_url(self.media)

    def exists(self) -> bool:
        return self.is_url or Path(self.media).exists()


# ---- the benchmark layout ------------------------------------------------------


def qa_files(folder: Path) -> list[Path]:
    """The benchmark's QA files in `folder`, in its subfolders, or under its benchmark/ folder
    (evaluate.py's --data_dir is the folder above benchmark/)."""
    for pattern in (f"*{QA_SUFFIX}", f"*/*{QA_SUFFIX}", f"benchmark/*/*{QA_SUFFIX}"):
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if found:
            return found
    return []


def read_benchmark(folder: Path, sources: list[str] | None = None) -> list[Question]:
    files = qa_files(folder)
    if not files:
        raise EvalInputError(
            f"{folder}: no <source>/<source>{QA_SUFFIX} (Cosmos-Reason1 benchmark layout) in it or its subfolders"
        )
    by_source = {f.name[: -len(QA_SUFFIX)]: f for f in files}
    if sources:
        unknown = [s for s in sources if s not in by_source]
        if unknown:
            raise EvalInputError(
                f"{folder}: no source named {', '.join(unknown)} (there are: {', '.join(sorted(by_source))})"
            )
        by_source = {s: by_source[s] for s in sources}
    questions: list[Question] = []
    for source, path in by_source.items():
        questions.extend(read_qa_file(path, source))
    return questions


def read_qa_file(path: Path, source: str) -> list[Question]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(entries, list):
        raise EvalInputError(f"{path}: expected a JSON list of {{video, qa_pairs}} entries, got {_type(entries)}")
    questions: list[Question] = []
    asked: dict[str, int] = {}  # video_id -> its questions so far (a clip may be named by several entries)
    for number, entry in enumerate(entries):
        where = f"{path}: entry {number}"
        if not isinstance(entry, dict):
            raise EvalInputError(f"{where}: expected an object {{video, qa_pairs}}, got {_type(entry)}")
        video = entry.get("video")
        if not isinstance(video, str) or not video.strip():
            raise EvalInputError(f"{where}: no 'video' (the clip's path, e.g. clips/x.mp4)")
        where = f"{where} ({video})"
        pairs = entry.get("qa_pairs")
        if isinstance(pairs, str):  # the Hugging Face viewer's export holds it as JSON text
            try:
                pairs = json.loads(pairs)
            except ValueError:
                raise EvalInputError(f"{where}: 'qa_pairs' is text that is not JSON") from None
        if isinstance(pairs, dict):
            pairs = [pairs]
        if not isinstance(pairs, list) or not pairs:
            raise EvalInputError(f"{where}: 'qa_pairs' must be an object {{question, index2ans, answer}} or a list")
        media = video if is_url(video) else str(path.parent / video)
        video_id = Path(video).name.rsplit(".", 1)[0]
        for index, qa in enumerate(pairs):
            at = f"{where}: qa_pairs[{index}]" if len(pairs) > 1 else where
            if not isinstance(qa, dict):
                raise EvalInputError(f"{at}: expected an object {{question, index2ans, answer}}, got {_type(qa)}")
            choices = _choices(qa.get("index2ans"), at, "index2ans")
            answer = qa.get("answer", qa.get("correct_answer"))
            asked[video_id] = asked.get(video_id, -1) + 1
            questions.append(
                Question(
                    source=source,
                    media=media,
                    video_id=video_id,
                    question=_question(qa.get("question"), at),
                    choices=choices,
                    answer=_answer(answer, choices, at),
                    question_id=f"{source}/{video_id}#{asked[video_id]}",
                )
            )
    return questions


# ---- a plain labelled set --------------------------------------------------------

MEDIA_KEYS = ("media", "video", "image", "path", "file", "url")


def read_labelled(path: Path) -> list[Question]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise EvalInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EvalInputError(f"{path}: not UTF-8 text (expected JSONL or CSV)") from None
    suffix = path.suffix.lower()
    records: list[tuple[str, Any]] = []
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        for number, record in enumerate(reader, start=2):
            records.append((f"{path}: line {number}", {k.strip(): v for k, v in record.items() if k}))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((f"{path}: line {number}", json.loads(line)))
            except ValueError as exc:
                raise EvalInputError(f"{path}: line {number}: not JSON ({exc})") from None
    questions = []
    for where, record in records:
        if not isinstance(record, dict):
            raise EvalInputError(f"{where}: expected an object {{media, question, choices, answer}}")
        questions.append(_labelled_row(record, where, path))
    if not questions:
        raise EvalInputError(f"{path}: no rows")
    return questions


def _labelled_row(record: dict[str, Any], where: str, path: Path) -> Question:
    media = next((record[k] for k in MEDIA_KEYS if isinstance(record.get(k), str) and record[k].strip()), None)
    if media is None:
        raise EvalInputError(f"{where}: no 'media' (a path relative to {path.name}, or a URL)")
    choices_value = record.get("choices")
    if isinstance(choices_value, str):  # a CSV cell: JSON, or texts separated by |
        text = choices_value.strip()
        try:
            choices_value = json.loads(text) if text[:1] in "[{" else [c.strip() for c in text.split("|")]
        except ValueError:
            raise EvalInputError(f"{where}: 'choices' is neither JSON nor texts separated by |") from None
    if isinstance(choices_value, list):
        if len(choices_value) > 26:
            raise EvalInputError(f"{where}: more than 26 choices")
        choices_value = dict(zip(string.ascii_uppercase, choices_value, strict=False))
    choices = _choices(choices_value, where, "choices")
    media_path = media if is_url(media) else str((path.parent / media) if not Path(media).is_absolute() else media)
    name = Path(media).name
    source = record.get("source")
    row_id = record.get("id")
    line = where.rsplit("line ", 1)[-1]
    return Question(
        source=str(source) if source not in (None, "") else path.stem,
        media=media_path,
        video_id=name.rsplit(".", 1)[0] if kind_from_name(name) else name,
        question=_question(record.get("question"), where),
        choices=choices,
        answer=_answer(record.get("answer"), choices, where, by_text=True),
        question_id=str(row_id) if row_id not in (None, "") else f"{path.name}:{line}",
    )


# ---- shared checks ---------------------------------------------------------------


def _question(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EvalInputError(f"{where}: no 'question'")
    return value


def _choices(value: Any, where: str, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise EvalInputError(f'{where}: \'{name}\' must be an object of choices such as {{"A": "...", "B": "..."}}')
    choices = {}
    for letter, text in value.items():
        if text is None:  # a choice this question does not have (tables padded to the widest row)
            continue
        key = str(letter).strip()
        if len(key) != 1 or key not in string.ascii_uppercase:
            raise EvalInputError(f"{where}: choice {letter!r} in '{name}' is not a capital letter A-Z")
        choices[key] = str(text)
    if not choices:
        raise EvalInputError(f"{where}: '{name}' has no choices")
    return choices


def _answer(value: Any, choices: dict[str, str], where: str, by_text: bool = False) -> str:
    """The correct letter: a letter among the choices, or (plain sets) the text of exactly one choice."""
    if not isinstance(value, str) or not value.strip():
        raise EvalInputError(f"{where}: no 'answer' (the correct choice's letter)")
    text = value.strip()
    if text.upper() in choices and len(text) == 1:
        return text.upper()
    if by_text:
        matches = [letter for letter, choice in choices.items() if choice.strip().casefold() == text.casefold()]
        if len(matches) == 1:
            return matches[0]
    raise EvalInputError(
        f"{where}: answer {value!r} is not one of the choices' letters ({', '.join(choices)})"
        + (" or texts" if by_text else "")
    )


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text"}.get(type(value), type(value).__name__)


def load_questions(path: str, sources: list[str] | None = None) -> list[Question]:
    """The questions of a benchmark folder (or one QA file) or of a plain labelled JSONL/CSV."""
    target = Path(path)
    if not target.exists():
        raise EvalInputError(f"{path}: no such file or folder")
    if target.is_dir():
        return read_benchmark(target, sources)
    if target.name.endswith(QA_SUFFIX) or target.suffix.lower() == ".json":
        source = target.name[: -len(QA_SUFFIX)] if target.name.endswith(QA_SUFFIX) else target.stem
        return read_qa_file(target, source)
    if sources:
        raise EvalInputError("--sources applies to a benchmark folder, not to a labelled file")
    return read_labelled(target)
