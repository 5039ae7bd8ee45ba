"""`cosmos-reason annotate`: one chat request per image or video, one JSON line per item.
Options, line format and guarantees: docs/jobs.md.

:class:`AnnotateJob` resolves each item (skip it, ignore it, copy the line of a duplicate, or
read and hash it) and runs the rest; annotate_output.py writes the lines and keeps the tally.
The **key** of an item's work is sha256 of its content (the URL for URLs) plus its prompt,
task and options: a line is *the answer for this item and this key*, so a rerun skips every
(item, key) that has a line, and a file whose size and mtime match its line is not read again.
Another item with the same key gets a copy of the first one's line (``reused_from``). An item
that still fails after retries gets a ``retryable`` error line that the next run redoes; when
items keep failing in a row the target is down and the run stops (exit 3).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..recipes.recipe import UnknownTaskError
from .annotate_output import IGNORED, AnnotateOutput, retryable
from .clients import Target
from .execution import Breaker, RetriesExhausted, RetryPolicy, Summary, TargetDown, in_thread, run_pool, with_retries
from .inputs import Item, NotRegularFile, check_regular, classify_file, read_bytes, sniff_item
from .journal import Journal, Row
from .rerun import spec_text
from .work import Work, execute, reused_row, task_recipe

log = logging.getLogger("cosmos_reason.jobs")


# ---- keys ---------------------------------------------------------------------


def work_key(content_id: str, spec: str) -> str:
    return hashlib.sha256(f"{content_id}\n{spec}".encode()).hexdigest()


# ---- the job --------------------------------------------------------------------


class TaskNotServed(ValueError):
    """--task names no recipe of the served model's family; the message is one line for the user."""


@dataclass
class Resolved:
    work: Work
    data: bytes | None = None


