"""Annotation and scoring jobs over many images and videos: annotate, critic, run-batch.
User docs: docs/jobs.md.

cli.py parses the commands. annotate.py (with inputs.py, work.py, annotate_output.py and
rerun.py), critic.py and batch.py are the jobs; journal.py makes their output resumable and
exactly-once, execution.py retries and bounds them, clients.py sends their requests to a
running server or to the same app in-process, and ray_runner.py runs annotate over Ray.
"""
