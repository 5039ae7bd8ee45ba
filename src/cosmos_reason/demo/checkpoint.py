"""Build a random-weight Qwen2.5-VL checkpoint shaped like Cosmos-Reason1-7B.

No model can be downloaded where this project is developed and tested, so the
server, the tests and the benchmarks run on a locally built checkpoint folder
that carries the real files (config, tokenizer, processor, chat template,
generation config) with the real token ids and rope layout, at a chosen size,
and random weights. A marker file tells everyone the answers are meaningless.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import reason2
from .tokenizer import build_tokenizer_files, chat_template

MARKER_FILE = "cosmos_reason_demo.json"
FORMAT_VERSION = 1  # bump when the folder layout changes: cached folders are then rebuilt
RANDOM_NOTE = "random weights: answers are meaningless"
PREPROCESSOR_FILE = Path(__file__).with_name("preprocessor_config.json")
SHARD_LIMIT_BYTES = 4 * 1024**3  # like the real checkpoint: several ~4 GB shards for 7B
INIT_STD = 0.02  # Qwen2.5-VL's initializer_range


@dataclass(frozen=True)
class DemoShape:
    """Widths of one demo size. Text head_dim must stay 128 (= hidden/heads):
    mrope_section [16, 24, 24] covers 64 rotary pairs, and transformers 5.x
    attention derives head_dim from hidden/heads, ignoring any head_dim key."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vision_depth: int
    vision_hidden: int
    vision_intermediate: int
    vision_heads: int
    fullatt_blocks: list[int] = field(default_factory=list)
    dtype: str = "float32"


SIZES: dict[str, DemoShape] = {
    # ~39 M params, almost all of it the two 152064 x 128 embedding matrices.
    "tiny": DemoShape(128, 256, 2, 1, 1, 4, 64, 128, 2, [1, 3], "float32"),
    # ~0.5 B params for CPU benchmarks; bf16 like the real checkpoint.
    "0.5b": DemoShape(1024, 2816, 14, 8, 2, 8, 512, 1368, 8, [3, 7], "bfloat16"),
    # The real Cosmos-Reason1-7B / Qwen2.5-VL-7B shapes (~8.29 B params, ~15.4 GiB).
    "7b": DemoShape(3584, 18944, 28, 28, 4, 32, 1280, 3420, 16, [7, 15, 23, 31], "bfloat16"),
}


#: Demo checkpoints of another model family, by name (demo/reason2.py).
OTHER_FAMILIES = ("reason2",)


def _shape(size: str) -> DemoShape:
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {sorted(SIZES) + list(OTHER_FAMILIES)}")
    return SIZES[size]


def _check_size(size: str) -> None:
    if size not in OTHER_FAMILIES:
        _shape(size)


def config_dict(size: str) -> dict:
    """config.json in the flat layout the real checkpoint uses (text keys at top level)."""
    s = _shape(size)
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "vision_token_id": 151654,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "hidden_act": "silu",
        "hidden_size": s.hidden,
        "initializer_range": INIT_STD,
        "intermediate_size": s.intermediate,
        "max_position_embeddings": 128000,
        "max_window_layers": s.layers,
        "model_type": "qwen2_5_vl",
        "num_attention_heads": s.heads,
        "num_hidden_layers": s.layers,
        "num_key_value_heads": s.kv_heads,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": False,
        "torch_dtype": s.dtype,
        "use_cache": True,
        "use_sliding_window": False,
        "vision_config": {
            "depth": s.vision_depth,
            "hidden_act": "silu",
            "hidden_size": s.vision_hidden,
            "intermediate_size": s.vision_intermediate,
            "num_heads": s.vision_heads,
            "in_chans": 3,
            "out_hidden_size": s.hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "spatial_patch_size": 14,
            "window_size": 112,
            "fullatt_block_indexes": list(s.fullatt_blocks),
            "tokens_per_second": 2,
            "temporal_patch_size": 2,
        },
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "vocab_size": 152064,
    }


def generation_config_dict() -> dict:
    """generation_config.json as Qwen2.5-VL-7B-Instruct ships it."""
    return {
        "bos_token_id": 151643,
        "pad_token_id": 151643,
        "do_sample": True,
        "eos_token_id": [151645, 151643],
        "repetition_penalty": 1.05,
        "temperature": 0.1,
        "top_p": 0.001,
        "top_k": 1,
        "transformers_version": "4.37.0",
    }


