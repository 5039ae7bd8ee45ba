from __future__ import annotations

import itertools

import pytest

from cosmos_reason.engine.hf.detokenize import IncrementalDetokenizer, StopMatcher


def byte_decode(table: dict[int, bytes]):
    return lambda ids: b"".join(table[i] for i in ids).decode("utf-8", errors="replace")


def test_multibyte_character_split_over_tokens_is_emitted_whole():
    snow = "☃".encode()  # 3 bytes
    table = {0: b"a", 1: snow[:1], 2: snow[1:2], 3: snow[2:], 4: b"b"}
    detok = IncrementalDetokenizer(byte_decode(table))
    pieces = [detok.push(t) for t in [0, 1, 2, 3, 4]]
    assert pieces == ["a", "", "", "☃", "b"]
    assert detok.flush() == ""


def test_incomplete_character_at_the_end_is_not_lost():
    table = {0: b"x", 1: "é".encode()[:1]}
    detok = IncrementalDetokenizer(byte_decode(table))
    assert detok.push(0) + detok.push(1) == "x"
    assert detok.flush() == "\ufffd"


def run_stops(pieces: list[str], stops: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.push(p) for p in pieces)
    return out + matcher.flush(), matcher.stopped


@pytest.mark.parametrize(
    "text,stops,expected",
    [
        ("Hello world", ["world"], ("Hello ", True)),
        ("Hello world", ["xyz"], ("Hello world", False)),
        ("abcabd", ["abd"], ("abc", True)),
        ("one. two.", [".", "two"], ("one", True)),
        ("aaab", ["aab"], ("a", True)),
        ("tail wor", ["world"], ("tail wor", False)),
    ],
)
def test_stop_strings_at_every_split(text, stops, expected):
    for cut1, cut2 in itertools.combinations(range(len(text) + 1), 2):
        pieces = [text[:cut1], text[cut1:cut2], text[cut2:]]
        assert run_stops(pieces, stops) == expected, pieces


def test_partial_stop_is_held_back_while_streaming():
    matcher = StopMatcher(["</end>"])
    assert matcher.push("answer </e") == "answer "
    assert matcher.push("xtra") == "</extra"
