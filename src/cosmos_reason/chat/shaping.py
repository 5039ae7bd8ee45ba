"""Engine deltas -> OpenAI message fields: the reasoning split and logprobs."""

from __future__ import annotations

from ..api.protocol import ChoiceLogprobs, Delta, TopLogprob
from ..api.protocol import TokenLogprob as TokenLogprobOut
from ..engine.base import TokenLogprob
from ..reasoning.format import ReasoningFormat
from ..reasoning.split import ReasoningStreamParser


class ChoiceShaper:
    """Per choice: splits the text into reasoning and content as it streams
    (or passes it through untouched with raw_output)."""

    def __init__(self, fmt: ReasoningFormat, raw: bool) -> None:
        self._parser = None if raw else ReasoningStreamParser(fmt)

    def feed(self, text: str, final: bool) -> tuple[str, str]:
        """(reasoning, content) to send now."""
        if self._parser is None:
            return "", text
        out = self._parser.feed(text)
        reasoning, content = out.reasoning, out.content
        if final:
            tail = self._parser.finish()
            reasoning, content = reasoning + tail.reasoning, content + tail.content
        return reasoning, content


def delta_fields(reasoning: str, content: str) -> Delta:
    return Delta(content=content, reasoning_content=reasoning or None, reasoning=reasoning or None)


def choice_logprobs(entries: list[TokenLogprob] | tuple[TokenLogprob, ...]) -> ChoiceLogprobs:
    return ChoiceLogprobs(
        content=[
            TokenLogprobOut(
                token=e.token,
                logprob=e.logprob,
                bytes=list(e.token.encode()),
                top_logprobs=[TopLogprob(token=t, logprob=lp, bytes=list(t.encode())) for t, lp in e.top],
            )
            for e in entries
        ]
    )
