"""Reasoning output: the format a model family uses (format.py) and splitting output by it (split.py)."""