def _checkpoint_name(module_name: str) -> str:
    """transformers 5.x module names -> the names stored in the real checkpoint
    (`model.layers...`, `visual.blocks...`, `lm_head.weight`); loading maps them back."""
    if module_name.startswith("model.language_model."):
        return "model." + module_name[len("model.language_model.") :]
    if module_name.startswith("model.visual."):
        return module_name[len("model.") :]
    return module_name


def weight_shapes(size: str) -> dict[str, tuple[int, ...]]:
    """Checkpoint tensor names and shapes, read off a model built on the meta device
    (no memory, no init), so they always match what transformers expects."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    config = Qwen2_5_VLConfig(**config_dict(size))
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(config)
    return {_checkpoint_name(name): tuple(p.shape) for name, p in model.named_parameters()}


def param_count(size: str) -> int:
    """Parameters of a demo size, computed without building it."""
    return sum(math.prod(shape) for shape in weight_shapes(size).values())


def _random_tensor(name: str, shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Qwen2.5-VL-style init: norms 1, biases 0, matrices N(0, 0.02)."""
    if name.endswith(".bias"):
        return torch.zeros(shape, dtype=dtype)
    if len(shape) == 1:
        return torch.ones(shape, dtype=dtype)
    return torch.empty(shape, dtype=torch.float32).normal_(0.0, INIT_STD, generator=gen).to(dtype)


def _plan_shards(shapes: dict[str, tuple[int, ...]], itemsize: int) -> list[list[str]]:
    """Group tensor names into shards of at most SHARD_LIMIT_BYTES (one shard if it all fits)."""
    shards: list[list[str]] = [[]]
    used = 0
    for name, shape in shapes.items():
        nbytes = itemsize * math.prod(shape)
        if shards[-1] and used + nbytes > SHARD_LIMIT_BYTES:
            shards.append([])
            used = 0
        shards[-1].append(name)
        used += nbytes
    return shards


def write_weights(out_dir: Path, size: str, seed: int) -> None:
    """Write model.safetensors (or shards + index), one shard in memory at a time,
    so even the 7B shapes build without holding the whole model in RAM."""
    dtype = getattr(torch, _shape(size).dtype)
    shapes = weight_shapes(size)
    shards = _plan_shards(shapes, torch.empty(0, dtype=dtype).element_size())
    gen = torch.Generator().manual_seed(seed)
    weight_map: dict[str, str] = {}
    total = 0
    for index, names in enumerate(shards, start=1):
        filename = "model.safetensors" if len(shards) == 1 else f"model-{index:05d}-of-{len(shards):05d}.safetensors"
        tensors = {name: _random_tensor(name, shapes[name], gen, dtype) for name in names}
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        save_file(tensors, str(out_dir / filename), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, filename))
        del tensors
    if len(shards) > 1:
        index_data = {"metadata": {"total_size": total}, "weight_map": weight_map}
        _write_json(out_dir / "model.safetensors.index.json", index_data)


def marker_dict(size: str, seed: int) -> dict:
    return {
        "random_weights": True,
        "size": size,
        "seed": seed,
        "note": RANDOM_NOTE,
        "format_version": FORMAT_VERSION,
        "shapes_of": "nvidia/Cosmos-Reason1-7B (Qwen2.5-VL-7B-Instruct)",
    }


