"""--ray: the same annotation on a local Ray instance (Ray Data, one demo-model engine per actor)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .conftest import read_lines, run_jobs, summary_of, write_images

pytest.importorskip("ray.data", reason="the [ray] extra is not installed (make test installs it)")


@pytest.mark.e2e
def test_ray_run_matches_a_local_run_and_resumes_it(tmp_path: Path, demo_model_dir, demo_cache_dir):
    media = tmp_path / "media"
    write_images(media, 4)
    (media / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    out = tmp_path / "results.jsonl"
    env = {"COSMOS_REASON_CACHE": str(demo_cache_dir)}
    common = [
        "annotate",
        str(media),
        "--task",
        "caption",
        "--max-tokens",
        "4",
        "--model",
        "demo",
        "--out",
        str(out),
        "--quiet",
    ]
    # Start in-process on two items, as if a local run had been stopped ...
    local = run_jobs(*common, "--limit", "2", env=env)
    assert local.returncode == 0, local.stderr
    assert summary_of(local)["done"] == 2
    # ... then finish on Ray: the done items are skipped, the output is the same file and format.
    ray = run_jobs(*common, "--ray", "--actors", "1", "--gpus-per-actor", "0", env=env, timeout=600)
    assert ray.returncode == 4, ray.stderr  # zz_corrupt.png has an error line
    summary = summary_of(ray)
    assert (summary["skipped"], summary["done"], summary["failed"]) == (2, 2, 1)
    rows = read_lines(out)
    assert Counter(r["item"] for r in rows) == Counter(str(p) for p in sorted(media.iterdir()))
    for row in rows:
        if row["item"].endswith("zz_corrupt.png"):
            assert row["error"]["status"] == 400
            continue
        assert row["error"] is None and row["model"] == "cosmos-reason1-demo"
        assert row["usage"]["completion_tokens"] == 4 and row["sha256"] and row["task"] == "caption"
    local_keys = set(rows[0]) | set(rows[1])
    assert all(set(r) == local_keys for r in rows if r["error"] is None)
    again = run_jobs(*common, "--ray", env=env, timeout=600)
    assert summary_of(again)["skipped"] == 5 and len(read_lines(out)) == 5
