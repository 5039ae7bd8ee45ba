"""The in-process transformers engine (`--engine hf`).

Model calls run on one worker thread, never on the event loop. Each step's new
tokens are read by a stopping criterion that also detokenizes, applies stop
strings and checks for aborts, so a client disconnect stops the model within
one decode step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from .base import Delta, EngineError, GenerationRequest, ModelInfo, PromptTooLongError, SamplingParams
from .detokenize import IncrementalDetokenizer, StopMatcher
from .hf_inputs import build_inputs
from .loading import LoadedModel

log = logging.getLogger(__name__)

_DONE = object()


class _Choice:
    """Per-sequence state: its text pipeline and whether it has finished."""

    def __init__(self, decode, stops: tuple[str, ...]) -> None:
        self.detok = IncrementalDetokenizer(decode)
        self.stops = StopMatcher(stops)
        self.tokens = 0
        self.finish: str | None = None


class _Tap(StoppingCriteria):
    """Sees every generated token right after it is chosen; emits deltas."""

    def __init__(self, rows: int, fanout: int, prompt_tokens: int, eos_ids: set[int], decode, stops, emit, aborted):
        self.choices = [_Choice(decode, stops) for _ in range(rows)]
        self.fanout = fanout  # greedy n>1: one sequence, reported as n identical choices
        self.prompt_tokens = prompt_tokens
        self.eos_ids = eos_ids
        self.emit = emit
        self.aborted = aborted

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        for row, token in enumerate(input_ids[:, -1].tolist()):
            self._advance(row, token)
        if self.aborted.is_set():
            for row in range(len(self.choices)):
                self._finish(row, "abort")
        return torch.tensor([c.finish is not None for c in self.choices], device=input_ids.device)

    def close(self) -> None:
        """Generation returned: whatever is still open ran out of tokens."""
        reason = "abort" if self.aborted.is_set() else "length"
        for row in range(len(self.choices)):
            self._finish(row, reason)

    def _advance(self, row: int, token: int) -> None:
        choice = self.choices[row]
        if choice.finish is not None:
            return
        choice.tokens += 1
        if token in self.eos_ids:
            self._finish(row, "stop")
            return
        text = choice.stops.push(choice.detok.push(token))
        if choice.stops.stopped:
            self._send(row, text, "stop")
            choice.finish = "stop"
        elif text:
            self._send(row, text, None)

    def _finish(self, row: int, reason: str) -> None:
        choice = self.choices[row]
        if choice.finish is None:
            choice.finish = reason
            text = choice.stops.push(choice.detok.flush())
            self._send(row, text + choice.stops.flush(), "stop" if choice.stops.stopped else reason)

    def _send(self, row: int, text: str, finish: str | None) -> None:
        tokens = self.choices[row].tokens
        for k in range(self.fanout):
            self.emit(Delta(row * self.fanout + k, text, self.prompt_tokens, tokens, finish))


class HFEngine:
    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.processor = loaded.processor
        self.tokenizer = loaded.processor.tokenizer
        self._info = _model_info(loaded)
        self._eos_ids = _eos_ids(self.model)
        self._pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self._eos_ids)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-engine")
        self._aborts: dict[str, threading.Event] = {}

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        aborted = threading.Event()
        self._aborts[request.request_id] = aborted

        def emit(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        future = loop.run_in_executor(self._worker, self._run, request, emit, aborted)
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
            finished = True
            await future
        finally:
            if not finished:
                aborted.set()
            self._aborts.pop(request.request_id, None)

    async def abort(self, request_id: str) -> None:
        event = self._aborts.get(request_id)
        if event is not None:
            event.set()

    async def check_health(self) -> None:
        if self._worker._shutdown:  # noqa: SLF001 - the executor has no public flag
            raise EngineError("engine is shut down")

    async def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    # ---- worker thread -------------------------------------------------------

    def _run(self, request: GenerationRequest, emit, aborted: threading.Event) -> None:
        try:
            if not aborted.is_set():
                self._generate(request, emit, aborted)
        except BaseException as exc:  # handed to the event loop, raised in the client's task
            emit(exc if isinstance(exc, (PromptTooLongError, EngineError)) else _engine_error(exc))
        finally:
            emit(_DONE)

    def _generate(self, request: GenerationRequest, emit, aborted: threading.Event) -> None:
        sampling = request.sampling
        inputs = build_inputs(self.processor, request.conversation)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self._info.context_length - prompt_tokens
        if room < 1:
            raise PromptTooLongError(prompt_tokens, self._info.context_length)
        rows = 1 if sampling.greedy else sampling.n
        tap = _Tap(
            rows=rows,
            fanout=sampling.n // rows,
            prompt_tokens=prompt_tokens,
            eos_ids=set() if sampling.ignore_eos else self._eos_ids,
            decode=self._decode,
            stops=sampling.stop,
            emit=emit,
            aborted=aborted,
        )
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            self.model.generate(
                **inputs.to(self.model.device),
                generation_config=self._generation_config(sampling, rows, min(sampling.max_tokens, room)),
                stopping_criteria=StoppingCriteriaList([tap]),
            )
        tap.close()

    def _decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _generation_config(self, sampling: SamplingParams, rows: int, max_new_tokens: int) -> GenerationConfig:
        common = dict(
            max_new_tokens=max_new_tokens,
            eos_token_id=None if sampling.ignore_eos else sorted(self._eos_ids),
            pad_token_id=self._pad_id,
            repetition_penalty=sampling.repetition_penalty,
        )
        if sampling.greedy:
            return GenerationConfig(do_sample=False, **common)
        return GenerationConfig(
            do_sample=True,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else 0,
            num_return_sequences=rows,
            **common,
        )


def _engine_error(exc: BaseException) -> EngineError:
    log.error("generation failed", exc_info=exc)
    return EngineError(f"generation failed: {type(exc).__name__}: {exc}")


def _eos_ids(model: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = model.config.get_text_config().eos_token_id
    return set(eos if isinstance(eos, list) else [eos])


def _model_info(loaded: LoadedModel) -> ModelInfo:
    text_config = loaded.model.config.get_text_config()
    marker = loaded.demo_marker
    description = (
        "DEMO checkpoint with RANDOM weights: its answers are meaningless; use it to try the server, "
        "not the model." if marker else "Cosmos-Reason1 (Qwen2.5-VL) checkpoint"
    )
    return ModelInfo(
        source=loaded.source,
        context_length=int(text_config.max_position_embeddings),
        random_weights=bool(marker),
        description=description,
    )


def create_hf_engine(settings) -> HFEngine:
    from .loading import load_model

    return HFEngine(load_model(settings.model, dtype=settings.dtype, device=settings.device))
