"""Generate images: from a prompt with the bundled scene model, or with any DiT checkpoint.

    scenecraft generate "a person waving next to a red metal sphere on grass" --seed 5 --out a.png
    scenecraft generate "a red metal sphere on grass" --variant teacher-20 --steps 30   # the slow teacher
    scenecraft generate "two cubes on sand" --subject "a red rubber cube@0.1,0.5,0.45,0.9" \\
        --subject "a person waving@0.55,0.2,0.85,0.95@wave" --scale subjects=3 --out b.png
    scenecraft generate "a cube" --scene room.png --subject "a blue cube@0.3,0.4,0.7,0.9" --inpaint
    scenecraft generate --model DiT-XL/2 --checkpoint DiT-XL-2-256x256.pt \\
        --vae sd-vae-ft-ema/ --class-label 207 --steps 50 --sampler ddim --guidance 4 \\
        --seed 0 --size 256 --out out.png

Nothing is downloaded: checkpoints, the VAE and the text encoder are local files (the default
model, seed-12M, and its text encoder ship with the package). Without --vae a DiT works in pixel
space (3-channel models).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from scenecraft.atomic_write import atomic_path
from scenecraft.cli import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    from scenecraft.config import QUANT_MODES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("prompt", nargs="?", default=None, help="what to make (scene models)")
    parser.add_argument("--model", default="seed-12M", help="named config (default seed-12M); see --list-models")
    parser.add_argument("--list-models", action="store_true", help="print the named configs and exit")
    parser.add_argument(
        "--variant",
        default=None,
        help="variant of the bundled model (default: the platform's default); see --list-variants",
    )
    parser.add_argument("--list-variants", action="store_true", help="print the bundled model's variants and exit")
    parser.add_argument(
        "--checkpoint", type=Path, help="model weights: .pt (official or training) or .safetensors (default: bundled)"
    )
    parser.add_argument("--vae", type=Path, help="AutoencoderKL: a diffusers folder or a single weights file")
    parser.add_argument(
        "--class-label",
        type=int,
        action="append",
        dest="class_labels",
        metavar="N",
        help="class to generate (repeat for a batch); omit for unconditional",
    )
    parser.add_argument(
        "--subject",
        action="append",
        default=[],
        metavar="PROMPT@x0,y0,x1,y1[@POSE]",
        help="a subject with its box in 0..1 of the frame and, for a person, a pose preset (repeatable)",
    )
    parser.add_argument(
        "--no-plan", action="store_true", help="without --subject, do not read subjects and boxes from the prompt"
    )
    parser.add_argument("--scene", type=Path, help="context scene image (PNG/JPEG) whose materials and light to keep")
    parser.add_argument("--inpaint", action="store_true", help="paint the subjects into --scene; the rest is kept")
    parser.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="COND=S",
        help="guidance of one condition (scene, subjects, ...)",
    )
    parser.add_argument("--num-images", type=int, default=1, help="images per prompt (seeds seed, seed+1, ...)")
    parser.add_argument("--text-encoder", type=Path, help="local text encoder folder (default all-MiniLM-L6-v2)")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="sampling steps (default: the variant's; 30 for flow checkpoints, 50 otherwise)",
    )
    parser.add_argument(
        "--sampler", default=None, help="ddim or ddpm (epsilon models); euler or heun (flow models, default euler)"
    )
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale: the prompt's, or the class's")
    parser.add_argument("--seed", type=int, default=0, help="random seed; image i of a batch uses seed + i")
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="image side in pixels (default: the model's own; the bundled model's is 128: sampled at 64 px, then its "
        "learned x2 upsampler; --size 64 gives the samples themselves)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda when available)")
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="compute precision (default float32)",
    )
    parser.add_argument(
        "--quantize",
        choices=QUANT_MODES,
        default=None,
        help="int8 the model (torchao; approximate; slower on CPUs without VNNI/AMX: see docs/results.md)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the model (the first image compiles; pays on long runs)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out.png"), help="output PNG; a batch writes out-0.png, out-1.png, ..."
    )


def parse_subject(text: str) -> Any:
    """Parses PROMPT@x0,y0,x1,y1[@POSE] into a SubjectRequest; a clear UsageError otherwise."""
    from scenecraft.scene_conditions import SMPLPose, SubjectRequest
    from scenecraft.world.smpl import POSE_PRESETS, preset_pose

    parts = text.split("@")
    if len(parts) not in (2, 3) or not parts[0].strip():
        raise UsageError(f"--subject {text!r}: expected PROMPT@x0,y0,x1,y1 or PROMPT@x0,y0,x1,y1@POSE")
    try:
        box = tuple(float(v) for v in parts[1].split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        raise UsageError(f"--subject {text!r}: the box must be x0,y0,x1,y1 in 0..1 with x0 < x1 and y0 < y1")
    pose = None
    if len(parts) == 3:
        if parts[2] not in POSE_PRESETS:
            raise UsageError(f"--subject {text!r}: unknown pose {parts[2]!r}; presets: {', '.join(POSE_PRESETS)}")
        pose = SMPLPose(tuple(float(v) for v in preset_pose(parts[2])))
    return SubjectRequest(parts[0].strip(), box, pose)


def _list_models() -> int:
    import torch

    from scenecraft.model import DIT_CONFIGS, build_dit

    print(f"{'name':10} {'depth':>5} {'width':>5} {'heads':>5} {'patch':>5} {'params':>8}")
    for name, c in DIT_CONFIGS.items():
        with torch.device("meta"):  # shapes only, no memory
            n = sum(p.numel() for p in build_dit(name).parameters())
        print(f"{name:10} {c.depth:5d} {c.hidden_size:5d} {c.num_heads:5d} {c.patch_size:5d} {n / 1e6:7.1f}M")
    return 0


def _list_variants() -> int:
    from scenecraft.variants import DEFAULT_VARIANT, VARIANTS

    print(f"{'variant':12} {'steps':>5} {'passes/step':>11}  description")
    for v in VARIANTS.values():
        mark = " (default)" if v.id == DEFAULT_VARIANT else ""
        print(f"{v.id:12} {v.steps:5d} {v.passes_per_step:11d}  {v.description}{mark}")
    return 0


def _scene_specs(args: argparse.Namespace) -> list[Any]:
    import numpy as np
    from PIL import Image

    from scenecraft.pipeline import SampleSpec
    from scenecraft.scene_conditions import SceneRequest

    if args.class_labels:
        raise UsageError("--class-label is for class-conditional DiTs; scene models take a prompt")
    subjects = tuple(parse_subject(s) for s in args.subject)
    if not subjects and args.prompt and not args.no_plan:
        from scenecraft.planner import describe_plan, plan_subjects

        subjects = plan_subjects(args.prompt)
        if subjects:
            print(f"planned from the prompt (--no-plan to skip):\n{describe_plan(subjects)}", file=sys.stderr)
    scene = None
    if args.scene is not None:
        if not args.scene.is_file():
            raise UsageError(f"scene image not found: {args.scene}")
        try:
            with Image.open(args.scene) as im:
                scene = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise UsageError(f"cannot read scene image {args.scene}: {exc}") from None
    if args.inpaint and scene is None:
        raise UsageError("--inpaint needs --scene (the image to paint into)")
    if not args.prompt and not subjects and scene is None:
        raise UsageError('give a prompt, e.g. scenecraft generate "a red metal sphere on grass"')
    request = SceneRequest(args.prompt or "", subjects, scene, inpaint=args.inpaint)
    return [SampleSpec(seed=args.seed + i, request=request) for i in range(args.num_images)]


def _scales(items: list[str]) -> dict[str, float]:
    scales = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            scales[name] = float(value)
        except ValueError:
            raise UsageError(f"--scale {item!r}: expected CONDITION=NUMBER, e.g. subjects=3") from None
    return scales


def run(args: argparse.Namespace) -> int:
    if args.list_models:
        return _list_models()
    if args.list_variants:
        return _list_variants()

    import torch
    from tqdm import tqdm

    from scenecraft.model import DIT_CONFIGS
    from scenecraft.model.autoencoder import VAELoadError
    from scenecraft.model.checkpoints import CheckpointError
    from scenecraft.model.conditioning import SceneDiT
    from scenecraft.model.encoders import EncoderError
    from scenecraft.pipeline import BUNDLED, BUNDLED_MODELS, GenerationError, GenerationPipeline, SampleSpec, to_pil
    from scenecraft.variants import VariantError

    if args.model not in DIT_CONFIGS:
        raise UsageError(f"unknown model {args.model!r}; valid names: {', '.join(DIT_CONFIGS)}")
    if args.checkpoint is None and args.model not in BUNDLED_MODELS:
        raise UsageError(f"--checkpoint is required (no bundled weights for {args.model})")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise UsageError(f"checkpoint not found: {args.checkpoint}")
    if args.vae is not None and not args.vae.exists():
        raise UsageError(f"VAE not found: {args.vae}")
    if not 1 <= args.num_images <= 64:
        raise UsageError(f"--num-images must be between 1 and 64, got {args.num_images}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype)

    bundled = args.checkpoint is None and args.vae is None and args.model == "seed-12M"
    if args.variant is not None and not bundled:
        raise UsageError("--variant picks a variant of the bundled model: give no --checkpoint, --vae or --model")
    # The bundled model is a scene model: its request is checked before the weights load.
    early_specs, early_scales = (_scene_specs(args), _scales(args.scale)) if bundled else (None, None)
    try:
        if bundled:
            pipe = GenerationPipeline.from_variant(
                args.variant, device=device, dtype=dtype, text_encoder=args.text_encoder
            )
        else:
            pipe = GenerationPipeline.from_settings(
                args.model,
                args.checkpoint if args.checkpoint is not None else BUNDLED,
                args.vae,
                device=device,
                dtype=dtype,
                text_encoder=args.text_encoder,
            )
    except (CheckpointError, VAELoadError, EncoderError, VariantError) as exc:
        raise UsageError(str(exc)) from None
    if args.quantize is not None:
        from scenecraft.model.quantize import QuantizationError

        try:
            pipe.quantize(args.quantize)
        except QuantizationError as exc:
            raise UsageError(str(exc)) from None
    if args.compile:
        pipe.compile()
    scene_model = isinstance(pipe.model, SceneDiT)
    downsample = pipe.decoder.downsample
    native = pipe.native_size
    size = args.size or (pipe.default_size if scene_model or args.checkpoint is not None else 256)
    unit = downsample * pipe.model.patch_size
    if size <= 0 or size % unit:
        raise UsageError(
            f"--size {size} is not divisible by the patch grid: {args.model} "
            f"{'on VAE latents (8x downsampling)' if args.vae else 'in pixel space'} needs a multiple of {unit}"
        )
    sampled = pipe.sampling_size(size)
    if sampled != (size, size):
        print(f"sampling at {sampled[0]} px, then the learned x2 upsampler to {size} px", file=sys.stderr)
    elif native != size:
        print(f"warning: the checkpoint was trained at {native} px; generating at {size} px", file=sys.stderr)
    flow = pipe.objective == "flow"
    sampler = args.sampler or ("euler" if flow else "ddim")
    steps = args.steps or (pipe.variant.steps if pipe.variant else 30 if flow else 50)
    if pipe.variant is not None:
        print(
            f"variant {pipe.variant.id}: {steps} steps, {pipe.variant.passes_per_step} pass(es) per step",
            file=sys.stderr,
        )
    guidance = args.guidance if args.guidance is not None else (3.0 if scene_model else 4.0)

    if scene_model:
        specs = early_specs if early_specs is not None else _scene_specs(args)
    else:
        if args.prompt or args.subject or args.scene or args.inpaint:
            raise UsageError(
                f"{args.model} from this checkpoint is class-conditional: it takes --class-label, not a prompt"
            )
        labels = args.class_labels or [None]
        specs = [SampleSpec(seed=args.seed + i, class_label=label) for i, label in enumerate(labels)]
    scales = (early_scales if early_scales is not None else _scales(args.scale)) if scene_model else None
    start = time.perf_counter()
    bar = tqdm(total=steps, desc="sampling", unit="step", file=sys.stderr)
    try:
        z = pipe.sample(
            specs,
            size=sampled,
            steps=steps,
            sampler=sampler,
            guidance=guidance,
            condition_scales=scales,
            callback=lambda info: bar.update(1),
        )
        images = to_pil(pipe.decode(z, size))
    except GenerationError as exc:
        raise UsageError(str(exc)) from None
    finally:
        bar.close()
    elapsed = time.perf_counter() - start

    outputs = (
        [args.out]
        if len(images) == 1
        else [args.out.with_name(f"{args.out.stem}-{i}{args.out.suffix}") for i in range(len(images))]
    )
    for image, path in zip(images, outputs, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        print(f"wrote {path}")
    print(f"{len(images)} image(s) in {elapsed:.1f} s on {device}", file=sys.stderr)
    return 0
