"""An append-only JSONL results file that survives kill -9, Ctrl-C and power loss.

* One writer at a time: the file is locked (``flock``) while a job has it open; a
  second job on the same file stops with a message instead of interleaving lines.
* Each line is written whole with one ``write`` on an ``O_APPEND`` descriptor, then
  ``fdatasync``: when :meth:`Journal.append` returns, the line is on disk.
* On open, a last line without its newline (the process died mid-write) is cut off,
  so that item is redone; any line the caller asks to drop (e.g. a retryable failure)
  is removed by rewriting the file to a temporary one and renaming it over the original
  (atomic). Every remaining line is handed to the caller with its byte offset, from
  which :meth:`read_row` reads it back.
* A line the job did not write (not JSON, or JSON without the job's fields: ``ours``)
  is never removed nor kept silently: the open fails with :class:`ForeignLines`, naming
  the line, and the file is left as it was. It is most likely the wrong ``--out``
  (a manifest, another job's results), whose lines are not ours to delete.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = dict[str, Any]


class JournalLocked(RuntimeError):
    pass


class ForeignLines(RuntimeError):
    """The file holds lines this job did not write; nothing was changed."""


def dumps(row: Row) -> bytes:
    """One JSON line (no raw newline can appear inside: json escapes them)."""
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class Journal:
    def __init__(self, path: str | os.PathLike, *, sync: bool = True) -> None:
        self.path = Path(path)
        self.sync = sync
        self._fd: int | None = None
        self._reader = None
        self._size = 0
        self.truncated_bytes = 0  # a half-written last line that was cut off on open
        self.invalid_lines = 0  # lines that were not JSON objects, removed on open
        self.dropped_lines = 0  # lines the caller's drop() removed on open
        self.rows = 0  # lines kept on open, plus lines appended since

    # ---- opening -----------------------------------------------------------------

    def open(
        self,
        on_row: Callable[[int, Row], None] | None = None,
        drop: Callable[[Row], bool] | None = None,
        ours: Callable[[Row], bool] | None = None,
    ) -> Journal:
        """Lock, repair and index the file (created if missing); returns self. With `ours`, a line
        that is not JSON or not ours raises ForeignLines (without `ours` such lines are removed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = self._open_locked()
        if created:
            _fsync_dir(self.path.parent)
        removed: set[int] = set()
        kept_offset = 0
        partial_at: int | None = None
        offset = number = 0
        foreign: list[tuple[int, bytes]] = []
        with open(self.path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    if ours is not None and not raw.lstrip().startswith(b"{"):
                        foreign.append((number + 1, raw))  # not a line of ours cut short
                    partial_at, self.truncated_bytes = offset, len(raw)
                    break
                row = _parse(raw)
                if ours is not None and (row is None or not ours(row)):
                    foreign.append((number + 1, raw))
                elif row is None:
                    self.invalid_lines += 1
                    removed.add(number)
                elif drop is not None and drop(row):
                    self.dropped_lines += 1
                    removed.add(number)
                else:
                    if on_row is not None:
                        on_row(kept_offset, row)
                    kept_offset += len(raw)
                    self.rows += 1
                offset += len(raw)
                number += 1
        if foreign:
            self.close()
            line, raw = foreign[0]
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            text = raw.decode("utf-8", "replace").strip()[:60]
            raise ForeignLines(
                f"{self.path}:{line}: a line this job did not write ({text!r}{more}); is this the "
                f"right output file? Nothing was changed: move those lines elsewhere or choose "
                f"another output file"
            )
        if removed:
            self._rewrite(removed)
        elif partial_at is not None:
            os.ftruncate(self._fd, partial_at)
            os.fsync(self._fd)
        self._size = kept_offset
        return self

    def _open_locked(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalLocked(
                f"{self.path} is being written by another job; wait for it or pick another --out"
            ) from None
        return fd

    def _rewrite(self, removed: set[int]) -> None:
        """Keep every complete line whose number is not in `removed`, atomically."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for number, raw in enumerate(src):
                if not raw.endswith(b"\n"):
                    break
                if number not in removed:
                    dst.write(raw)
            dst.flush()
            os.fsync(dst.fileno())
        old = self._fd
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._fd = self._open_locked()
        os.close(old)

    def remove(self, drop: Callable[[Row], bool], on_row: Callable[[int, Row], None] | None = None) -> int:
        """Remove the lines drop() picks, atomically (as on open); on_row gets every kept line with
        its new offset. Returns how many lines went."""
        removed: set[int] = set()
        kept_offset = 0
        with open(self.path, "rb") as f:  # open() left only whole JSON-object lines
            for number, raw in enumerate(f):
                row = _parse(raw)
                if row is not None and drop(row):
                    removed.add(number)
                    continue
                if row is not None and on_row is not None:
                    on_row(kept_offset, row)
                kept_offset += len(raw)
        if removed:
            if self._reader is not None:  # offsets change: read the new file
                self._reader.close()
                self._reader = None
            self._rewrite(removed)
        self._size = kept_offset
        self.rows -= len(removed)
        return len(removed)

    # ---- writing and reading -----------------------------------------------------

    def append(self, row: Row) -> int:
        """Write one line and return its offset once it is durable."""
        if self._fd is None:
            raise RuntimeError("journal is not open")
        data = dumps(row)
        offset = self._size
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if self.sync:
            os.fdatasync(self._fd)
        self._size += len(data)
        self.rows += 1
        return offset

    def read_row(self, offset: int) -> Row:
        if self._reader is None:
            self._reader = open(self.path, "rb")  # noqa: SIM115 - kept open for the job
        self._reader.seek(offset)
        row = _parse(self._reader.readline())
        if row is None:
            raise ValueError(f"{self.path}: no JSON line at offset {offset}")
        return row

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(raw: bytes) -> Row | None:
    try:
        row = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
