"""Official-format class-conditional DiT checkpoints as model-library entries: read without torch,
listed by GET /v1/models, run through the queue by scenecraft's own DiT pipeline."""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL
from PIL import Image

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.cli import main
from scenecraft.families.library import scan
from scenecraft.families.official_dit import PickleShapeError, pt_header
from scenecraft.jobs.engine import PipelineEngine
from scenecraft.jobs.worker import WorkerPool
from scenecraft.model.autoencoder import LatentDecoder
from scenecraft.model.dit import DiT, DiTConfig
from scenecraft.pipeline import GenerationPipeline, SampleSpec
from tests.utils.factories import UserClient, create_user
from tests.utils.fixtures import make_settings
from tests.utils.sse import parse

# Of no named config: the head count (1 = width 64 / 64) must come from the shapes, as for any DiT.
TINY = DiTConfig(depth=2, hidden_size=64, num_heads=1, patch_size=2, input_size=16, in_channels=4, num_classes=10)


def tiny_dit() -> DiT:
    torch.manual_seed(0)
    model = DiT(TINY)
    g = torch.Generator().manual_seed(1)
    for module in [model.final_layer.linear, *model.modulation_layers()]:  # untrained zeros -> small noise
        for p in module.parameters():
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def tiny_vae(folder: Path) -> None:
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(32, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        norm_num_groups=32,
    )
    vae.save_pretrained(folder)


@pytest.fixture(scope="module")
def dit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("dit-models")
    model = tiny_dit()
    (root / "dit-tiny").mkdir()
    torch.save(model.state_dict(), root / "dit-tiny" / "DiT-tiny-32x32.pt")  # the official release's format
    tiny_vae(root / "dit-tiny" / "vae")
    (root / "no-vae").mkdir()
    torch.save(model.state_dict(), root / "no-vae" / "DiT-tiny.pt")
    return root


def test_pt_shapes_are_read_without_torch_as_torch_load_sees_them(tmp_path: Path) -> None:
    state = tiny_dit().state_dict()
    state["half"] = torch.zeros(3, 5, dtype=torch.bfloat16)
    plain, training = tmp_path / "plain.pt", tmp_path / "train.pt"
    torch.save(state, plain)
    # a training checkpoint: the EMA weights count, the optimizer and args do not
    torch.save({"model": state, "ema": state, "opt": {}, "args": argparse.Namespace(lr=1)}, training)
    for path in (plain, training):
        header = pt_header(path)
        assert {k: v["shape"] for k, v in header.items()} == {k: list(v.shape) for k, v in state.items()}
    assert header["half"]["dtype"] == "BF16" and header["pos_embed"]["dtype"] == "F32"
    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "f": print}, evil)  # a global that is no tensor: refused, never called
    with pytest.raises(PickleShapeError, match=r"builtin_*\.print"):
        pt_header(evil)


def test_a_dit_folder_is_a_class_conditional_entry(dit_dir: Path) -> None:
    library = scan(dit_dir)
    entry = library.entries["dit-tiny"]
    assert entry.runnable and entry.family.name == "dit" and entry.classes == 10
    assert entry.params == sum(p.numel() for p in tiny_dit().parameters())
    assert entry.native_size == (32, 32) and entry.family.multiple_of == 4  # 16 latents x VAE 2x, patch 2
    assert entry.family.samplers == ("ddim", "ddpm")  # learned sigma: the official epsilon objective
    assert not any(entry.capabilities.values())
    assert "VAE" in str(library.entries["no-vae"].problem) and library.get("no-vae") is None


