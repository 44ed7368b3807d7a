"""What the nets see: crops, surface patches, degradations, segmentation targets."""

from __future__ import annotations

import numpy as np
import torch

from scenecraft.evaluate.examples import segment_targets
from scenecraft.evaluate.views import degrade, region_crop, surface_boxes


def test_surface_boxes_lie_on_the_material() -> None:
    material = np.zeros((64, 64), np.int8)
    material[32:] = 3  # the lower half is material 3
    instance = np.full((64, 64), -1, np.int16)
    instance[40:50, 10:20] = 0  # a subject standing on it
    boxes = surface_boxes(material, instance, 3, np.random.default_rng(0), n=5, min_side=8, max_side=12)
    assert boxes
    for x0, y0, x1, y1 in boxes:
        ok = (material[y0:y1, x0:x1] == 3) & (instance[y0:y1, x0:x1] < 0)
        assert ok.mean() >= 0.95


def test_segment_targets_by_hand() -> None:
    # 128 px instance map: subject 0 (a cube) at rows 10..29, cols 10..29; subject 1 (a person)
    # touching it on the right, cols 30..49. Downsampled by 2: cols 5..14 and 15..24.
    inst = np.full((128, 128), -1, np.int8)
    inst[10:30, 10:30] = 0
    inst[10:30, 30:50] = 1
    lab = {"subjects": [{"shape": "cube", "colour": "red"}, {"shape": "person", "colour": "blue"}]}
    kind, colour, border = segment_targets(inst, lab, 64)
    assert kind.shape == (64, 64)
    assert (kind[5:15, 5:15] == 2).all() and (kind[5:15, 15:25] == 7).all() and (kind[:5] == 0).all()
    assert (colour[5:15, 5:15] == 0).all() and (colour[5:15, 15:25] == 4).all() and (colour[0] == -1).all()
    assert border[5:15, 14:16].all() and border.sum() == 20  # only where the two subjects touch


def test_region_crop_resizes_and_pads_outside_the_image() -> None:
    img = np.zeros((20, 20, 3), np.uint8)
    img[:, 10:] = 255
    crop = region_crop(img, (0, 0, 20, 20), 10)
    assert crop.shape == (10, 10, 3)
    assert crop[:, :4].max() < 30 and crop[:, 6:].min() > 225


def test_degrade_at_zero_strength_gives_the_images_back_and_otherwise_changes_them() -> None:
    x = torch.randint(0, 256, (6, 3, 16, 16)).float() / 255.0
    torch.testing.assert_close(degrade(x, strength=0.0), x)
    torch.manual_seed(0)
    out = degrade(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().mean() > 0.01
