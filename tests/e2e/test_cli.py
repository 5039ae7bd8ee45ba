from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_unavailable_model_exits_with_one_clear_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run(
        [sys.executable, "-m", "cosmos_reason", "serve", "--model", "nvidia/Cosmos-Reason1-7B", "--port", "8765"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "nvidia/Cosmos-Reason1-7B" in lines[0] and "--model demo" in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_local_folder_is_explained(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cosmos_reason", "serve", "--model", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "--model demo" in result.stderr
