"""Structured output in the hf engine: llguidance matchers that mask each constrained row's
logits inside the batched sampler (sampler.py), for any mix of rows with and without one.

`Grammars` belongs to the engine: it turns the checkpoint's tokenizer into llguidance's once
(about 3 s, on the first constrained request) and compiles each constraint once, keeping the
compiled matcher by the constraint (kind, spec, reasoning); every row gets a copy of it.
A `RowGrammar` is one row's state: the mask of the tokens its grammar allows next (only the
end-of-turn token once the structure is complete), and the tokens it has taken.

Masking only removes tokens: a greedy row takes the same token as without a constraint
whenever that token is allowed. With reasoning (constraint.py) the thinking gets at
most half of max_tokens; past that, its closing tag is forced, so the answer has room.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import torch

from ...constraint import Constraint, llguidance_grammar
from ..base import EngineClientError

CACHED = 64  # compiled constraints kept
_TOKENIZERS: dict[int, tuple[Any, Any]] = {}  # id(hf tokenizer) -> (it, llguidance's view)
_TOKENIZERS_LOCK = threading.Lock()


class Grammars:
    """Compiled constraints for one tokenizer, cached; call `compile` off the event loop."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self._hf_tokenizer = tokenizer
        self.vocab_size = vocab_size  # the logits' width: ids past the tokenizer's are never allowed
        self._tokenizer = None
        self._words = 0  # int32 words of one row's mask: ceil(vocabulary / 32), as llguidance writes it
        self._cache: OrderedDict[Constraint, CompiledGrammar] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, constraint: Constraint) -> CompiledGrammar:
        with self._lock:
            compiled = self._cache.get(constraint)
            if compiled is None:
                template = self._matcher(constraint)
                close = constraint.reasoning.think_close if constraint.reasoning else ""
                forced = list(self._hf_tokenizer.encode(close, add_special_tokens=False)) if close else []
                compiled = CompiledGrammar(template, self._tokenizer, forced, close, self.vocab_size, self._words)
                self._cache[constraint] = compiled
                while len(self._cache) > CACHED:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(constraint)
        return compiled

    def _matcher(self, constraint: Constraint) -> Any:
        import llguidance

        tokenizer = self._llg_tokenizer()
        matcher = llguidance.LLMatcher(tokenizer, llguidance_grammar(constraint), log_level=0)
        if matcher.is_error():
            raise EngineClientError(f"the structured-output constraint cannot be used: {matcher.get_error()}")
        self._words = (tokenizer.vocab_size + 31) // 32
        return matcher

    def _llg_tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = llguidance_tokenizer(self._hf_tokenizer, self.vocab_size)
        return self._tokenizer


def llguidance_tokenizer(hf_tokenizer: Any, vocab_size: int) -> Any:
    """llguidance's view of a tokenizer (about 3 s to build: once per tokenizer and process)."""
    import llguidance.hf

    with _TOKENIZERS_LOCK:
        known = _TOKENIZERS.get(id(hf_tokenizer))
        if known is None or known[0] is not hf_tokenizer:
            converted = llguidance.hf.from_tokenizer(hf_tokenizer, n_vocab=vocab_size)
            known = _TOKENIZERS[id(hf_tokenizer)] = (hf_tokenizer, converted)
    return known[1]


