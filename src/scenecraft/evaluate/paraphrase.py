"""The same request in other words: synonyms the scene world's captions never use.

``benchmarks/quality.py --modes paraphrase`` asks for the held-out scenes with their prompt and
every subject phrase rewritten by :func:`paraphrase`: colours, materials, shapes, poses, floors,
walls and light words are replaced by synonyms that the training captions
(:mod:`scenecraft.world.captions`) never contain, so the difference to the plain prompts measures
how much of the request the text encoder carries by meaning rather than by the exact word.

Replacements are whole words and phrases, longest first, case kept for the first letter.
"""

from __future__ import annotations

import re

# Every phrase the captions and subject phrases use for a fact, with the synonym put in its place.
SYNONYMS: dict[str, str] = {
    # colours (COLOUR_NAMES)
    "red": "crimson",
    "orange": "tangerine",
    "yellow": "golden",
    "green": "emerald",
    "blue": "azure",
    "purple": "violet",
    "pink": "rose-coloured",
    "white": "ivory",
    "black": "jet-black",
    "gray": "slate-grey",
    "brown": "chocolate",
    "cyan": "turquoise",
    # object materials (MATERIAL_WORDS)
    "wooden": "timber",
    "wood": "timber",
    "marble": "veined-stone",
    "brushed-metal": "satin-steel",
    "brushed steel": "satin steel",
    "mirror-chrome": "polished silver",
    "chrome": "polished silver",
    "brick": "masonry",
    "grass-covered": "mossy",
    "turf": "moss",
    "sandy": "gritty",
    "sand": "grit",
    "fabric": "textile",
    "cloth": "textile",
    "rubber": "rubbery",
    "glass": "crystal",
    "glossy plastic": "shiny acrylic",
    "plastic": "acrylic",
    # shapes (SHAPE_WORDS)
    "sphere": "orb",
    "ball": "globe",
    "cube": "block",
    "box": "crate",
    "cylinder": "tube",
    "cone": "spike",
    "torus": "hoop",
    "ring": "hoop",
    "donut": "doughnut shape",
    "capsule": "lozenge",
    "pill": "lozenge",
    # people and poses (PRESET_PHRASES, subject_phrase)
    "a person": "an individual",
    "someone": "somebody",
    "a figure": "a human",
    "standing": "upright",
    "in a t-pose": "with both arms stretched sideways",
    "walking": "strolling",
    "running": "sprinting",
    "waving": "greeting with a raised hand",
    "sitting": "seated",
    "with arms raised": "reaching both hands skyward",
    "pointing": "gesturing ahead with a finger",
    "crouching": "squatting",
    "kneeling": "on one knee",
    "with hands on hips": "akimbo",
    "jumping": "leaping",
    "top": "shirt",
    "trousers": "pants",
    # floors and walls (FLOOR_WORDS, WALL_WORDS)
    "a lawn": "a meadow",
    "grass": "a meadow",
    "wooden planks": "timber boards",
    "a carpet": "a rug",
    "a rubber mat": "a rubbery mat",
    "a mirror floor": "a reflective floor",
    "a hedge": "a hedgerow",
    "a curtain": "drapes",
    "a painted wall": "an acrylic wall",
    "a metal wall": "a steel wall",
    "a mirrored wall": "a reflective wall",
    "a sandstone wall": "a gritty stone wall",
    "pavement": "paving",
    # light (light_phrase)
    "lit from the left": "with light falling from the left side",
    "lit from the right": "with light falling from the right side",
    "lit from the front": "with light falling from behind the camera",
    "lit from above": "with light falling from overhead",
    "backlit": "with the light behind them",
    "lit from the side": "with light falling from one side",
}

_PATTERN = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(SYNONYMS, key=len, reverse=True)) + r")(?![\w-])",
    re.IGNORECASE,
)


def paraphrase(text: str) -> str:
    """``text`` with every known phrase replaced by its synonym (see :data:`SYNONYMS`)."""

    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        new = SYNONYMS[word.lower()]
        return new[0].upper() + new[1:] if word[0].isupper() else new

    return _PATTERN.sub(swap, text)
