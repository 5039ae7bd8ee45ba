"""`cosmos-reason frames VIDEO --out DIR`: the frames a model sees of a video, as PNG files.

Nothing here samples or resizes on its own: the video goes through the server's media
loader (media/loader.py: the same sources, option layering, decoder, frame selection,
resize and `timestamp` overlay) with the model family's defaults, and the frames then go
through the engine's own processor call (engine/hf/inputs.py `build_inputs`, the model's
processor and chat template), which gives the token count, the grid and, for Reason2, the
`<t seconds>` text the prompt carries before each temporal patch.

The model comes from `--model` (a hub id, a checkpoint folder, `demo` or `demo:reason2`);
only its config and processor files are read, never its weights. Without `--model` it is
`demo`, the built-in demo checkpoint (built once, no download), which carries
Cosmos-Reason1-7B's processor files: Reason1's defaults. See docs/frames.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..families.base import ModelFamily
    from ..media.options import MediaOptions
    from ..media.video import DecodedVideo

#: The flags that are media options (MediaOptions' names), with their help.
OPTION_FLAGS = {
    "fps": "frames sampled per second of video (default: the model family's)",
    "nframes": "sample exactly N frames instead of by --fps",
    "min_pixels": "smallest frame size in pixels",
    "max_pixels": "largest frame size in pixels",
    "total_pixels": "pixel budget of the whole video, shared by its frames",
    "min_frames": "fewest frames --fps sampling may give",
    "max_frames": "most frames --fps sampling may give",
    "video_start": "seconds: sample from here",
    "video_end": "seconds: sample up to here",
}
#: `<t seconds>` as the Qwen3-VL processor writes it before each temporal patch.
TEXT_TIMESTAMP = re.compile(r"<(\d+(?:\.\d+)?) seconds>")
DEFAULT_MODEL = "demo"


class FramesError(Exception):
    """Input the command cannot use; the message is one line for the user."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", metavar="VIDEO", help="a video file, or an http(s):// URL")
    p.add_argument("--out", "-o", required=True, help="folder to write the PNG frames and frames.json into")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="hub id, checkpoint folder, demo or demo:reason2: whose sampling defaults, processor and "
        "prompt to use (only its config and processor files are read; default: demo, Cosmos-Reason1's)",
    )
    g = p.add_argument_group("media options (as a request's media_options; docs/media.md)")
    for name, text in OPTION_FLAGS.items():
        g.add_argument("--" + name.replace("_", "-"), dest=name, metavar="N", help=text)
    g.add_argument(
        "--timestamp",
        action="store_true",
        default=None,
        help="draw each frame's time in a black border below it, as Cosmos-Reason1's --timestamp "
        "(Reason1 models only; Reason2 puts the times in the text)",
    )
    p.add_argument("--sheet", action="store_true", help="also write sheet.png: every frame on one contact sheet")


def frames_command(args: argparse.Namespace) -> int:
    from .commands import _fail

    try:
        summary = write_frames(args.video, Path(args.out), model=args.model, options=_given(args), sheet=args.sheet)
    except FramesError as exc:
        return _fail(str(exc))
    print(summary)
    return 0


def _given(args: argparse.Namespace) -> dict[str, Any]:
    names = (*OPTION_FLAGS, "timestamp")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


@dataclass(frozen=True)
class Seen:
    """What the processor made of a video: its token count, grid and per-patch text timestamps."""

    tokens: int
    grid: tuple[int, int, int]  # temporal patches, rows and columns of patches
    size: tuple[int, int]  # (width, height) of the frames the encoder sees, after the processor's resize
    text_timestamps: list[float] | None  # Reason2's `<t seconds>` per temporal patch, in prompt order


