"""file:// media: files under the `--allowed-local-media-path` folders, opened without a race.

Checking a resolved path and then opening it leaves a window: a folder inside the root
swapped for a symlink to the outside between the two is followed by open(). So the
kernel never follows a link here. The file is opened component by component from the
root folder's descriptor, each step with O_NOFOLLOW relative to the folder opened just
before (`os.open(name, ..., dir_fd=...)`). A symlink met on the way is read and resolved
by us: its target, with '..' taken by name, must stay under the same root, and the walk
starts again from the root with the new path. So symlinks inside a root that point
inside it work; one that points out, or is swapped in while we walk, is refused.
User-facing summary: docs/media.md#sources.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from ..errors import FetchRefused, MediaError
from ..settings import format_bytes

#: Symlinks followed for one URL before giving up (the kernel's own limit is 40).
MAX_LINKS = 40

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LocalFiles:
    """file:// URLs, allowed only under the given folders (resolved once, at start)."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = tuple(Path(os.path.realpath(Path(r).expanduser())) for r in roots)

    def path(self, url: str) -> Path:
        """The absolute path the URL names, '..' taken by name, or FetchRefused when it is
        not under a root. Does not touch the file system (`read` follows links, safely)."""
        if not self.roots:
            raise FetchRefused(
                "file:// URLs are not allowed on this server; start it with "
                "--allowed-local-media-path DIR to serve files under DIR"
            )
        parts = urllib.parse.urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchRefused("file:// URLs must name a local file: file:///path/to/file")
        raw = urllib.parse.unquote(parts.path)
        if not raw.startswith("/") or "\x00" in raw:
            raise FetchRefused("file:// URLs must hold an absolute path: file:///path/to/file")
        path = Path(posixpath.normpath(raw))
        self._root_of(path, raw)
        return path

    def read(self, path: Path, max_bytes: int, what: str = "media") -> bytes:
        """Read a regular file of at most max_bytes under a root (blocking: run it in a worker)."""
        fd = self._open(path)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise MediaError(
                    f"{path} is a folder, not a file" if stat.S_ISDIR(info.st_mode) else f"{path} is not a regular file"
                )
            if info.st_size > max_bytes:
                raise MediaError(
                    f"{path} is larger than the {format_bytes(max_bytes)} this server reads "
                    f"(--max-{'video' if what == 'video' else 'image'}-bytes)"
                )
            with os.fdopen(fd, "rb") as file:
                fd = -1  # the file object owns it now
                data = file.read(max_bytes + 1)
        finally:
            if fd >= 0:
                os.close(fd)
        if len(data) > max_bytes:
            raise MediaError(f"{path} is larger than the {format_bytes(max_bytes)} this server reads")
        if not data:
            raise MediaError(f"{path} is empty")
        return data

    # ---- the walk ------------------------------------------------------------------------

    def _root_of(self, path: Path, shown: str | Path) -> Path:
        for root in self.roots:
            if path == root or path.is_relative_to(root):
                return root
        raise FetchRefused(
            f"{shown} is outside the folders this server reads media from; allow its folder "
            "with --allowed-local-media-path"
        )

    def _open(self, path: Path) -> int:
        """A descriptor for `path`, reached from its root without the kernel following any link."""
        requested = path
        for _ in range(MAX_LINKS + 1):
            root = self._root_of(path, requested)
            names = path.relative_to(root).parts
            try:
                fd = os.open(root, _DIR_FLAGS)
            except OSError as exc:
                raise MediaError(
                    f"cannot read {requested}: the media folder is unavailable ({exc.strerror or exc})"
                ) from None
            try:
                found = _walk(fd, names)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    raise MediaError(f"no such file: {requested}") from None
                raise MediaError(f"cannot read {requested}: {exc.strerror or exc}") from None
            finally:
                os.close(fd)
            if isinstance(found, int):
                return found
            at, target = found  # names[:at] are folders; names[at] is a symlink to `target`
            base = root.joinpath(*names[:at])
            path = Path(posixpath.normpath(posixpath.join(base, target, *names[at + 1 :])))
        raise MediaError(f"cannot read {requested}: more than {MAX_LINKS} symlinks")


def _walk(root_fd: int, names: tuple[str, ...]) -> int | tuple[int, str]:
    """Open names[0]/names[1]/... below root_fd: the file's descriptor, or (index, target)
    of the first symlink on the way (not followed)."""
    if not names:
        return os.dup(root_fd)  # the root itself: read() says it is a folder
    fd = root_fd
    try:
        for index, name in enumerate(names):
            last = index == len(names) - 1
            try:
                opened = os.open(name, _FILE_FLAGS if last else _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                target = _link_target(name, fd, exc)
                if target is None:
                    raise
                return index, target
            if fd != root_fd:
                os.close(fd)
            fd = opened
        result, fd = fd, -1
        return result
    finally:
        if fd not in (-1, root_fd):
            os.close(fd)


def _link_target(name: str, dir_fd: int, exc: OSError) -> str | None:
    """The symlink's target when `exc` came from O_NOFOLLOW meeting one, else None."""
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return None
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None  # not a symlink: ENOTDIR meant a file where a folder was needed
