"""What to annotate: a folder, a glob or a manifest, turned into items.
Accepted inputs and manifest fields: docs/jobs.md ("Input").

A file is an item when its content is an image or a video (magic bytes, then a Pillow
probe, then a PyAV probe) or when its extension says it should be one, so a corrupt
``broken.jpg`` gets an error line instead of vanishing. Only regular files are ever opened:
a FIFO, socket or device in a folder is skipped (``open`` on a FIFO blocks until a writer
comes), one named in a manifest gets an error line, and opening uses ``O_NONBLOCK`` as a
second guard against a file swapped for a FIFO between the check and the open.
"""

from __future__ import annotations

import csv
import errno
import glob
import io
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from ..media.options import MEDIA_OPTION_NAMES
from ..media.sniff import HEAD, looks_like_text, probe_kind, sniff_magic

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .gif .bmp .dib .webp .tif .tiff .heic .heif .avif .jp2 .j2k "
    ".ppm .pgm .pbm .pnm .tga .ico .qoi".split()
)
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .qt .mkv .webm .avi .flv .wmv .asf .mpg .mpeg .m2v .ts .mts .m2ts .3gp "
    ".3g2 .ogv .mxf .y4m .h264 .264 .hevc .265".split()
)
MANIFEST_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
# Request fields an item's options may set besides the media ones (MEDIA_OPTION_NAMES).
REQUEST_OPTION_NAMES = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "seed",
    "n",
    "stop",
    "reasoning",
    "system",
    "raw_output",
    "ignore_eos",
    "schema",  # a JSON schema: the answer is constrained to it (work.py sends it as response_format)
)
OPTION_NAMES = frozenset(MEDIA_OPTION_NAMES) | frozenset(REQUEST_OPTION_NAMES)
SOURCE_KEYS = ("path", "url", "file", "item", "image", "video", "media", "uri", "filename")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^data:", re.ASCII)


class InputError(ValueError):
    """The INPUT or a manifest cannot be read; the message names the place."""


@dataclass
class Item:
    source: str  # a local path or a URL, as it will appear in the output
    is_url: bool = False
    prompt: str | None = None
    task: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None  # "image" | "video" when known up front
    explicit: bool = True  # named by the user: gets a line even if it is not media
    meta: dict[str, Any] = field(default_factory=dict)


class NotRegularFile(OSError):
    """A FIFO, socket, device or folder where a media file was expected."""


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFile(errno.EINVAL, f"not a regular file ({_file_type(mode)}); only regular files are read")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for reading; anything else raises NotRegularFile without blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        check_regular(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_bytes(path: str | os.PathLike) -> bytes:
    with open_regular(path) as f:
        return f.read()


def classify_file(path: str | os.PathLike) -> str | None:
    """'image', 'video' or None for a local file, by content."""
    with open_regular(path) as f:
        head = f.read(HEAD)
    kind = sniff_magic(head)
    if kind is not None or looks_like_text(head):
        return kind
    return probe_kind(os.fspath(path))


def sniff_item(item: Item) -> bool:
    """Whether an item is media (and its kind, set on it). Only items found by walking a folder
    or a glob are asked: an item the user named, or with a media extension, always is one."""
    if item.explicit or item.is_url or item.kind is not None:
        return True
    try:
        item.kind = classify_file(item.source)
    except OSError:
        return True  # its line will say why it cannot be read
    return item.kind is not None


def kind_from_name(name: str) -> str | None:
    suffix = Path(urlparse(name).path if _URL.match(name) else name).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


# ---- discovery ---------------------------------------------------------------


def discover(
    spec: str,
    *,
    manifest: bool | None = None,
    prompt: str | None = None,
    task: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[Item]:
    """The items INPUT names, with the command's prompt/task/options as defaults.

    Items come in a stable order (sorted walk, manifest order) so reruns see the same list.
    """
    defaults = dict(options or {})
    path = Path(spec).expanduser()
    items: list[Item]
    if path.is_dir():
        # A media extension makes a file an item whatever its content; else content decides.
        items = [Item(p, explicit=kind_from_name(p) is not None) for p in sorted(map(str, _walk(path)))]
    elif path.is_file() and (manifest or (manifest is None and path.suffix.lower() in MANIFEST_SUFFIXES)):
        items = read_manifest(path)
    elif path.is_file():
        items = [Item(str(path))]
    elif manifest and path.exists():  # a pipe: `--manifest <(find ...)` waits for its writer, as asked
        items = read_manifest(path)
    elif path.exists():
        raise InputError(
            f"{spec}: {_file_type(path.stat().st_mode)}, not a file or folder to annotate "
            f"(to read a list of items from a pipe, add --manifest)"
        )
    elif is_url(spec):
        items = [Item(spec, is_url=True, kind=kind_from_name(spec))]
    elif glob.has_magic(spec):
        # isfile: regular files only (never a FIFO, whose open would block)
        matches = sorted(p for p in glob.glob(os.path.expanduser(spec), recursive=True) if os.path.isfile(p))
        items = [Item(p, explicit=kind_from_name(p) is not None) for p in matches]
    else:
        raise InputError(f"{spec}: no such file, folder or glob match")
    for item in items:
        item.prompt = item.prompt if item.prompt is not None else prompt
        item.task = item.task if item.task is not None else task
        item.options = {**defaults, **item.options}
    return items


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file():  # regular files only: no FIFO, socket, device
                yield path


# ---- manifests -----------------------------------------------------------------


def read_manifest(path: Path, kind: str | None = None) -> list[Item]:
    kind = kind or MANIFEST_SUFFIXES.get(path.suffix.lower())
    base = path.parent
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc})") from None
    if kind is None:  # another extension, or a pipe: JSON lines if they look like JSON, else one path a line
        first = next((line.lstrip() for line in text.splitlines() if line.strip()), "")
        kind = "jsonl" if first.startswith(("{", '"')) else "csv"
    if kind == "jsonl":
        return list(_jsonl_items(text, path, base))
    return list(_csv_items(text, path, base, delimiter="\t" if kind == "tsv" else ","))


