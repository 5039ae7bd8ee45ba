"""Annotation and scoring jobs over many images and videos: annotate, critic, run-batch.

Resumable and exactly-once (journal.py), retried and bounded (execution.py), against a
running server or the same app in-process (clients.py), or over Ray (ray_runner.py).
"""
