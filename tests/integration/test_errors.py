"""Client mistakes get a 4xx in the OpenAI envelope naming the field; the server keeps serving."""

from __future__ import annotations

import base64

import pytest

from cosmos_reason.engine.base import (
    EngineClientError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    MaxTokensTooLargeError,
    PromptTooLongError,
)
from tests.fakes import ScriptedEngine

from .conftest import MODEL, make_client

USER = [{"role": "user", "content": "Hi"}]


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


CASES = [
    ("not json", None, "JSON"),
    ("", None, "empty"),
    ({"messages": []}, "messages", "at least 1"),
    ({"model": MODEL}, "messages", "required"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "robot" if False else "user"),
    ({"messages": USER, "temperature": "hot"}, "temperature", "number"),
    ({"messages": USER, "temperature": 3}, "temperature", "2"),
    ({"messages": USER, "max_tokens": 0}, "max_tokens", "1"),
    ({"messages": USER, "seed": 2**64}, "seed", str(2**63 - 1)),
    ({"messages": USER, "seed": -(2**63) - 1}, "seed", str(-(2**63))),
    ({"messages": USER, "repetition_penalty": 1e-300}, "repetition_penalty", "0.01"),
    ({"messages": USER, "repetition_penalty": 0}, "repetition_penalty", "0.01"),
    ({"messages": USER, "presence_penalty": 2.5}, "presence_penalty", "2"),
    ({"messages": USER, "frequency_penalty": -3}, "frequency_penalty", "-2"),
    ({"messages": USER, "min_p": 1.5}, "min_p", "1"),
    ({"messages": USER, "top_p": 0}, "top_p", "0"),
    ({"messages": USER, "temperature": -0.1}, "temperature", "0"),
    ({"messages": USER, "n": 0}, "n", "1"),
    ({"messages": USER, "n": 99}, "n", "16"),
    ({"messages": USER, "stop": [""]}, "stop", "empty"),
    ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages[0].content[0]", "audio"),
    (
        {"messages": [{"role": "user", "content": [image_part("data:image/png;base64,!!!")]}]},
        "messages[0].content[0].image_url",
        "base64",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [image_part("data:image/png;base64," + base64.b64encode(b"no image").decode())],
                }
            ]
        },
        "messages[0].content[0].image_url",
        "image",
    ),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "required"),
    ([1, 2], None, "JSON object"),
]


@pytest.mark.parametrize("body,param,words", CASES)
async def test_client_mistakes_are_400_naming_the_field(client, body, param, words):
    if isinstance(body, (dict, list)):
        response = await client.post("/v1/chat/completions", json=body)
    else:
        response = await client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert words.lower() in error["message"].lower()
    # ...and the next request is served normally.
    assert (await client.post("/v1/chat/completions", json={"messages": USER})).status_code == 200


async def test_unknown_model_is_404(client):
    response = await client.post("/v1/chat/completions", json={"model": "gpt-4", "messages": USER})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"
    assert MODEL in response.json()["error"]["message"]


async def test_unknown_route_and_wrong_method_use_the_envelope(client):
    assert (await client.get("/nope")).json()["error"]["type"] == "not_found_error"
    response = await client.get("/v1/chat/completions")
    assert response.status_code == 405
    assert "error" in response.json()


async def test_method_name_in_any_case_is_accepted(client):
    # The guide's curl uses `-X Post`.
    response = await client.request("Post", "/v1/chat/completions", json={"messages": USER})
    assert response.status_code == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_prompt_too_long_is_400(stream):
    engine = ScriptedEngine(fail=PromptTooLongError(5000, 4096))
    async with make_client(engine) as client:
        response = await client.post("/v1/chat/completions", json={"messages": USER, "stream": stream})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "5000" in error["message"] and "4096" in error["message"]


async def test_engine_failure_is_500_in_the_envelope():
    async with make_client(ScriptedEngine(fail=EngineError("boom"))) as client:
        response = await client.post("/v1/chat/completions", json={"messages": USER})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "error, status, code",
    [
        (EngineClientError("messages[0]: the backend says no"), 400, "invalid_request"),
        (EngineClientError("too big for the backend", 413), 413, "invalid_request"),
        (EngineUnavailableError("the backend is unreachable"), 502, "engine_unavailable"),
        (EngineTimeoutError("the backend did not answer within 2 s"), 504, "engine_timeout"),
    ],
)
async def test_the_seams_error_kinds_keep_their_status_whatever_the_backend(error, status, code, stream):
    async with make_client(ScriptedEngine(fail=error)) as client:
        response = await client.post("/v1/chat/completions", json={"messages": USER, "stream": stream})
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"] == str(error)
        assert (await client.post("/v1/chat/completions", json={"messages": USER})).status_code == status


def test_catching_engine_error_catches_the_context_errors():
    for error in (PromptTooLongError(5000, 4096), MaxTokensTooLargeError(100, 4090, 4096)):
        with pytest.raises(EngineError):
            raise error


async def test_stream_options_without_stream_is_400(client):
    body = {"messages": USER, "stream": False, "stream_options": {"include_usage": True}}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "stream_options"
    assert "stream" in response.json()["error"]["message"]
    body["stream"] = True
    assert (await client.post("/v1/chat/completions", json=body)).status_code == 200


NULLABLE = [
    "n",
    "logprobs",
    "top_logprobs",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "logit_bias",
    "ignore_eos",
    "raw_output",
    "reasoning",
    "task",
    "media_options",
    "response_format",
    "tools",
    "tool_choice",
    "user",
]


