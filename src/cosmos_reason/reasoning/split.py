"""Split a Cosmos model's tagged output into reasoning and answer, by its family's ReasoningFormat.

With the reasoning prompt a Reason1 model writes
``<think>\\n...\\n</think>\\n\\n<answer>\\n...\\n</answer>`` (a family without answer tags:
just the think block, then the answer). The tags are parsed as text (Qwen2.5's vocabulary
has no ``<think>`` token), and a tag may arrive split across streamed deltas at any character.

Rules, identical for :func:`split_reasoning` and :class:`ReasoningStreamParser`:

* Tags are exactly the lowercase strings ``<think>``, ``</think>``,
  ``<answer>``, ``</answer>``. Anything else (``< think>``, ``<THINK>``,
  ``<answer >``) is ordinary text: the model never writes those as tags, and
  treating them as text loses nothing.
* Reasoning is the text between the first ``<think>`` and the first
  ``</think>`` after it. With ``think_prefilled`` (a family whose chat template
  ends the prompt with ``<think>``) the block is open from the first character,
  so text before a lone ``</think>`` is reasoning.
* Everything else is content: the answer, and any text before ``<think>``,
  between ``</think>`` and ``<answer>`` or after ``</answer>``. Every tag that
  is not one of the two think delimiters (``<answer>``, duplicates, strays) is
  dropped where it stands; ``<answer>`` only delimits, it never selects.
* A think block that is opened but never closed (truncated output, a model
  that ignored the format) is content by default (``unclosed_think="content"``)
  so nothing the model wrote is hidden; ``"reasoning"`` keeps it as reasoning.
* Whitespace: the model's text is kept as written, except around removed tags.
  A field's leading or trailing whitespace is dropped where a tag was removed
  between it and the field's edge, and kept otherwise: output without tags is
  returned exactly as generated (so its logprobs tokens concatenate to it), and
  ``"<think>\nr\n</think>\n\n<answer>\nA\n</answer>"`` still gives ``"r"`` and
  ``"A"``. Where a think tag (or the
  whole think block) was removed, the text on either side is joined with
  ``"\\n\\n"``: they are separate sections. Where only answer tags were
  removed, the whitespace around them becomes ``"\\n\\n"`` if it held a
  newline, ``" "`` if it held anything, else nothing
  (``"</think>\\n\\n<answer>\\nA\\n</answer>"`` gives ``"A"``;
  ``"is <answer>B</answer>."`` gives ``"is B."``). Whitespace inside the
  model's text is kept verbatim. Text around a dropped tag is not re-scanned.
* ``reasoning`` is ``None`` when there is none (or it is empty).

Streaming holdback (exactly what :meth:`ReasoningStreamParser.feed` keeps back):

1. a suffix of the text received so far that is a proper prefix of a tag
   (``"<"``, ``"</th"``, ``"<answe"``), until the next delta decides it;
2. each field's leading and trailing whitespace, until non-whitespace or the end
   follows it (a tag after it changes or drops it; at the end it is released
   unless a tag was removed after it);
3. with ``unclosed_think="content"``, everything after the opening think tag,
   until ``</think>`` (released as reasoning) or :meth:`finish` (released as
   content). This is forced: until the block closes, nobody knows which field
   that text belongs to. With ``unclosed_think="reasoning"`` it streams live.

Nothing else is held: output without tags streams as content at once. The
concatenated deltas equal :func:`split_reasoning` of the whole text for every
way of cutting it into deltas (``None`` reasoning concatenates to ``""``).
Without ``think_prefilled`` a lone ``</think>`` is dropped and the text before
it stays content, because that text was already streamed as content.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Literal, NamedTuple

from .format import ReasoningFormat

UnclosedThink = Literal["content", "reasoning"]


@functools.cache
def _tag_re(tags: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("(" + "|".join(map(re.escape, tags)) + ")")


class ReasoningSplit(NamedTuple):
    reasoning: str | None
    content: str


class ReasoningDelta(NamedTuple):
    reasoning: str
    content: str


class _Field:
    """One output field, emitted incrementally.

    Holds leading and trailing whitespace until more text (or the end) follows,
    drops it at an edge where a tag was removed, and normalises whitespace that
    spans a dropped tag. Output does
    not depend on how the text is chunked, which is what keeps streaming and
    split_reasoning identical.
    """

    def __init__(self, think_tags: tuple[str, str]) -> None:
        self._think_tags = set(think_tags)
        self._started = False
        self._gap = ""
        self._gap_tags: set[str] = set()  # tags dropped inside the current gap

    def tag(self, tag: str) -> None:
        self._gap_tags.add(tag)

    def text(self, chunk: str) -> str:
        body = chunk.lstrip()
        self._gap += chunk[: len(chunk) - len(body)]
        if not body:
            return ""
        core = body.rstrip()
        gap = self._gap_text() if self._started else self._edge()
        self._started = True
        self._gap, self._gap_tags = body[len(core) :], set()
        return gap + core

    def finish(self) -> str:
        """The field's trailing whitespace: kept unless a tag was removed after it."""
        gap = self._edge()
        self._gap, self._gap_tags = "", set()
        return gap

    def _edge(self) -> str:
        """Whitespace at the start or end of the field: the model's own unless a tag was removed there."""
        return "" if self._gap_tags else self._gap

    def _gap_text(self) -> str:
        if not self._gap_tags:
            return self._gap
        if "\n" in self._gap or self._gap_tags & self._think_tags:
            return "\n\n"
        return " " if self._gap else ""


