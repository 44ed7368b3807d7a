"""Settings written into every generated PNG, so a downloaded file says how it was made.

Two text chunks (PNG spec §11.3.4):

- ``scenecraft`` (iTXt, UTF-8): JSON ``{"format": 1, "job_id", "request"}``, where ``request`` is
  the job's full request as stored (the real seed included, also when it was random): POST it to
  ``/v1/jobs`` again, or drop the file onto the studio, to make the same image.
- ``parameters`` (iTXt): the same in the plain-text layout other image tools read and write
  ("prompt / Negative prompt: ... / Steps: 20, Sampler: euler, CFG scale: 3, Seed: 7, Size: 64x64,
  Model: seed-12M").

``Software`` (tEXt) names the platform. ``read`` returns what ``encode`` wrote. A version made by
effects on a stored one ``carry``-s its source's chunks, with the chains applied since listed under
``effects`` (oldest first), so every download says how it was made.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image, PngImagePlugin

KEY = "scenecraft"
FORMAT = 1


def parameters_text(request: dict[str, Any]) -> str:
    """The request in the common "parameters" layout (prompt, negative prompt, one settings line)."""
    lines = [str(request.get("prompt", ""))]
    if request.get("negative_prompt"):
        lines.append(f"Negative prompt: {request['negative_prompt']}")
    settings = [
        f"Steps: {request.get('steps')}",
        f"Sampler: {request.get('sampler')}",
        f"CFG scale: {request.get('guidance')}",
        f"Seed: {request.get('seed')}",
        f"Size: {request.get('width')}x{request.get('height')}",
        f"Model: {request.get('model')}",
    ]
    subjects = request.get("subjects") or []
    if subjects:
        settings.append(f"Subjects: {len(subjects)}")
    lines.append(", ".join(settings))
    return "\n".join(lines)


def encode(image: Image.Image, *, job_id: str, request: dict[str, Any], effects: list[Any] | None = None) -> bytes:
    """`image` as PNG bytes carrying `request` (the job's params) in its text chunks."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "scenecraft")
    meta: dict[str, Any] = {"format": FORMAT, "job_id": job_id, "request": request}
    if effects:
        meta["effects"] = effects
    info.add_itxt(KEY, json.dumps(meta, sort_keys=True))
    info.add_itxt("parameters", parameters_text(request))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def read(data: bytes) -> dict[str, Any] | None:
    """The ``scenecraft`` chunk of a PNG as a dict, or None when the file has none."""
    with Image.open(io.BytesIO(data)) as im:
        text = getattr(im, "text", {}).get(KEY)
    if not text:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None


def carry(png: bytes, source: bytes, chain: Any = None) -> bytes:
    """`png` (rendered from `source`) with the source's settings, plus `chain` among its effects;
    `png` unchanged when the source has none (an upload)."""
    meta = read(source)
    if meta is None or not isinstance(meta.get("request"), dict):
        return png
    effects = list(meta.get("effects") or []) + ([chain] if chain is not None else [])
    with Image.open(io.BytesIO(png)) as im:
        return encode(im, job_id=str(meta.get("job_id", "")), request=meta["request"], effects=effects)
