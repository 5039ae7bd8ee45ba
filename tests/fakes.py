"""A scripted engine for testing the layers above the engine without a model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cosmos_reason.engine.base import Delta, EngineError, EngineStats, GenerationRequest, ModelInfo, PromptTooLongError
from cosmos_reason.engine.hf.detokenize import StopMatcher
from cosmos_reason.families.base import ModelFamily
from cosmos_reason.families.registry import default_family


class ScriptedEngine:
    """Answers every request with the same token pieces, honouring max_tokens, n and stop."""

    def __init__(
        self,
        pieces: list[str] | None = None,
        prompt_tokens: int = 11,
        delay: float = 0.0,
        fail: Exception | None = None,
        family: ModelFamily | None = None,
    ) -> None:
        self.pieces = pieces if pieces is not None else ["Hello", ",", " world", "!"]
        self.prompt_tokens = prompt_tokens
        self.delay = delay
        self.fail = fail
        self.requests: list[GenerationRequest] = []
        self.aborted: list[str] = []
        self.shut_down = False
        self.candidate_logprobs = {"Yes": -0.5, "No": -1.5}
        self.load = EngineStats()  # what stats() reports
        self.family = family or default_family()

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            source="/scripted", context_length=4096, random_weights=True, description="scripted", family=self.family
        )

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        done = False
        try:
            for index in range(request.sampling.n):
                async for delta in self._choice(index, request):
                    yield delta
            done = True
        finally:
            if not done:
                self.aborted.append(request.request_id)

    async def _choice(self, index: int, request: GenerationRequest) -> AsyncIterator[Delta]:
        stops = StopMatcher(request.sampling.stop)
        for count, piece in enumerate(self.pieces[: request.sampling.max_tokens], start=1):
            await asyncio.sleep(self.delay)
            text = stops.push(piece)
            if stops.stopped:
                yield Delta(index, text, self.prompt_tokens, count, "stop")
                return
            yield Delta(index, text, self.prompt_tokens, count)
        reason = "length" if request.sampling.max_tokens < len(self.pieces) else "stop"
        yield Delta(
            index, stops.flush(), self.prompt_tokens, min(len(self.pieces), request.sampling.max_tokens), reason
        )

    async def next_token_logprobs(self, request, candidates):
        from cosmos_reason.engine.base import NextTokenScores

        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        return NextTokenScores({c: self.candidate_logprobs.get(c, -20.0) for c in candidates}, self.prompt_tokens)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    def stats(self) -> EngineStats:
        return self.load

    async def check_health(self) -> None:
        if self.shut_down:
            raise EngineError("shut down")

    async def shutdown(self) -> None:
        self.shut_down = True


__all__ = ["ScriptedEngine", "PromptTooLongError"]