class AnnotateJob:
    """Annotate `items` into `out` through `target`: resolve each item (skip, ignore, copy a duplicate's
    line, or read and hash it), run what is left, and write every line through `output`. The Ray runner
    (ray_runner.py) resolves the same way and runs the rest on Ray."""

    #: The output's class and the progress bar's label (eval.py's job writes its own lines).
    output_class: type[AnnotateOutput] = AnnotateOutput
    progress_desc = "annotate"

    def __init__(
        self,
        items: list[Item],
        out: str | os.PathLike,
        *,
        target: Target | None = None,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        quiet: bool = False,
        retry_errors: bool = False,
        timeout: float | None = None,
        breaker_limit: int | None = None,
        sync: bool = True,
        redo: bool = False,
        task: str | None = None,
    ) -> None:
        self.items = items
        self.task = task  # --task: checked against the served model's recipes before any item runs
        self.out = out
        self.target = target
        self.concurrency = max(1, concurrency)
        self.policy = policy or RetryPolicy()
        self.quiet = quiet
        self.timeout = timeout
        self.breaker = Breaker(breaker_limit or max(8, 2 * self.concurrency))
        self.output = self.output_class(out, total=len(items), sync=sync, retry_errors=retry_errors, redo=redo)
        self.model: str | None = None
        self.family: str | None = None  # the served model's (Target.family), once asked
        self._inflight: dict[str, asyncio.Future] = {}

    @property
    def summary(self) -> Summary:
        """The run's counts (kept by the output)."""
        return self.output.summary

    # -- setup shared with the Ray runner

    def open_journal(self) -> Journal:
        return self.output.open(self.items)

    async def sniff(self) -> None:
        """Set aside the folder's files that are not media before the bar starts, so that its total
        is right from the first frame (a file without a media extension is read: 4 KiB)."""
        keep = [True] * len(self.items)

        async def one(index: int) -> None:
            keep[index] = await in_thread(sniff_item, self.items[index])

        await run_pool(range(len(self.items)), one, 8)
        media = [item for item, k in zip(self.items, keep, strict=False) if k]
        self.summary.ignored += len(self.items) - len(media)
        if len(media) < len(self.items):
            log.info("%d of them are not images or videos: ignored", len(self.items) - len(media))
        self.items = media
        self.summary.total = len(media)

    def start_progress(self) -> None:
        self.output.start_progress(len(self.items), self.quiet, desc=self.progress_desc)

    # -- resolving an item: skip, ignore, reuse, or work to do

    async def resolve(self, item: Item) -> Resolved | str | None:
        """SKIPPED / IGNORED, None when a line was copied, or the Work (and bytes) to run."""
        spec = self.key_spec(item, spec_text(item.prompt, item.task, item.options))
        work = Work(
            item.source,
            key="",
            is_url=item.is_url,
            kind=item.kind,
            prompt=item.prompt,
            task=item.task,
            options=item.options,
            meta=item.meta,
            family=self.family,
        )
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
        done = self.output.index.is_done(item.source, work.key)
        if done is not None:
            return done
        if work.key in self.output.index.by_key:
            self.output.reuse(work.key, work)
            return None
        return Resolved(work, data)

    def key_spec(self, item: Item, spec: str) -> str:
        """What the key (and the size-and-mtime skip) knows an item's request by: its spec. eval
        adds to it when one question is asked twice of one clip, so that each has its own line."""
        return spec

    def _load(self, item: Item, spec: str, work: Work) -> bytes | str:
        stat = os.stat(item.source)
        try:
            check_regular(stat.st_mode)
        except NotRegularFile:
            if not item.explicit:
                return IGNORED
            raise
        work.size, work.mtime_ns = stat.st_size, stat.st_mtime_ns
        done = self.output.index.has_fast(item.source, stat.st_size, stat.st_mtime_ns, spec)
        if done is not None:
            return done
        if work.kind is None:
            work.kind = classify_file(item.source)
        if work.kind is None and not item.explicit:
            return IGNORED
        data = read_bytes(item.source)
        work.sha256 = hashlib.sha256(data).hexdigest()
        return data

    # -- the local run

    async def _one(self, item: Item) -> None:
        resolved = await self.resolve(item)
        if isinstance(resolved, str):
            self.output.count(resolved)
            return
        if resolved is None:
            return
        work = resolved.work
        while work.key in self._inflight:  # the same content and request is running right now
            original = await asyncio.shield(self._inflight[work.key])
            if original is not None:
                self.output.write(reused_row(original, work))
                return
        future = asyncio.get_running_loop().create_future()
        self._inflight[work.key] = future
        try:
            row = await self.run_work(work, resolved.data)
            row["model"] = row.get("model") or self.model
            self.output.write(row)
            future.set_result(None if retryable(row) else row)
        finally:
            if not future.done():
                future.set_result(None)
            self._inflight.pop(work.key, None)
        if retryable(row):
            self.breaker.failure(row["error"]["message"])
        else:
            self.breaker.success()

    async def run_work(self, work: Work, data: bytes | None) -> Row:
        """One item's line from the target (eval.py asks again when the answer is empty)."""
        assert self.target is not None
        return await execute(self.target, self.model, self.policy, work, data, self.timeout)

    async def run(self) -> Summary:
        """Annotate everything not done yet. Sets summary.interrupted / summary.stopped."""
        assert self.target is not None
        self.open_journal()
        try:
            self.model, _ = await with_retries(self.target.model_id, self.policy, what="GET /v1/models")
            self.family = self.target.family
            self.check_task()
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

    def check_task(self) -> None:
        """Raise UnknownTaskError, naming the served model and its tasks, when the --task every item is
        asked is not one of its family's recipes (Cosmos-Reason2 has fewer than Reason1)."""
        if not self.task:
            return
        try:
            task_recipe(self.task, self.family)
        except UnknownTaskError as exc:
            raise TaskNotServed(
                f"--task: {self.target.description if self.target else self.model} serves a "
                f"{self.family or 'reason1'} model: {exc}"
            ) from None

    def close(self) -> None:
        """Close the progress bar and the journal, whichever are open (the Ray runner's end too)."""
        self.output.close()


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
