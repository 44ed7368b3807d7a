"""Generated PNGs carry their full request in text chunks (read back with Pillow and by walking
the raw chunks), and the worker writes them when it stores a result."""

from __future__ import annotations

import io
import json
import struct

from PIL import Image
from sqlalchemy import select
from tests.jobs.conftest import make_worker
from tests.utils.fake_engine import FakeEngine

from scenecraft.auth.accounts import create_user
from scenecraft.db import Database
from scenecraft.db.models import AssetVersion, Job
from scenecraft.jobs import png_metadata, queue
from scenecraft.jobs.queue import QueuePolicy
from scenecraft.storage.store import BlobStore

REQUEST = {
    "prompt": "a café with a red chair",  # not latin-1 only: needs iTXt
    "negative_prompt": "",
    "width": 32,
    "height": 32,
    "steps": 3,
    "sampler": "euler",
    "guidance": 2.5,
    "model": "seed-12M",
    "seed": 4_000_000_123,
    "subjects": [{"prompt": "a chair, red", "box": [0.1, 0.5, 0.4, 0.9], "pose": None}],
}


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk, by the PNG spec's layout: length, type, data, CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        out.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return out


def test_the_request_is_in_an_itxt_chunk_and_the_parameters_text() -> None:
    png = png_metadata.encode(Image.new("RGB", (8, 8), (1, 2, 3)), job_id="j" * 32, request=REQUEST)
    types = [t for t, _ in chunks(png)]
    assert types.count(b"iTXt") == 2 and types.count(b"tEXt") == 1  # scenecraft + parameters; Software
    itxt = [p for t, p in chunks(png) if t == b"iTXt"]
    keyword, rest = itxt[0].split(b"\x00", 1)
    assert keyword == b"scenecraft" and rest[:2] == b"\x00\x00"  # uncompressed
    text = rest[2:].split(b"\x00", 2)[2].decode("utf-8")
    assert json.loads(text) == {"format": 1, "job_id": "j" * 32, "request": REQUEST}
    with Image.open(io.BytesIO(png)) as im:
        assert im.text["Software"] == "scenecraft"
        assert im.text["parameters"].splitlines() == [
            "a café with a red chair",
            "Steps: 3, Sampler: euler, CFG scale: 2.5, Seed: 4000000123, Size: 32x32, Model: seed-12M, Subjects: 1",
        ]
        assert im.tobytes() == Image.new("RGB", (8, 8), (1, 2, 3)).tobytes()  # the pixels are untouched
    assert png_metadata.read(png) == {"format": 1, "job_id": "j" * 32, "request": REQUEST}


def test_the_worker_stores_results_with_their_settings(db: Database, store: BlobStore) -> None:
    policy = QueuePolicy()
    with db.session() as s:
        uid = create_user(s, "alice", "long password").id
        job_id = queue.enqueue(s, user_id=uid, params=REQUEST, policy=policy)[0].id
    make_worker(db, store, FakeEngine(), policy).run_once()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "succeeded"
        version = s.scalars(select(AssetVersion).where(AssetVersion.asset_id == job.asset_id)).one()
        meta = png_metadata.read(store.read_version(s, version).data)
        stored = dict(job.params)  # the full request, defaults filled in (jobs/params.py)
    assert meta == {"format": 1, "job_id": job_id, "request": stored}
    assert REQUEST.items() <= stored.items()


def test_effects_versions_carry_the_source_settings_and_the_chains_applied() -> None:
    source = png_metadata.encode(Image.new("RGB", (8, 8)), job_id="j" * 32, request=REQUEST)
    once = png_metadata.carry(
        png_metadata.encode(Image.new("RGB", (8, 8), (9, 9, 9)), job_id="x", request={}),
        source,
        [{"op": "exposure", "stops": 1.0}],
    )
    twice = png_metadata.carry(once, once, [{"op": "vignette", "amount": 0.5}])
    assert png_metadata.read(twice) == {
        "format": 1,
        "job_id": "j" * 32,
        "request": REQUEST,
        "effects": [[{"op": "exposure", "stops": 1.0}], [{"op": "vignette", "amount": 0.5}]],
    }
    with Image.open(io.BytesIO(twice)) as im:
        assert im.getpixel((0, 0)) == (9, 9, 9)  # the rendered pixels, not the source's
    plain = io.BytesIO()
    Image.new("RGB", (4, 4)).save(plain, format="PNG")
    assert png_metadata.carry(b"rendered", plain.getvalue()) == b"rendered"  # an upload has no settings
