"""Model families: one module per Cosmos generation (reason1/), the seam they fill (base.py),
the registry that picks one from a checkpoint's config (registry.py), and the reasoning
parser every family's output goes through (reasoning.py). See docs/architecture.md#model-families."""
