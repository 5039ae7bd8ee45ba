"""The user guide's curl command and Python script, run as written.

Only the guide's placeholders are filled in (server address, key, model name,
base64 payload) and its remote media URLs point at a localhost file server,
since nothing else is reachable here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media_factory import mp4_bytes, png_bytes

from .conftest import API_KEY, MODEL_NAME

pytestmark = pytest.mark.e2e

GUIDE = Path(__file__).with_name("user_guide.md")
SEED = Path(__file__).parents[3] / "shared" / "seed" / "000_cd7b3433ea0e9805.txt"
REMOTE_IMAGE = "https://qianwen-res.oss-cn-beijing.aliyuncs.com/QVQ/demo.png"
REMOTE_VIDEO = (
    "https://pai-quickstart-predeploy-hangzhou.oss-cn-hangzhou.aliyuncs.com/"
    "modelscope/algorithms/ms-swift/video_demo.mp4"
)


def code_block(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.S)
    assert match, f"no {language} block in the guide"
    return match.group(1)


def test_vendored_guide_is_the_seed():
    if SEED.exists():
        assert GUIDE.read_text() == SEED.read_text()


def test_guide_curl_with_bare_key_and_post_in_mixed_case(server):
    import base64

    command = (
        code_block("bash")
        .replace("${ServerIP}:8000", f"127.0.0.1:{server.port}")
        .replace("${ApiKey}", API_KEY)
        .replace("${ModelName}", MODEL_NAME)
        .replace("<base64 encoded image format>", base64.b64encode(png_bytes()).decode())
    )
    assert "-X Post" in command and f'"Authorization: {API_KEY}"' in command
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["object"] == "chat.completion", body
    assert isinstance(body["choices"][0]["message"]["content"], str)
    assert body["usage"]["prompt_tokens"] > 0


def test_guide_python_script_streams_image_and_video(server, static_files, tmp_path):
    root, base = static_files
    (root / "demo.png").write_bytes(png_bytes(120, 90))
    (root / "video_demo.mp4").write_bytes(mp4_bytes(seconds=2.0))
    script = (
        code_block("python")
        .replace("${ApiKey}", API_KEY)
        .replace("${ServerUrl}", f"{server.url}/v1")
        .replace(REMOTE_IMAGE, f"{base}/demo.png")
        .replace(REMOTE_VIDEO, f"{base}/video_demo.mp4")
    )
    # A None delta would print "None"; so can the random demo model (its vocabulary has
    # such pieces), so the check sits at the print itself instead of in the output.
    printed = 'print(chunk.choices[0].delta.content, end="")'
    assert script.count(printed) == 2
    script = script.replace(printed, f'assert chunk.choices[0].delta.content is not None, "a None delta"; {printed}')
    path = tmp_path / "guide_example.py"
    path.write_text(script)
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the script printed no answer"
    assert "Traceback" not in result.stderr
