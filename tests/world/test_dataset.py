"""The scene sampler: determinism, controllable distributions, and sharding over DataLoader workers."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest
from pydantic import ValidationError

from scenecraft.world.dataset import SamplerConfig, WorldDataset, WorldSampler, collate_renders
from scenecraft.world.spec import ObjectSubject, PersonSubject


def test_same_seed_and_index_same_scene() -> None:
    a, b = WorldSampler(seed=3), WorldSampler(seed=3)
    assert a.spec(17) == b.spec(17)
    assert a.spec(17) != a.spec(18)
    assert WorldSampler(seed=4).spec(17) != a.spec(17)
    np.testing.assert_array_equal(a.render(2, 32).image, b.render(2, 32).image)


def test_distributions_are_controllable() -> None:
    only_cubes = SamplerConfig(
        person_probability=0.0,
        shapes={"cube": 1.0},
        materials={"chrome": 1.0},
        colours={"pink": 1.0},
        min_subjects=2,
        max_subjects=2,
    )
    for spec in (WorldSampler(only_cubes, seed=0).spec(i) for i in range(10)):
        assert len(spec.subjects) == 2
        assert all(
            isinstance(s, ObjectSubject) and (s.shape, s.material, s.colour) == ("cube", "chrome", "pink")
            for s in spec.subjects
        )
    people = SamplerConfig(
        person_probability=1.0,
        max_people=3,
        min_subjects=1,
        max_subjects=3,
        pose_presets={"sit": 1.0},
        random_pose_probability=0.0,
    )
    specs = [WorldSampler(people, seed=1).spec(i) for i in range(10)]
    assert all(isinstance(s, PersonSubject) and s.action == "sit" for sp in specs for s in sp.subjects)


def test_default_mix_has_people_and_several_subjects() -> None:
    specs = [WorldSampler(seed=0).spec(i) for i in range(60)]
    kinds = [s.kind for sp in specs for s in sp.subjects]
    assert 0.15 < kinds.count("person") / len(kinds) < 0.45
    assert max(len(sp.subjects) for sp in specs) >= 4


def test_bad_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"shapes: unknown names \['pyramid'\]"):
        SamplerConfig(shapes={"pyramid": 1.0})
    with pytest.raises(ValidationError, match=r"min_subjects .* must not exceed max_subjects"):
        SamplerConfig(min_subjects=5, max_subjects=2)
    with pytest.raises(ValidationError, match="colours: weights must be >= 0 with a positive sum"):
        SamplerConfig(colours={"red": 0.0})
    with pytest.raises(ValueError, match="seed must be >= 0"):
        WorldSampler(seed=-1)


def test_iterable_dataset_shards_across_workers_and_ranks() -> None:
    from torch.utils.data import DataLoader

    ds = WorldDataset(seed=0, size=32, length=10)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_renders)
    seen = [i for batch in loader for i in batch["index"]]
    assert sorted(seen) == list(range(10))  # each scene exactly once
    batch = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_renders)))
    assert batch["image"].shape == (3, 3, 32, 32) and batch["material"].shape == (3, 32, 32)
    assert float(batch["image"].min()) >= 0.0 and float(batch["image"].max()) <= 1.0
    assert len(batch["caption"]) == 3
    ranks = [list(WorldDataset(seed=0, size=32, length=10, rank=r, world_size=3).indices()) for r in range(3)]
    assert sorted(functools.reduce(operator.iadd, ranks, [])) == list(range(10)) and ranks[1] == [1, 4, 7]
    with pytest.raises(ValueError, match=r"rank must be in 0\.\.world_size-1"):
        WorldDataset(rank=2, world_size=2)
