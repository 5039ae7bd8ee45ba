"""The in-process transformers engine: loading, scheduling, batched decoding, sampling."""
