"""A layout planner: subjects, boxes and poses read from a prompt, for requests that give none.

    plan_subjects("a person waving next to a red metal sphere on grass")
      -> (SubjectRequest("a person waving", box, pose=wave), SubjectRequest("a red metal sphere", box))

It knows the scene world's vocabulary (shapes, colours, materials, people and their actions) and
places the subjects it finds side by side, left to right in the order they are named, at the sizes
world scenes show them. Grounding and pose conditions are the model's strongest; a prompt alone
leaves it to guess the layout. What it plans is reported (the CLI prints it), and a request with its
own subjects is never planned.
"""

from __future__ import annotations

import re

from scenecraft.scene_conditions import SMPLPose, SubjectRequest
from scenecraft.world.captions import MATERIAL_WORDS, SHAPE_WORDS
from scenecraft.world.smpl import PRESET_PHRASES, preset_pose
from scenecraft.world.spec import COLOUR_NAMES

PERSON_WORDS = {"person", "someone", "figure", "man", "woman", "child", "people", "persons", "men", "women"}
SHAPE_OF = {word: shape for shape, words in SHAPE_WORDS.items() for word in words}
SHAPE_OF.update({word + "s": shape for word, shape in list(SHAPE_OF.items())})  # plurals
SHAPE_OF.update({"boxes": "cube", "spheres": "sphere", "tori": "torus"})
MATERIAL_OF = {w: m for m, words in MATERIAL_WORDS.items() for phrase in words for w in phrase.split()}
MATERIAL_OF.update({"metal": "brushed_metal", "steel": "brushed_metal", "metallic": "brushed_metal"})
ACTION_OF = {phrase.split()[-1]: name for name, phrase in PRESET_PHRASES.items()}  # "waving" -> "wave"
ACTION_OF.update({"raised": "arms_up", "t-pose": "t_pose", "hips": "hands_on_hips"})
NUMBERS = {"two": 2, "three": 3, "four": 4, "a": 1, "an": 1, "one": 1}
# Median boxes of world scenes at the default camera (width, height, bottom), in 0..1 of the frame.
PERSON_BOX = (0.19, 0.42, 0.66)
OBJECT_BOX = (0.18, 0.2, 0.68)
MAX_SUBJECTS = 4


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z\-]*", text.lower())


def plan_subjects(prompt: str, max_subjects: int = MAX_SUBJECTS) -> tuple[SubjectRequest, ...]:
    """The subjects a prompt names, with boxes and (for people) a pose; () if it names none."""
    words = _words(prompt)
    found: list[tuple[str, list[str], str | None]] = []  # (phrase, attribute words, pose)
    for i, w in enumerate(words):
        if w in SHAPE_OF or w in PERSON_WORDS:
            start = i
            while start > 0 and i - start < 4 and (
                words[start - 1] in COLOUR_NAMES or words[start - 1] in MATERIAL_OF or words[start - 1] in NUMBERS
            ):
                start -= 1
            count = NUMBERS.get(words[start], 1) if start < i else 1
            adjectives = [x for x in words[start:i] if x not in NUMBERS]
            pose = None
            tail: list[str] = []
            if w in PERSON_WORDS:
                for x in words[i + 1 : i + 4]:
                    if x in ACTION_OF:
                        pose = ACTION_OF[x]
                        tail = [x]
                        break
                noun = "person"
                phrase = " ".join(["a", *adjectives, noun, *tail])
            else:
                noun = w[:-1] if w.endswith("s") and w[:-1] in SHAPE_OF else w
                phrase = " ".join(["a", *adjectives, noun])
            for _ in range(count):
                found.append((phrase, adjectives, pose if w in PERSON_WORDS else None))
            if w in PERSON_WORDS and pose is None:
                found[-1] = (phrase, adjectives, "stand")
    found = found[:max_subjects]
    n = len(found)
    subjects = []
    for k, (phrase, _, pose_name) in enumerate(found):
        cx = (k + 1) / (n + 1) if n > 1 else 0.5
        width, height, bottom = PERSON_BOX if pose_name is not None else OBJECT_BOX
        box = (max(cx - width / 2, 0.0), max(bottom - height, 0.0), min(cx + width / 2, 1.0), bottom)
        smpl = SMPLPose(tuple(float(v) for v in preset_pose(pose_name))) if pose_name else None
        subjects.append(SubjectRequest(phrase, box, smpl))
    return tuple(subjects)


def describe_plan(subjects: tuple[SubjectRequest, ...]) -> str:
    """One line per planned subject, for logs and the CLI."""
    lines = []
    for s in subjects:
        assert s.box is not None
        box = ",".join(f"{v:.2f}" for v in s.box)
        lines.append(f"  {s.prompt!r} at [{box}]" + (" with a pose" if s.pose else ""))
    return "\n".join(lines)