def write_frames(
    video: str, out: Path, *, model: str = DEFAULT_MODEL, options: dict[str, Any] | None = None, sheet: bool = False
) -> str:
    """Sample `video` for `model`, write the frames and frames.json into `out`; returns a one-line summary."""
    chosen = _media_options(options or {})
    url, root = _video_url(video)
    family, processor = _model(model)
    decoded, effective = asyncio.run(_load(url, root, family, chosen))
    seen = _processor_view(processor, family, decoded)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for old in [*out.glob("frame_*.png"), out / "sheet.png"]:  # a previous run's, so the folder is this run's
            old.unlink(missing_ok=True)
    except OSError as exc:
        raise FramesError(f"cannot write to {out}: {exc.strerror or exc}") from None
    index = _write(out, video, model, family, decoded, effective, seen, sheet)
    height, width = decoded.frames.shape[-2:]
    return (
        f"wrote {decoded.num_frames} frames ({width}x{height}) to {out}; the model sees them as "
        f"{seen.tokens} vision tokens (grid {'x'.join(map(str, seen.grid))}); details in {index}"
    )


def _media_options(values: dict[str, Any]) -> MediaOptions:
    """The options as the API checks them (api/protocol.py MediaOverrides); one line naming the bad one."""
    from pydantic import ValidationError

    from ..api.protocol import MediaOverrides

    try:
        return MediaOverrides.model_validate(values).options()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "options"
        raise FramesError(f"--{name.replace('_', '-')} {values.get(name)}: {first['msg']}") from None


def _video_url(video: str) -> tuple[str, str | None]:
    """The URL the loader reads, and the folder file:// reads are allowed under (None for http(s))."""
    if re.match(r"(?i)^https?://", video):
        return video, None
    path = Path(video).expanduser()
    if not path.exists():
        raise FramesError(f"{video}: no such file")
    if path.is_dir():
        raise FramesError(f"{video}: is a folder; give one video file")
    real = path.resolve()
    return "file://" + urllib.parse.quote(str(real)), str(real.parent)


def _model(model: str) -> tuple[ModelFamily, Any]:
    """The model family (from its config) and its processor; weights are never loaded."""
    from ..engine.hf.loading import ModelLoadError, load_family, resolve_source
    from ..server.flags import check_model_source

    try:
        check_model_source(model)  # a missing folder, an unreachable hub: one line at once
    except ValueError as exc:
        raise FramesError(str(exc)) from None
    try:
        source = resolve_source(model)
        family = load_family(source)
        import transformers

        try:
            processor = transformers.AutoProcessor.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise FramesError(f"cannot load the processor of {model!r}: {str(exc).strip().splitlines()[0]}") from None
    except ModelLoadError as exc:
        raise FramesError(str(exc)) from None
    return family, processor


async def _load(
    url: str, root: str | None, family: ModelFamily, options: MediaOptions
) -> tuple[DecodedVideo, MediaOptions]:
    from ..media.errors import MediaError
    from ..media.loader import MediaLoader
    from ..media.settings import MediaSettings

    settings = MediaSettings(
        allowed_local_media_paths=(root,) if root else (),
        allow_private_media_urls=True,  # the user's own machine and network, not a server's
        media_cache_bytes=0,
    )
    loader = MediaLoader.from_settings(settings, family.geometry, family.video, text_timestamps=family.text_timestamps)
    try:
        return await loader.load_video(url, options), loader.video_options(options)
    except MediaError as exc:
        raise FramesError(f"{url if root is None else urllib.parse.unquote(url[7:])}: {exc}") from None
    finally:
        await loader.close()


def _processor_view(processor: Any, family: ModelFamily, video: DecodedVideo) -> Seen:
    """Run the engine's processor call on a one-video prompt and read off what it made."""
    from ..engine.base import Conversation, Turn, VideoInput
    from ..engine.hf.inputs import build_inputs

    batch = build_inputs(processor, Conversation((Turn("user", (VideoInput(video),)),)), family)
    grid = tuple(int(v) for v in batch["video_grid_thw"][0])
    pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    ids = batch["input_ids"][0]
    tokens = int((ids == pad).sum())
    patch = int(processor.video_processor.patch_size)
    times = None
    if family.text_timestamps:
        text = processor.tokenizer.decode(ids[ids != pad])
        times = [float(t) for t in TEXT_TIMESTAMP.findall(text)]
    return Seen(tokens, (grid[0], grid[1], grid[2]), (grid[2] * patch, grid[1] * patch), times)


