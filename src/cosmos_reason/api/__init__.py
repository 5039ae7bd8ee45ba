"""The OpenAI-compatible wire format (pydantic request and response models), below the chat
service and the recipes that both read it."""
