"""Variants of the bundled model: the table, its public listing, the job request field, and the
default checked against the measured speed table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.exceptions import RequestValidationError

from scenecraft.api.job_models import checked_params
from scenecraft.api.schemas import JobCreate
from scenecraft.families.library import bundled_entry
from scenecraft.variants import DEFAULT_VARIANT, VARIANTS, VariantError, get_variant, list_variants

SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "speed.json"


def test_listing_for_the_models_route() -> None:
    listed = list_variants()
    assert [v["id"] for v in listed] == [v.id for v in VARIANTS.values() if v.available]
    assert all(set(v) == {"id", "steps", "passes_per_step", "default"} for v in listed)
    assert [v["id"] for v in listed if v["default"]] == [DEFAULT_VARIANT]
    teacher = next(v for v in listed if v["id"] == "teacher-20")
    assert teacher["steps"] == 20 and teacher["passes_per_step"] == 6
    assert all(v["passes_per_step"] == 1 for v in listed if v["id"] != "teacher-20")


def test_unknown_variant_is_named() -> None:
    assert get_variant(None).id == DEFAULT_VARIANT
    with pytest.raises(VariantError, match="unknown variant 'turbo'; valid variants: teacher-20"):
        get_variant("turbo")
    bundled = bundled_entry()
    with pytest.raises(RequestValidationError, match="unknown variant 'turbo'"):
        checked_params(JobCreate(prompt="a cube", variant="turbo"), bundled)
    params = checked_params(JobCreate(prompt="a cube"), bundled)  # omitted: the default, by its id
    assert params["variant"] == DEFAULT_VARIANT and params["steps"] == get_variant(None).steps
    assert checked_params(JobCreate(prompt="a cube", variant="teacher-20", steps=7), bundled)["steps"] == 7
    # a platform serving its own checkpoint has no variants
    assert checked_params(JobCreate(prompt="a cube"), bundled, has_variants=False)["variant"] is None
    with pytest.raises(RequestValidationError, match="has no variants"):
        checked_params(JobCreate(prompt="a cube", variant="teacher-20"), bundled, has_variants=False)


@pytest.mark.skipif(not SPEED.is_file(), reason="benchmarks/speed.py has not been run")
def test_default_is_the_fastest_variant_within_two_percent() -> None:
    rows = [r for r in json.loads(SPEED.read_text())["rows"] if r.get("within_2pct") and r["variant"] in VARIANTS]
    if not rows:
        assert DEFAULT_VARIANT == "teacher-20"  # nothing faster kept the quality
        return
    fastest = min(rows, key=lambda r: r["s_per_image_b1"])
    assert fastest["variant"] == DEFAULT_VARIANT


@pytest.mark.slow
@pytest.mark.skipif(not VARIANTS["fast-4"].available, reason="no student installed")
def test_the_installed_student_lands_near_its_teacher() -> None:
    """The shipped student (an adapter on the shipped teacher: it loads only if the teacher's hash
    matches) puts its 4 steps where the teacher's 20 guided ones land: nearer the teacher's image of
    the same seed than the teacher's images of two seeds are to each other."""
    import numpy as np

    from scenecraft.pipeline import GenerationPipeline, SampleSpec
    from scenecraft.scene_conditions import SceneRequest

    request = SceneRequest("a red cube on a wooden table")
    images = {}
    for variant_id in ("teacher-20", "fast-4"):
        pipe = GenerationPipeline.from_variant(variant_id, upsampler=None)
        assert pipe.variant is not None
        specs = [SampleSpec(seed=seed, request=request) for seed in (1, 2)]
        out = pipe.generate(specs, size=64, steps=pipe.variant.steps, sampler="euler", guidance=3.0)
        images[variant_id] = [np.asarray(im, dtype=np.float32) / 255 for im in out]
    teacher, student = images["teacher-20"], images["fast-4"]
    same_seed = np.abs(student[0] - teacher[0]).mean()
    other_seed = np.abs(teacher[1] - teacher[0]).mean()
    assert same_seed < 0.5 * other_seed, (same_seed, other_seed)


def test_a_student_offers_only_the_step_counts_it_learnt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import struct

    import scenecraft.variants as variants

    def weights(name: str, extra: dict | None) -> None:
        meta = {"__metadata__": {"extra": json.dumps(extra)}} if extra is not None else {}
        header = json.dumps(meta).encode()
        (tmp_path / name).write_bytes(struct.pack("<Q", len(header)) + header)

    monkeypatch.setattr(variants, "WEIGHTS_DIR", tmp_path)
    assert not any(v.available for v in VARIANTS.values())
    weights(variants.TEACHER_WEIGHTS, None)
    weights(variants.STUDENT_WEIGHTS, {"step_counts": [1, 2, 4]})
    assert [v.id for v in VARIANTS.values() if v.available] == ["teacher-20", "fast-4", "fast-2", "fast-1"]
    with pytest.raises(VariantError, match="not installed: variant 'guided-20'"):
        get_variant("guided-20")
    weights(variants.PRUNED_WEIGHTS, {})  # says nothing of its steps: not offered
    (tmp_path / variants.STUDENT_WEIGHTS).write_bytes(b"\x00")  # unreadable: not offered
    assert [v.id for v in VARIANTS.values() if v.available] == ["teacher-20"]
