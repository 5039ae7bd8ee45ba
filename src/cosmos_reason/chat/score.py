"""POST /v1/score: numbers for curation, from the model's own logits or its critic answers."""

from __future__ import annotations

import math
import uuid

from ..api.protocol import (
    ChatCompletionRequest,
    CriticSample,
    CriticScore,
    ScoreRequest,
    ScoreResponse,
    Usage,
    YesNoScore,
)
from ..engine.base import GenerationRequest, SamplingParams
from ..families.registry import get_task
from ..recipes.recipe import critic_score, parse_answer
from .completions import ChatService, engine_errors

CANDIDATES = ("Yes", "No")


class ScoreService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    async def score(self, request: ScoreRequest, request_id: str) -> ScoreResponse:
        model = self.chat.check_model(request.model)
        usage = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        yes_no = critic = None
        if request.method in ("yes_no", "both"):
            yes_no, prompt_tokens = await self._yes_no(request, request_id)
            usage = _add(usage, Usage(prompt_tokens=prompt_tokens, completion_tokens=0, total_tokens=prompt_tokens))
        if request.method in ("critic", "both"):
            critic, critic_usage = await self._critic(request, request_id)
            usage = _add(usage, critic_usage)
        return ScoreResponse(id=f"score-{uuid.uuid4().hex}", model=model, yes_no=yes_no, critic=critic, usage=usage)

    async def _yes_no(self, request: ScoreRequest, request_id: str) -> tuple[YesNoScore, int]:
        chat_request = ChatCompletionRequest(messages=request.messages, media_options=request.media_options)
        _, gen = await self.chat.prepare(chat_request, request_id)
        gen = GenerationRequest(gen.request_id, gen.conversation, SamplingParams(max_tokens=1, temperature=0.0))
        with engine_errors():
            scores = await self.chat.engine.next_token_logprobs(gen, CANDIDATES)
        yes, no = scores.logprobs["Yes"], scores.logprobs["No"]
        # Softmax over the two answers' logits: the log-probabilities differ from those logits by one shared constant.
        top = max(yes, no)
        p_yes = math.exp(yes - top) / (math.exp(yes - top) + math.exp(no - top))
        return YesNoScore(p_yes=p_yes, p_no=1.0 - p_yes, logprob_yes=yes, logprob_no=no), scores.prompt_tokens

    async def _critic(self, request: ScoreRequest, request_id: str) -> tuple[CriticScore, Usage]:
        recipe = get_task("critic", self.chat.family)
        fields = {
            "messages": request.messages,
            "task": "critic",
            "n": request.n,
            "media_options": request.media_options,
            "seed": request.seed,
        }
        fields |= {k: v for k in ("temperature", "max_tokens") if (v := getattr(request, k)) is not None}
        completion = await self.chat.complete(ChatCompletionRequest.model_validate(fields), request_id)
        samples = []
        for choice in completion.choices:
            parsed = parse_answer(recipe, choice.message.content)
            samples.append(
                CriticSample(
                    index=choice.index,
                    answer=choice.message.content,
                    reasoning=choice.message.reasoning_content,
                    anomaly=parsed.get("anomaly"),
                    parse_error=parsed.get("parse_error"),
                )
            )
        score = critic_score([{"anomaly": s.anomaly} if s.anomaly is not None else {} for s in samples])
        return CriticScore(score=score, samples=samples), completion.usage


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        total_tokens=a.total_tokens + b.total_tokens,
    )
