"""Turning generated token ids into text deltas, and cutting at stop strings.

Both are pure and per choice, so streaming and non-streaming produce the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Decode = Callable[[Sequence[int]], str]


class IncrementalDetokenizer:
    """Emit text only once it is stable: a byte-level BPE token can end in the
    middle of a UTF-8 character, which decodes to U+FFFD until the next token."""

    def __init__(self, decode: Decode) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # start of the window decoded for context
        self._read = 0  # end of what has been emitted

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character stays visible as U+FFFD)."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :]


class StopMatcher:
    """Cut the output at the first stop string, holding back text that might be
    the start of one so that a stop string never reaches the client."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._text = ""
        self._emitted = 0
        self.stopped = False

    def push(self, delta: str) -> str:
        if self.stopped:
            return ""
        search_from = max(self._emitted, len(self._text) - self._longest + 1)
        self._text += delta
        hits = [i for s in self._stops if (i := self._text.find(s, search_from)) != -1]
        if hits:
            self.stopped = True
            return self._take(min(hits))
        return self._take(len(self._text) - self._held_back())

    def flush(self) -> str:
        return "" if self.stopped else self._take(len(self._text))

    def _held_back(self) -> int:
        tail = self._text[max(self._emitted, len(self._text) - self._longest + 1) :]
        for start in range(len(tail)):
            if any(s.startswith(tail[start:]) for s in self._stops):
                return len(tail) - start
        return 0

    def _take(self, end: int) -> str:
        out, self._emitted = self._text[self._emitted : end], max(self._emitted, end)
        return out
