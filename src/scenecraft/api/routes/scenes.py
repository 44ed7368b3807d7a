"""Context scenes from the scene world: `POST /v1/scenes/world` renders a room (floor, wall, light)
with the world's renderer (numpy, no torch; a few milliseconds at 128 px) and stores it as a new
asset of the caller, ready to be a job's `scene_asset_id`."""

from __future__ import annotations

import io

from fastapi import APIRouter
from PIL import Image

from scenecraft import audit
from scenecraft.api.deps import AssetsWrite, ClientIP, PlatformDep, SessionDep, charge_generation
from scenecraft.api.routes.assets import asset_public, effects_cost
from scenecraft.api.schemas import AssetPublic, WorldSceneCreate
from scenecraft.api.threads import finish_in_thread
from scenecraft.db.models import Asset
from scenecraft.world.render import render
from scenecraft.world.spec import Background, Light, SceneSpec, Surface

router = APIRouter(tags=["assets"])


def world_spec(body: WorldSceneCreate) -> SceneSpec:
    return SceneSpec(
        ground=Surface(material=body.ground),
        background=Background(material=body.background),
        light=Light(azimuth_deg=body.light_azimuth_deg, elevation_deg=body.light_elevation_deg),
    )


@router.post(
    "/v1/scenes/world",
    response_model=AssetPublic,
    status_code=201,
    responses={422: {"description": "unknown material or out-of-range value"}, 429: {"description": "slow down"}},
)
async def create_world_scene(
    body: WorldSceneCreate, principal: AssetsWrite, platform: PlatformDep, session: SessionDep, ip: ClientIP
) -> AssetPublic:
    """Render a scene-world room and store it as an asset (version 1, operation `world`)."""
    charge_generation(platform, principal.user.id, effects_cost(body.size, body.size), "generation (weighted by size)")
    spec = world_spec(body)

    def make() -> Asset:
        image = render(spec, body.size, seed=body.seed, supersample=1).image  # (H, W, 3) uint8
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        asset = platform.store.create_asset(
            session,
            user_id=principal.user.id,
            kind="generated",
            data=buf.getvalue(),
            content_type="image/png",
            width=body.size,
            height=body.size,
            operation={"op": "world", **body.model_dump(mode="json")},
            name=f"world-{body.ground}-{body.background}",
        )
        audit.append(session, "asset.world_scene", actor_id=principal.user.id, target=asset.id, ip=ip)
        session.commit()
        return asset

    return asset_public(await finish_in_thread(make))
