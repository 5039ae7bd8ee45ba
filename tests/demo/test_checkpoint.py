"""The demo checkpoint loads and behaves like the real Cosmos-Reason1-7B folder."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from cosmos_reason.demo import checkpoint as ck

SYSTEM_DEFAULT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
IMAGE_PART = "<|vision_start|><|image_pad|><|vision_end|>"
IMAGE_PAD_ID = 151655


@pytest.fixture(scope="module")
def model(demo_model_dir: Path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    loaded, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(demo_model_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    return loaded.eval()


@pytest.fixture(scope="module")
def processor(demo_model_dir: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(demo_model_dir)


def _image_messages(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def _encode(processor, width: int, height: int, text: str = "What happens next?"):
    prompt = processor.apply_chat_template(_image_messages(text), tokenize=False, add_generation_prompt=True)
    image = Image.new("RGB", (width, height), (40, 120, 200))
    return processor(text=[prompt], images=[image], return_tensors="pt")


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def test_folder_has_the_real_checkpoint_files(demo_model_dir: Path) -> None:
    names = {p.name for p in demo_model_dir.iterdir()}
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
        "preprocessor_config.json",
        "chat_template.json",
        "README.md",
        ck.MARKER_FILE,
    } <= names
    assert not [n for n in names if n.startswith(".")]


def test_config_keeps_real_ids_and_rope(demo_model_dir: Path) -> None:
    config = _read(demo_model_dir, "config.json")
    assert config["model_type"] == "qwen2_5_vl"
    assert config["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    ids = {k: config[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    assert ids == {
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
    }
    assert (config["bos_token_id"], config["eos_token_id"], config["vocab_size"]) == (151643, 151645, 152064)
    assert config["rope_scaling"] == {"type": "mrope", "mrope_section": [16, 24, 24]}
    assert config["hidden_size"] // config["num_attention_heads"] == 2 * sum([16, 24, 24]) == 128
    assert (config["rope_theta"], config["max_position_embeddings"]) == (1000000.0, 128000)
    vision = config["vision_config"]
    assert (vision["patch_size"], vision["spatial_merge_size"], vision["temporal_patch_size"]) == (14, 2, 2)
    assert (vision["tokens_per_second"], vision["window_size"], vision["in_chans"]) == (2, 112, 3)
    assert vision["out_hidden_size"] == config["hidden_size"]
    assert all(0 <= i < vision["depth"] for i in vision["fullatt_block_indexes"])


def test_generation_and_processor_configs(demo_model_dir: Path) -> None:
    generation = _read(demo_model_dir, "generation_config.json")
    assert (generation["bos_token_id"], generation["pad_token_id"]) == (151643, 151643)
    assert generation["eos_token_id"] == [151645, 151643]
    assert _read(demo_model_dir, "preprocessor_config.json") == {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor",
    }


def test_model_loads_with_real_classes(model, demo_model_dir: Path) -> None:
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert model.dtype == torch.float32
    assert sum(p.numel() for p in model.parameters()) == ck.param_count("tiny")
    assert model.config.text_config.rope_parameters["mrope_section"] == [16, 24, 24]
    assert model.generation_config.eos_token_id == [151645, 151643]


def test_chat_template_renders_chatml_with_default_system(processor) -> None:
    rendered = processor.apply_chat_template(
        _image_messages("Describe it."), tokenize=False, add_generation_prompt=True
    )
    assert rendered == f"{SYSTEM_DEFAULT}<|im_start|>user\n{IMAGE_PART}Describe it.<|im_end|>\n<|im_start|>assistant\n"
    with_system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert processor.apply_chat_template(with_system, tokenize=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    )
    video = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "?"}]}]
    assert "<|vision_start|><|video_pad|><|vision_end|>?" in processor.apply_chat_template(video, tokenize=False)


@pytest.mark.parametrize(("width", "height"), [(84, 56), (150, 100)])
def test_image_tokens_follow_smart_resize(processor, width: int, height: int) -> None:
    inputs = _encode(processor, width, height)
    # smart resize: each side rounded to a multiple of 28 (patch 14 x merge 2), then one token per 28x28
    grid_h, grid_w = round(height / 28) * 2, round(width / 28) * 2
    assert inputs["image_grid_thw"].tolist() == [[1, grid_h, grid_w]]
    assert int((inputs["input_ids"] == IMAGE_PAD_ID).sum()) == grid_h * grid_w // 4
    assert inputs["pixel_values"].shape == (grid_h * grid_w, 3 * 2 * 14 * 14)
    assert "mm_token_type_ids" in inputs


def test_forward_gives_full_vocab_logits(model, processor) -> None:
    inputs = _encode(processor, 84, 56)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], 152064)
    assert torch.isfinite(logits).all()


def test_generate_produces_tokens(model, processor) -> None:
    inputs = _encode(processor, 84, 56)
    prompt_len = inputs["input_ids"].shape[1]
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    new = out[0, prompt_len:]
    assert new.shape == (4,)
    assert all(0 <= int(t) < 152064 for t in new)


def test_marker_detected(demo_model_dir: Path, tmp_path: Path) -> None:
    marker = ck.read_demo_marker(demo_model_dir)
    assert marker is not None
    assert marker["random_weights"] is True and marker["size"] == "tiny" and marker["seed"] == 0
    assert "meaningless" in marker["note"]
    assert "random weights" in (demo_model_dir / "README.md").read_text(encoding="utf-8").lower()
    assert ck.read_demo_marker(tmp_path) is None
    (tmp_path / ck.MARKER_FILE).write_text("not json", encoding="utf-8")
    assert ck.read_demo_marker(tmp_path) is None


def test_second_ensure_is_instant(demo_model_dir: Path, demo_cache_dir: Path) -> None:
    start = time.perf_counter()
    again = ck.ensure_demo_model("tiny", cache_dir=demo_cache_dir)
    assert time.perf_counter() - start < 0.5
    assert again == demo_model_dir


def test_default_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COSMOS_REASON_CACHE", str(tmp_path))
    assert ck.default_cache_dir() == tmp_path
    monkeypatch.delenv("COSMOS_REASON_CACHE")
    assert ck.default_cache_dir() == Path.home() / ".cache" / "cosmos-reason"


def test_refuses_to_overwrite_a_non_demo_folder(tmp_path: Path) -> None:
    real = tmp_path / "real-model"
    real.mkdir()
    (real / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FileExistsError):
        ck.make_demo_model(real)
    assert (real / "config.json").read_text(encoding="utf-8") == "{}"


def test_unknown_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown demo size"):
        ck.make_demo_model(tmp_path / "x", size="13b")


def test_crash_leaves_no_half_checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def crash(*_args: object) -> None:
        raise RuntimeError("simulated crash while writing weights")

    monkeypatch.setattr(ck, "write_weights", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ck.make_demo_model(tmp_path / "demo")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_ensure_builds_once(tmp_path: Path) -> None:
    """Two processes race on an empty cache: one builds, the other waits and reuses it.
    The build is replaced by a slow stand-in so the test checks the locking, fast."""
    script = textwrap.dedent(
        """
        import json, sys, time
        from pathlib import Path
        from cosmos_reason.demo import checkpoint as ck

        def slow_build(out_dir, size="tiny", seed=0):
            with open(Path(sys.argv[1]) / "builds.log", "a") as log:
                log.write("build\\n")
            time.sleep(1.0)
            out_dir.mkdir(parents=True)
            (out_dir / ck.MARKER_FILE).write_text(json.dumps(ck.marker_dict(size, seed)))
            return out_dir

        ck.make_demo_model = slow_build
        print(ck.ensure_demo_model("tiny", cache_dir=Path(sys.argv[1]) / "cache"))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1] == str(tmp_path.absolute() / "cache" / "demo-tiny-v1")
    assert (tmp_path / "builds.log").read_text().splitlines() == ["build"]


def test_param_counts_per_size() -> None:
    assert 20e6 <= ck.param_count("tiny") <= 60e6
    assert math.isclose(ck.param_count("0.5b"), 0.5e9, rel_tol=0.1)
    assert ck.param_count("7b") == 8_292_166_656  # Cosmos-Reason1-7B: about 8.29 B


def test_7b_shards_stay_under_limit() -> None:
    shapes = ck.weight_shapes("7b")
    shards = ck._plan_shards(shapes, itemsize=2)
    assert len(shards) == 4
    assert sorted(n for shard in shards for n in shard) == sorted(shapes)
    for shard in shards:
        assert sum(2 * math.prod(shapes[n]) for n in shard) <= ck.SHARD_LIMIT_BYTES
