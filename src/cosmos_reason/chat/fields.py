"""Request fields checked together: combinations that make no sense, and fields we do not
honour. No field that would change the output is ever silently ignored: the known OpenAI,
vLLM and SGLang fields we lack are refused with a 400 naming them (docs/api.md has the list).
Unknown fields that are not in the catalogue are accepted and logged, as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..api.protocol import ChatCompletionRequest
from ..errors import APIError


def _set(value: Any) -> bool:
    """Given with an effect: not null, false, empty or zero."""
    return value is not None and value is not False and value != [] and value != {} and value != "" and value != 0


def _true(value: Any) -> bool:
    return value is True


def _false(value: Any) -> bool:
    return value is False


def _choice(value: Any) -> bool:
    return value is not None and value not in ("none", "auto")


def _modalities(value: Any) -> bool:
    return value is not None and value != ["text"]


_STRUCTURED = "use response_format, structured_outputs or guided_json/regex/choice/grammar"
_TOOLS = "tool calling is not supported"
_SAMPLING = "this sampling control is not supported"
_PROMPT = "the prompt is always rendered with the model's own chat template"

#: field -> (is it in use?, why it is refused). Null is always "not given".
REFUSED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "guided_whitespace_pattern": (_set, "structured JSON is always compact"),
    **{name: (_set, _STRUCTURED) for name in ("structural_tag", "regex", "ebnf", "json_schema")},
    "tools": (_set, _TOOLS),
    "tool_choice": (_choice, _TOOLS + ' (only "none" or "auto")'),
    "functions": (_set, _TOOLS),
    "function_call": (_choice, _TOOLS + ' (only "none" or "auto")'),
    "prompt_logprobs": (lambda v: v is not None, "prompt logprobs are not returned"),
    "echo": (_true, "the prompt is not echoed"),
    "use_beam_search": (_true, "beam search is not supported"),
    "logits_processors": (_set, _SAMPLING),
    "custom_logit_processor": (_set, _SAMPLING),
    "bad_words": (_set, _SAMPLING),
    "allowed_token_ids": (_set, _SAMPLING),
    "stop_token_ids": (_set, _SAMPLING + "; use stop strings"),
    "min_tokens": (_set, _SAMPLING),
    "min_new_tokens": (_set, _SAMPLING),
    "typical_p": (lambda v: v is not None and v != 1, _SAMPLING),
    "include_stop_str_in_output": (_true, "stop strings are never included in the output"),
    "no_stop_trim": (_true, "stop strings are never included in the output"),
    "skip_special_tokens": (_false, "special tokens are always skipped"),
    "spaces_between_special_tokens": (_false, "special tokens are always skipped"),
    "return_tokens_as_token_ids": (_true, "logprobs tokens are always text"),
    "truncate_prompt_tokens": (lambda v: v is not None, "prompts are never truncated"),
    "add_generation_prompt": (_false, _PROMPT),
    "continue_final_message": (_true, _PROMPT),
    "chat_template": (_set, _PROMPT),
    "chat_template_kwargs": (_set, _PROMPT + '; for the reasoning format use "reasoning": true'),
    "documents": (_set, _PROMPT),
    "media_io_kwargs": (_set, 'use "media_options" (or mm_processor_kwargs) for fps, nframes and pixels'),
    "lora_path": (_set, "adapters are not supported"),
    "vllm_xargs": (_set, "vLLM's extra arguments are not supported"),
    "reasoning_effort": (_set, 'the model has no effort levels; "reasoning": true asks for its reasoning format'),
    "verbosity": (_set, "verbosity levels are not supported"),
    "audio": (_set, "audio output is not supported"),
    "modalities": (_modalities, 'only ["text"] output'),
    "web_search_options": (_set, "web search is not supported"),
}


def check_fields(request: ChatCompletionRequest, vocab_size: int = 0) -> None:
    """400 for a request that asks for something we would otherwise silently not do.
    `vocab_size`: the model's (0 = unknown: the engine or upstream checks token ids)."""
    if request.stream_options is not None and not request.stream:
        raise APIError(400, 'stream_options: only allowed with "stream": true', param="stream_options")
    if request.top_logprobs and not request.logprobs:
        raise APIError(400, 'top_logprobs: needs "logprobs": true', param="top_logprobs")
    extra = request.model_extra or {}
    refused = [name for name, (in_use, _) in REFUSED.items() if name in extra and in_use(extra[name])]
    best_of = extra.get("best_of")
    if best_of is not None and best_of not in (1, request.n):
        refused.append("best_of")
    if refused:
        reasons = "; ".join(
            f"{name}: {REFUSED[name][1] if name in REFUSED else 'only best_of = n'}" for name in refused
        )
        raise APIError(
            400,
            f"not supported by this server, leave out or set to null: {reasons}",
            param=refused[0],
            code="unsupported_field",
        )
    if request.logit_bias and vocab_size:
        outside = sorted(token for token in request.logit_bias if token >= vocab_size)
        if outside:
            raise APIError(
                400,
                f"logit_bias: token id {outside[0]} is not in the model's vocabulary (ids 0 to {vocab_size - 1})",
                param="logit_bias",
            )