def _join(texts: list[str], tags: list[str], keep: Callable[[int], bool], fmt: ReasoningFormat, prefilled: bool) -> str:
    """One field from the kept texts; texts[k] follows tags[k - 1]."""
    field = _Field((fmt.think_open, fmt.think_close))
    if prefilled:
        field.tag(fmt.think_open)  # the prompt's own <think> precedes the text
    out = []
    for k, text in enumerate(texts):
        if k:
            field.tag(tags[k - 1])
        if keep(k):
            out.append(field.text(text))
    out.append(field.finish())
    return "".join(out)


def _index(tags: list[str], tag: str, after: int = -1) -> int | None:
    return next((i for i in range(after + 1, len(tags)) if tags[i] == tag), None)


def split_reasoning(
    text: str,
    fmt: ReasoningFormat,
    *,
    unclosed_think: UnclosedThink = "content",
) -> ReasoningSplit:
    """Split a complete output into (reasoning, content) by the module's rules."""
    prefilled = fmt.think_prefilled
    parts = _tag_re(fmt.tags).split(text)
    texts, tags = parts[0::2], parts[1::2]  # texts[k] follows tags[k - 1]
    opener = -1 if prefilled else _index(tags, fmt.think_open)
    closer = None if opener is None else _index(tags, fmt.think_close, after=opener)
    if opener is None or (closer is None and unclosed_think == "content"):
        return ReasoningSplit(None, _join(texts, tags, lambda k: True, fmt, prefilled))
    end = len(texts) - 1 if closer is None else closer
    inside = range(opener + 1, end + 1)
    reasoning = _join(texts, tags, lambda k: k in inside, fmt, prefilled)
    content = _join(texts, tags, lambda k: k not in inside, fmt, prefilled)
    return ReasoningSplit(reasoning or None, content)


def _partial_tag(rest: str, tags: tuple[str, ...]) -> bool:
    return any(len(rest) < len(tag) and tag.startswith(rest) for tag in tags)


class ReasoningStreamParser:
    """Incremental split_reasoning: feed() text deltas, then finish() once."""

    _BEFORE, _THINK, _AFTER = "before", "think", "after"

    def __init__(self, fmt: ReasoningFormat, *, unclosed_think: UnclosedThink = "content") -> None:
        think_prefilled = fmt.think_prefilled
        self._fmt = fmt
        self._state = self._THINK if think_prefilled else self._BEFORE
        self._hold_think = unclosed_think == "content"
        self._held: list[tuple[str, str]] = []  # think-block ("text"|"tag", value)
        self._buf = ""
        think_tags = (fmt.think_open, fmt.think_close)
        self._reasoning, self._content = _Field(think_tags), _Field(think_tags)
        if think_prefilled:
            self._reasoning.tag(fmt.think_open)
            self._content.tag(fmt.think_open)
        self._out_reasoning: list[str] = []
        self._out_content: list[str] = []
        self._finished = False

    def feed(self, delta: str) -> ReasoningDelta:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._buf += delta
        self._scan(final=False)
        return self._take()

    def finish(self) -> ReasoningDelta:
        """Flush what was held back; an unclosed held think block becomes content."""
        if not self._finished:
            self._finished = True
            self._scan(final=True)
            if self._state == self._THINK and self._hold_think:
                self._release(self._content, self._out_content)
            self._out_reasoning.append(self._reasoning.finish())
            self._out_content.append(self._content.finish())
        return self._take()

    def _scan(self, final: bool) -> None:
        buf, start, search, cut = self._buf, 0, 0, len(self._buf)
        while (lt := buf.find("<", search)) != -1:
            tag = next((t for t in self._fmt.tags if buf.startswith(t, lt)), None)
            if tag is not None:
                self._on_text(buf[start:lt])
                self._on_tag(tag)
                start = search = lt + len(tag)
            elif not final and _partial_tag(buf[lt:], self._fmt.tags):
                cut = lt
                break
            else:
                search = lt + 1
        self._on_text(buf[start:cut])
        self._buf = buf[cut:]

    def _on_text(self, text: str) -> None:
        if not text:
            return
        if self._state != self._THINK:
            self._out_content.append(self._content.text(text))
        elif self._hold_think:
            self._held.append(("text", text))
        else:
            self._out_reasoning.append(self._reasoning.text(text))

    def _on_tag(self, tag: str) -> None:
        if self._state == self._BEFORE and tag == self._fmt.think_open:
            self._state = self._THINK
        elif self._state == self._THINK and tag == self._fmt.think_close:
            self._state = self._AFTER
            self._release(self._reasoning, self._out_reasoning)
        elif self._state == self._THINK and self._hold_think:
            self._held.append(("tag", tag))
            return
        self._reasoning.tag(tag)
        self._content.tag(tag)

    def _release(self, field: _Field, out: list[str]) -> None:
        for kind, value in self._held:
            if kind == "tag":
                field.tag(value)
            else:
                out.append(field.text(value))
        self._held = []

    def _take(self) -> ReasoningDelta:
        delta = ReasoningDelta("".join(self._out_reasoning), "".join(self._out_content))
        self._out_reasoning.clear()
        self._out_content.clear()
        return delta
