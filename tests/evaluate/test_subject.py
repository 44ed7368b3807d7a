"""The subject net: its view of a box, its training examples, and how the judges use it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from scenecraft.evaluate.examples import GENERAL_SEED, scene_labels, subject_examples
from scenecraft.evaluate.judges import WEIGHTS_DIR, Evaluators, JudgesError, freeze, read_version
from scenecraft.evaluate.nets import ARCHITECTURES, SEG_KINDS, SubjectNet, SubjectOutput, build
from scenecraft.evaluate.trainer import TrainSettings, _build_nets, export, subject_loss
from scenecraft.evaluate.views import SUBJECT_CROP, box_mask, iou, square_box, subject_crops
from scenecraft.world.dataset import WorldSampler
from scenecraft.world.spec import COLOUR_NAMES, OBJECT_MATERIALS


def test_box_mask_marks_the_pixels_whose_centres_lie_in_the_box() -> None:
    box = (10.0, 10.0, 20.0, 30.0)
    crop = square_box(box, 2.0)
    assert crop == (-5.0, 0.0, 35.0, 40.0)
    mask = box_mask(box, crop, 32)  # crop pixels are 1.25 image pixels
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 23, 12, 19)
    assert mask.sum() == 16 * 8
    # A box thinner than a crop pixel still marks its centre pixel.
    thin = box_mask((15.0, 15.0, 15.2, 15.2), (0.0, 0.0, 64.0, 64.0), 32)
    assert thin.sum() == 1 and thin[7, 7]


def test_subject_crops_are_rgb_and_the_box_mask() -> None:
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    boxes = [(10.0, 10.0, 20.0, 30.0), (40.0, 40.0, 60.0, 50.0)]
    x = subject_crops(image, boxes)
    assert x.shape == (2, 4, SUBJECT_CROP, SUBJECT_CROP) and 0.0 <= float(x[:, :3].min()) <= float(x[:, :3].max()) <= 1
    np.testing.assert_array_equal(x[0, 3].numpy().astype(bool), box_mask(boxes[0], square_box(boxes[0], 2.0), 32))
    assert subject_crops(image, []).shape == (0, 4, SUBJECT_CROP, SUBJECT_CROP)


def test_subject_examples_label_every_visible_subject_and_a_box_on_none() -> None:
    sampler = WorldSampler(seed=GENERAL_SEED)
    negatives = 0
    for i in range(6):
        r = sampler.render(i, 64)
        lab = scene_labels(r)
        ex = subject_examples(r.image, lab, np.random.default_rng(i), copies=2, negatives=1)
        visible = [s for s in lab["subjects"] if s["box"]]
        n = len(ex["kind"])
        assert n in (2 * len(visible), 2 * len(visible) + 1)
        assert ex["image"].shape == (n, 32, 32, 3) and ex["mask"].shape == (n, 32, 32)
        for k, s in enumerate(visible):
            for row in (2 * k, 2 * k + 1):
                assert SEG_KINDS[ex["kind"][row]] == s["shape"] and COLOUR_NAMES[ex["colour"][row]] == s["colour"]
                want = OBJECT_MATERIALS.index(s["material"]) if s["kind"] == "object" else -1
                assert ex["material"][row] == want and ex["light"][row] == lab["light"] + 1
        if n > 2 * len(visible):  # the background box: no labels but its kind
            negatives += 1
            assert (ex["kind"][-1], ex["colour"][-1], ex["material"][-1], ex["light"][-1]) == (0, -1, -1, -1)
        assert ex["mask"].any(axis=(1, 2)).all()
    assert negatives >= 4


def test_subject_net_outputs_and_its_loss_learns_a_batch() -> None:
    torch.manual_seed(0)
    net = SubjectNet(width=8)
    out = net(torch.rand(2, 4, 32, 32))
    assert out.kind.shape == (2, 8) and out.colour.shape == (2, 12) and out.material.shape == (2, 11)
    assert out.light.shape == (2, 3)
    r = WorldSampler(seed=GENERAL_SEED).render(2, 64)
    ex = subject_examples(r.image, scene_labels(r), np.random.default_rng(0))
    batch = {k: torch.from_numpy(v) for k, v in ex.items()}
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    losses = []
    for _ in range(30):
        torch.manual_seed(1)  # the same degradation and mirroring each step
        loss = subject_loss(net, batch, torch.zeros(len(ex["kind"]), dtype=torch.bool))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    # A batch with nothing to learn for material and light (people, background) still has a loss.
    unlabelled = {
        **batch,
        "material": torch.full_like(batch["material"], -1),
        "light": torch.full_like(batch["light"], -1),
    }
    assert torch.isfinite(subject_loss(net, unlabelled, torch.zeros(len(ex["kind"]), dtype=torch.bool)))


def _biased(
    kind: int | None = None, colour: int | None = None, background: bool = False, light: int | None = None
) -> SubjectNet:
    """A subject net whose heads answer one class whatever the crop."""
    torch.manual_seed(0)
    net = build("subject", ARCHITECTURES["v4"]["subject"])
    assert isinstance(net, SubjectNet)
    with torch.no_grad():
        for head in (net.kind, net.colour, net.material, net.light):
            head.weight.zero_()
            head.bias.zero_()
        if kind is not None:
            net.kind.bias[kind] = 20.0
        if background:
            net.kind.bias[0] = 20.0
        if colour is not None:
            net.colour.bias[colour] = 20.0
        if light is not None:
            net.light.bias[light] = 20.0
    return net.eval()


@pytest.fixture(scope="module")
def render64() -> np.ndarray:
    r = WorldSampler(seed=11).render(0, 64)
    assert sum(b is not None for b in r.boxes) >= 1
    return r.image


def test_the_subject_net_names_kinds_and_colours_and_drops_empty_boxes(render64: np.ndarray) -> None:
    plain = Evaluators.load(subject=None, colour=None)  # the shipped reader reads the subject net too
    found = plain.detect(render64)
    assert found
    torus, purple = SEG_KINDS.index("torus"), COLOUR_NAMES.index("purple")
    ev = Evaluators.load(
        subject=_biased(kind=torus, colour=purple), subject_kind=1.0, subject_colour=True, reject=0.5, colour=None
    )
    got = ev.detect(render64)
    assert [d.box for d in got] == [d.box for d in found]
    assert {d.kind for d in got} == {"torus"} and {d.colour for d in got} == {"purple"}
    # With no colour from it, the segmenter's colour head names them as before.
    ev.subject_colour = False
    assert [d.colour for d in ev.detect(render64)] == [d.colour for d in found]
    # Weight 0: the segmenter's kinds.
    ev.subject_kind = 0.0
    assert [d.kind for d in ev.detect(render64)] == [d.kind for d in found]
    # A subject net that sees no subject in any box drops every detection, unless rejection is off.
    empty = Evaluators.load(subject=_biased(background=True), reject=0.5)
    assert empty.detect(render64) == []
    empty.reject = None
    assert len(empty.detect(render64)) == len(found)


def test_a_subject_reader_is_given_each_detections_subject_colours(render64: np.ndarray) -> None:
    """A colour reader that reads only its subject-colour inputs names what the subject net says,
    box by box, when detect() hands it the net's reads."""
    from scenecraft.evaluate.colour import ColourReader, reader_width

    reader = ColourReader(materials=True, subject=True)
    start = reader_width(True, False)
    with torch.no_grad():
        first, last = reader.net[0], reader.net[2]
        assert isinstance(first, torch.nn.Linear) and isinstance(last, torch.nn.Linear)
        first.weight.zero_()
        first.bias.zero_()
        last.weight.zero_()
        last.bias.zero_()
        for c in range(len(COLOUR_NAMES)):  # hidden c = GELU(log p_c + 10): larger for the net's colour
            first.weight[c, start + c] = 1.0
            first.bias[c] = 10.0
            last.weight[c, c] = 1.0
    purple = COLOUR_NAMES.index("purple")
    ev = Evaluators.load(subject=_biased(colour=purple), colour=reader, reject=None)
    got = ev.detect(render64)
    assert got and {d.colour for d in got} == {"purple"}
    green = COLOUR_NAMES.index("green")
    ev.subject = _biased(colour=green)
    assert {d.colour for d in ev.detect(render64)} == {"green"}


