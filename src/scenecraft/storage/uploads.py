"""Checks on uploaded images, before anything is stored.

Order matters: the byte size is checked first, the format is sniffed from the bytes (the client's
Content-Type is not trusted), the pixel count is read from the header *before* decoding (so a
200-byte PNG that claims 100k x 100k pixels, a decompression bomb, is refused without allocating
its pixels), and only then is the image fully decoded to prove it is not truncated or corrupt.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# PIL format name -> MIME type we store and serve
ALLOWED_FORMATS: dict[str, str] = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


class UploadRejected(ValueError):
    """The upload breaks a rule; the message says which and what is allowed. `status` is HTTP."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CheckedImage:
    content_type: str
    width: int
    height: int


def check_image_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    if len(data) == 0:
        raise UploadRejected("the upload is empty; send a PNG, JPEG or WebP image")
    if len(data) > max_bytes:
        raise UploadRejected(f"the upload is {len(data)} bytes; at most {max_bytes} are allowed", 413)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or ""
            if fmt not in ALLOWED_FORMATS:
                raise UploadRejected(
                    f"image format {fmt or 'unknown'} is not allowed; allowed: {', '.join(ALLOWED_FORMATS)}",
                    415,
                )
            width, height = img.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise UploadRejected(
                    f"the image is {width}x{height} = {width * height} pixels; at most {max_pixels} "
                    f"pixels are allowed (decompression bombs are refused)",
                    413,
                )
            img.load()  # full decode: truncated or corrupt data fails here
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadRejected(f"the image is a decompression bomb: {exc}", 413) from None
    except UnidentifiedImageError:
        raise UploadRejected(
            f"the upload is not an image; allowed formats: {', '.join(ALLOWED_FORMATS)}", 415
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadRejected(f"the image is corrupt or truncated: {exc}") from None
    return CheckedImage(ALLOWED_FORMATS[fmt], width, height)