def _model_card(size: str, seed: int) -> str:
    s = _shape(size)
    return (
        f"# Cosmos-Reason1 demo checkpoint ({size}, random weights)\n\n"
        f"**Random weights: answers are meaningless.** Built locally by `cosmos_reason.demo` "
        f"(seed {seed}) for tests, demos and benchmarks where the real model can't be downloaded.\n\n"
        "It carries the real files of nvidia/Cosmos-Reason1-7B (a Qwen2.5-VL-7B-Instruct fine-tune): "
        "the Qwen2 vocabulary and token ids, the Qwen2.5-VL chat template, processor and "
        "generation settings, and the mrope layout, so it loads and preprocesses like the real one.\n\n"
        f"- text: {s.layers} layers, hidden {s.hidden}, {s.heads} heads, {s.kv_heads} KV heads, vocab 152064\n"
        f"- vision: depth {s.vision_depth}, hidden {s.vision_hidden}, patch 14, merge 2\n"
        f"- dtype: {s.dtype}\n\n"
        f"Marker: `{MARKER_FILE}` (`random_weights: true`).\n"
    )


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_checkpoint(out_dir: Path, size: str, seed: int) -> None:
    if size == reason2.SIZE:
        reason2.write_checkpoint(out_dir, seed, _reason2_marker(seed), MARKER_FILE)
        return
    _write_json(out_dir / "config.json", config_dict(size))
    _write_json(out_dir / "generation_config.json", generation_config_dict())
    build_tokenizer_files(out_dir)
    shutil.copyfile(PREPROCESSOR_FILE, out_dir / "preprocessor_config.json")
    _write_json(out_dir / "chat_template.json", {"chat_template": chat_template()})
    write_weights(out_dir, size, seed)
    (out_dir / "README.md").write_text(_model_card(size, seed), encoding="utf-8")
    _write_json(out_dir / MARKER_FILE, marker_dict(size, seed))  # last: a marker means complete


def _reason2_marker(seed: int) -> dict:
    marker = marker_dict(reason2.SIZE, seed)
    marker["shapes_of"] = "nvidia/Cosmos-Reason2 (Qwen3-VL), toy widths"
    return marker


def read_demo_marker(path: Path | str) -> dict | None:
    """The demo marker of a checkpoint folder, or None if it isn't a demo checkpoint."""
    try:
        data = json.loads((Path(path) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("random_weights") is not True:
        return None
    return data


def _is_replaceable(path: Path) -> bool:
    """Only an empty folder or an older demo build may be replaced: never clobber a real model."""
    return not path.exists() or (path.is_dir() and (not any(path.iterdir()) or read_demo_marker(path) is not None))


def _make_readable(folder: Path) -> None:
    """mkdtemp (and safetensors) create owner-only modes; a model folder is meant to be shared."""
    os.chmod(folder, 0o755)
    for item in folder.iterdir():
        os.chmod(item, 0o644)


def _install(built: Path, out_dir: Path) -> None:
    """Move the finished build into place with renames, so readers see all or nothing."""
    if out_dir.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rename(out_dir, trash / "old")
        os.rename(built, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(built, out_dir)


def make_demo_model(out_dir: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Build the demo checkpoint into `out_dir` (atomically) and return its path.

    The folder is assembled in a temporary sibling and renamed into place, so a
    crash never leaves a half checkpoint. An existing demo build is replaced; any
    other non-empty folder is refused.
    """
    _check_size(size)
    out_dir = Path(out_dir).absolute()
    if not _is_replaceable(out_dir):
        raise FileExistsError(f"{out_dir} exists and is not a demo checkpoint; refusing to overwrite it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        _write_checkpoint(building, size, seed)
        _make_readable(building)
        try:
            _install(building, out_dir)
        except OSError:
            # Lost a race with another builder: keep theirs if it is complete.
            if read_demo_marker(out_dir) is None:
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return out_dir


def default_cache_dir() -> Path:
    env = os.environ.get("COSMOS_REASON_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cosmos-reason"


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """An inter-process lock so concurrent callers build once; without fcntl
    (non-POSIX) the atomic rename in make_demo_model still keeps folders whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _is_current(path: Path, size: str) -> bool:
    marker = read_demo_marker(path)
    return marker is not None and marker.get("size") == size and marker.get("format_version") == FORMAT_VERSION


def ensure_demo_model(size: str = "tiny", cache_dir: Path | None = None) -> Path:
    """Return the cached demo checkpoint of `size`, building it on first use.

    Default cache: $COSMOS_REASON_CACHE or ~/.cache/cosmos-reason, folder
    `demo-<size>-v<FORMAT_VERSION>`. Safe when several processes call it at once.
    """
    _check_size(size)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache.absolute() / f"demo-{size}-v{FORMAT_VERSION}"
    if _is_current(target, size):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache / f".demo-{size}-v{FORMAT_VERSION}.lock"):
        if not _is_current(target, size):  # another process may have built it while we waited
            make_demo_model(target, size=size, seed=0)
    return target
