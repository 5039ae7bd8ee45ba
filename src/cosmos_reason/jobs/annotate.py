"""`cosmos-reason annotate`: one chat request per image or video, one JSON line per item.

Exactly once, resumable:

* The **key** of an item's work is sha256 of its content (the URL for URLs) plus its
  prompt, task and options (canonical JSON). A line is *the answer for this item and this
  key*: rerunning skips every item whose (item, key) already has a line. A file whose
  size and mtime match its line is skipped without being read again.
* Another item with the same key (a duplicate file, a moved folder) gets a line copied
  from the first one (``reused_from``), without asking the model again.
* Lines are written as results arrive, each one durable before the next (see journal.py),
  so a crash loses at most the items in flight, which the next run redoes.
* Transient failures are retried with backoff. An item that still fails gets an error
  line with ``"retryable": true`` that the next run removes and redoes; permanent
  failures (a corrupt file: 400) get an error line and stay done. When items keep
  failing in a row the target is down: the run stops (exit 3) instead of marking the
  rest failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clients import Target
from .execution import (Breaker, Progress, RetriesExhausted, RetryPolicy, Summary, TargetDown, in_thread,
                        run_pool, with_retries)
from .inputs import Item, NotRegularFile, check_regular, classify_file, read_bytes, sniff_item
from .journal import Journal, Row
from .rerun import OptionsChanged, changed_items, refusal, row_spec, spec_text
from .work import Work, execute, reused_row

log = logging.getLogger("cosmos_reason.jobs")
_IGNORED, _SKIPPED, _SKIPPED_FAILED = "ignored", "skipped", "skipped-failed"


# ---- keys ---------------------------------------------------------------------


def work_key(content_id: str, spec: str) -> str:
    return hashlib.sha256(f"{content_id}\n{spec}".encode()).hexdigest()


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
        """_SKIPPED / _SKIPPED_FAILED when a line for this file as it is now is there, else None."""
        return _outcome(_digest(item, size, mtime_ns, spec), self.fast, self.failed)

    def is_done(self, item: str, key: str) -> str | None:
        return _outcome(_digest(item, key), self.done, self.failed)


def _outcome(digest: bytes, done: set[bytes], failed: set[bytes]) -> str | None:
    if digest not in done:
        return None
    return _SKIPPED_FAILED if digest in failed else _SKIPPED


def is_ours(row: Row) -> bool:
    """An annotate line: it names its item and its key."""
    return isinstance(row.get("item"), str) and isinstance(row.get("key"), str)


def retryable(row: Row) -> bool:
    error = row.get("error")
    return isinstance(error, dict) and bool(error.get("retryable"))


# ---- the job --------------------------------------------------------------------


@dataclass
class Resolved:
    work: Work
    data: bytes | None = None


class AnnotateJob:
    """Annotate `items` into `out` through `target` (or hand the work to `execute_many`, see ray_runner)."""

    def __init__(self, items: list[Item], out: str | os.PathLike, *, target: Target | None = None,
                 concurrency: int = 4, policy: RetryPolicy | None = None, quiet: bool = False,
                 retry_errors: bool = False, timeout: float | None = None, breaker_limit: int | None = None,
                 sync: bool = True, redo: bool = False) -> None:
        self.items = items
        self.out = out
        self.target = target
        self.concurrency = max(1, concurrency)
        self.policy = policy or RetryPolicy()
        self.quiet = quiet
        self.retry_errors = retry_errors
        self.redo = redo
        self.timeout = timeout
        self.breaker = Breaker(breaker_limit or max(8, 2 * self.concurrency))
        self.sync = sync
        self.summary = Summary(total=len(items))
        self.index = ResultIndex()
        self.journal: Journal | None = None
        self.progress: Progress | None = None
        self.model: str | None = None
        self._inflight: dict[str, asyncio.Future] = {}

    # -- setup shared with the Ray runner

    def open_journal(self) -> Journal:
        def drop(row: Row) -> bool:
            return retryable(row) or (self.retry_errors and row.get("error") is not None)

        self.journal = Journal(self.out, sync=self.sync).open(self.index.add, drop=drop, ours=is_ours)
        j = self.journal
        self._check_rerun()
        if j.truncated_bytes:
            log.warning("%s: cut off a half-written last line (%d bytes); that item is redone", self.out,
                        j.truncated_bytes)
        if j.invalid_lines:
            log.warning("%s: removed %d lines that were not JSON; those items are redone", self.out, j.invalid_lines)
        if j.dropped_lines:
            log.info("%s: %d failed items will be retried", self.out, j.dropped_lines)
        if j.rows:
            log.info("%s: %d lines already there; resuming", self.out, j.rows)
        return j

    def _check_rerun(self) -> None:
        """Refuse (or with redo, make room for) new requests for items the file has other lines for."""
        assert self.journal is not None
        changed = changed_items(self.items, self.index.specs)
        if not changed:
            return
        if not self.redo:
            self.journal.close()
            raise OptionsChanged(refusal(str(self.out), changed))
        keep: dict[str, set[str]] = {}
        for item in self.items:
            if item.source in changed:
                keep.setdefault(item.source, set()).add(spec_text(item.prompt, item.task, item.options))
        self.index = ResultIndex()
        removed = self.journal.remove(lambda row: row.get("item") in keep and row_spec(row) not in keep[row["item"]],
                                      on_row=self.index.add)
        log.info("%s: --redo: removed %d lines of %d items asked with other options", self.out, removed, len(changed))

    async def sniff(self) -> None:
        """Set aside the folder's files that are not media before the bar starts, so that its total
        is right from the first frame (a file without a media extension is read: 4 KiB)."""
        keep = [True] * len(self.items)

        async def one(index: int) -> None:
            keep[index] = await in_thread(sniff_item, self.items[index])

        await run_pool(range(len(self.items)), one, 8)
        media = [item for item, k in zip(self.items, keep) if k]
        self.summary.ignored += len(self.items) - len(media)
        if len(media) < len(self.items):
            log.info("%d of them are not images or videos: ignored", len(self.items) - len(media))
        self.items = media
        self.summary.total = len(media)

    def start_progress(self) -> None:
        self.progress = Progress(len(self.items), quiet=self.quiet, desc="annotate", summary=self.summary)

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

    def count_unfinished(self) -> None:
        """Count an item left for the next run without a line (a duplicate of one that failed retryably)."""
        self.summary.unfinished += 1
        self._advance()

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance()

    # -- resolving an item: skip, ignore, reuse, or work to do

    async def resolve(self, item: Item) -> Resolved | str | None:
        """_SKIPPED / _IGNORED, None when a line was copied, or the Work (and bytes) to run."""
        spec = spec_text(item.prompt, item.task, item.options)
        work = Work(item.source, key="", is_url=item.is_url, kind=item.kind, prompt=item.prompt, task=item.task,
                    options=item.options, meta=item.meta)
        data = None
        if item.is_url:
            work.kind = work.kind or "image"  # a URL without a telling extension or "kind"
            content_id = f"url:{item.source}"
        else:
            try:
                loaded = await in_thread(self._load, item, spec, work)
            except OSError as exc:
                work.read_error = f"cannot read {item.source}: {exc.strerror or exc}"
                loaded = None
            if isinstance(loaded, str):
                return loaded
            data = loaded
            content_id = f"sha256:{work.sha256}" if work.sha256 else f"path:{item.source}"
        work.key = work_key(content_id, spec)
        done = self.index.is_done(item.source, work.key)
        if done is not None:
            return done
        if work.key in self.index.by_key:
            assert self.journal is not None
            self.write(reused_row(self.journal.read_row(self.index.by_key[work.key]), work))
            return None
        return Resolved(work, data)

    def _load(self, item: Item, spec: str, work: Work) -> bytes | str:
        stat = os.stat(item.source)
        try:
            check_regular(stat.st_mode)
        except NotRegularFile:
            if not item.explicit:
                return _IGNORED
            raise
        work.size, work.mtime_ns = stat.st_size, stat.st_mtime_ns
        done = self.index.has_fast(item.source, stat.st_size, stat.st_mtime_ns, spec)
        if done is not None:
            return done
        if work.kind is None:
            work.kind = classify_file(item.source)
        if work.kind is None and not item.explicit:
            return _IGNORED
        data = read_bytes(item.source)
        work.sha256 = hashlib.sha256(data).hexdigest()
        return data

    def count(self, outcome: str) -> None:
        if outcome in (_SKIPPED, _SKIPPED_FAILED):
            self.summary.skipped += 1
            self.summary.failed_before += outcome == _SKIPPED_FAILED
            if self.progress is not None:
                self.progress.skip()
        elif outcome == _IGNORED:
            self.summary.ignored += 1
            if self.progress is not None:
                self.progress.shrink()

    # -- the local run

    async def _one(self, item: Item) -> None:
        resolved = await self.resolve(item)
        if isinstance(resolved, str):
            self.count(resolved)
            return
        if resolved is None:
            return
        work = resolved.work
        while work.key in self._inflight:  # the same content and request is running right now
            original = await asyncio.shield(self._inflight[work.key])
            if original is not None:
                self.write(reused_row(original, work))
                return
        future = asyncio.get_running_loop().create_future()
        self._inflight[work.key] = future
        try:
            assert self.target is not None
            row = await execute(self.target, self.model, self.policy, work, resolved.data, self.timeout)
            row["model"] = row.get("model") or self.model
            self.write(row)
            future.set_result(None if retryable(row) else row)
        finally:
            if not future.done():
                future.set_result(None)
            self._inflight.pop(work.key, None)
        if retryable(row):
            self.breaker.failure(row["error"]["message"])
        else:
            self.breaker.success()

    async def run(self) -> Summary:
        """Annotate everything not done yet. Sets summary.interrupted / summary.stopped."""
        assert self.target is not None
        self.open_journal()
        try:
            self.model, _ = await with_retries(self.target.model_id, self.policy, what="GET /v1/models")
            await self.sniff()
            self.start_progress()
            await run_pool(self.items, self._one, self.concurrency)
        except TargetDown as exc:
            self.summary.stopped = str(exc)
        except RetriesExhausted as exc:
            self.summary.stopped = f"{self.target.description}: {exc}"
        except asyncio.CancelledError:
            self.summary.interrupted = True
            raise
        finally:
            self.close()
        return self.summary

    def close(self) -> None:
        """Close the progress bar and the journal, whichever are open (the Ray runner's end too)."""
        if self.progress is not None:
            self.progress.close()
        if self.journal is not None:
            self.journal.close()


def run_job(job: AnnotateJob, main: Callable[[], Any]) -> Summary:
    """Run `main()` (a coroutine factory) under asyncio; Ctrl-C and SIGTERM end it cleanly."""
    import signal

    async def guarded() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
        await main()

    try:
        asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        job.summary.interrupted = True
    return job.summary
