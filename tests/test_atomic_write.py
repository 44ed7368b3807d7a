"""Atomic writes: the old file or the whole new one, never a part; nothing left behind on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scenecraft.atomic_write import atomic_open, atomic_path, write_bytes, write_text


def test_write_replaces_whole_or_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    write_bytes(target, b"first")
    write_bytes(target, b"second")
    assert target.read_bytes() == b"second"

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("scenecraft.atomic_write.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_bytes(target, b"third")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left behind


def test_a_failing_writer_leaves_nothing_and_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "state.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["state.pt"]
    with pytest.raises(KeyboardInterrupt), atomic_open(target) as f:
        f.write(b"part")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_permissions_follow_perm_or_the_umask(tmp_path: Path) -> None:
    write_text(tmp_path / "secret.toml", "key = 1\n", perm=0o600)
    assert stat.S_IMODE((tmp_path / "secret.toml").stat().st_mode) == 0o600
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "plain.json", "{}")
        with atomic_path(tmp_path / "weights.safetensors") as tmp:  # a writer that recreates the file 0600
            tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "plain.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "weights.safetensors").stat().st_mode) == 0o644
    assert (tmp_path / "plain.json").read_text() == "{}"


def test_streamed_writes_and_a_temp_dir_on_the_same_file_system(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    with atomic_open(tmp_path / "blob", temp_dir=tmp_path / "tmp") as f:
        for block in (b"ab", b"cd"):
            f.write(block)
    assert (tmp_path / "blob").read_bytes() == b"abcd" and not any((tmp_path / "tmp").iterdir())
