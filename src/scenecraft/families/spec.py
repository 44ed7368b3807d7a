"""What each model family is and can do: one table, no torch (the API reads it to validate jobs).

A family is a kind of DiT checkpoint that diffusers knows how to run: its pipeline class (named
in a diffusers folder's ``model_index.json``), the latent grid its images must fit, its step and
guidance defaults, and which of our scene-aware request fields it can serve. What one installed
model can do also depends on what is installed beside it (a pose ControlNet); the library
(families/library.py) adds that per model.

    family         pipeline (diffusers)            latent grid   guidance     negative prompt
    pixart-alpha   PixArtAlphaPipeline             8 x patch 2   CFG          yes
    pixart-sigma   PixArtSigmaPipeline             8 x patch 2   CFG          yes
    sana           SanaPipeline                    32 x patch 1  CFG          yes
    sd3            StableDiffusion3Pipeline        8 x patch 2   CFG          yes
    flux           FluxPipeline                    8 x pack 2    distilled    no (guidance-distilled)
    scene-dit      ours (scenecraft.pipeline)      pixels        nested CFG   no
    dit            ours (scenecraft.pipeline)      SD VAE x patch class CFG  no (class-conditional)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

Capability = Literal["text", "negative_prompt", "context_scene", "inpaint", "regional_subjects", "pose", "image_prompt"]
CAPABILITIES: tuple[Capability, ...] = (
    "text",
    "negative_prompt",
    "context_scene",
    "inpaint",
    "regional_subjects",
    "pose",
    "image_prompt",
)
# The request field each capability serves, for refusals that name what was asked.
FEATURE_NAMES: dict[Capability, str] = {
    "text": "a text prompt",
    "negative_prompt": "negative_prompt",
    "context_scene": "a context scene (scene_asset_id)",
    "inpaint": "inpaint",
    "regional_subjects": "subjects with boxes (regional prompting)",
    "pose": "subject poses (needs a pose ControlNet of this family in the model library)",
    "image_prompt": "an image prompt (IP-Adapter)",
}


@dataclass(frozen=True)
class FamilySpec:
    name: str
    title: str
    pipelines: tuple[str, ...]  # model_index.json `_class_name`s that mean this family
    downsample: int  # image pixels per latent pixel (the VAE's factor)
    patch: int  # latent pixels per token side (patchify or FLUX's 2x2 packing)
    size_min: int
    size_max: int
    steps_default: int
    steps_max: int
    guidance_default: float
    samplers: tuple[str, ...]  # the scheduler the folder ships, by our name
    capabilities: frozenset[Capability] = field(default_factory=frozenset)
    square_only: bool = False
    multiple_floor: int = 1  # a multiple the pipeline itself insists on (SanaPipeline: 32, whatever the VAE)

    @property
    def multiple_of(self) -> int:
        return math.lcm(self.downsample * self.patch, self.multiple_floor)

    def size_problem(self, width: int, height: int) -> str | None:
        """Why width x height is not a size of this family, or None when it is."""
        for name, value in (("width", width), ("height", height)):
            if not self.size_min <= value <= self.size_max:
                return f"{name} {value} is outside {self.size_min}..{self.size_max}"
            if value % self.multiple_of:
                return (
                    f"{name} {value} is not a multiple of {self.multiple_of} "
                    f"(the VAE's {self.downsample}x times the {self.patch}x{self.patch} patch"
                    + (f", and {self.multiple_floor} for the pipeline)" if self.multiple_floor > 1 else ")")
                )
        if self.square_only and width != height:
            return f"width and height must be equal (this model makes square images), got {width}x{height}"
        return None


_CFG_TEXT: frozenset[Capability] = frozenset({"text", "negative_prompt", "regional_subjects"})

FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        FamilySpec(
            "pixart-alpha",
            "PixArt-α",
            ("PixArtAlphaPipeline",),
            8,
            2,
            32,
            2048,
            20,
            100,
            4.5,
            ("dpm-solver++",),
            _CFG_TEXT,
        ),
        FamilySpec(
            "pixart-sigma",
            "PixArt-Σ",
            ("PixArtSigmaPipeline",),
            8,
            2,
            32,
            4096,
            20,
            100,
            4.5,
            ("dpm-solver++",),
            _CFG_TEXT,
        ),
        FamilySpec(
            "sana",
            "SANA",
            ("SanaPipeline",),
            32,
            1,
            32,
            4096,
            20,
            100,
            4.5,
            ("flow-dpm-solver",),
            frozenset({"text", "negative_prompt"}),
            multiple_floor=32,
        ),
        FamilySpec(
            "sd3",
            "Stable Diffusion 3 / 3.5",
            ("StableDiffusion3Pipeline",),
            8,
            2,
            32,
            2048,
            28,
            100,
            7.0,
            ("flow-euler",),
            _CFG_TEXT | {"context_scene", "inpaint", "pose"},
        ),
        FamilySpec(
            "flux",
            "FLUX.1",
            ("FluxPipeline",),
            8,
            2,
            32,
            2048,
            28,
            100,
            3.5,
            ("flow-euler",),
            frozenset({"text", "context_scene", "inpaint", "regional_subjects", "pose"}),
        ),
        FamilySpec(
            "scene-dit",
            "scenecraft scene DiT (bundled)",
            (),
            1,
            1,
            32,
            128,  # trained at 64 px; one step at 256 px takes minutes on a CPU (benchmarks/step_time.py)
            20,
            200,
            3.0,
            ("euler", "heun"),
            frozenset({"text", "context_scene", "inpaint", "regional_subjects", "pose"}),
            square_only=True,
        ),
        FamilySpec(  # official class-conditional ImageNet DiT (families/official_dit.py): a class label, no text
            "dit",
            "class-conditional DiT",
            (),
            8,
            2,
            32,
            1024,
            50,
            200,
            4.0,
            ("ddim", "ddpm"),
            frozenset(),
        ),
    )
}


def family_of_pipeline(class_name: str) -> FamilySpec | None:
    for spec in FAMILIES.values():
        if class_name in spec.pipelines:
            return spec
    return None


def with_steps(spec: FamilySpec, default: int, guidance: float) -> FamilySpec:
    """A family spec with a checkpoint's own defaults (FLUX.1-schnell: 4 steps, no guidance)."""
    return replace(spec, steps_default=default, guidance_default=guidance)
