"""Natural-language captions for scenes, from varied templates.

``caption(spec, rng)`` names every subject with its colour, material and shape (or, for a person,
action and clothes), relates neighbours as the camera sees them ("to the left of", "in front of"),
and mentions the floor, the wall and where the light comes from. The random generator picks among
synonyms and templates, so the same scene gets different wordings for different seeds; the facts
never change. Example: "a red rubber cube to the left of a person waving, on a marble floor, lit
from the right".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scenecraft.world.smpl import PRESET_PHRASES
from scenecraft.world.spec import ObjectSubject, PersonSubject, SceneSpec

if TYPE_CHECKING:
    from scenecraft.world.render import View

MATERIAL_WORDS: dict[str, tuple[str, ...]] = {
    "wood": ("wooden", "wood"),
    "marble": ("marble",),
    "brushed_metal": ("brushed-metal", "brushed steel"),
    "chrome": ("chrome", "mirror-chrome"),
    "brick": ("brick",),
    "grass": ("grass-covered", "turf"),
    "sand": ("sandy", "sand"),
    "fabric": ("fabric", "cloth"),
    "rubber": ("rubber",),
    "glass": ("glass",),
    "plastic": ("plastic", "glossy plastic"),
    "skin": ("skin",),
}
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "sphere": ("sphere", "ball"),
    "cube": ("cube", "box"),
    "cylinder": ("cylinder",),
    "cone": ("cone",),
    "torus": ("torus", "ring", "donut"),
    "capsule": ("capsule", "pill"),
}
FLOOR_WORDS: dict[str, tuple[str, ...]] = {
    "wood": ("a wooden floor", "wooden planks"),
    "marble": ("a marble floor",),
    "grass": ("grass", "a lawn"),
    "sand": ("sand", "a sandy ground"),
    "brick": ("a brick pavement",),
    "fabric": ("a carpet",),
    "rubber": ("a rubber mat",),
    "plastic": ("a plastic floor",),
    "brushed_metal": ("a brushed-metal floor",),
    "chrome": ("a mirror floor",),
    "glass": ("a glass floor",),
}
WALL_WORDS: dict[str, str] = {
    "wood": "a wooden wall",
    "marble": "a marble wall",
    "grass": "a hedge",
    "sand": "a sandstone wall",
    "brick": "a brick wall",
    "fabric": "a curtain",
    "rubber": "a rubber wall",
    "plastic": "a painted wall",
    "brushed_metal": "a metal wall",
    "chrome": "a mirrored wall",
    "glass": "a glass wall",
}
TEMPLATES: tuple[str, ...] = (
    "{subjects}, on {floor}, {light}",
    "{subjects} on {floor} in front of {wall}, {light}",
    "a scene with {subjects} on {floor}, {light}",
    "{light_cap}: {subjects}, on {floor}",
    "photo of {subjects} on {floor}, {wall} behind, {light}",
    "{subjects}. The ground is {floor}, with {wall} in the background, {light}",
)


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def subject_phrase(s: ObjectSubject | PersonSubject, rng: np.random.Generator) -> str:
    """'a red rubber cube' or 'a person waving in a blue top'."""
    if isinstance(s, ObjectSubject):
        return f"a {s.colour} {_pick(rng, MATERIAL_WORDS[s.material])} {_pick(rng, SHAPE_WORDS[s.shape])}"
    who = _pick(rng, ("a person", "a person", "someone", "a figure"))
    action = PRESET_PHRASES.get(s.action or "", "")
    clothes = _pick(
        rng,
        (
            f"in a {s.top_colour} top",
            f"wearing {s.top_colour} and {s.bottom_colour}",
            f"in a {s.top_colour} shirt and {s.bottom_colour} trousers",
        ),
    )
    return " ".join(x for x in (who, action, clothes) if x)


def light_phrase(spec: SceneSpec, view: View | None) -> str:
    """Where the light comes from, as the camera sees it, and its character."""
    d = np.asarray(spec.light.direction())
    if spec.light.elevation_deg >= 70:
        where = "lit from above"
    elif view is None:
        where = "lit from the side"
    else:
        x, z = float(d @ view.right), float(d @ -view.forward)
        if abs(x) >= abs(z):
            where = "lit from the right" if x > 0 else "lit from the left"
        else:
            where = "lit from the front" if z > 0 else "backlit"
    r, _, b = spec.light.colour
    mood = "warm" if r - b > 0.12 else "cool" if b - r > 0.12 else ""
    if spec.light.intensity < 0.6:
        mood = f"dim {mood}".strip()
    elif spec.light.intensity > 1.4:
        mood = f"bright {mood}".strip()
    return f"{where} by {mood} light" if mood else where


def relation(a_xy: np.ndarray, a_depth: float, b_xy: np.ndarray, b_depth: float, size: float) -> str:
    """How subject a stands relative to b in the image: left of, right of, in front of, behind."""
    dx = (a_xy[0] - b_xy[0]) / size
    dz = b_depth - a_depth
    if abs(dz) > 0.8 and abs(dx) < 0.12:
        return "in front of" if dz > 0 else "behind"
    return "to the left of" if dx < 0 else "to the right of"


def caption(spec: SceneSpec, rng: np.random.Generator, view: View | None = None) -> str:
    """A one-sentence description of ``spec`` in one of :data:`TEMPLATES`."""
    phrases = [subject_phrase(s, rng) for s in spec.subjects]
    if view is not None and len(spec.subjects) >= 2:
        pts = np.array([[s.position[0], 0.5, s.position[2]] for s in spec.subjects])
        xy, depth = view.project(pts)
        parts = [phrases[0]]
        for i in range(1, len(phrases)):
            rel = relation(xy[i], depth[i], xy[i - 1], depth[i - 1], view.size)
            parts.append(f"{phrases[i]} {rel} {_short(spec.subjects[i - 1])}")
        subjects = (
            ", and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 2 else " and ".join(parts)
        )
    elif phrases:
        subjects = phrases[0]
    else:
        subjects = "an empty room"
    floor = _pick(rng, FLOOR_WORDS[spec.ground.material])
    if spec.ground.colour:
        floor = f"{floor} tinted {spec.ground.colour}"
    light = light_phrase(spec, view)
    template = _pick(rng, TEMPLATES)
    text = template.format(
        subjects=subjects,
        floor=floor,
        light=light,
        light_cap=light[0].upper() + light[1:],
        wall=WALL_WORDS[spec.background.material],
    )
    return text[0].upper() + text[1:]


def _short(s: ObjectSubject | PersonSubject) -> str:
    """A short back-reference: 'the cube', 'the person'."""
    if isinstance(s, ObjectSubject):
        return f"the {s.colour} {SHAPE_WORDS[s.shape][0]}"
    return "the person"
