"""The reference for Cosmos-Reason2 preprocessing: writes what the Reason2 repo's own stack makes of
the fixed cases (tests/fidelity/cases_reason2.json), for tests/fidelity/test_reason2_fidelity.py to
compare ours with.

Runs in its own environment, never the project's: `.venv-ref` (`make reference`), with
transformers 4.57.x, qwen-vl-utils 0.0.14 and decord (tests/fidelity/requirements-ref.txt).
It imports nothing from this project. The steps are those of the cosmos-reason2 repo's offline
inference (cosmos_reason2_utils/script/inference.py):

1. `processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True,
   add_vision_ids=<more than one media item>)`;
2. `qwen_vl_utils.process_vision_info(conversation, image_patch_size=16, return_video_kwargs=True,
   return_video_metadata=True)` (decord reader);
3. the processor on the prompt, the images, the videos and their metadata, with the returned
   video kwargs (`do_sample_frames=False`), as vLLM calls it for that script; and, as a second
   form, with `do_resize=False` added, as Qwen3-VL's README calls it.

The processor is `AutoProcessor.from_pretrained` on a folder holding the real checkpoints'
`preprocessor_config.json` / `video_preprocessor_config.json` (tests/fidelity/reason2_processor/)
and the given checkpoint's tokenizer and chat template.

    .venv-ref/bin/python tests/fidelity/reference_reason2.py --checkpoint DIR --out DIR

writes, per case, CASE.json (the template's prompt, input_ids as [id, repeat] runs, grids,
the `<t seconds>` timestamps read back from the ids, the kept frame indices and fps, pixel
shapes and the SHA-256 of their float32 bytes), templates.json (the chat template's text for a
set of conversations) and versions.json. For cases marked reference_arrays (or all, with
--arrays) also CASE.npz: the pixel values as the
0..255 levels they were normalised from, (p + 1) * 127.5, to see how far a mismatch goes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # read when qwen_vl_utils is imported

import numpy as np  # noqa: E402
import qwen_vl_utils  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoProcessor  # noqa: E402

HERE = Path(__file__).resolve().parent
PATCH_SIZE = 16
TIMESTAMP = re.compile(r"<(\d+(?:\.\d+)?) seconds>")


def processor_folder(checkpoint: Path, folder: Path) -> Path:
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(checkpoint / name, folder / name)
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        shutil.copy(HERE / "reason2_processor" / name, folder / name)
    return folder


def conversation(spec: dict[str, Any], case: dict[str, Any], media: Path) -> list[dict[str, Any]]:
    """The case as qwen-vl-utils reads it: media paths, each video with Reason2's defaults spelled out."""
    content = []
    for item in case["content"]:
        item = dict(item)
        if item["type"] == "image":
            item["image"] = str(media / item["image"])
        elif item["type"] == "video":
            item["video"] = str(media / item["video"])
            defaults = dict(spec["video_defaults"])
            if "nframes" in item:
                defaults.pop("fps")  # qwen-vl-utils takes fps or nframes, never both
            item = {**defaults, **item}
        content.append(item)
    return [
        {"role": "system", "content": [{"type": "text", "text": spec["system"]}]},
        {"role": "user", "content": content},
    ]


def digest(tensor: torch.Tensor) -> dict[str, Any]:
    array = tensor.detach().to(torch.float32).contiguous().numpy()
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def levels(tensor: torch.Tensor) -> np.ndarray:
    """Pixel values back on the 0..255 scale they were normalised from (mean = std = 0.5)."""
    value = (tensor.detach().to(torch.float64).numpy() + 1.0) * 127.5
    whole = np.rint(value)
    if np.all(np.abs(value - whole) < 1e-3):
        return whole.astype(np.uint8)
    return value.astype(np.float32)


def runs(ids: list[int]) -> list[list[int]]:
    """Token ids as [id, repeat] runs: a video's thousands of pads take one entry."""
    out: list[list[int]] = []
    for token in ids:
        if out and out[-1][0] == token:
            out[-1][1] += 1
        else:
            out.append([token, 1])
    return out


