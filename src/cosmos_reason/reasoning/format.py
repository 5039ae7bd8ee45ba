"""How a model family shows its reasoning and how it is asked to: tags, instruction, placement.

Each family (families/<family>/constants.py) makes one; the parser (reasoning/split.py), the
recipes and the structured-output frame read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ReasoningFormat:
    """How the family's models show their reasoning, and how they are asked to.

    `answer_open`/`answer_close` delimit the answer where the family uses tags for it
    (None: the answer is whatever follows the think block). `placement` says whether the
    instruction joins the system prompt or the last user message. `think_prefilled`: the
    family's chat template opens the think block itself, so output starts inside it.
    `think_tokens`: the family's tokenizer has each think tag as one added token (Qwen3's
    `<think>` 151667 and `</think>` 151668), which a grammar must name as a token: llguidance
    never matches such a token against the tag's text.
    """

    instruction: str
    placement: Literal["system", "user"]
    default_system_prompt: str
    think_open: str = "<think>"
    think_close: str = "</think>"
    answer_open: str | None = None
    answer_close: str | None = None
    think_prefilled: bool = False
    think_tokens: bool = False

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the reasoning parser removes from the output."""
        answer = tuple(tag for tag in (self.answer_open, self.answer_close) if tag)
        return (self.think_open, self.think_close, *answer)

    @property
    def answer_start(self) -> str:
        """The text after which the answer begins."""
        return self.answer_open or self.think_close

    def system_with_instruction(self, system_text: str | None) -> str:
        """The system prompt with the instruction appended: no client prompt, or the default
        persona, gives the model card's own prompt; one that already has it is kept as is."""
        text = (system_text or "").strip()
        if not text or text == self.default_system_prompt:
            return f"{self.default_system_prompt} {self.instruction}"
        if self.instruction in text:
            return text
        return f"{text}\n\n{self.instruction}"