def test_subject_materials_mix_only_into_the_subjects_boxes(render64: np.ndarray) -> None:
    ev = Evaluators.load(subject=_biased(), subject_material=0.5)
    boxes = [(10.0, 10.0, 30.0, 30.0), (30.0, 30.0, 50.0, 60.0), (0.0, 50.0, 14.0, 64.0)]
    _, plain = Evaluators.load(subject=None, colour=None).classify_materials(render64, boxes)
    _, mixed = ev.classify_materials(render64, boxes, subjects=2)
    uniform = np.full(len(OBJECT_MATERIALS), 1 / len(OBJECT_MATERIALS))  # the zeroed heads' answer
    np.testing.assert_allclose(mixed[:2], 0.5 * plain[:2] + 0.5 * uniform, atol=1e-6)
    np.testing.assert_allclose(mixed[2], plain[2], atol=1e-7)
    with pytest.raises(JudgesError, match="no subject net"):
        Evaluators.load(subject=None, colour=None).read_subjects(render64, boxes)


class _ShadingNet(SubjectNet):
    """Light logits from the crop's right-minus-left brightness: lit from the side that is brighter."""

    def forward(self, x: torch.Tensor) -> SubjectOutput:
        out = super().forward(x)
        half = x.shape[-1] // 2
        d = 50.0 * (x[:, :3, :, half:].mean((1, 2, 3)) - x[:, :3, :, :half].mean((1, 2, 3)))
        return out._replace(light=torch.stack([-d, torch.zeros_like(d), d], 1))


