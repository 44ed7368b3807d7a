"""Family models through the whole platform: GET /v1/models, a job through the durable queue with
live previews over SSE, batching of compatible jobs, cancel mid-sampling, refusals (422) that name
the model and the feature, and model residency in /metrics."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.jobs.engine import PipelineEngine, Sample
from scenecraft.jobs.worker import WorkerPool
from tests.utils.factories import UserClient, create_user
from tests.utils.fixtures import make_settings
from tests.utils.sse import parse


class RecordingEngine(PipelineEngine):
    """The real engine, recording the seeds of every forward pass (to see batching)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[int]] = []

    def generate(self, samples: Sequence[Sample], **kwargs: Any) -> Any:
        self.batches.append([s.seed for s in samples])
        return super().generate(samples, **kwargs)


@pytest.fixture
def family_platform(tmp_path: Path, models_dir: Path) -> Iterator[Platform]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", models_dir=models_dir, max_batch_size=4)
    platform = Platform.from_settings(settings)
    platform.db.migrate()
    create_user(platform, "alice")
    yield platform
    platform.close()


def start_workers(platform: Platform) -> RecordingEngine:
    engine = RecordingEngine.from_settings(platform.settings, metrics=platform.metrics)
    assert isinstance(engine, RecordingEngine)
    platform.workers = WorkerPool(
        db=platform.db,
        store=platform.store,
        bus=platform.bus,
        policy=platform.policy,
        engine_factory=lambda: engine,
        poll_seconds=0.05,
    )
    platform.workers.start()
    return engine


@pytest.fixture
def alice(family_platform: Platform) -> Iterator[UserClient]:
    yield UserClient(create_app(platform=family_platform), "alice")
    if family_platform.workers is not None:
        family_platform.workers.stop()


