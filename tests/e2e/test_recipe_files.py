"""`cosmos-reason serve --model demo --recipes DIR`: the real server process lists a folder's
recipe and a request naming it is the same prompt as one that spells the recipe out."""

from __future__ import annotations

import httpx
import pytest

from cosmos_reason.server.process import ServerProcess

pytestmark = pytest.mark.e2e

SYSTEM = "You inspect warehouse shelves for hazards."
RECIPE = f"""\
system_prompt: |
  {SYSTEM}
user_prompt: Is anything about to fall?
sampling: {{temperature: 0, max_tokens: 6}}
"""


def test_a_folder_recipe_is_listed_and_asks_what_its_file_says(tmp_path, demo_model_dir, demo_cache_dir):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "shelf-hazards.yaml").write_text(RECIPE, encoding="utf-8")
    proc = ServerProcess(
        ["--model", "demo", "--recipes", str(folder)], env={"COSMOS_REASON_CACHE": str(demo_cache_dir)}
    )
    try:
        proc.wait_ready()
        with httpx.Client(base_url=proc.url, timeout=120) as client:
            names = [task["name"] for task in client.get("/v1/tasks").json()["data"]]
            assert names[-1] == "shelf_hazards" and "critic" in names
            by_task = client.post(
                "/v1/chat/completions", json={"messages": [{"role": "user", "content": ""}], "task": "shelf_hazards"}
            )
            spelled = client.post(
                "/v1/chat/completions",
                json={
                    "messages": [
                        {"role": "system", "content": SYSTEM},
                        {"role": "user", "content": "Is anything about to fall?"},
                    ],
                    "temperature": 0,
                    "max_tokens": 6,
                },
            )
    finally:
        proc.stop()
    assert by_task.status_code == 200 and spelled.status_code == 200, by_task.text
    # greedy on the same prompt: the same tokens, so the task's prompt is exactly the file's
    assert by_task.json()["usage"] == spelled.json()["usage"]
    assert by_task.json()["choices"][0]["message"]["content"] == spelled.json()["choices"][0]["message"]["content"]
