"""The media work pool: CPU work on threads behind named gates (see media/loader.py's docstring).

Each gate admits `workers` jobs at once; a job's slot is freed when its work really ends (a
cancelled request does not free it while its decode still runs). Semaphores belong to one
event loop, so the gates are rebuilt when the loop changes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from ..threads import keep_torch_threads
from .errors import MediaError

T = TypeVar("T")


class GatedPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gates: dict[str, asyncio.Semaphore] = {}

    def bind_loop(self) -> bool:
        """Bind to the running loop; True when that is a new one (state tied to the old is void)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return False
        self._loop, self._gates = loop, {}
        return True

    def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.shutdown(wait=False, cancel_futures=True)

    def _gate(self, name: str) -> asyncio.Semaphore:
        self.bind_loop()
        gate = self._gates.get(name)
        if gate is None:
            gate = self._gates[name] = asyncio.Semaphore(self.workers)
        return gate

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=2 * self.workers, thread_name_prefix="media", initializer=keep_torch_threads()
            )
        return self._executor

    async def run(self, gate_name: str, work: Callable[[], T]) -> T:
        """Run work on a pool thread once the gate lets it; MemoryError and RecursionError become
        a MediaError (the client's media, too large for this server)."""
        gate = self._gate(gate_name)
        loop = asyncio.get_running_loop()
        await gate.acquire()
        try:
            future = self.executor.submit(work)
        except BaseException:
            gate.release()
            raise
        future.add_done_callback(partial(_release_from_any_thread, loop, gate))
        try:
            return await asyncio.wrap_future(future)
        except MediaError:
            raise
        except (MemoryError, RecursionError):
            raise MediaError("the media is too large to decode on this server") from None


def _release_from_any_thread(loop: asyncio.AbstractEventLoop, gate: asyncio.Semaphore, _: Any) -> None:
    try:
        loop.call_soon_threadsafe(gate.release)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass
