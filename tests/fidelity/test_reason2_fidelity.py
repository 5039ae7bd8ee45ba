"""Cosmos-Reason2 preprocessing against a reference we did not write (docs/reason2.md#fidelity).

The reference is the Reason2 repo's own stack, transformers 4.57.3's Qwen3VLProcessor fed by
qwen-vl-utils 0.0.14, run by tests/fidelity/reference_reason2.py in its own virtualenv
(.venv-ref, `make reference`). Its outputs for the fixed cases of cases_reason2.json are
committed under golden/reason2/. Here:

* ours (the server's path: a chat request with file:// media -> MediaLoader -> the hf engine's
  build_inputs with the demo checkpoint's processor) must give the goldens' input ids, grids,
  `<t seconds>` timestamps and kept frames exactly, and pixel values bit for bit (SHA-256 of the
  float32 pixels), except where frames are shrunk (cases with reference_arrays): there at most one
  level apart in at most 1e-5 of the values, against the reference's stored levels;
* the chat template renders every golden conversation the same way;
* the demo checkpoint's processor has the real checkpoints' settings;
* when .venv-ref exists (`make test` builds it), the script still reproduces the goldens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cosmos_reason.engine.base import Conversation, ImageInput, Text, Turn, VideoInput
from cosmos_reason.engine.hf.inputs import prompt_text
from tests.fidelity.ours_reason2 import GOLDEN, HERE, load_spec, our_inputs, summary

SPEC = load_spec()
CASES = {case["name"]: case for case in SPEC["cases"]}
ROOT = HERE.parent.parent
REFERENCE_PYTHON = Path(os.environ.get("COSMOS_REASON_REFERENCE_PYTHON", ROOT / ".venv-ref" / "bin" / "python"))


def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def processor(reason2_model_dir: Path) -> Any:
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(reason2_model_dir)


@pytest.mark.parametrize("name", list(CASES))
def test_ours_equals_the_reference(processor: Any, name: str) -> None:
    inputs, conversation = our_inputs(processor, SPEC, CASES[name])
    ours = summary(processor, inputs)
    want = golden(name)["processor"]
    assert ours["input_ids"] == want["input_ids"]  # as [id, repeat] runs
    assert ours.get("image_grid_thw") == want.get("image_grid_thw")
    assert ours.get("video_grid_thw") == want.get("video_grid_thw")
    assert ours["timestamps"] == want["timestamps"]
    for key in ("pixel_values", "pixel_values_videos"):
        if ours.get(key) == want.get(key):
            continue  # bit for bit
        arrays = GOLDEN / f"{name}.npz"
        assert arrays.exists(), f"{key}: shape or bytes differ from the reference"
        assert _levels_apart(inputs[key], np.load(arrays)[key]) == pytest.approx(0, abs=ONE_LEVEL_SHARE)
    kept = [
        {"frames_indices": list(v.frame_indices), "fps": v.fps, "total_num_frames": v.clip_frames}
        for v in conversation.videos()
    ]
    reference = [{k: v[k] for k in ("frames_indices", "fps", "total_num_frames")} for v in golden(name)["videos"]]
    assert kept == reference


#: Where frames are shrunk our resize (media/resize.py: torch's own bicubic weights as matrix products)
#: may round a value the other way: at most one level, in at most this share of the values.
ONE_LEVEL_SHARE = 1e-5


def _levels_apart(ours: Any, reference: np.ndarray) -> float:
    """Share of pixel values one level (of 0..255) from the reference's; asserts none is further."""
    mine = (ours.detach().double().numpy() + 1.0) * 127.5
    assert mine.shape == reference.shape
    diff = np.abs(mine - reference.astype(np.float64))
    assert diff.max() <= 1 + 1e-4
    return float((diff > 1e-3).mean())