def test_models_list_shows_the_dit_and_why_the_other_is_not_runnable(
    dit_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list", "--models-dir", str(dit_dir), "--data-dir", str(tmp_path), "--json"]) == 0
    listed = {m["id"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed["dit-tiny"]["family"] == "dit" and listed["dit-tiny"]["runnable"] and listed["dit-tiny"]["can"] == []
    assert not listed["no-vae"]["runnable"] and listed["dit-tiny"]["vae"].endswith("vae")
    args = ["models", "verify", "dit-tiny", "--models-dir", str(dit_dir), "--data-dir", str(tmp_path)]
    assert main(args) == 0
    assert "two 32x32 steps in" in capsys.readouterr().out


@pytest.fixture
def alice(tmp_path: Path, dit_dir: Path) -> Iterator[tuple[UserClient, Platform]]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", models_dir=dit_dir, max_batch_size=4)
    platform = Platform.from_settings(settings)
    platform.db.migrate()
    create_user(platform, "alice")
    yield UserClient(create_app(platform=platform), "alice"), platform
    if platform.workers is not None:
        platform.workers.stop()
    platform.close()


def reference_image(dit_dir: Path, label: int, seed: int, steps: int) -> np.ndarray:
    """The same checkpoint loaded by hand: torch.load into the DiT built from its known config, the
    VAE by diffusers, sampled by the pipeline directly."""
    model = DiT(TINY)
    model.load_state_dict(torch.load(dit_dir / "dit-tiny" / "DiT-tiny-32x32.pt", weights_only=True))
    vae = AutoencoderKL.from_pretrained(dit_dir / "dit-tiny" / "vae", local_files_only=True)
    pipe = GenerationPipeline(model, LatentDecoder(vae.eval()))
    image = pipe.generate([SampleSpec(seed, label)], size=32, steps=steps, sampler="ddim", guidance=4.0)[0]
    return np.asarray(image, dtype=np.int16)


def test_a_dit_job_runs_through_the_queue(alice: tuple[UserClient, Platform], dit_dir: Path) -> None:
    client, platform = alice
    models = {m["id"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["dit-tiny"]["family"] == "dit" and models["dit-tiny"]["classes"] == 10
    assert models["dit-tiny"]["capabilities"]["text"] is False and "no-vae" not in models
    engine = PipelineEngine.from_settings(platform.settings, metrics=platform.metrics)
    platform.workers = WorkerPool(
        db=platform.db,
        store=platform.store,
        bus=platform.bus,
        policy=platform.policy,
        engine_factory=lambda: engine,
        poll_seconds=0.05,
    )
    platform.workers.start()
    body: dict[str, Any] = {"prompt": "a goldfish", "model": "dit-tiny", "class_label": 3, "width": 32, "height": 32}
    body.update(steps=4, seed=5)
    r = client.post("/v1/jobs", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    with client.http.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        events = parse(stream.iter_lines())
    assert [e.data["step"] for e in events if e.event == "preview"] == [1, 2, 3, 4]
    assert events[-1].event == "done", events[-1]
    params = client.get(f"/v1/jobs/{job_id}").json()["params"]
    assert (params["sampler"], params["guidance"], params["class_label"]) == ("ddim", 4.0, 3)
    content = client.get(f"/v1/assets/{events[-1].data['asset_id']}/versions/1/content").content
    got = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"), dtype=np.int16)
    assert np.abs(got - reference_image(dit_dir, 3, 5, 4)).max() <= 1
    other = client.post("/v1/jobs", json=body | {"class_label": 7}).json()["id"]
    deadline = time.time() + 60
    while (job := client.get(f"/v1/jobs/{other}").json())["status"] not in ("succeeded", "failed"):
        assert time.time() < deadline, job
        time.sleep(0.05)
    assert job["status"] == "succeeded", job


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"class_label": None}, "class-conditional (it cannot read a prompt): give class_label 0..9"),
        ({"class_label": 10}, "has classes 0..9, got 10"),
        ({"negative_prompt": "blurry"}, "dit-tiny (class-conditional DiT) cannot do negative_prompt"),
        ({"subjects": [{"prompt": "a cat"}]}, "cannot do subjects"),
        ({"model": "seed-12M"}, "is not class-conditional"),
        ({"sampler": "euler"}, "samples with ddim or ddpm"),
    ],
)
def test_what_a_dit_cannot_take_is_a_422(
    alice: tuple[UserClient, Platform], change: dict[str, Any], message: str
) -> None:
    client, _ = alice
    body = {"prompt": "a goldfish", "model": "dit-tiny", "class_label": 3, "width": 32, "height": 32, **change}
    if change.get("model") == "seed-12M":
        body.update(width=64, height=64)
    r = client.post("/v1/jobs", json={k: v for k, v in body.items() if v is not None})
    assert r.status_code == 422 and message in r.text, r.text
