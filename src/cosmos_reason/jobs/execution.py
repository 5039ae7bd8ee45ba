"""The machinery every job shares: retries with backoff, a bounded worker pool, a
circuit breaker for a target that is down, progress, and the closing summary."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .clients import TransientError

log = logging.getLogger("cosmos_reason.jobs")
T = TypeVar("T")


# ---- retries ------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: try `attempts` times in all, waiting
    up to base * 2**k seconds (at most `cap`) before try k + 1; a Retry-After wins when longer."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        backoff = min(self.cap, self.base * 2**attempt)
        wait = random.uniform(backoff / 2, backoff)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap))
        return wait


class RetriesExhausted(Exception):
    def __init__(self, last: TransientError, attempts: int) -> None:
        super().__init__(f"{last} (gave up after {attempts} attempts)")
        self.last = last
        self.attempts = attempts


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str = "") -> tuple[T, int]:
    """(result, attempts). TransientError is retried; anything else propagates at once."""
    for attempt in range(policy.attempts):
        try:
            return await call(), attempt + 1
        except TransientError as exc:
            if attempt + 1 >= policy.attempts:
                raise RetriesExhausted(exc, attempt + 1) from None
            wait = policy.delay(attempt, exc.retry_after)
            log.debug("%s: %s; retry %d in %.1fs", what, exc, attempt + 1, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


class TargetDown(RuntimeError):
    """Too many items in a row failed even after retries: stop instead of burning the list."""


class Breaker:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.streak = 0
        self.last: str = ""

    def success(self) -> None:
        self.streak = 0

    def failure(self, message: str) -> None:
        self.streak += 1
        self.last = message
        if self.streak >= self.limit:
            raise TargetDown(f"{self.streak} items in a row failed after all retries (last: {message})")


# ---- blocking calls --------------------------------------------------------------


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in a daemon thread. Unlike asyncio.to_thread, a call that never returns (a read
    on a hung mount) cannot hold up Ctrl-C or SIGTERM: nothing waits for the thread at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(result)

    def run() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is gone: the job was interrupted meanwhile
            pass

    threading.Thread(target=run, name="cosmos-reason-io", daemon=True).start()
    return await future


# ---- worker pool ---------------------------------------------------------------


async def run_pool(items: Iterable[T], worker: Callable[[T], Awaitable[None]], concurrency: int) -> None:
    """Run worker(item) for every item, at most `concurrency` at once; the first error
    cancels the rest and propagates."""
    iterator = iter(items)

    async def lane() -> None:
        for item in iterator:  # shared: each next() hands out a different item
            await worker(item)

    tasks = [asyncio.ensure_future(lane()) for _ in range(max(1, concurrency))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ---- progress and summary ------------------------------------------------------


@dataclass
class Summary:
    total: int = 0
    done: int = 0  # new lines with an answer
    skipped: int = 0  # already in the output
    reused: int = 0  # same content and request as a line already written: copied, not rerun
    failed: int = 0  # new error lines (recorded; the run goes on)
    failed_before: int = 0  # skipped because an earlier run recorded an error line for them
    unfinished: int = 0  # gave up after retries: no line, redone by the next run
    ignored: int = 0  # not an image or video (folder and glob inputs only)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    interrupted: bool = False
    stopped: str | None = None  # why the run stopped early

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def add_usage(self, usage: dict[str, Any] | None) -> None:
        if usage:
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "reused": self.reused,
            "failed": self.failed,
            "failed_before": self.failed_before,
            "unfinished": self.unfinished,
            "ignored": self.ignored,
            "error_lines": self.error_lines,
            "seconds": round(self.seconds, 3),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "interrupted": self.interrupted,
            "stopped": self.stopped,
        }

    @property
    def error_lines(self) -> int:
        """Items of this run whose line in the output is an error, new or from an earlier run."""
        return self.failed + self.failed_before

    def text(self, what: str = "items") -> str:
        rate = (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"{self.done} done, {self.skipped} skipped (already done), {self.reused} reused, "
            f"{self.failed} failed (recorded), {self.unfinished} unfinished, {self.ignored} ignored "
            f"of {self.total} {what}",
            f"{_clock(self.seconds)} ({rate:.2f} {what}/s), tokens: {self.prompt_tokens} prompt + "
            f"{self.completion_tokens} completion",
        ]
        if self.interrupted:
            lines.append("interrupted: rerun the same command to finish")
        if self.stopped:
            lines.append(f"stopped early: {self.stopped}; rerun the same command to resume")
        elif self.unfinished:
            lines.append(f"{self.unfinished} {what} gave up after retries: rerun the same command to retry them")
        if self.error_lines:
            earlier = f" ({self.failed_before} from an earlier run)" if self.failed_before else ""
            lines.append(
                f"{what} with an error line in the output: {self.error_lines}{earlier}; see their "
                f'"error", and rerun with --retry-errors to redo them'
            )
        return "\n".join(lines)

    def exit_code(self) -> int:
        """130 interrupted; 3 a rerun is needed (unfinished items, stopped early); 4 every item has its
        line but some lines are errors; 0 every line is an answer."""
        if self.interrupted:
            return 130
        if self.unfinished or self.stopped:
            return 3
        return 4 if self.error_lines else 0


class Progress:
    """A tqdm bar on stderr (done/total, rate, ETA), or with quiet=True a log line every `every` s."""

    def __init__(
        self,
        total: int,
        *,
        quiet: bool = False,
        desc: str = "annotate",
        unit: str = "item",
        summary: Summary | None = None,
        every: float = 10.0,
    ) -> None:
        self.summary = summary
        self.quiet = quiet
        self.total = total
        self.count = 0
        self.skipped = 0  # done by an earlier run: moved the bar, not the rate
        self.every = every
        self._last_log = time.monotonic()
        self._started = time.monotonic()
        self._desc = desc
        self._bar = None
        if not quiet:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr, smoothing=0.05, mininterval=0.5
            )

    def advance(self) -> None:
        self.count += 1
        if self._bar is not None:
            if self.summary is not None:
                failed = self.summary.failed + self.summary.unfinished
                if failed:
                    self._bar.set_postfix_str(f"failed={failed}", refresh=False)
            self._bar.update(1)
        elif time.monotonic() - self._last_log >= self.every:
            self._log()

    def skip(self) -> None:
        """An item an earlier run did: it moves the bar (as tqdm's `initial`) but not the rate or ETA."""
        self.count += 1
        self.skipped += 1
        if self._bar is not None:
            self._bar.initial += 1
            self._bar.n += 1
            self._bar.last_print_n += 1  # tqdm's rate counts n - last_print_n: keep the skip out of it
            now = time.monotonic()
            if now - self._last_log >= 0.5:
                self._last_log = now
                self._bar.refresh()
        elif time.monotonic() - self._last_log >= self.every:
            self._log()

    def shrink(self) -> None:
        """One item less than announced (a file that turned out not to be media)."""
        self.total -= 1
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def _log(self) -> None:
        self._last_log = time.monotonic()
        elapsed = self._last_log - self._started
        rate = (self.count - self.skipped) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else float("nan")
        failed = (self.summary.failed + self.summary.unfinished) if self.summary else 0
        log.info(
            "%s: %d/%d (%d failed), %.2f/s, ETA %s",
            self._desc,
            self.count,
            self.total,
            failed,
            rate,
            "?" if math.isnan(eta) else _clock(eta),
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.quiet:
            self._log()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
