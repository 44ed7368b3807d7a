"""Assets: upload, read, version history, version content, effects, delete. Every access checks the owner.

`POST /v1/assets/{id}/effects` validates the chain here (effects/chain.py, no torch) and queues an
effects job; a worker renders it and appends the result as a new version (parent = the source)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Header, HTTPException, Path, Query, Response, UploadFile
from sqlalchemy import delete, select

from scenecraft import audit
from scenecraft.api import content
from scenecraft.api.deps import (
    AssetsRead,
    AssetsWrite,
    ClientIP,
    PlatformDep,
    SessionDep,
    charge_generation,
    field_error,
    not_found,
)
from scenecraft.api.schemas import AssetPage, AssetPublic, AssetVersionPublic, EffectsRequest, JobAccepted, text_problem
from scenecraft.api.submit import submit
from scenecraft.api.threads import finish_in_thread
from scenecraft.db.models import Asset, AssetVersion
from scenecraft.jobs.params import EffectsParams
from scenecraft.storage.uploads import UploadRejected, check_image_upload

router = APIRouter(tags=["assets"])
AssetId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


def asset_public(a: Asset) -> AssetPublic:
    return AssetPublic(
        id=a.id,
        kind=a.kind,  # type: ignore[arg-type]
        name=a.name,
        latest_version=a.latest_version,
        source_job_id=a.source_job_id,
        created_at=a.created_at,
    )


def version_public(v: AssetVersion) -> AssetVersionPublic:
    return AssetVersionPublic(
        number=v.number,
        parent_number=v.parent_number,
        content_type=v.content_type,
        width=v.width,
        height=v.height,
        sha256=v.blob_sha256,
        operation=v.operation,
        created_at=v.created_at,
    )


def owned_asset(session: Any, asset_id: str, user_id: str) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None or asset.user_id != user_id:
        raise not_found("asset", asset_id)
    assert isinstance(asset, Asset)
    return asset


@router.post(
    "/v1/assets",
    response_model=AssetPublic,
    status_code=201,
    responses={413: {"description": "too large or too many pixels"}, 415: {"description": "not an image"}},
)
async def upload_asset(
    principal: AssetsWrite,
    platform: PlatformDep,
    session: SessionDep,
    ip: ClientIP,
    file: Annotated[UploadFile, File(description="PNG, JPEG or WebP image")],
) -> AssetPublic:
    limit = platform.settings.max_upload_bytes
    data = await file.read(limit + 1)
    try:
        checked = check_image_upload(data, max_bytes=limit, max_pixels=platform.settings.max_upload_pixels)
    except UploadRejected as exc:
        raise HTTPException(exc.status, str(exc)) from None
    name = (file.filename or "")[:255]
    problem = text_problem(name)
    if problem is not None:
        raise field_error("file", "control_character", f"the file name {problem}")

    def store() -> Asset:
        asset = platform.store.create_asset(
            session,
            user_id=principal.user.id,
            kind="upload",
            data=data,
            content_type=checked.content_type,
            width=checked.width,
            height=checked.height,
            operation={"op": "upload"},
            name=name,
        )
        audit.append(
            session,
            "asset.uploaded",
            actor_id=principal.user.id,
            target=asset.id,
            detail={"bytes": len(data)},
            ip=ip,
        )
        session.commit()
        return asset

    return asset_public(await finish_in_thread(store))


@router.get("/v1/assets", response_model=AssetPage)
def list_assets(
    principal: AssetsRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    kind: Annotated[Literal["upload", "generated"] | None, Query(description="only assets of this kind")] = None,
) -> AssetPage:
    q = select(Asset).where(Asset.user_id == principal.user.id)
    if kind is not None:
        q = q.where(Asset.kind == kind)
    rows = session.scalars(q.order_by(Asset.created_at.desc(), Asset.id).offset(offset).limit(limit + 1)).all()
    more = len(rows) > limit
    return AssetPage(items=[asset_public(a) for a in rows[:limit]], next_cursor=str(offset + limit) if more else None)


@router.get("/v1/assets/{asset_id}", response_model=AssetPublic, responses={404: {"description": "not found"}})
def get_asset(asset_id: AssetId, principal: AssetsRead, session: SessionDep) -> AssetPublic:
    return asset_public(owned_asset(session, asset_id, principal.user.id))


@router.get(
    "/v1/assets/{asset_id}/versions",
    response_model=list[AssetVersionPublic],
    responses={404: {"description": "not found"}},
)
def list_versions(asset_id: AssetId, principal: AssetsRead, session: SessionDep) -> list[AssetVersionPublic]:
    owned_asset(session, asset_id, principal.user.id)
    rows = session.scalars(select(AssetVersion).where(AssetVersion.asset_id == asset_id).order_by(AssetVersion.number))
    return [version_public(v) for v in rows]


@router.get(
    "/v1/assets/{asset_id}/versions/{number}/content",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
        206: {"description": "the byte range asked for with `Range`"},
        302: {"description": "presigned S3 URL (when `s3_presigned_downloads` is on)"},
        304: {"description": "`If-None-Match` matched the ETag (the SHA-256 of the bytes)"},
        404: {"description": "not found"},
        416: {"description": "the range lies outside the content"},
    },
)
def version_content(
    asset_id: AssetId,
    principal: AssetsRead,
    platform: PlatformDep,
    session: SessionDep,
    number: Annotated[int, Path(ge=1, le=1_000_000)],
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
    range_: Annotated[str | None, Header(alias="range", max_length=1024)] = None,
    if_range: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """The bytes of one version. Versions are content-addressed and never change: strong ETag,
    `Cache-Control: private, immutable`, 304 on `If-None-Match`, one `Range` (api/content.py)."""
    owned_asset(session, asset_id, principal.user.id)
    version = session.scalar(
        select(AssetVersion).where(AssetVersion.asset_id == asset_id, AssetVersion.number == number)
    )
    if version is None:
        raise not_found(f"version {number} of asset", asset_id)
    etag = content.strong_etag(version.blob_sha256)
    if content.etag_matches(if_none_match, etag):  # no need to read (or decrypt) the blob at all
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": content.IMMUTABLE})
    ext = version.content_type.split("/")[-1].replace("jpeg", "jpg")
    filename = f"{asset_id}-v{number}.{ext}"
    if platform.settings.s3_presigned_downloads:
        url = platform.store.presigned_download(
            session, version, filename=filename, expires_seconds=platform.settings.s3_presign_seconds
        )
        return Response(status_code=302, headers={"Location": url, "Cache-Control": "private, no-store"})
    stored = platform.store.read_version(session, version)
    return content.immutable_response(
        stored.data,
        media_type=stored.content_type,
        etag=etag,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
        if_none_match=if_none_match,
        range_header=range_,
        if_range=if_range,
    )


def effects_cost(width: int, height: int) -> int:
    """Generation-limit units: one per 512x512 (a render pass over 256k pixels), at least one."""
    return max(1, -(-width * height // (512 * 512)))


@router.post(
    "/v1/assets/{asset_id}/effects",
    response_model=JobAccepted,
    status_code=202,
    responses={
        404: {"description": "asset or version not found"},
        409: {"description": "Idempotency-Key reused with another body"},
        422: {"description": "invalid chain: names the op, the parameter and what is allowed"},
        429: {"description": "quota or rate limit"},
    },
)
def apply_effects(
    asset_id: AssetId,
    body: EffectsRequest,
    principal: AssetsWrite,
    platform: PlatformDep,
    session: SessionDep,
    ip: ClientIP,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"),
    ] = None,
) -> JobAccepted:
    """Queue an effects job: the chain is rendered on the version (default: the latest) and stored as
    the asset's next version with parent = that version; the job's `done` event names the asset.
    A retry with the same `Idempotency-Key` answers the first job (`Idempotent-Replayed: true`)."""
    asset = owned_asset(session, asset_id, principal.user.id)
    number = body.version if body.version is not None else asset.latest_version
    version = session.scalar(
        select(AssetVersion).where(AssetVersion.asset_id == asset_id, AssetVersion.number == number)
    )
    if version is None:
        raise not_found(f"version {number} of asset", asset_id)
    cost = effects_cost(version.width, version.height)
    charge_generation(platform, principal.user.id, cost, "generation and effects (weighted by size)")
    params = EffectsParams(asset_id=asset_id, version=number, chain=body.chain.to_json())
    job, created = submit(
        session,
        platform,
        user_id=principal.user.id,
        params=params,
        audit_action="asset.effects",
        audit_target=asset_id,
        audit_detail={"version": number, "ops": [op.name for op in body.chain.ops]},
        ip=ip,
        idempotency_key=idempotency_key,
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return JobAccepted(id=job.id, status=job.status)


@router.delete("/v1/assets/{asset_id}", status_code=204, responses={404: {"description": "not found"}})
def delete_asset(asset_id: AssetId, principal: AssetsWrite, session: SessionDep, ip: ClientIP) -> Response:
    # One DELETE that names the owner: of concurrent deletes, exactly one removes the row (the others
    # wait for its lock, then match nothing) and only that one answers 204 and writes the audit record.
    # Versions go with it (ON DELETE CASCADE); blobs stay for dedup, `gc` collects them.
    gone = session.execute(delete(Asset).where(Asset.id == asset_id, Asset.user_id == principal.user.id))
    if getattr(gone, "rowcount", 0) != 1:
        raise not_found("asset", asset_id)
    audit.append(session, "asset.deleted", actor_id=principal.user.id, target=asset_id, ip=ip)
    session.commit()
    return Response(status_code=204)
