"""A job request checked against the model it names: the 422s that say which model and what.

Everything here reads the model library from files (families/library.py), never torch: the API
refuses what a model cannot do before a job is queued, and fills in the model's own defaults
(steps, guidance, sampler) so the stored params say exactly what ran.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError

from scenecraft.api.schemas import JobCreate
from scenecraft.families.library import BUNDLED_ID, Library, ModelEntry
from scenecraft.families.spec import FEATURE_NAMES, Capability
from scenecraft.variants import Variant, VariantError, get_variant


def _refuse(field: str, message: str) -> RequestValidationError:
    """A 422 in the same shape as pydantic's (the app's one error model, api/errors.py)."""
    loc: tuple[str, ...] = ("body", field) if field else ("body",)
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def resolve_model(body: JobCreate, library: Library) -> ModelEntry:
    model_id = body.model or library.default
    entry = library.get(model_id)
    if entry is None:
        installed = ", ".join(e.id for e in library.runnable())
        why = library.entries[model_id].problem if model_id in library.entries else "not installed"
        raise _refuse("model", f"model {model_id!r} is {why}; installed: {installed}")
    return entry


def asked_features(body: JobCreate) -> list[tuple[str, Capability]]:
    """(request field, capability) for every scene-aware thing the request asks for."""
    asked: list[tuple[str, Capability]] = []
    if body.negative_prompt:
        asked.append(("negative_prompt", "negative_prompt"))
    if body.inpaint:
        asked.append(("inpaint", "inpaint"))
    elif body.scene_asset_id is not None:
        asked.append(("scene_asset_id", "context_scene"))
    if not body.inpaint and any(s.box is not None for s in body.subjects):
        asked.append(("subjects", "regional_subjects"))
    if any(s.pose is not None for s in body.subjects):
        asked.append(("subjects", "pose"))
    return asked


def _check_class_label(body: JobCreate, entry: ModelEntry) -> None:
    """A class-conditional model needs a class in its range; a text model takes none."""
    if not entry.classes:
        if body.class_label is not None:
            raise _refuse("class_label", f"model {entry.id} ({entry.family.title}) is not class-conditional")
        return
    if body.class_label is None:
        raise _refuse(
            "class_label",
            f"model {entry.id} is class-conditional (it cannot read a prompt): give class_label "
            f"0..{entry.classes - 1}",
        )
    if body.class_label >= entry.classes:
        raise _refuse("class_label", f"model {entry.id} has classes 0..{entry.classes - 1}, got {body.class_label}")
    if body.subjects:
        raise _refuse("subjects", f"model {entry.id} ({entry.family.title}) cannot do subjects (it reads no text)")




def resolve_variant(body: JobCreate, entry: ModelEntry, *, has_variants: bool) -> Variant | None:
    """The bundled model's variant the job runs (scenecraft.variants; omitted: the platform's
    default), or None for a model without variants; a 422 for a variant it does not have."""
    if entry.id != BUNDLED_ID or not has_variants:
        if body.variant is not None:
            raise _refuse("variant", f"model {entry.id} has no variants (got {body.variant!r})")
        return None
    try:
        return get_variant(body.variant)
    except VariantError as exc:
        raise _refuse("variant", str(exc)) from None


def checked_params(body: JobCreate, entry: ModelEntry, *, has_variants: bool = True) -> dict[str, Any]:
    """The request's values with the model's defaults filled in; a 422 for what it cannot do.
    `has_variants`: the bundled model runs its variants (False when the platform serves a
    checkpoint of its own in their place)."""
    spec = entry.family
    # No size: the model's default (the bundled model's upsampler only with the bundled weights);
    # one side alone: a square of it.
    width, height = body.width, body.height
    if width is None and height is None:
        width, height = entry.default_size if has_variants else entry.native_size
    width = width if width is not None else height
    height = height if height is not None else width
    assert width is not None and height is not None
    problem = spec.size_problem(width, height)
    if problem is not None:
        field = "height" if problem.startswith("height") else "width"
        raise _refuse(field, f"model {entry.id}: {problem}")
    variant = resolve_variant(body, entry, has_variants=has_variants)
    default_steps = variant.steps if variant is not None else spec.steps_default
    steps = body.steps if body.steps is not None else default_steps
    if steps > spec.steps_max:
        raise _refuse("steps", f"model {entry.id} takes at most {spec.steps_max} steps, got {steps}")
    sampler = body.sampler or spec.samplers[0]
    if sampler not in spec.samplers:
        raise _refuse("sampler", f"model {entry.id} samples with {' or '.join(spec.samplers)}, not {sampler!r}")
    _check_class_label(body, entry)
    capabilities = entry.capabilities
    posed = any(s.pose is not None for s in body.subjects)
    if spec.name != "scene-dit" and posed and body.scene_asset_id is not None:
        raise _refuse("subjects", f"model {entry.id} ({spec.title}) cannot combine a context scene with subject poses")
    for field, feature in asked_features(body):
        if not capabilities[feature]:
            raise _refuse(field, f"model {entry.id} ({spec.title}) cannot do {FEATURE_NAMES[feature]}")
    values = body.model_dump(mode="json", exclude={"priority", "webhook_url"})
    values.update(
        model=entry.id,
        width=width,
        height=height,
        variant=variant.id if variant is not None else None,  # stored resolved, so reruns match
        steps=steps,
        sampler=sampler,
        guidance=body.guidance if body.guidance is not None else spec.guidance_default,
    )
    return values