def wait_for(
    alice: UserClient, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job: dict[str, Any] = alice.get(f"/v1/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never got there: {job}")


def test_models_lists_every_family_with_its_limits(alice: UserClient) -> None:
    r = alice.get("/v1/models")
    assert r.status_code == 200
    models = {m["id"]: m for m in r.json()["models"]}
    assert set(models) == {"seed-12M", "pixart-alpha", "pixart-sigma", "sana", "sd3", "flux", "flux-schnell"}
    assert [m["id"] for m in models.values() if m["default"]] == ["seed-12M"]
    assert models["flux"]["capabilities"]["negative_prompt"] is False
    assert models["sd3"]["size"]["multiple_of"] == 4 and models["flux-schnell"]["steps"]["default"] == 4


# model -> (its diffusers pipeline class, sampler and guidance it defaults to, a negative prompt?)
FAMILY_JOBS = {
    "pixart-alpha": ("PixArtAlphaPipeline", "dpm-solver++", 4.5, True),
    "pixart-sigma": ("PixArtSigmaPipeline", "dpm-solver++", 4.5, True),
    "sana": ("SanaPipeline", "flow-dpm-solver", 4.5, True),
    "sd3": ("StableDiffusion3Pipeline", "flow-euler", 7.0, True),
    "flux": ("FluxPipeline", "flow-euler", 3.5, False),
    "flux-schnell": ("FluxPipeline", "flow-euler", 0.0, False),
}


@pytest.mark.parametrize("model_id", list(FAMILY_JOBS))
def test_a_family_job_runs_through_the_queue_with_previews(
    alice: UserClient, family_platform: Platform, models_dir: Path, model_id: str
) -> None:
    import diffusers

    pipeline, sampler, guidance, negative = FAMILY_JOBS[model_id]
    start_workers(family_platform)
    height = 64 if model_id == "sana" else 48  # SanaPipeline wants multiples of 32
    body: dict[str, Any] = {"prompt": "a red cube", "model": model_id, "width": 32, "height": height}
    body.update(steps=3, seed=21)
    if negative:
        body["negative_prompt"] = "blurry"
    r = alice.post("/v1/jobs", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    with alice.http.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        events = parse(stream.iter_lines())
    previews = [e for e in events if e.event == "preview"]
    assert [e.data["step"] for e in previews] == [1, 2, 3] and events[-1].event == "done", events[-1]
    # one preview pixel per latent pixel: every tiny VAE downsamples 2x
    assert Image.open(io.BytesIO(base64.b64decode(previews[0].data["jpeg"]))).size == (16, height // 2)
    job = alice.get(f"/v1/jobs/{job_id}").json()
    assert (job["params"]["sampler"], job["params"]["guidance"]) == (sampler, guidance)  # the model's defaults, stored
    content = alice.get(f"/v1/assets/{events[-1].data['asset_id']}/versions/1/content").content
    got = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"), dtype=np.int16)
    pipe = getattr(diffusers, pipeline).from_pretrained(models_dir / model_id, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    extra: dict[str, Any] = {"negative_prompt": "blurry"} if negative else {}
    if model_id.startswith(("pixart", "sana")):
        extra.update(use_resolution_binning=False, clean_caption=False)
    expected = pipe(
        prompt="a red cube",
        height=height,
        width=32,
        num_inference_steps=3,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(21),
        max_sequence_length=16,
        **extra,
    ).images[0]
    assert np.abs(got - np.asarray(expected, dtype=np.int16)).max() <= 1  # diffusers' own image, through the queue
    metrics = alice.get("/metrics").text
    assert f'scenecraft_model_resident_bytes{{model="{model_id}"}}' in metrics
    assert "scenecraft_model_load_seconds_count" in metrics


def test_compatible_jobs_share_one_forward_pass(alice: UserClient, family_platform: Platform) -> None:
    body = {"prompt": "a blue sphere", "model": "pixart-sigma", "width": 32, "height": 32, "steps": 2}
    ids = [alice.post("/v1/jobs", json={**body, "seed": seed}).json()["id"] for seed in (1, 2, 3)]
    other = alice.post("/v1/jobs", json={**body, "seed": 4, "steps": 3}).json()["id"]  # other steps: its own pass
    engine = start_workers(family_platform)
    for job_id in [*ids, other]:
        wait_for(alice, job_id, lambda j: j["status"] == "succeeded")
    assert sorted(map(sorted, engine.batches)) == [[1, 2, 3], [4]]


def test_cancel_stops_a_running_family_job(alice: UserClient, family_platform: Platform) -> None:
    start_workers(family_platform)
    body = {"prompt": "a cat", "model": "flux", "width": 32, "height": 32, "steps": 100, "seed": 1}
    job_id = alice.post("/v1/jobs", json=body).json()["id"]
    wait_for(alice, job_id, lambda j: j["progress"]["step"] >= 1)
    assert alice.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(alice, job_id, lambda j: j["status"] == "cancelled")
    assert 1 <= job["progress"]["step"] < 100


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "flux-pro"}, "model: model 'flux-pro' is not installed; installed: seed-12M, flux, flux-schnell"),
        ({"model": "flux", "negative_prompt": "x"}, "negative_prompt: model flux (FLUX.1) cannot do negative_prompt"),
        (
            {"model": "sana", "subjects": [{"prompt": "cat", "box": [0, 0, 0.5, 0.5]}]},
            "subjects: model sana (SANA) cannot do subjects with boxes",
        ),
        ({"model": "sd3", "width": 2056}, "width: model sd3: width 2056 is outside 32..2048"),
        ({"model": "flux", "sampler": "euler"}, "sampler: model flux samples with flow-euler, not 'euler'"),
        ({"model": "pixart-sigma", "steps": 150}, "steps: model pixart-sigma takes at most 100 steps, got 150"),
    ],
)
def test_what_a_model_cannot_do_is_a_422_naming_it(alice: UserClient, change: dict[str, Any], message: str) -> None:
    r = alice.post("/v1/jobs", json={"prompt": "p", "width": 32, "height": 32, **change})
    assert r.status_code == 422 and r.json()["detail"].startswith(message), r.json()


def test_the_engine_keeps_one_model_resident_and_swaps_lru(family_platform: Platform) -> None:
    engine = PipelineEngine.from_settings(family_platform.settings, metrics=family_platform.metrics)
    calls: list[int] = []
    kw: dict[str, Any] = {
        "size": 32,
        "steps": 1,
        "sampler": "flow-euler",
        "guidance": 1.0,
        "should_stop": lambda: False,
    }
    kw["callback"] = lambda step, total, previews: calls.append(step)
    engine.generate([Sample(seed=1, prompt="a")], model="sd3", **kw)
    assert engine.resident_model() == "sd3"
    engine.generate([Sample(seed=1, prompt="a")], model="flux", **kw)
    assert engine.resident_model() == "flux" and list(engine._loaded) == [("flux", None)]
    text = family_platform.metrics.render().decode()
    assert (
        'scenecraft_model_resident_bytes{model="flux"}' in text and 'model="sd3"' not in text.split("load_seconds")[-1]
    )
    assert "scenecraft_model_swaps_total 1.0" in text
    assert calls == [1, 1]
