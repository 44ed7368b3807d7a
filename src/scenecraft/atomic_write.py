"""Atomic file writes: a reader sees the old file or the whole new one, never a part of it.

Every file the package writes in place (weights, checkpoints, images, settings, blobs, training
chunks) goes through here, with one guarantee: the bytes are written to a temporary file in the
target's folder (or a ``temp_dir`` on the same file system), flushed and ``fsync``-ed, renamed over
the target with ``os.replace`` (atomic on POSIX and Windows), and the folder is ``fsync``-ed so the
rename survives a power cut. A failure or an interrupt removes the temporary file and leaves the
old target untouched.

    write_bytes(path, data)                       # bytes
    write_text(path, text, perm=0o600)            # text, with the new file's permission bits
    with atomic_path(path) as tmp:                # for libraries that write to a path
        torch.save(state, tmp)                    #   (torch.save, safetensors, PIL, numpy)
    with atomic_open(path) as f:                  # for streamed writes
        for block in blocks: f.write(block)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "atomic_path", "fsync_dir", "write_bytes", "write_text"]


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows: folders cannot be opened, and renames there are durable already
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(path: Path, temp_dir: Path | None) -> Path:
    # Hidden, unique per writer (two writers of one target never share a temporary file).
    return (temp_dir or path.parent) / f".{path.name}.{secrets.token_hex(6)}.tmp"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, *, perm: int | None = None, temp_dir: str | Path | None = None) -> Iterator[Path]:
    """A temporary path to write the whole file to; it becomes ``path`` when the block ends.

    The temporary file exists (empty) when the block starts, created with ``perm`` (default 0o666,
    less the umask, as ``open`` would). Whatever the block writes there is fsync-ed and renamed onto
    ``path``; if the block raises, the temporary file is removed and ``path`` is left as it was.
    The parent folder must exist.
    """
    target = Path(path)
    tmp = _temp_name(target, Path(temp_dir) if temp_dir is not None else None)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if perm is None else perm)
    os.close(fd)
    mode = os.stat(tmp).st_mode & 0o777  # what the umask left of perm
    try:
        yield tmp
        if os.stat(tmp).st_mode & 0o777 != mode:  # a library that recreated the file (safetensors does)
            os.chmod(tmp, mode)
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


@contextmanager
def atomic_open(path: str | Path, *, perm: int | None = None, temp_dir: str | Path | None = None) -> Iterator[BinaryIO]:
    """A binary file to stream the new contents into; it replaces ``path`` when the block ends."""
    with atomic_path(path, perm=perm, temp_dir=temp_dir) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()


def write_bytes(path: str | Path, data: bytes, *, perm: int | None = None, temp_dir: str | Path | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (see the module doc)."""
    with atomic_open(path, perm=perm, temp_dir=temp_dir) as f:
        f.write(data)


def write_text(path: str | Path, text: str, *, perm: int | None = None, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically (see the module doc)."""
    write_bytes(path, text.encode(encoding), perm=perm)