def test_the_light_side_is_read_by_the_subject_net_mirror_corrected(render64: np.ndarray) -> None:
    """The mirror's answer has left and right swapped back before averaging: a net that reads the
    brighter side gives the same side for an image and (mirrored) for its mirror; a net that says
    "right" whatever it sees says "right" for the mirror too, which averages to a tie."""
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, 32:] = 200
    boxes = [(22.0, 20.0, 42.0, 44.0)]
    ev = Evaluators.load(subject=_ShadingNet(width=8).eval())
    prob = ev.read_subjects(image, boxes).light
    assert prob[0, 2] > 0.99 and ev.light_side(image, boxes) == 1
    mirror = np.ascontiguousarray(image[:, ::-1])
    assert ev.light_side(mirror, [(22.0, 20.0, 42.0, 44.0)]) == -1
    constant = Evaluators.load(subject=_biased(light=2))
    np.testing.assert_allclose(constant.read_subjects(render64, boxes).light, [[0.5, 0.0, 0.5]], atol=1e-6)
    assert constant.light_side(render64, boxes) == 0
    from scenecraft.evaluate.light import light_side

    ev.subject_light = False  # the shading measurement instead
    assert ev.light_side(render64, boxes) == light_side(render64, boxes)
    assert ev.light_side(render64, []) == 0


def test_a_weights_folder_with_a_subject_net_freezes_and_loads_it(tmp_path: Path) -> None:
    d = tmp_path / "judges"
    shutil.copytree(WEIGHTS_DIR, d)
    (d / "judges.json").unlink()
    export(_biased(kind=1), "subject", d)
    assert read_version(d).startswith("unversioned-")
    manifest = freeze(d, "judges-test")
    assert "subject.safetensors" in manifest["files"]
    ev = Evaluators.load(d)
    assert ev.version == "judges-test" and ev.subject is not None and ev.subject.config == {"width": 32}
    export(_biased(kind=2), "subject", d)
    with pytest.raises(JudgesError, match=r"subject\.safetensors does not match"):
        Evaluators.load(d)


def test_training_settings_know_which_architectures_have_a_subject_net(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"architecture v3 has no \['subject'\] net"):
        TrainSettings(out=tmp_path, seconds=5, names=("subject",), arch="v3").validate()
    lines: list[str] = []
    before = tmp_path / "judges-5"  # a weights folder from before the subject net
    before.mkdir()
    shutil.copy(WEIGHTS_DIR / "material.safetensors", before)
    settings = TrainSettings(out=tmp_path, seconds=5, names=("material", "subject"), arch="v4", init=before)
    settings.validate()
    nets, _ = _build_nets(settings, lines.append)
    assert set(nets) == {"material", "subject"}
    assert any(line.startswith("subject: not in") and "starts fresh" in line for line in lines)
    lines.clear()
    _build_nets(TrainSettings(out=tmp_path, seconds=5, names=("subject",), arch="v4", init=WEIGHTS_DIR), lines.append)
    assert lines[0].startswith("subject: ") and "tensors from" in lines[0]  # the shipped net, loaded
    assert iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(1 / 3)


def test_the_shipped_judges_are_judges_7_with_the_v4_subject_net() -> None:
    ev = Evaluators.load()
    assert ev.version == "judges-7" and ev.subject is not None
    assert ev.colour is not None and ev.colour.materials and ev.colour.subject and ev.mirror_keypoints
    assert ev.subject.config == ARCHITECTURES["v4"]["subject"]
    assert (ev.subject_kind, ev.subject_material, ev.reject, ev.subject_colour) == (0.5, 0.5, 0.5, False)