def test_the_cases_cover_what_the_issue_lists() -> None:
    """Text, one and several images, odd aspect ratios, short and 60 s videos, start/end, per-request options."""
    media = {item.get("image") or item.get("video") for case in SPEC["cases"] for item in case["content"]}
    assert {"photo.jpg", "wide.png", "tall.png", "short.mp4", "long.mp4"} <= media
    keys = {k for case in SPEC["cases"] for item in case["content"] for k in item}
    assert {"fps", "nframes", "min_pixels", "max_pixels", "total_pixels", "video_start", "video_end"} <= keys
    assert golden("video_60s")["videos"][0]["total_num_frames"] / golden("video_60s")["videos"][0]["fps"] == 60


def test_video_defaults_are_the_familys(processor: Any) -> None:
    """The reference gets Reason2's defaults spelled out; our server must apply the same ones itself."""
    from cosmos_reason.families.reason2 import REASON2

    assert SPEC["video_defaults"] == {"fps": REASON2.video.fps, "total_pixels": REASON2.video.total_pixels}


# ---- the chat template -------------------------------------------------------------------


def _conversation(messages: list[dict[str, Any]]) -> Conversation:
    """A golden template conversation as the engine holds it (media as placeholders)."""
    turns = []
    for message in messages:
        parts: list[Any] = []
        for item in message["content"]:
            if item["type"] == "text":
                parts.append(Text(item["text"]))
            elif item["type"] == "image":
                parts.append(ImageInput(None))  # type: ignore[arg-type]
            else:
                parts.append(VideoInput(None))
        turns.append(Turn(message["role"], tuple(parts)))
    return Conversation(tuple(turns))


@pytest.mark.parametrize("name", list(SPEC["templates"]))
def test_chat_template_renders_like_the_reference(processor: Any, name: str) -> None:
    rendered = json.loads((GOLDEN / "templates.json").read_text(encoding="utf-8"))
    assert prompt_text(processor, _conversation(SPEC["templates"][name])) == rendered[name]


def test_several_media_are_not_numbered_as_in_the_reason2_repo(processor: Any) -> None:
    """Reason2's inference.py asks for `add_vision_ids=True` but Qwen3-VL's template reads `add_vision_id`,
    so its prompts carry no "Picture 1:"/"Video 1:" labels: ours neither. The template can number them."""
    rendered = json.loads((GOLDEN / "templates.json").read_text(encoding="utf-8"))
    assert rendered["several_media_add_vision_ids"] == rendered["several_media"]
    assert "Picture 2: <|vision_start|>" in rendered["several_media_add_vision_id"]
    numbered = processor.apply_chat_template(
        SPEC["templates"]["several_media"], tokenize=False, add_generation_prompt=True, add_vision_id=True
    )
    assert numbered == rendered["several_media_add_vision_id"]


def test_demo_processor_has_the_real_checkpoints_settings(reason2_model_dir: Path) -> None:
    saved = json.loads((reason2_model_dir / "processor_config.json").read_text(encoding="utf-8"))
    for part, file in (
        ("image_processor", "preprocessor_config.json"),
        ("video_processor", "video_preprocessor_config.json"),
    ):
        real = json.loads((HERE / "reason2_processor" / file).read_text(encoding="utf-8"))
        ignored = {"image_processor_type", "video_processor_type", "processor_class"}
        assert {k: v for k, v in real.items() if k not in ignored} == {
            k: saved[part].get(k) for k in real if k not in ignored
        }, part


# ---- the reference itself ----------------------------------------------------------------


@pytest.mark.skipif(not REFERENCE_PYTHON.exists(), reason="no .venv-ref (make reference builds it; make test does)")
def test_the_reference_script_still_reproduces_the_goldens(reason2_model_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [str(REFERENCE_PYTHON), str(HERE / "reference_reason2.py"), "--checkpoint", str(reason2_model_dir)]
        + ["--out", str(tmp_path)],
        check=True,
        timeout=540,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        stdout=sys.stderr,
    )
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in GOLDEN.iterdir())
    for name in written:
        if name.endswith(".npz"):
            again, kept = np.load(tmp_path / name), np.load(GOLDEN / name)
            assert sorted(again.files) == sorted(kept.files) and all(
                np.array_equal(again[k], kept[k]) for k in kept.files
            )
        else:
            assert json.loads((tmp_path / name).read_text()) == json.loads((GOLDEN / name).read_text()), name
