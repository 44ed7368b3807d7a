"""The model library over HTTP: what is installed and what each model can do (docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter

from scenecraft.api.deps import JobsRead, PlatformDep
from scenecraft.api.schemas import ModelList, ModelPublic

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=ModelList)
def list_models(principal: JobsRead, platform: PlatformDep) -> ModelList:
    """Installed models: family, size and step limits, samplers, guidance default, capabilities
    (text, negative prompt, context scene, inpaint, regional subjects, pose, image prompt) and
    variants. A job's `model` is one of these ids; the one with `default: true` serves jobs that
    name none."""
    return ModelList(models=[ModelPublic.model_validate(m) for m in platform.library().public()])
