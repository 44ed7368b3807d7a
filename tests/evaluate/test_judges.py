"""The judges' networks and detection; the shipped weights, their manifest and fresh renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scenecraft.evaluate.detection import box_groups, components
from scenecraft.evaluate.judges import WEIGHTS_DIR, Evaluators
from scenecraft.evaluate.nets import SEG_KINDS, KeypointNet, MaterialNet, SegmenterNet, soft_argmax


def test_soft_argmax_of_a_peak_is_its_pixel_centre() -> None:
    logits = torch.full((1, 2, 32, 32), -50.0)
    logits[0, 0, 5, 10] = 50.0  # row 5, column 10
    logits[0, 1, 31, 0] = 50.0
    uv = soft_argmax(logits)[0]
    torch.testing.assert_close(uv[0], torch.tensor([10.5 / 32, 5.5 / 32]))
    torch.testing.assert_close(uv[1], torch.tensor([0.5 / 32, 31.5 / 32]))


def test_components_split_touching_subjects_at_the_border() -> None:
    kinds, colours = len(SEG_KINDS), 12
    kind = np.zeros((kinds, 20, 20))
    kind[0] = 1.0
    colour = np.zeros((colours, 20, 20))
    # Two cubes (kind 2) side by side, columns 2..7 and 8..13, rows 4..11; a 1-pixel speck at (18, 18).
    for cols, c in ((slice(2, 8), 0), (slice(8, 14), 4)):
        kind[:, 4:12, cols] = 0.0
        kind[2, 4:12, cols] = 1.0
        colour[c, 4:12, cols] = 1.0
    kind[:, 18, 18] = 0.0
    kind[3, 18, 18] = 1.0
    border = np.zeros((20, 20), bool)
    border[4:12, 7:9] = True  # the columns where they touch
    found = sorted(components(kind, colour, border), key=lambda f: f[0][0])
    assert [f[0] for f in found] == [(2, 4, 8, 12), (8, 4, 14, 12)]
    assert [f[1] for f in found] == [2, 2] and [f[2] for f in found] == [0, 4]
    assert [f[4] for f in found] == [48, 48]


def test_a_cut_off_limb_joins_its_person() -> None:
    kind = np.zeros((len(SEG_KINDS), 30, 30))
    kind[0] = 1.0
    person = SEG_KINDS.index("person")
    for rows, cols in ((slice(5, 25), slice(10, 16)), (slice(8, 11), slice(17, 21)), (slice(5, 25), slice(24, 29))):
        kind[:, rows, cols] = 0.0
        kind[person, rows, cols] = 1.0
    # A body (cols 10..15), an arm 1 px away (cols 17..20), and a second person 3 px from the arm.
    found = components(kind, np.ones((12, 30, 30)) / 12, np.zeros((30, 30), bool))
    assert sorted(f[0] for f in found) == [(10, 5, 21, 25), (24, 5, 29, 25)]


def test_box_votes_of_touching_subjects_give_one_box_each() -> None:
    """Two cubes that touch (no border between them) and a person cut in two by a pole in front."""
    h = w = 40
    kind = np.zeros((len(SEG_KINDS), h, w))
    kind[0] = 1.0
    colour = np.full((12, h, w), 1 / 12)
    dist = np.zeros((4, h, w))
    person, cube = SEG_KINDS.index("person"), SEG_KINDS.index("cube")

    def paint(box: tuple[int, int, int, int], k: int, cols: slice | None = None) -> None:
        x0, y0, x1, y1 = box
        ys, xs = np.mgrid[y0:y1, x0:x1]
        keep = np.ones(ys.shape, bool) if cols is None else ~((xs >= cols.start) & (xs < cols.stop))
        ys, xs = ys[keep], xs[keep]
        kind[:, ys, xs] = 0.0
        kind[k, ys, xs] = 1.0
        cx, cy = xs + 0.5, ys + 0.5
        dist[:, ys, xs] = np.stack([cx - x0, cy - y0, x1 - cx, y1 - cy])

    paint((2, 4, 10, 12), cube)
    paint((10, 4, 16, 12), cube)  # touches the first at column 10
    paint((20, 5, 32, 35), person, cols=slice(25, 27))  # columns 25, 26 hidden by an occluder
    found = sorted(box_groups(kind, colour, dist), key=lambda f: f[0][0])
    assert [f[0] for f in found] == [(2, 4, 10, 12), (10, 4, 16, 12), (20, 5, 32, 35)]
    assert [f[1] for f in found] == [cube, cube, person]
    assert [f[4] for f in found] == [64, 48, 12 * 30 - 2 * 30]
    # The border-based post-processing merges the cubes and splits the person:
    split = components(kind, colour, np.zeros((h, w), bool))
    assert len(split) == 3 and (2, 4, 16, 12) in [f[0] for f in split]


def test_box_groups_recover_every_true_box_of_renders_from_perfect_maps() -> None:
    """The renderer's boxes, through box_targets and box_groups, come back exactly (independent
    reference: the renderer's own boxes from its instance masks)."""
    from scenecraft.evaluate.examples import box_targets, scene_labels, segment_targets
    from scenecraft.world.dataset import WorldSampler

    sampler = WorldSampler(seed=11)
    checked = 0
    for i in range(6):
        r = sampler.render(i, 128)
        lab = scene_labels(r)
        kind, _, _ = segment_targets(r.instance, lab, 128)
        kind_prob = np.eye(len(SEG_KINDS))[kind].transpose(2, 0, 1)
        found = box_groups(
            kind_prob, np.full((12, 128, 128), 1 / 12), box_targets(r.instance, lab, 128).astype(np.float64), min_area=1
        )
        boxes = sorted(tuple(round(v, 3) for v in f[0]) for f in found)
        truth = sorted(tuple(float(v) for v in b) for b in r.boxes if b is not None)
        assert boxes == truth
        checked += len(truth)
    assert checked >= 12