def _write(
    out: Path,
    video: str,
    model: str,
    family: ModelFamily,
    decoded: DecodedVideo,
    options: MediaOptions,
    seen: Seen,
    sheet: bool,
) -> Path:
    from PIL import Image

    from ..media.overlay import timestamp_label

    pictures = decoded.frames.permute(0, 2, 3, 1).numpy()
    height, width = pictures.shape[1:3]
    frames = []
    for k, source_index in enumerate(decoded.frame_indices):
        name = f"frame_{k:04d}.png"
        Image.fromarray(pictures[k]).save(out / name)
        entry: dict[str, Any] = {
            "file": name,
            "index": source_index,
            "time": round(source_index / decoded.fps, 6),
            "width": width,
            "height": height,
        }
        if decoded.timestamped:
            entry["label"] = timestamp_label(k, decoded.sample_fps)
        frames.append(entry)
    temporal = family.geometry.temporal_patch_size
    patches = []
    for p in range(seen.grid[0]):
        patch: dict[str, Any] = {"frames": list(range(p * temporal, min((p + 1) * temporal, len(frames))))}
        if seen.text_timestamps is not None and p < len(seen.text_timestamps):
            patch["text"] = f"<{seen.text_timestamps[p]:.1f} seconds>"
            patch["seconds"] = seen.text_timestamps[p]
        patches.append(patch)
    index = {
        "video": video,
        "model": model,
        "family": family.name,
        "options": options.given(),
        "source": {
            "fps": decoded.fps,
            "frames": decoded.total_frames,
            "duration": decoded.duration,
            "width": decoded.source_width,
            "height": decoded.source_height,
            "rotation": decoded.rotation,
        },
        "sample_fps": decoded.sample_fps,
        "timestamp_overlay": decoded.timestamped,
        "frames": frames,
        "processor": {
            "tokens": seen.tokens,
            "grid": list(seen.grid),
            "width": seen.size[0],
            "height": seen.size[1],
            "temporal_patches": patches,
        },
    }
    path = out / "frames.json"
    path.write_text(json.dumps(index, indent=1) + "\n")
    if sheet:
        contact_sheet(pictures, frames).save(out / "sheet.png")
    return path


#: Contact sheet: frames per row, and the widest a frame is drawn there.
SHEET_COLUMNS = 4
SHEET_FRAME_WIDTH = 320


def contact_sheet(pictures: Any, frames: list[dict[str, Any]]) -> Any:
    """Every frame on one PNG, in order, each captioned with its number, source frame and time."""
    from PIL import Image, ImageDraw, ImageFont

    from ..media.overlay import FONT_FILE

    count, height, width = pictures.shape[:3]
    scale = min(1.0, SHEET_FRAME_WIDTH / width)
    cell_w, cell_h = max(1, round(width * scale)), max(1, round(height * scale))
    caption, gap = 22, 8
    columns = min(SHEET_COLUMNS, count)
    rows = -(-count // columns)
    sheet = Image.new("RGB", (columns * (cell_w + gap) + gap, rows * (cell_h + caption + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.truetype(str(FONT_FILE), 14)
    for k in range(count):
        x = gap + (k % columns) * (cell_w + gap)
        y = gap + (k // columns) * (cell_h + caption + gap)
        picture = Image.fromarray(pictures[k])
        if scale < 1.0:
            picture = picture.resize((cell_w, cell_h), Image.Resampling.BICUBIC)
        sheet.paste(picture, (x, y))
        entry = frames[k]
        draw.text((x, y + cell_h + 3), f"#{k}  frame {entry['index']}  {entry['time']:.2f}s", fill="black", font=font)
    return sheet
