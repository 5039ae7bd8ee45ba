"""The in-process transformers engine (`--engine hf`), with continuous batching.

The event loop side: preprocess a request's conversation with the checkpoint's
processor on a small worker pool, check it fits the context, hand it to the
scheduler thread, and relay its deltas. Closing the delta iterator (a client
that went away) aborts the request within one decode step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...settings import Settings
from ...threads import keep_torch_threads
from ..base import (
    Delta,
    EngineError,
    EngineStats,
    GenerationRequest,
    MaxTokensTooLargeError,
    ModelInfo,
    NextTokenScores,
    PromptTooLongError,
)
from .grammar import Grammars
from .inputs import build_inputs
from .loading import LoadedModel
from .runner import ModelRunner
from .scheduler import Scheduler
from .sequence import DONE, Group

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BatchingLimits:
    """Defaults: the server's (Settings, the `serve` flags), written there only."""

    max_num_seqs: int = Settings.max_num_seqs  # rows decoded together
    max_queued_requests: int = Settings.max_queued_requests  # waiting for a slot; more get 429
    max_prefill_tokens: int = Settings.max_prefill_tokens  # prefill work between two decode steps
    preprocess_workers: int = 2


class HFEngine:
    def __init__(self, loaded: LoadedModel, limits: BatchingLimits | None = None) -> None:
        self.limits = limits or BatchingLimits()
        self.model = loaded.model
        self.processor = loaded.processor
        self.tokenizer = loaded.processor.tokenizer
        self._info = _model_info(loaded)
        self._build_inputs = functools.partial(build_inputs, self.processor, family=loaded.family)
        self._eos_ids = frozenset(_eos_ids(self.model))
        self._preprocess = ThreadPoolExecutor(
            self.limits.preprocess_workers, thread_name_prefix="preprocess", initializer=keep_torch_threads()
        )
        self._groups: dict[str, Group] = {}
        self._grammars = Grammars(self.tokenizer, self._info.vocab_size or len(self.tokenizer))
        self.scheduler = Scheduler(
            ModelRunner(self.model),
            self.limits.max_num_seqs,
            self.limits.max_queued_requests,
            self.limits.max_prefill_tokens,
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def stats(self) -> EngineStats:
        return self.scheduler.stats()

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        loop = asyncio.get_running_loop()
        inputs = await loop.run_in_executor(self._preprocess, self._build_inputs, request.conversation)
        group = self._group(request, inputs, loop)
        if request.sampling.constraint is not None:  # compiled once per constraint, off the event loop
            group.grammar = await loop.run_in_executor(
                self._preprocess, self._grammars.compile, request.sampling.constraint
            )
        self.scheduler.submit(group)
        self._groups[request.request_id] = group
        finished = False
        try:
            while True:
                item = await group.queue.get()
                if item is DONE:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._groups.pop(request.request_id, None)
            if not finished:
                group.aborted.set()
                self.scheduler.wake()

    async def next_token_logprobs(self, request: GenerationRequest, candidates: tuple[str, ...]) -> NextTokenScores:
        loop = asyncio.get_running_loop()
        inputs = await loop.run_in_executor(self._preprocess, self._build_inputs, request.conversation)
        group = self._group(request, inputs, loop)
        group.score_ids = tuple(self._first_token(c) for c in candidates)
        self.scheduler.submit(group)
        values: list[float] = []
        while (item := await group.queue.get()) is not DONE:
            if isinstance(item, BaseException):
                raise item
            values = item
        return NextTokenScores(dict(zip(candidates, values, strict=False)), group.prompt_tokens)

    def _first_token(self, text: str) -> int:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if not ids:
            raise ValueError(f"candidate {text!r} has no tokens")
        return ids[0]

    def _group(self, request: GenerationRequest, inputs: Any, loop: asyncio.AbstractEventLoop) -> Group:
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self._info.context_length - prompt_tokens
        if room < 1:
            raise PromptTooLongError(prompt_tokens, self._info.context_length)
        if request.sampling.strict_max_tokens and request.sampling.max_tokens > room:
            raise MaxTokensTooLargeError(request.sampling.max_tokens, prompt_tokens, self._info.context_length)
        if request.sampling.n > self.limits.max_num_seqs:
            raise EngineError(f"n={request.sampling.n} exceeds the engine's {self.limits.max_num_seqs} sequences")
        sampling = dataclasses.replace(request.sampling, max_tokens=min(request.sampling.max_tokens, room))
        queue: asyncio.Queue = asyncio.Queue()
        group = Group(
            request_id=request.request_id,
            inputs=inputs,
            sampling=sampling,
            emit=lambda item: loop.call_soon_threadsafe(queue.put_nowait, item),
            eos_ids=frozenset() if sampling.ignore_eos else self._eos_ids,
            decode=self._decode,
            token_text=self._token_text,
            prompt_tokens=prompt_tokens,
        )
        group.queue = queue
        return group

    async def abort(self, request_id: str) -> None:
        group = self._groups.get(request_id)
        if group is not None:
            group.aborted.set()
            self.scheduler.wake()

    async def check_health(self) -> None:
        if not self.scheduler.alive:
            raise EngineError("engine loop is not running")

    async def shutdown(self) -> None:
        await asyncio.to_thread(self.scheduler.stop)  # waits for the step in progress
        self._preprocess.shutdown(wait=False, cancel_futures=True)

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _token_text(self, token: int) -> str:
        return self.tokenizer.decode([token])


def create_hf_engine(settings) -> HFEngine:
    from .loading import load_model

    loaded = load_model(settings.model, dtype=settings.dtype, device=settings.device)
    return HFEngine(
        loaded, BatchingLimits(settings.max_num_seqs, settings.max_queued_requests, settings.max_prefill_tokens)
    )


def _eos_ids(model: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = model.config.get_text_config().eos_token_id
    return set(eos if isinstance(eos, list) else [eos])


def _model_info(loaded: LoadedModel) -> ModelInfo:
    text_config = loaded.model.config.get_text_config()
    marker = loaded.demo_marker
    description = (
        "DEMO checkpoint with RANDOM weights: its answers are meaningless; use it to try the server, not the model."
        if marker
        else f"{loaded.family.title} checkpoint"
    )
    return ModelInfo(
        source=loaded.source,
        context_length=int(text_config.max_position_embeddings),
        random_weights=bool(marker),
        vocab_size=int(text_config.vocab_size),
        description=description,
        family=loaded.family,
    )