class CompiledGrammar:
    def __init__(
        self, template: Any, tokenizer: Any, forced_close: list[int], close_text: str, vocab_size: int, words: int
    ) -> None:
        self.words = words
        self.close_text = close_text.encode()  # the thinking's closing tag (the family's)
        self.template = template
        self.tokenizer = tokenizer
        self.forced_close = forced_close
        self.vocab_size = vocab_size

    def row(self, max_tokens: int) -> RowGrammar:
        budget = max(1, max_tokens // 2) if self.forced_close else None
        return RowGrammar(self.template.deep_copy(), self, budget)


class RowGrammar:
    """One row's matcher. `thinking_budget`: tokens the free thinking may take (None: no thinking)."""

    def __init__(self, matcher: Any, compiled: CompiledGrammar, thinking_budget: int | None) -> None:
        self.matcher = matcher
        self.tokenizer = compiled.tokenizer
        self.forced_close = compiled.forced_close
        self.close_text = compiled.close_text
        self.thinking_budget = thinking_budget
        self.words = compiled.words
        self.taken = 0
        self._thinking = thinking_budget is not None
        self._tail = b""
        self._closing: list[int] = []  # the thinking's closing tag, being forced

    def fill(self, words: torch.Tensor) -> bool:
        """Write the forced token's mask into `words` (int32 [words]) and return True, or return
        False when the grammar computes the mask (apply_grammars does that for all rows at once)."""
        if self.matcher.is_error():
            raise GrammarFailed(self.matcher.get_error())
        forced = self._forced_token()
        if forced is None:
            return False
        words.zero_()
        words[forced // 32] = _bit(forced % 32)
        return True

    def advance(self, token: int) -> None:
        self.taken += 1
        if self._closing and token == self._closing[0]:
            self._closing.pop(0)
        if self._thinking:
            self._tail = (self._tail + self.tokenizer.decode_bytes([token]))[-32:]
            if self.close_text in self._tail:
                self._thinking, self._closing = False, []
        if not self.matcher.consume_token(token):
            raise GrammarFailed(self.matcher.get_error())

    def _forced_token(self) -> int | None:
        """While thinking past its budget: the next token of the closing tag, once the grammar
        takes the whole tag from here (not in the middle of a character)."""
        if not self._thinking or self.thinking_budget is None or self.taken < self.thinking_budget:
            return None
        if not self._closing:
            if self.matcher.validate_tokens(self.forced_close) < len(self.forced_close):
                return None
            self._closing = list(self.forced_close)
        return self._closing[0]


_BITS: dict[torch.device, torch.Tensor] = {}


def _unpack(words: torch.Tensor) -> torch.Tensor:
    """Bool [rows, words * 32] from int32 bitmasks [rows, words] (little-endian, as llguidance
    writes them): one table row of 8 bools per byte, on the words' device."""
    table = _BITS.get(words.device)
    if table is None:
        table = _BITS[words.device] = ((torch.arange(256).view(-1, 1) >> torch.arange(8)) & 1).to(
            device=words.device, dtype=torch.bool
        )
    index = words.view(torch.uint8).view(-1).int()
    return table.index_select(0, index).view(words.shape[0], -1)


def _bit(index: int) -> int:
    """Bit `index` of an int32 word, as a signed value (bit 31 is the sign)."""
    return (1 << index) - (1 << 32 if index == 31 else 0)


class GrammarFailed(RuntimeError):
    """A row's grammar is in an error state (a token it did not allow was taken)."""


def apply_grammars(logits: torch.Tensor, grammars: list[RowGrammar | None]) -> list[Exception | None]:
    """In place: -inf for every token a row's grammar does not allow (rows without one are
    untouched). llguidance writes each row's mask straight into one tensor (its thread pool was
    slower on two busy cores: masks of similar states are cached and cost microseconds). Returns,
    per row, the error of a grammar that broke (else None)."""
    errors: list[Exception | None] = [None] * len(grammars)
    constrained = [(i, grammar) for i, grammar in enumerate(grammars) if grammar is not None]
    if not constrained:
        return errors
    rows = [i for i, _ in constrained]
    width = constrained[0][1].words
    words = torch.zeros((len(rows), width), dtype=torch.int32)
    for k, (i, grammar) in enumerate(constrained):
        try:
            if not grammar.fill(words[k]):
                grammar.matcher.unsafe_compute_mask_ptr(words[k].data_ptr(), width * 4)
        except GrammarFailed as exc:
            errors[i] = exc
    allowed = _unpack(words.to(logits.device))
    width = min(allowed.shape[1], logits.shape[1])
    logits[rows, width:] = float("-inf")
    if len(rows) == len(grammars):
        logits[:, :width].masked_fill_(~allowed[:, :width], float("-inf"))
    else:
        for k, i in enumerate(rows):
            logits[i, :width].masked_fill_(~allowed[k, :width], float("-inf"))
    return errors


def advance_grammars(grammars: list[RowGrammar | None], tokens: list) -> list[Exception | None]:
    """Each constrained row's grammar takes its row's token (an int; an exception is skipped).
    Returns, per row, a grammar's failure (else None)."""
    errors: list[Exception | None] = [None] * len(grammars)
    for i, grammar in enumerate(grammars):
        if grammar is not None and not isinstance(tokens[i], Exception):
            try:
                grammar.advance(tokens[i])
            except GrammarFailed as exc:
                errors[i] = exc
    return errors
