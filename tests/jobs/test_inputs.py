"""Discovery by content, globs, and manifests (JSONL and CSV) with per-item prompt/task/options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosmos_reason.jobs.inputs import InputError, classify_file, discover
from cosmos_reason.media.sniff import classify_bytes, sniff_magic
from tests.media_factory import mp4_bytes, png_bytes

from .conftest import write_video


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="JPEG")
    return buffer.getvalue()


def _bmp() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="BMP")
    return buffer.getvalue()


def test_magic_bytes_tell_images_from_videos():
    assert sniff_magic(png_bytes()) == "image"
    assert sniff_magic(_jpeg()) == "image"
    assert sniff_magic(mp4_bytes(seconds=0.5)) == "video"
    assert sniff_magic(b"\x1a\x45\xdf\xa3" + b"\0" * 40) == "video"  # matroska / webm
    assert sniff_magic(b"\0\0\0\x1cftypheic" + b"\0" * 20) == "image"  # HEIC is an image in an ISO box
    assert sniff_magic(b"hello world") is None


def test_content_decides_not_the_extension(tmp_path: Path):
    (tmp_path / "video.jpg").write_bytes(mp4_bytes(seconds=0.5))
    (tmp_path / "photo.mp4").write_bytes(png_bytes())
    (tmp_path / "noext").write_bytes(_bmp())  # no magic of ours: Pillow's probe knows BMP
    (tmp_path / "notes.txt").write_text("just text")
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 4)
    assert classify_file(tmp_path / "video.jpg") == "video"
    assert classify_file(tmp_path / "photo.mp4") == "image"
    assert classify_file(tmp_path / "noext") == "image"
    assert classify_file(tmp_path / "notes.txt") is None
    assert classify_file(tmp_path / "random.bin") is None
    assert classify_bytes(_bmp()) == "image"


def test_folder_walk_is_recursive_sorted_and_skips_hidden(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.png").write_bytes(png_bytes())
    (tmp_path / "b" / "c.bin").write_bytes(png_bytes())
    (tmp_path / "b" / "broken.jpg").write_bytes(b"not really")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.png").write_bytes(png_bytes())
    items = discover(str(tmp_path), prompt="What is this?", options={"max_tokens": 8})
    names = [Path(i.source).relative_to(tmp_path).as_posix() for i in items]
    assert names == ["a.png", "b/broken.jpg", "b/c.bin", "readme.txt"]
    explicit = {Path(i.source).name: i.explicit for i in items}
    # A media extension makes a file an item even when its content is broken (it gets an error line);
    # anything else is an item only if its content is media (decided when it is read).
    assert explicit == {"a.png": True, "broken.jpg": True, "c.bin": False, "readme.txt": False}
    assert all(i.prompt == "What is this?" and i.options == {"max_tokens": 8} for i in items)


def test_glob(tmp_path: Path):
    for name in ("x1.png", "x2.png", "y.png"):
        (tmp_path / name).write_bytes(png_bytes())
    items = discover(str(tmp_path / "x*.png"), task="caption")
    assert [Path(i.source).name for i in items] == ["x1.png", "x2.png"]
    assert all(i.task == "caption" for i in items)
    with pytest.raises(InputError, match="no such file"):
        discover(str(tmp_path / "missing"))


def test_jsonl_manifest_with_per_item_prompt_task_and_options(tmp_path: Path):
    (tmp_path / "media").mkdir()
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps("media/a.png"),
                json.dumps({"path": "media/b.mp4", "task": "critic", "options": {"fps": 2, "n": 2}, "clip_id": 7}),
                "",
                json.dumps({"url": "https://example.com/v/1.webm", "prompt": "Who moves?", "max_tokens": 5}),
                json.dumps({"url": "https://example.com/blob?id=3", "kind": "video"}),
                json.dumps({"path": "/abs/c.jpg", "prompt": "Count the cars.", "options": {"temperature": 0}}),
            ]
        )
        + "\n"
    )
    items = discover(str(manifest), prompt="Describe.", options={"max_tokens": 32, "seed": 1})
    assert [i.source for i in items] == [
        str(tmp_path / "media/a.png"),
        str(tmp_path / "media/b.mp4"),
        "https://example.com/v/1.webm",
        "https://example.com/blob?id=3",
        "/abs/c.jpg",
    ]
    a, b, url, blob, c = items
    assert (a.prompt, a.task, a.options) == ("Describe.", None, {"max_tokens": 32, "seed": 1})
    assert (b.task, b.options, b.meta) == ("critic", {"max_tokens": 32, "seed": 1, "fps": 2, "n": 2}, {"clip_id": 7})
    assert (url.is_url, url.kind, url.prompt, url.options["max_tokens"]) == (True, "video", "Who moves?", 5)
    assert (blob.kind, blob.is_url) == ("video", True)
    assert (c.prompt, c.options) == ("Count the cars.", {"max_tokens": 32, "seed": 1, "temperature": 0})
    assert all(i.explicit for i in items)


def test_jsonl_manifest_errors_name_the_line(tmp_path: Path):
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text('{"path": "a.png"}\n{"path": \n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: not valid JSON"):
        discover(str(manifest))
    manifest.write_text('{"prompt": "no path"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: no path or url"):
        discover(str(manifest))
    manifest.write_text('{"path": "a.png", "kind": "audio"}\n')
    with pytest.raises(InputError, match="kind must be image or video"):
        discover(str(manifest))


def test_csv_manifest_with_columns_and_options_json(tmp_path: Path):
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        "path,prompt,task,options,fps,split\n"
        "a.png,What color?,,,,train\n"
        'clips/b.mp4,,plausibility,"{""nframes"": 8}",2,val\n'
        'https://example.com/c.jpg,"Quoted, with comma",caption,,,\n'
    )
    items = discover(str(manifest), options={"max_tokens": 16})
    a, b, c = items
    assert (a.source, a.prompt, a.task, a.options, a.meta) == (
        str(tmp_path / "a.png"),
        "What color?",
        None,
        {"max_tokens": 16},
        {"split": "train"},
    )
    assert (b.task, b.options) == ("plausibility", {"max_tokens": 16, "fps": 2, "nframes": 8})
    assert (c.is_url, c.prompt, c.task, c.kind) == (True, "Quoted, with comma", "caption", "image")


def test_headerless_csv_is_a_list_of_paths(tmp_path: Path):
    manifest = tmp_path / "list.csv"
    manifest.write_text("one.png\nsub/two.mp4\n")
    assert [i.source for i in discover(str(manifest))] == [str(tmp_path / "one.png"), str(tmp_path / "sub/two.mp4")]


def test_single_file_and_forced_manifest(tmp_path: Path):
    video = write_video(tmp_path / "v.mp4")
    assert [(i.source, i.explicit) for i in discover(str(video))] == [(str(video), True)]
    listing = tmp_path / "list.txt"
    listing.write_text('{"path": "v.mp4"}\n')
    assert [i.source for i in discover(str(listing), manifest=True)] == [str(video)]