def _jsonl_items(text: str, path: Path, base: Path) -> Iterator[Item]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if isinstance(value, str):
            value = {"path": value}
        if not isinstance(value, dict):
            raise InputError(f"{path}:{number}: each line must be a JSON object or a string")
        yield _item(value, f"{path}:{number}", base)


def _csv_items(text: str, path: Path, base: Path, delimiter: str) -> Iterator[Item]:
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return
    header = [cell.strip().lower() for cell in rows[0]]
    if not any(name in SOURCE_KEYS for name in header):
        header, start = ["path"], 0  # no header: the first column is the path
    else:
        start = 1
    for number, row in enumerate(rows[start:], start=start + 1):
        record: dict[str, Any] = {}
        for name, cell in zip(header, row, strict=False):
            if cell.strip() == "":
                continue
            record[name] = _cell(cell) if name in OPTION_NAMES else cell
        yield _item(record, f"{path}:{number}", base)


def _cell(cell: str) -> Any:
    """A CSV option cell: a number, true/false or JSON where it parses, else the text."""
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        return cell


def _item(record: dict[str, Any], where: str, base: Path) -> Item:
    source_key = next((k for k in SOURCE_KEYS if record.get(k) not in (None, "")), None)
    if source_key is None:
        raise InputError(f"{where}: no path or url (use one of: {', '.join(SOURCE_KEYS[:2])})")
    source = str(record[source_key]).strip()
    options = record.get("options") or {}
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: options is not valid JSON ({exc.msg})") from None
    if not isinstance(options, dict):
        raise InputError(f"{where}: options must be a JSON object")
    options = {**{k: v for k, v in record.items() if k in OPTION_NAMES}, **options}
    kind = record.get("kind") or record.get("type")
    if kind is None and source_key in ("image", "video"):
        kind = source_key
    if kind is not None and kind not in ("image", "video"):
        raise InputError(f"{where}: kind must be image or video, got {kind!r}")
    taken = {source_key, "options", "kind", "type", "prompt", "question", "task", *OPTION_NAMES}
    meta = {k: v for k, v in record.items() if k not in taken}
    prompt = record.get("prompt", record.get("question"))
    task = record.get("task")
    url = is_url(source)
    if url and source.startswith("file://"):
        source, url = unquote(urlparse(source).path), False
    if not url:
        source = str((base / Path(source).expanduser()) if not os.path.isabs(source) else Path(source))
    return Item(
        source=source,
        is_url=url,
        prompt=None if prompt is None else str(prompt),
        task=None if task is None else str(task),
        options=options,
        kind=kind or (kind_from_name(source) if url else None),
        explicit=True,
        meta=meta,
    )