def test_network_shapes() -> None:
    assert MaterialNet()(torch.rand(2, 3, 32, 32)).shape == (2, 11)
    k, c, b, box = SegmenterNet()(torch.rand(2, 3, 64, 64))
    assert k.shape == (2, 8, 64, 64) and c.shape == (2, 12, 64, 64) and b.shape == (2, 1, 64, 64) and box is None
    k, c, b, box = SegmenterNet((8, 8, 8, 8, 8), size=128, boxes=True)(torch.rand(2, 3, 128, 128))
    assert k.shape == (2, 8, 128, 128) and c.shape == (2, 12, 128, 128) and b.shape == (2, 1, 128, 128)
    assert box is not None and box.shape == (2, 4, 128, 128) and (box > 0).all()
    with pytest.raises(ValueError, match="divisible"):
        SegmenterNet((8, 8, 8, 8, 8), size=72)
    uv, heat = KeypointNet()(torch.rand(2, 3, 64, 64))
    assert uv.shape == (2, 24, 2) and heat.shape == (2, 24, 32, 32)


def test_missing_weights_say_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"evaluator weights missing: .*material\.safetensors"):
        Evaluators.load(tmp_path)


def test_shipped_weights_are_small() -> None:
    files = list(WEIGHTS_DIR.glob("*.safetensors"))
    assert {f.stem for f in files} >= {"material", "segmenter", "keypoints"}
    assert sum(f.stat().st_size for f in files) < 8_000_000


@pytest.mark.slow
def test_shipped_evaluators_read_renders() -> None:
    """On fresh renders (seed 11, never trained on) the evaluators beat chance by far.

    Bounds sit below the held-out numbers in docs/results.md, which come from 500 scenes.
    """
    from scenecraft.evaluate.metrics import held_out_report
    from scenecraft.world.dataset import WorldSampler

    report = held_out_report(Evaluators.load(), n=12, seed=11, size=128)
    assert report["material_accuracy"] > 0.8  # chance: 1/11
    assert report["detection_recall"] > 0.8 and report["colour_accuracy"] > 0.4
    assert report["keypoint_pck"] > 0.7
    r = WorldSampler(seed=11).render(0, 128)
    dets = Evaluators.load().detect(r.image)
    assert all(0 <= d.box[0] < d.box[2] <= 128 and 0 <= d.box[1] < d.box[3] <= 128 for d in dets)


def test_material_probabilities_average_a_crop_and_its_mirror() -> None:
    from scenecraft.evaluate.views import MATERIAL_CROP, crops

    ev = Evaluators.load()
    image = (np.random.default_rng(3).random((64, 64, 3)) * 255).astype(np.uint8)
    boxes = [(4.0, 6.0, 30.0, 40.0), (20.0, 20.0, 60.0, 50.0)]
    _, prob = ev.classify_materials(image, boxes)
    x = crops(image, boxes, MATERIAL_CROP)
    with torch.no_grad():
        want = ((ev.material(x) + ev.material(torch.flip(x, dims=[3]))) / 2).softmax(-1).numpy()
    np.testing.assert_allclose(prob, want, rtol=1e-5, atol=1e-6)
    ev.mirror_average = False
    assert not np.allclose(ev.classify_materials(image, boxes)[1], want)
    assert ev.classify_materials(image, [])[1].shape == (0, 11)