async def test_optional_fields_sent_as_null_mean_the_default(engine, client):
    """The openai SDK's types allow null for every optional field; null is "not given"."""
    response = await client.post("/v1/chat/completions", json={"messages": USER, **dict.fromkeys(NULLABLE)})
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"]) == 1
    sampling = engine.requests[-1].sampling
    assert (sampling.n, sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.logprobs) == (
        1,
        0.6,
        0.95,
        4096,
        False,
    )
    response = await client.post("/v1/chat/completions", json={"messages": USER, "stream": None, "n": None})
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx"]
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/score"])
async def test_a_body_that_is_not_json_is_415(client, content_type, path):
    body = '{"messages": [{"role": "user", "content": "Hi"}]}'
    response = await client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "application/json" in error["message"] and content_type in error["message"]


@pytest.mark.parametrize(
    "headers", [{"content-type": "application/json; charset=utf-8"}, {"content-type": "Application/JSON"}, {}]
)
async def test_json_with_parameters_or_without_a_content_type_is_served(client, headers):
    # No Content-Type at all is read as JSON (FastAPI and vLLM do the same); see docs/api.md.
    body = '{"messages": [{"role": "user", "content": "Hi"}]}'
    response = await client.post("/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == 200, response.text


# Known fields that would change the output but are not honoured: a 400 naming them, never ignored.
REFUSED = [
    ("guided_whitespace_pattern", " *"),
    ("structural_tag", {"type": "structural_tag"}),
    ("structured_outputs", {"structural_tag": "x"}),
    ("guided_regex", "(?<=a)b"),  # structured output itself is honoured (tests/unit/test_structured_fields.py)
    ("tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    ("tool_choice", "required"),
    ("tool_choice", {"type": "function", "function": {"name": "f"}}),
    ("functions", [{"name": "f", "parameters": {}}]),
    ("function_call", {"name": "f"}),
    ("prompt_logprobs", 1),
    ("best_of", 3),
    ("use_beam_search", True),
    ("logits_processors", ["x"]),
    ("bad_words", ["x"]),
    ("allowed_token_ids", [1, 2]),
    ("stop_token_ids", [2]),
    ("min_tokens", 5),
    ("echo", True),
    ("skip_special_tokens", False),
    ("include_stop_str_in_output", True),
    ("add_generation_prompt", False),
    ("continue_final_message", True),
    ("chat_template", "{{ messages }}"),
    ("chat_template_kwargs", {"enable_thinking": False}),
    ("media_io_kwargs", {"video": {"num_frames": 4}}),
    ("reasoning_effort", "high"),
    ("modalities", ["text", "audio"]),
]


@pytest.mark.parametrize("field,value", REFUSED)
async def test_fields_we_do_not_honour_are_400_naming_them(client, field, value):
    response = await client.post("/v1/chat/completions", json={"messages": USER, field: value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field and field in error["message"]
    assert (await client.post("/v1/chat/completions", json={"messages": USER})).status_code == 200


async def test_every_refused_field_is_named_at_once(client):
    body = {"messages": USER, "tools": [{"type": "function", "function": {"name": "f"}}], "structural_tag": "a"}
    message = (await client.post("/v1/chat/completions", json=body)).json()["error"]["message"]
    assert "tools" in message and "structural_tag" in message


HARMLESS = {
    "user": "u1",
    "metadata": {"a": "b"},
    "store": False,
    "parallel_tool_calls": True,
    "service_tier": "auto",
    "response_format": {"type": "text"},
    "tool_choice": "none",
    "tools": [],
    "functions": [],
    "best_of": 1,
    "prediction": {"type": "content", "content": "x"},
    "skip_special_tokens": True,
    "modalities": ["text"],
    "guided_json": None,
    "guided_decoding_backend": "xgrammar",
    "some_future_field": 1,
}


async def test_fields_that_do_not_change_the_output_are_accepted(client):
    response = await client.post("/v1/chat/completions", json={"messages": USER, **HARMLESS})
    assert response.status_code == 200, response.text


async def test_top_logprobs_without_logprobs_is_400(client):
    response = await client.post("/v1/chat/completions", json={"messages": USER, "top_logprobs": 3})
    assert response.status_code == 400 and response.json()["error"]["param"] == "top_logprobs"


@pytest.mark.parametrize(
    "bias,words",
    [({"x": 1}, "integer"), ({"5": 101}, "100"), ({"5": -100.5}, "-100"), ({"-1": 1}, "0"), ({"5": "much"}, "number")],
)
async def test_logit_bias_is_validated(client, bias, words):
    response = await client.post("/v1/chat/completions", json={"messages": USER, "logit_bias": bias})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"].startswith("logit_bias") and words in error["message"]


class VocabEngine(ScriptedEngine):
    @property
    def info(self):
        import dataclasses

        return dataclasses.replace(super().info, vocab_size=1000)


async def test_logit_bias_token_ids_must_be_in_the_models_vocabulary():
    async with make_client(VocabEngine()) as client:
        response = await client.post("/v1/chat/completions", json={"messages": USER, "logit_bias": {"1000": 5}})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "logit_bias"
        assert "1000" in response.json()["error"]["message"] and "999" in response.json()["error"]["message"]
        response = await client.post("/v1/chat/completions", json={"messages": USER, "logit_bias": {"999": 5}})
        assert response.status_code == 200
