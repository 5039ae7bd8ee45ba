"""file:// media: only under the allowed folders, symlinks followed only inside them,
no race between the check and the open."""

from __future__ import annotations

import os

import pytest

from cosmos_reason.media.errors import FetchRefused, MediaError
from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.settings import MediaSettings
from cosmos_reason.media.sources import LocalFiles
from tests.media_factory import media_loader, png_bytes

PNG = png_bytes(84, 56)  # a size Reason1 (28-pixel tokens) keeps as it is


def loader(**settings) -> MediaLoader:
    return media_loader(MediaSettings(**settings))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "a b.png").write_bytes(PNG)
    (root / "sub" / "empty.png").write_bytes(b"")
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    (root / "escape.png").symlink_to(secret)
    (root / "inside-link.png").symlink_to(root / "a b.png")
    (root / "sub-link").symlink_to(tmp_path)
    return root


# ---- file:// through the loader ------------------------------------------------------


async def test_file_urls_are_refused_without_a_root(tree):
    with pytest.raises(FetchRefused, match="--allowed-local-media-path"):
        await loader().load_image(f"file://{tree}/a%20b.png")


async def test_file_urls_under_a_root_load(tree):
    media = loader(allowed_local_media_paths=(str(tree),))
    assert (await media.load_image(f"file://{tree}/a%20b.png")).size == (84, 56)
    assert (await media.load_image(f"file://localhost{tree}/inside-link.png")).size == (84, 56)
    assert (await media.load_image(f"file://{tree}/sub/../a%20b.png")).size == (84, 56)


@pytest.mark.parametrize(
    "tail,word",
    [
        ("/escape.png", "outside the folders"),  # a symlink inside the root pointing out of it
        ("/sub/../../secret.png", "outside the folders"),  # '..' out of the root
        ("/sub-link/secret.png", "outside the folders"),  # a symlinked folder out of the root
        ("/sub/empty.png", "empty"),
        ("/nothing.png", "no such file"),
        ("/sub", "folder"),
    ],
)
async def test_file_url_refusals(tree, tail, word):
    media = loader(allowed_local_media_paths=(str(tree),), max_image_bytes=1 << 20)
    with pytest.raises(MediaError, match=word):
        await media.load_image(f"file://{tree}{tail}")


async def test_file_url_limits(tree):
    with pytest.raises(MediaError, match="larger than"):
        await loader(allowed_local_media_paths=(str(tree),), max_image_bytes=100).load_image(f"file://{tree}/a%20b.png")
    with pytest.raises(FetchRefused, match="local file"):
        await loader(allowed_local_media_paths=(str(tree),)).load_image(f"file://otherhost{tree}/a%20b.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
async def test_a_fifo_is_refused_without_hanging(tree):
    os.mkfifo(tree / "pipe.png")
    with pytest.raises(MediaError, match="not a regular file"):
        await loader(allowed_local_media_paths=(str(tree),)).load_image(f"file://{tree}/pipe.png")


# ---- LocalFiles ----------------------------------------------------------------------


def test_a_folder_swapped_for_a_symlink_after_the_check_is_not_followed(tmp_path):
    """The file:// race: the URL is checked while album/ is a real folder inside the root,
    then album/ becomes a symlink to the outside before the file is opened."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "album").mkdir(parents=True)
    (outside / "album").mkdir(parents=True)
    (root / "album" / "photo.png").write_bytes(PNG)
    (outside / "album" / "photo.png").write_bytes(b"the outside secret")
    files = LocalFiles([str(root)])
    path = files.path(f"file://{root}/album/photo.png")
    assert files.read(path, 1 << 20) == PNG
    (root / "album").rename(tmp_path / "moved-away")
    (root / "album").symlink_to(outside / "album", target_is_directory=True)
    with pytest.raises(FetchRefused, match="outside the folders"):
        files.read(path, 1 << 20)


def test_symlinks_that_stay_inside_the_root_are_followed(tree):
    (tree / "sub" / "pic.png").write_bytes(PNG)
    (tree / "sub-inside").symlink_to(tree / "sub", target_is_directory=True)
    (tree / "sub" / "up.png").symlink_to("../a b.png")
    files = LocalFiles([str(tree)])
    for tail in ("/sub-inside/pic.png", "/sub/up.png", "/sub-inside/up.png", "/inside-link.png"):
        assert files.read(files.path(f"file://{tree}{tail}"), 1 << 20) == PNG


def test_local_files_check_does_not_touch_files_outside(tmp_path):
    files = LocalFiles([str(tmp_path)])
    with pytest.raises(FetchRefused, match="outside"):
        files.path("file:///etc/shadow")