def test_mirror_averaged_keypoints_mirror_with_the_person() -> None:
    """Averaging a crop's heatmaps with its mirror's makes the joints equivariant: the joints read in
    a mirrored render are the render's joints mirrored, left and right swapped (the mirrored box
    crops the mirrored pixels, so only float rounding differs). Without the average they are not."""
    from scenecraft.world.dataset import WorldSampler
    from scenecraft.world.smpl import FLIP_PAIRS
    from scenecraft.world.spec import PersonSubject

    r = next(
        r
        for r in (WorldSampler(seed=11).render(i, 64) for i in range(20))
        if any(b is not None and isinstance(s, PersonSubject) for s, b in zip(r.spec.subjects, r.boxes, strict=True))
    )
    box = next(
        b for s, b in zip(r.spec.subjects, r.boxes, strict=True) if b is not None and isinstance(s, PersonSubject)
    )
    x0, y0, x1, y1 = (float(v) for v in box)
    mirrored_box = (64 - x1, y0, 64 - x0, y1)
    ev = Evaluators.load()

    def mirrored_back(joints: np.ndarray) -> np.ndarray:
        return np.stack([64 - joints[:, 0], joints[:, 1]], 1)[list(FLIP_PAIRS)]

    joints = ev.keypoints(r.image, [(x0, y0, x1, y1)])[0]
    of_mirror = ev.keypoints(np.ascontiguousarray(r.image[:, ::-1]), [mirrored_box])[0]
    np.testing.assert_allclose(mirrored_back(of_mirror), joints, atol=1e-3)
    ev.mirror_keypoints = False
    plain = ev.keypoints(r.image, [(x0, y0, x1, y1)])[0]
    plain_mirror = ev.keypoints(np.ascontiguousarray(r.image[:, ::-1]), [mirrored_box])[0]
    assert np.abs(mirrored_back(plain_mirror) - plain).max() > 0.01
    assert ev.keypoints(r.image, []).shape == (0, 24, 2)


def test_segment_averages_the_image_and_its_mirror() -> None:
    ev = Evaluators.load()
    image = (np.random.default_rng(4).random((64, 64, 3)) * 255).astype(np.uint8)
    kind, _, _, box = ev.segment(image)
    from scenecraft.evaluate.views import grid_image, to_input

    x = to_input(grid_image(image, ev.segmenter.size)[None])
    with torch.no_grad():
        a, b = ev.segmenter(x), ev.segmenter(torch.flip(x, dims=[3]))
    want_kind = (a.kind[0].softmax(0) + torch.flip(b.kind[0].softmax(0), dims=[2])) / 2
    np.testing.assert_allclose(kind, want_kind.numpy(), atol=1e-5)
    assert a.box is not None and b.box is not None and box is not None
    # The mirror's left distance is the image's right one.
    want_left = (a.box[0, 0] + torch.flip(b.box[0, 2], dims=[1])) / 2
    np.testing.assert_allclose(box[0], want_left.numpy(), rtol=1e-4, atol=1e-3)
    ev.mirror_segment = False
    np.testing.assert_allclose(ev.segment(image)[0], a.kind[0].softmax(0).numpy(), atol=1e-5)


def test_zoomed_kinds_of_a_whole_image_box_are_the_kind_map_mean() -> None:
    """A box over the whole grid at grow 1 crops the image itself (at the grid's size: no resize), so
    the zoomed read is the mean of :meth:`Evaluators.segment`'s kind map over the subject's pixels."""
    from scenecraft.evaluate.detection import Found

    ev = Evaluators.load()
    s = ev.segmenter.size
    image = (np.random.default_rng(5).random((s, s, 3)) * 255).astype(np.uint8)
    kind = ev.segment(image)[0]
    rows, cols = np.mgrid[10:30, 40:70]
    pixels = np.stack([rows.ravel(), cols.ravel()], 1)
    whole = Found((0.0, 0.0, float(s), float(s)), 1, 0, 0.5, len(pixels), pixels)
    got = ev.zoomed_kinds(image, [whole], grow=1.0)
    np.testing.assert_allclose(got[0], kind[:, 10:30, 40:70].mean((1, 2)), atol=1e-5)
    assert got.shape == (1, len(SEG_KINDS)) and got[0].sum() == pytest.approx(1.0, abs=1e-5)
