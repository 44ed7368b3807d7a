"""Upload checks: type sniffed from bytes, size, pixel count before decoding, corrupt data."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from scenecraft.storage.uploads import UploadRejected, check_image_upload

LIMITS = {"max_bytes": 100_000, "max_pixels": 256 * 256}


def encode(fmt: str, size: tuple[int, int] = (32, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: a decompression bomb's calling card."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_allowed_formats_pass_with_their_size(fmt: str, mime: str) -> None:
    checked = check_image_upload(encode(fmt), **LIMITS)
    assert (checked.content_type, checked.width, checked.height) == (mime, 32, 16)


def test_other_formats_are_refused_by_content_not_name() -> None:
    with pytest.raises(UploadRejected, match="format GIF is not allowed; allowed: PNG, JPEG, WEBP") as e:
        check_image_upload(encode("GIF"), **LIMITS)
    assert e.value.status == 415
    with pytest.raises(UploadRejected, match="not an image"):
        check_image_upload(b"#!/bin/sh\necho hi\n", **LIMITS)


def test_too_many_bytes_is_413() -> None:
    with pytest.raises(UploadRejected, match="at most 50 are allowed") as e:
        check_image_upload(encode("PNG"), max_bytes=50, max_pixels=10**6)
    assert e.value.status == 413


@pytest.mark.parametrize("side", [1_000, 10_000, 50_000])
def test_decompression_bomb_is_refused_from_the_header(side: int) -> None:
    # 1e6 pixels: over our limit; 1e8: PIL's bomb warning; 2.5e9: PIL's bomb error. All refused
    # from the header alone, before any pixel is allocated.
    bomb = png_header_only(side, side)
    assert len(bomb) < 100
    with pytest.raises(UploadRejected, match=f"{side * side} pixels") as e:
        check_image_upload(bomb, **LIMITS)
    assert e.value.status == 413


def test_pixel_limit_applies_to_honest_images_too() -> None:
    with pytest.raises(UploadRejected, match="300x300 = 90000 pixels; at most 65536"):
        check_image_upload(encode("PNG", (300, 300)), max_bytes=10**6, max_pixels=256 * 256)


def test_truncated_image_is_refused() -> None:
    data = encode("PNG", (64, 64))
    with pytest.raises(UploadRejected, match="corrupt or truncated"):
        check_image_upload(data[: len(data) // 2], **LIMITS)


def test_empty_upload() -> None:
    with pytest.raises(UploadRejected, match="empty"):
        check_image_upload(b"", **LIMITS)
