"""Metrics: box IoU and matching by hand, and scores that separate real pairs from shuffled ones."""

from __future__ import annotations

import numpy as np
import pytest

from scenecraft.evaluate.judges import Evaluators
from scenecraft.evaluate.metrics import iou, match_boxes, pck, score_images
from scenecraft.world.dataset import WorldSampler


def test_iou_by_hand() -> None:
    assert iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert iou((0, 0, 2, 2), (0, 0, 2, 2)) == 1.0
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


def test_matching_is_one_to_one_and_global() -> None:
    # Greedy by best IoU would give box B to truth 0 (0.67) and leave truth 1 with nothing.
    truth = [(0, 0, 10, 10), (4, 0, 14, 10)]
    found = [(2, 0, 12, 10), (0, 0, 9, 10)]
    assert match_boxes(truth, found) == [1, 0]
    assert match_boxes(truth, []) == [None, None]


def test_pck_threshold_is_a_tenth_of_the_box() -> None:
    truth = np.zeros((3, 2))
    pred = np.array([[0.0, 4.9], [3.0, 4.0], [5.1, 0.0]])  # distances 4.9, 5.0, 5.1
    assert pck(pred, truth, (0, 0, 20, 50)).tolist() == [True, True, False]


def test_mismatched_inputs_are_refused() -> None:
    spec = WorldSampler(seed=0).spec(0)
    with pytest.raises(ValueError, match="got 1 requests but 0 images"):
        score_images([spec], [], None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="images must be square"):
        score_images([spec], [np.zeros((32, 48, 3), np.uint8)], Evaluators.load())


@pytest.mark.slow
def test_real_pairs_score_high_and_shuffled_pairs_near_chance() -> None:
    ev = Evaluators.load()
    sampler = WorldSampler(seed=99)
    renders = [sampler.render(i, 128) for i in range(16)]
    specs, images = [r.spec for r in renders], [r.image for r in renders]
    real = score_images(specs, images, ev)
    shuffled = score_images(specs[1:] + specs[:1], images, ev)
    # Real pairs are bounded by the evaluators' own accuracy (docs/results.md); shuffled pairs
    # must fall far below them on every metric.
    assert real["material_fidelity"] > 0.8 and real["pose_pck"] > 0.75 and real["mean_iou"] > 0.4
    for key in ("material_fidelity", "layout_recall", "mean_iou", "attribute_binding", "count_accuracy", "pose_pck"):
        assert shuffled[key] < 0.5 * real[key], key
    assert shuffled["layout_recall"] < 0.1 and shuffled["material_fidelity"] < 0.35
    # the per-image records add up to the metrics, image by image
    assert len(real["per_image"]) == 16
    for key, support in (("material_fidelity", "regions"), ("pose_pck", "joints"), ("count_accuracy", None)):
        hits = sum(r[key][0] for r in real["per_image"] if key in r)
        judged = sum(r[key][1] for r in real["per_image"] if key in r)
        assert judged == (real["support"][support] if support else 16)
        assert hits / judged == pytest.approx(real[key])
