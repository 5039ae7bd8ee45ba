"""The text path against a server that is not ours: `transformers serve` (a strict OpenAI
server: unknown request fields are refused, so the front talks to it with api=openai)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from .conftest import FRONT_KEY, FRONT_MODEL, ServerProcess, free_port, front_process

pytestmark = pytest.mark.e2e

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Where does a dropped ball go?"},
]
GREEDY = {"temperature": 0, "top_p": 0.95, "max_tokens": 10}


@pytest.fixture(scope="module")
def transformers_serve(demo_model_dir: Path):
    command = shutil.which("transformers", path=os.path.dirname(sys.executable))
    if command is None:
        pytest.skip("`transformers serve` is not installed (pip install 'transformers[serving]')")
    port = free_port()
    peer = ServerProcess(
        command=[command, "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", str(demo_model_dir)],
        port=port,
        log_name=f"transformers-serve-{port}.log",
    )
    front = front_process([peer.url])
    try:
        peer.wait_ready()
        front.wait_ready()
        yield peer.url, str(demo_model_dir), front
    finally:
        front.stop()
        peer.stop()


def test_greedy_text_through_the_front_equals_transformers_serve(transformers_serve):
    url, model, front = transformers_serve
    peer = OpenAI(api_key="none", base_url=f"{url}/v1", max_retries=0)
    theirs = peer.chat.completions.create(model=model, messages=MESSAGES, **GREEDY)
    # The text as generated is what its stream sends; its non-streamed content is that text
    # stripped. Ours is the text as generated either way (no reasoning tags to trim here).
    generated = "".join(
        c.choices[0].delta.content or ""
        for c in peer.chat.completions.create(model=model, messages=MESSAGES, stream=True, **GREEDY)
        if c.choices
    )
    assert theirs.choices[0].message.content == generated.strip()
    client = OpenAI(api_key=FRONT_KEY, base_url=f"{front.url}/v1", max_retries=0)
    ours = client.chat.completions.create(model=FRONT_MODEL, messages=MESSAGES, **GREEDY)
    assert ours.choices[0].message.content == generated
    assert ours.choices[0].finish_reason == theirs.choices[0].finish_reason == "length"
    assert (ours.usage.prompt_tokens, ours.usage.completion_tokens) == (
        theirs.usage.prompt_tokens,
        theirs.usage.completion_tokens,
    )
    stream = client.chat.completions.create(
        model=FRONT_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **GREEDY
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content for c in chunks if c.choices) == generated
    assert chunks[-1].usage.completion_tokens == theirs.usage.completion_tokens
    assert "api=openai" in front.output()  # said once which of our sampling fields it can't send