def run_case(
    processor: Any, spec: dict[str, Any], case: dict[str, Any], media: Path, out: Path, arrays_too: bool = False
) -> None:
    messages = conversation(spec, case, media)
    count = sum(item["type"] in ("image", "video") for item in case["content"])
    prompt = processor.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, add_vision_ids=count > 1
    )
    images, videos, video_kwargs = qwen_vl_utils.process_vision_info(
        messages, image_patch_size=PATCH_SIZE, return_video_kwargs=True, return_video_metadata=True
    )
    metadata = None
    if videos is not None:
        videos, metadata = (list(x) for x in zip(*videos, strict=True))
    base = {"text": [prompt], "images": images, "videos": videos, "return_tensors": "pt", **video_kwargs}
    if metadata is not None:
        base["video_metadata"] = metadata
    forms = {"processor": processor(**base), "do_resize_false": processor(**base, do_resize=False)}
    result: dict[str, Any] = {"template_prompt": prompt, "video_kwargs": video_kwargs}
    arrays: dict[str, np.ndarray] = {}
    for form, inputs in forms.items():
        ids = inputs["input_ids"][0].tolist()
        text = processor.tokenizer.decode(ids)
        entry: dict[str, Any] = {
            "input_ids": runs(ids),
            "timestamps": [float(t) for t in TIMESTAMP.findall(text)],
        }
        for key in ("image_grid_thw", "video_grid_thw"):
            if key in inputs:
                entry[key] = inputs[key].tolist()
        for key in ("pixel_values", "pixel_values_videos"):
            if key in inputs:
                entry[key] = digest(inputs[key])
                if arrays_too and form == "processor":
                    arrays[key] = levels(inputs[key])
        result[form] = entry
    result["videos"] = [
        {
            "frames_indices": [int(i) for i in m["frames_indices"]],
            "fps": float(m["fps"]),
            "total_num_frames": int(m["total_num_frames"]),
            "shape": list(v.shape),
        }
        for v, m in zip(videos or [], metadata or [], strict=True)
    ]
    (out / f"{case['name']}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if arrays:
        np.savez_compressed(out / f"{case['name']}.npz", **arrays)


def templates(processor: Any, conversations: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    for name, messages in conversations.items():
        rendered[name] = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    several = conversations["several_media"]
    # Reason2's inference.py passes add_vision_ids (plural); the template reads add_vision_id.
    rendered["several_media_add_vision_ids"] = processor.apply_chat_template(
        several, tokenize=False, add_generation_prompt=True, add_vision_ids=True
    )
    rendered["several_media_add_vision_id"] = processor.apply_chat_template(
        several, tokenize=False, add_generation_prompt=True, add_vision_id=True
    )
    return rendered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="demo:reason2 folder (tokenizer, template)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cases", type=Path, default=HERE / "cases_reason2.json")
    parser.add_argument("--media", type=Path, default=HERE / "media")
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    parser.add_argument("--arrays", action="store_true", help="also write each case's pixel levels (CASE.npz)")
    args = parser.parse_args()
    spec = json.loads(args.cases.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        processor = AutoProcessor.from_pretrained(processor_folder(args.checkpoint, Path(folder)))
    versions = {
        "transformers": transformers.__version__,
        "qwen_vl_utils": qwen_vl_utils.__version__ if hasattr(qwen_vl_utils, "__version__") else "0.0.14",
        "torch": torch.__version__,
        "reader": qwen_vl_utils.vision_process.get_video_reader_backend(),
        "image_processor": type(processor.image_processor).__name__,
        "video_processor": type(processor.video_processor).__name__,
    }
    for case in spec["cases"]:
        if args.only and case["name"] not in args.only:
            continue
        run_case(processor, spec, case, args.media, args.out, args.arrays or case.get("reference_arrays", False))
        print(f"{case['name']}: done", file=sys.stderr)
    (args.out / "templates.json").write_text(
        json.dumps(templates(processor, spec["templates"]), indent=1) + "\n", encoding="utf-8"
    )
    (args.out / "versions.json").write_text(json.dumps(versions, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
