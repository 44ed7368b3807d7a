"""The bounded load scripts/chaos runs through HAProxy: users with API keys submit jobs (each with an
Idempotency-Key, retried until accepted) and upload images (retried until one is confirmed), while
every response is recorded with its time so 5xx answers can be placed inside or outside a fault.

The jobs are cheap on purpose, so that hundreds finish in minutes on 2 shared cores:
- effects jobs (`POST /v1/assets/{id}/effects`): a 3-op chain (exposure, vignette, grain) rendered
  by the worker in torch on a 64x64 upload, stored as a new version;
- a few generate jobs (`POST /v1/jobs`): the bundled seed-12M at 64x64, 1 step, through the real
  pipeline (about 10 s each here), with the same chain as effects (versions 1 raw and 2 effects).
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image

CHAIN = [{"op": "exposure", "stops": 0.3}, {"op": "vignette", "amount": 0.4}, {"op": "grain", "amount": 0.05}]
RETRY_PAUSE = 0.3


@dataclass
class Response:
    op: str
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (connection refused or reset)


@dataclass
class Record:
    """What the load saw, shared by its threads."""

    responses: list[Response] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)  # idempotency key -> job id
    kinds: dict[str, str] = field(default_factory=dict)  # job id -> "effects" | "generate"
    uploads: dict[str, tuple[str, str]] = field(default_factory=dict)  # asset id -> (user, sha256 of the bytes)
    lock: threading.Lock = field(default_factory=threading.Lock)
    schedule: float = 1.0  # share of the fault schedule done (run.py moves it): spreads the load over it

    def add(self, response: Response) -> None:
        with self.lock:
            self.responses.append(response)


def png(seed: int, size: int = 64) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


class User:
    """One account's client: an API key, then retried calls through the load balancer."""

    def __init__(self, base: str, name: str, password: str, record: Record, deadline: float) -> None:
        self.record, self.deadline, self.name = record, deadline, name
        with httpx.Client(base_url=base, timeout=30) as login:
            r = self._until_ok(
                lambda: login.post("/v1/auth/login", json={"username": name, "password": password}), "login"
            )
            csrf = r.json()["csrf_token"]
            r = self._until_ok(
                lambda: login.post("/v1/keys", json={"name": "chaos"}, headers={"X-CSRF-Token": csrf}), "key"
            )
        self.http = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {r.json()['key']}"})

    def _until_ok(self, call: object, op: str) -> httpx.Response:
        """Calls until a 2xx answer; every attempt is recorded. Past the deadline: raises."""
        while True:
            started = time.monotonic()
            try:
                r: httpx.Response = call()  # type: ignore[operator]
                self.record.add(Response(op, started, time.monotonic(), r.status_code))
                if 200 <= r.status_code < 300:
                    return r
                if r.status_code < 500 and r.status_code != 429:
                    raise RuntimeError(f"{op}: {r.status_code} {r.text[:300]}")
            except httpx.TransportError:
                self.record.add(Response(op, started, time.monotonic(), None))
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{op} never succeeded before the deadline")
            time.sleep(RETRY_PAUSE)

    def upload(self, seed: int) -> str:
        """Uploads until one attempt is confirmed (201); returns the asset id. An attempt whose
        answer was lost may have stored an asset too: it is checked for integrity with the rest."""
        data = png(seed)
        r = self._until_ok(
            lambda: self.http.post("/v1/assets", files={"file": (f"u{seed}.png", data, "image/png")}), "upload"
        )
        asset_id = str(r.json()["id"])
        with self.record.lock:
            self.record.uploads[asset_id] = (self.name, hashlib.sha256(data).hexdigest())
        return asset_id

    def submit_effects(self, key: str, asset_id: str) -> None:
        body = {"chain": CHAIN, "version": 1}
        r = self._until_ok(
            lambda: self.http.post(f"/v1/assets/{asset_id}/effects", json=body, headers={"Idempotency-Key": key}),
            "effects",
        )
        self._accepted(key, str(r.json()["id"]), "effects")

    def submit_generate(self, key: str, seed: int) -> None:
        body = {
            "prompt": "a red metal sphere on grass",
            "width": 64,
            "height": 64,
            "steps": 1,
            "seed": seed,
            "effects": CHAIN,
        }
        r = self._until_ok(lambda: self.http.post("/v1/jobs", json=body, headers={"Idempotency-Key": key}), "generate")
        self._accepted(key, str(r.json()["id"]), "generate")

    def _accepted(self, key: str, job_id: str, kind: str) -> None:
        with self.record.lock:
            previous = self.record.jobs.setdefault(key, job_id)
            if previous != job_id:
                raise AssertionError(f"Idempotency-Key {key} answered two jobs: {previous}, {job_id}")
            self.record.kinds[job_id] = kind

    def get(self, path: str) -> httpx.Response:
        return self._until_ok(lambda: self.http.get(path), "read")


def run_user(user: User, *, effects: int, generate: int, uploads: int, pace: float, seed: int) -> None:
    """One user's share: a source image first, then jobs and uploads interleaved, at least `pace` s
    apart and spread over the fault schedule (`Record.schedule`)."""
    rng = random.Random(seed)
    source = user.upload(seed * 1000)
    work = ["effects"] * effects + ["generate"] * generate + ["upload"] * uploads
    rng.shuffle(work)
    for i, kind in enumerate(work):
        while user.record.schedule < i / len(work) and time.monotonic() < user.deadline:
            time.sleep(0.1)  # item i waits for i/n of the faults: work is in flight through all of them
        if kind == "effects":
            user.submit_effects(f"{user.name}-fx-{i}", source)
        elif kind == "generate":
            user.submit_generate(f"{user.name}-gen-{i}", seed * 1000 + i)
        else:
            user.upload(seed * 1000 + 500 + i)
        time.sleep(pace)
