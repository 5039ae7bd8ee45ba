"""The output file of `cosmos-reason annotate` as one run sees it: what it already holds
(:class:`ResultIndex`, compact digests of its lines) and :class:`AnnotateOutput`, which opens it
(repair, the rerun check: rerun.py), writes each line and keeps the run's counts and progress bar.

The guarantees (exactly once, resumable) are described in annotate.py; the format in docs/jobs.md.
"""

from __future__ import annotations

import hashlib
import logging
import os

from .execution import Progress, Summary
from .inputs import Item
from .journal import Journal, Row
from .rerun import OptionsChanged, changed_items, refusal, row_spec, spec_text
from .work import Work, reused_row

log = logging.getLogger("cosmos_reason.jobs")
# What resolving an item can come to instead of work to do (AnnotateJob.resolve, AnnotateOutput.count).
IGNORED, SKIPPED, SKIPPED_FAILED = "ignored", "skipped", "skipped-failed"


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("\0".join(map(str, parts)).encode(), digest_size=16).digest()


class ResultIndex:
    """What the output already holds, in compact digests (about 100 bytes a line)."""

    def __init__(self) -> None:
        self.fast: set[bytes] = set()  # (item, size, mtime_ns, spec): skip without reading
        self.done: set[bytes] = set()  # (item, key)
        self.by_key: dict[str, int] = {}  # key -> offset of a line to copy for duplicates
        self.failed: set[bytes] = set()  # the fast and done digests of error lines
        self.specs: dict[str, set[str]] = {}  # item -> the specs it was asked with (see rerun.py)
        self._pool: dict[str, str] = {}  # one copy of each spec text

    def add(self, offset: int, row: Row) -> None:
        key, item = row.get("key"), row.get("item")
        if not key or item is None:
            return
        digests = [_digest(item, key)]
        self.done.add(digests[0])
        self.by_key.setdefault(key, offset)
        spec = row_spec(row)
        self.specs.setdefault(item, set()).add(self._pool.setdefault(spec, spec))
        if row.get("size") is not None and row.get("mtime_ns") is not None:
            digests.append(_digest(item, row["size"], row["mtime_ns"], spec))
            self.fast.add(digests[-1])
        if row.get("error") is not None:
            self.failed.update(digests)

    def has_fast(self, item: str, size: int, mtime_ns: int, spec: str) -> str | None:
        """SKIPPED / SKIPPED_FAILED when a line for this file as it is now is there, else None."""
        return _outcome(_digest(item, size, mtime_ns, spec), self.fast, self.failed)

    def is_done(self, item: str, key: str) -> str | None:
        return _outcome(_digest(item, key), self.done, self.failed)


def _outcome(digest: bytes, done: set[bytes], failed: set[bytes]) -> str | None:
    if digest not in done:
        return None
    return SKIPPED_FAILED if digest in failed else SKIPPED


def is_ours(row: Row) -> bool:
    """An annotate line: it names its item and its key."""
    return isinstance(row.get("item"), str) and isinstance(row.get("key"), str)


def retryable(row: Row) -> bool:
    error = row.get("error")
    return isinstance(error, dict) and bool(error.get("retryable"))


class AnnotateOutput:
    """One run's output file and tally: the journal, the index of its lines, the summary and the
    progress bar. Every line of a run, local or on Ray (the driver), is written here."""

    def __init__(
        self, out: str | os.PathLike, *, total: int, sync: bool = True, retry_errors: bool = False, redo: bool = False
    ) -> None:
        self.out = out
        self.sync = sync
        self.retry_errors = retry_errors
        self.redo = redo
        self.summary = Summary(total=total)
        self.index = ResultIndex()
        self.journal: Journal | None = None
        self.progress: Progress | None = None

    def open(self, items: list[Item]) -> Journal:
        """Open the file (lock, repair, index); refuse, or with redo make room for, other options for `items`."""

        def drop(row: Row) -> bool:
            return retryable(row) or (self.retry_errors and row.get("error") is not None)

        self.journal = Journal(self.out, sync=self.sync).open(self.index.add, drop=drop, ours=is_ours)
        j = self.journal
        self._check_rerun(items)
        if j.truncated_bytes:
            log.warning(
                "%s: cut off a half-written last line (%d bytes); that item is redone", self.out, j.truncated_bytes
            )
        if j.invalid_lines:
            log.warning("%s: removed %d lines that were not JSON; those items are redone", self.out, j.invalid_lines)
        if j.dropped_lines:
            log.info("%s: %d failed items will be retried", self.out, j.dropped_lines)
        if j.rows:
            log.info("%s: %d lines already there; resuming", self.out, j.rows)
        return j

    def _check_rerun(self, items: list[Item]) -> None:
        """Refuse (or with redo, make room for) new requests for items the file has other lines for."""
        assert self.journal is not None
        changed = changed_items(items, self.index.specs)
        if not changed:
            return
        if not self.redo:
            self.journal.close()
            raise OptionsChanged(refusal(str(self.out), changed))
        keep: dict[str, set[str]] = {}
        for item in items:
            if item.source in changed:
                keep.setdefault(item.source, set()).add(spec_text(item.prompt, item.task, item.options))
        self.index = ResultIndex()
        removed = self.journal.remove(
            lambda row: row.get("item") in keep and row_spec(row) not in keep[row["item"]], on_row=self.index.add
        )
        log.info("%s: --redo: removed %d lines of %d items asked with other options", self.out, removed, len(changed))

    def start_progress(self, total: int, quiet: bool, desc: str = "annotate") -> None:
        self.progress = Progress(total, quiet=quiet, desc=desc, summary=self.summary)

    def write(self, row: Row) -> None:
        assert self.journal is not None
        offset = self.journal.append(row)
        if not retryable(row):
            self.index.add(offset, row)
        if retryable(row):
            self.summary.unfinished += 1
        elif row.get("error"):
            self.summary.failed += 1
        elif row.get("reused_from") is not None:
            self.summary.reused += 1
        else:
            self.summary.done += 1
            self.summary.add_usage(row.get("usage"))
        self._advance()

    def reuse(self, key: str, work: Work) -> None:
        """Write `work`'s line as a copy of the line the file holds for `key` (see work.reused_row)."""
        assert self.journal is not None
        self.write(reused_row(self.journal.read_row(self.index.by_key[key]), work))

    def count(self, outcome: str) -> None:
        """Count an item that gets no line this run: SKIPPED / SKIPPED_FAILED (it has one) or IGNORED."""
        if outcome in (SKIPPED, SKIPPED_FAILED):
            self.summary.skipped += 1
            self.summary.failed_before += outcome == SKIPPED_FAILED
            if self.progress is not None:
                self.progress.skip()
        elif outcome == IGNORED:
            self.summary.ignored += 1
            if self.progress is not None:
                self.progress.shrink()

    def count_unfinished(self) -> None:
        """Count an item left for the next run without a line (a duplicate of one that failed retryably)."""
        self.summary.unfinished += 1
        self._advance()

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance()

    def close(self) -> None:
        """Close the progress bar and the journal, whichever are open."""
        if self.progress is not None:
            self.progress.close()
        if self.journal is not None:
            self.journal.close()
