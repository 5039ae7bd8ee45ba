"""The upstream engine: relays requests to OpenAI-compatible servers (vLLM, SGLang, transformers serve)."""
