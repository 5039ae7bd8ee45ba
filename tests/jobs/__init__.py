"""Tests of src/cosmos_reason/jobs: the test of jobs/X.py is test_X.py here.

Modules without their own file, covered only through others:

* annotate_output.py: through test_annotate.py (resume, duplicates, counts) and test_rerun.py (--redo).
* execution.py (retries, pool, breaker, progress, summary): through test_annotate.py, test_batch.py,
  test_critic.py and test_kill_resume.py.
* work.py (one item's request and line): through test_annotate.py.

Files named for a behaviour, across modules:

* test_kill_resume.py: kill -9 and Ctrl-C mid-run, then the rerun (cli, annotate, journal).
* test_special_files.py: FIFOs and reads that hang (inputs, annotate, cli).
* test_demo_model.py: annotate on the real tiny model, in-process and against a server (clients, annotate, cli).

Helpers: conftest.py (media, the app on a scripted engine, the `annotate` run, a fake server), fake_server.py.
"""
