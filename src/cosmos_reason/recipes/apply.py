"""Applying a task recipe, or the family's reasoning instruction, to a chat request.

Message rules of :func:`apply_task`:

* System: the recipe's system prompt comes first (it defines the task), then the
  client's own system text as extra instructions (the family's default persona, e.g.
  Qwen's "You are a helpful assistant.", adds nothing and is dropped), then the reasoning
  instruction if the recipe uses the family's generic one. All system (and "developer")
  messages collapse into one system message at the front.
* User: in the LAST user message, the client's text parts become the question (or the
  recipe's default question when they are empty), wrapped in the recipe's template. Media
  parts keep their order and go before the text, as in the model card's examples. A string
  content stays a string. With no user message, one is added.
* The input is not modified.

Precedence of values (:func:`apply_recipe`): the request's own value, then the recipe's
(only what it sets), then the server's --default-* flags, then the family's card defaults.
"""

from __future__ import annotations

from dataclasses import asdict

from ..api.protocol import ChatCompletionRequest, ChatMessage, TextPart
from ..media.options import MediaOptions
from ..reasoning.format import ReasoningFormat
from .recipe import QUESTION, TaskRecipe

_SYSTEM_ROLES = ("system", "developer")


def apply_recipe(
    request: ChatCompletionRequest, recipe: TaskRecipe, media: MediaOptions
) -> tuple[ChatCompletionRequest, MediaOptions]:
    """The request with the recipe's messages and the sampling it sets where the request is silent,
    and the media options with the recipe's under the request's own."""
    explicit = request.model_fields_set | ({"max_tokens"} if request.max_completion_tokens else set())
    sampling = {k: v for k, v in asdict(recipe.sampling).items() if v is not None and k not in explicit}
    messages = apply_task(recipe, request.messages)
    return request.model_copy(update={"messages": messages, **sampling}), media.over(recipe.video)


def apply_task(recipe: TaskRecipe, messages: list[ChatMessage]) -> list[ChatMessage]:
    """New chat messages carrying the recipe's prompts (rules in the module docstring)."""
    system_texts = [system_text(m) for m in messages if m.role in _SYSTEM_ROLES]
    chat = [m for m in messages if m.role not in _SYSTEM_ROLES]
    users = [i for i, m in enumerate(chat) if m.role == "user"]
    if users:
        chat[users[-1]] = _wrap_user(recipe, chat[users[-1]])
    else:
        chat.append(ChatMessage(role="user", content=_question_text(recipe, "")))
    system = _merge_system(recipe, system_texts)
    chat = [ChatMessage(role="system", content=system)] + chat if system else chat
    if recipe.reasoning and not recipe.own_format and recipe.format.placement == "user":
        chat = with_instruction(chat, recipe.format)
    return chat


def with_instruction(messages: list[ChatMessage], fmt: ReasoningFormat) -> list[ChatMessage]:
    """The messages with the family's reasoning instruction where the family puts it: in the
    system prompt (added when there is none), or after the last user message's text."""
    if fmt.placement == "user":
        users = [i for i, m in enumerate(messages) if m.role == "user"]
        if not users:
            return [*messages, ChatMessage(role="user", content=fmt.instruction)]
        i = users[-1]
        return [*messages[:i], _append_text(messages[i], fmt.instruction), *messages[i + 1 :]]
    first = messages[0] if messages else None
    if first is not None and first.role in _SYSTEM_ROLES:
        text = (
            first.content
            if isinstance(first.content, str)
            else "".join(part.text for part in first.content or [] if isinstance(part, TextPart))
        )  # media: refused later, by role
        return [first.model_copy(update={"content": fmt.system_with_instruction(text)}), *messages[1:]]
    return [ChatMessage(role="system", content=fmt.system_with_instruction(None)), *messages]


def system_text(message: ChatMessage) -> str:
    content = message.content
    if content is None or isinstance(content, str):
        return (content or "").strip()
    texts = [part.text for part in content if isinstance(part, TextPart)]
    if len(texts) != len(content):
        raise ValueError("a system message may only contain text parts")
    return "\n".join(texts).strip()


def _merge_system(recipe: TaskRecipe, client_texts: list[str]) -> str | None:
    persona = recipe.format.default_system_prompt
    # Clients often send the default persona (alone or before their own text);
    # next to a task's prompt it only adds noise.
    client = [text.removeprefix(persona).strip() for text in client_texts]
    parts = [recipe.system_prompt or "", *client]
    text = "\n\n".join(part for part in parts if part) or None
    if recipe.reasoning and not recipe.own_format and recipe.format.placement == "system":
        return recipe.format.system_with_instruction(text)
    return text


def _question_text(recipe: TaskRecipe, question: str) -> str:
    # str.replace, not format(): templates and questions may contain braces (JSON).
    return recipe.user_template.replace(QUESTION, question.strip() or recipe.default_question)


def _wrap_user(recipe: TaskRecipe, message: ChatMessage) -> ChatMessage:
    content = message.content
    if isinstance(content, list):
        own = "\n".join(p.text for p in content if isinstance(p, TextPart))
        media = [part for part in content if not isinstance(part, TextPart)]
        text = _question_text(recipe, own)
        return message.model_copy(update={"content": [*media, TextPart(type="text", text=text)]})
    return message.model_copy(update={"content": _question_text(recipe, content or "")})


def _append_text(message: ChatMessage, text: str) -> ChatMessage:
    """`text` after the message's own text and a blank line (as one text part when the message
    ends with text, as the Reason2 utils write it), or alone when it has none."""
    content = message.content
    if isinstance(content, list):
        last = content[-1] if content else None
        if isinstance(last, TextPart) and last.text.strip():
            joined = TextPart(type="text", text=f"{last.text.rstrip()}\n\n{text}")
            return message.model_copy(update={"content": [*content[:-1], joined]})
        return message.model_copy(update={"content": [*content, TextPart(type="text", text=text)]})
    own = (content or "").rstrip()
    return message.model_copy(update={"content": f"{own}\n\n{text}" if own else text})
