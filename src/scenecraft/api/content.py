"""Responses for content-addressed bytes: strong ETag, 304 on `If-None-Match`, single `Range`.

An asset version's bytes never change (the version points at a blob addressed by its SHA-256), so
the ETag is the SHA-256 itself and the response may be cached for a year by the browser, never by a
shared cache (the content is private to its owner):

    200  full body            ETag, Cache-Control: private, max-age=31536000, immutable, Accept-Ranges
    304  If-None-Match hit    no body (RFC 9110 §13.1.2: weak comparison; `*` matches)
    206  Range: bytes=a-b     one part, Content-Range: bytes a-b/len (RFC 9110 §14)
    416  unsatisfiable range  Content-Range: bytes */len

Several ranges in one header are answered with the whole body (a server may ignore Range,
§14.2); so is a Range whose `If-Range` validator does not match the ETag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Response

IMMUTABLE = "private, max-age=31536000, immutable"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_MAX_HEADER = 1024  # longer validator or range headers are not parsed (treated as absent)


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive


class RangeNotSatisfiable(Exception):
    pass


def strong_etag(sha256: str) -> str:
    return f'"{sha256}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of `If-None-Match` against our strong ETag (W/ prefixes are ignored)."""
    if not if_none_match or len(if_none_match) > _MAX_HEADER:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/") == etag for t in tags)


def parse_range(header: str | None, length: int) -> ByteRange | None:
    """One byte range of a body of `length` bytes; None = serve the whole body.

    Raises RangeNotSatisfiable for a well-formed single range that lies outside the body."""
    if not header or len(header) > _MAX_HEADER or "," in header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # not a bytes range we understand: ignored, as RFC 9110 allows
    first, last = match.groups()
    if not first and not last:
        return None
    if length == 0:
        raise RangeNotSatisfiable("the body is empty")
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable("a suffix range of 0 bytes selects nothing")
        return ByteRange(max(0, length - n), length - 1)
    start = int(first)
    end = min(int(last), length - 1) if last else length - 1
    if start >= length or (last and int(last) < start):
        raise RangeNotSatisfiable(f"range {header!r} lies outside the {length} bytes")
    return ByteRange(start, end)


def immutable_response(
    data: bytes,
    *,
    media_type: str,
    etag: str,
    headers: dict[str, str],
    if_none_match: str | None,
    range_header: str | None,
    if_range: str | None,
) -> Response:
    """The 200/206/304/416 answer for immutable bytes `data` whose strong validator is `etag`."""
    common = {"ETag": etag, "Cache-Control": IMMUTABLE, "Accept-Ranges": "bytes", **headers}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client's copy is another representation: send it whole
    try:
        part = parse_range(range_header, len(data))
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={**common, "Content-Range": f"bytes */{len(data)}"})
    if part is None:
        return Response(data, media_type=media_type, headers=common)
    body = data[part.start : part.end + 1]
    return Response(
        body,
        status_code=206,
        media_type=media_type,
        headers={**common, "Content-Range": f"bytes {part.start}-{part.end}/{len(data)}"},
    )
