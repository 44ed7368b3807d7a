"""Variants of the bundled model: the teacher and its faster students, in one table.

    teacher-20   the 20-step teacher, nested per-condition guidance: 1 + one pass per condition given
    guided-20    the guidance-distilled student: the scales are inputs, one pass per step
                 (offered only when the installed student learnt the 20-step size)
    fast-4 / fast-2 / fast-1   the same student at 4, 2 or 1 steps (it learnt each step size)
    pruned-4     a depth-pruned student (blocks chosen by measurement), 4 steps

A variant is weights + a step count + how it runs. The platform's default is the fastest variant
whose quality table stays within 2 % of the 20-step teacher (``benchmarks/speed.py`` measures it;
``tests/test_variants.py`` checks this table against its results file). Torch-free: the API
validates job requests against it without importing torch.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).parent / "weights"  # the bundled weights (pipeline.BUNDLED_DIR)

TEACHER_WEIGHTS = "seed-12M.safetensors"
STUDENT_WEIGHTS = "seed-12M-student.safetensors"
PRUNED_WEIGHTS = "seed-12M-student-pruned.safetensors"
MAX_TEACHER_PASSES = 6  # no condition, then one level per condition: inpaint, scene, pose, subjects, text


@dataclass(frozen=True)
class Variant:
    id: str
    weights: str  # file name in the bundled weights folder
    steps: int  # the step count it runs with
    passes_per_step: int  # forward passes per step (the teacher's: at most, with every condition given)
    description: str
    student: bool = True

    @property
    def available(self) -> bool:
        """Whether this install has the variant's weights (a student not yet distilled has none), and
        for a student, whether those weights learnt its step count (a student distilled for 1, 2 and
        4 steps offers no 20-step variant)."""
        path = WEIGHTS_DIR / self.weights
        return path.is_file() and (not self.student or self.steps in learnt_steps(path))

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "steps": self.steps,
            "passes_per_step": self.passes_per_step,
            "default": self.id == DEFAULT_VARIANT,
        }


class VariantError(ValueError):
    """An unknown variant; the message lists the valid ones."""


def learnt_steps(path: Path) -> tuple[int, ...]:
    """The step counts a student's weights file learnt (``step_counts`` in its metadata), read from
    the safetensors header without torch; () when the file does not say."""
    try:
        stat = path.stat()
    except OSError:
        return ()
    return _learnt_steps(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _learnt_steps(path: Path, _mtime: int, _size: int) -> tuple[int, ...]:
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(min(length, 1 << 24)))
        counts = json.loads(header["__metadata__"]["extra"])["step_counts"]
        return tuple(int(k) for k in counts)
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return ()


VARIANTS: dict[str, Variant] = {
    v.id: v
    for v in (
        Variant(
            "teacher-20",
            TEACHER_WEIGHTS,
            20,
            MAX_TEACHER_PASSES,
            "the teacher: nested per-condition guidance, one pass per level",
            student=False,
        ),
        Variant("guided-20", STUDENT_WEIGHTS, 20, 1, "guidance-distilled student, 20 steps"),
        Variant("fast-4", STUDENT_WEIGHTS, 4, 1, "few-step student, 4 steps"),
        Variant("fast-2", STUDENT_WEIGHTS, 2, 1, "few-step student, 2 steps"),
        Variant("fast-1", STUDENT_WEIGHTS, 1, 1, "few-step student, 1 step"),
        Variant("pruned-4", PRUNED_WEIGHTS, 4, 1, "depth-pruned few-step student, 4 steps"),
    )
}

# The fastest variant within 2 % of teacher-20 on the quality table (benchmarks/results/speed.json).
DEFAULT_VARIANT = "teacher-20"


def get_variant(variant_id: str | None) -> Variant:
    """The named variant (None: the default); a VariantError lists the valid ids otherwise."""
    variant = VARIANTS[DEFAULT_VARIANT] if variant_id is None else VARIANTS.get(variant_id)
    if variant is None or not variant.available:
        valid = ", ".join(v.id for v in VARIANTS.values() if v.available)
        what = "unknown" if variant is None else "not installed:"
        raise VariantError(f"{what} variant {variant_id!r}; valid variants: {valid}")
    return variant


def list_variants() -> list[dict[str, Any]]:
    """The installed variants as ``GET /v1/models`` lists them: id, steps, passes_per_step, default."""
    return [v.public() for v in VARIANTS.values() if v.available]
