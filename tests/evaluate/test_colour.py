"""The colour judge: features of a subject's pixels, the fitted reader, the shipped reader on renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scenecraft.evaluate.colour import FEATURES, ColourReader, colour_features, fit_reader, subject_pixels
from scenecraft.evaluate.judges import WEIGHTS_DIR, Evaluators
from scenecraft.world.render import render
from scenecraft.world.spec import COLOUR_NAMES, COLOURS, Camera, ObjectSubject, SceneSpec


def test_features_of_a_flat_patch_are_its_chromaticity() -> None:
    rgb = np.array([0.8, 0.2, 0.1], np.float32)
    f = colour_features(np.tile(rgb, (50, 1)))
    assert f is not None and f.shape == (FEATURES,)
    lin = rgb**1.1
    np.testing.assert_allclose(f[:3], lin / (lin.sum() + 1e-3), rtol=1e-5)  # mean chromaticity
    assert colour_features(np.zeros((2, 3), np.float32)) is None  # too few pixels


def test_a_person_is_read_from_the_torso_band() -> None:
    image = np.zeros((40, 20, 3), np.uint8)
    image[:, :, 2] = 255  # blue trousers and head ...
    image[8:21, :, 0], image[8:21, :, 2] = 255, 0  # ... and a red top in rows 8..20
    mask = np.zeros((40, 20), bool)
    mask[2:38, 5:15] = True
    torso = subject_pixels(image, mask, person=True)
    assert len(torso) == 11 * 10 and (torso[:, 0] == 1.0).all()  # rows 2 + 0.18 * 36 .. 2 + 0.5 * 36: 9..19
    assert len(subject_pixels(image, mask, person=False)) == mask.sum()


def test_the_reader_fits_separable_features_and_survives_a_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(COLOUR_NAMES), FEATURES)).astype(np.float32) * 3
    y = rng.integers(0, len(COLOUR_NAMES), 600)
    x = centres[y] + rng.normal(size=(600, FEATURES)).astype(np.float32) * 0.3
    reader = fit_reader(x, y, epochs=150)
    with torch.no_grad():
        assert (reader(torch.from_numpy(x)).argmax(1).numpy() == y).mean() > 0.98
    reader.save(tmp_path / "colour.safetensors")
    back = ColourReader.load(tmp_path / "colour.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(back(torch.from_numpy(x[:5])), reader(torch.from_numpy(x[:5])))
    with pytest.raises(ValueError, match="at least 12"):
        fit_reader(x[:5], y[:5])


@pytest.mark.slow
def test_the_shipped_reader_names_the_colours_of_rendered_plastic_spheres() -> None:
    """Independent reference: the renderer, told each colour name; plastic shows its tint most."""
    assert (WEIGHTS_DIR / "colour.safetensors").is_file()
    judges = Evaluators.load()
    right = 0
    for name in COLOURS:
        spec = SceneSpec(
            camera=Camera(position=(0.0, 1.0, 4.0), look_at=(0.0, 0.5, 0.0), fov_deg=40.0),
            subjects=[ObjectSubject(shape="sphere", material="plastic", colour=name, position=(0, 0, 0), size=1.0)],
        )
        dets = judges.detect(render(spec, size=64).image)
        right += len(dets) == 1 and dets[0].colour == name
    assert right >= 10, f"{right} of 12 colours named right"
