"""API keys: create (shown once), list, revoke. Only a logged-in session manages keys."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response, status
from sqlalchemy import select

from scenecraft import audit
from scenecraft.api.deps import ClientIP, PlatformDep, SessionDep, SessionPrincipal, not_found
from scenecraft.api.errors import ApiError
from scenecraft.api.schemas import KeyCreate, KeyCreated, KeyPublic
from scenecraft.auth import api_keys
from scenecraft.db.models import ApiKey

router = APIRouter(tags=["keys"])


def key_public(row: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=row.scopes,
        signed=row.signing_secret is not None,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.post(
    "/v1/keys",
    response_model=KeyCreated,
    status_code=201,
    responses={403: {"description": "API keys cannot create keys"}},
)
def create_key(
    body: KeyCreate, principal: SessionPrincipal, platform: PlatformDep, session: SessionDep, ip: ClientIP
) -> KeyCreated:
    created = api_keys.create_key(
        session, principal.user, body.name, list(body.scopes), signed=body.signed, box=platform.box
    )
    audit.append(
        session,
        "key.created",
        actor_id=principal.user.id,
        target=created.row.id,
        detail={"prefix": created.row.prefix, "scopes": created.row.scopes, "signed": body.signed},
        ip=ip,
    )
    session.commit()
    return KeyCreated(**key_public(created.row).model_dump(), key=created.key)


@router.get("/v1/keys", response_model=list[KeyPublic])
def list_keys(principal: SessionPrincipal, session: SessionDep) -> list[KeyPublic]:
    rows = session.scalars(select(ApiKey).where(ApiKey.user_id == principal.user.id).order_by(ApiKey.created_at))
    return [key_public(r) for r in rows]


@router.delete(
    "/v1/keys/{key_id}",
    status_code=204,
    responses={404: {"description": "no such key of yours"}, 409: {"description": "already revoked"}},
)
def revoke_key(
    principal: SessionPrincipal,
    session: SessionDep,
    ip: ClientIP,
    key_id: str = Path(pattern=r"^[0-9a-f]{32}$"),
) -> Response:
    row = session.get(ApiKey, key_id)
    if row is None or row.user_id != principal.user.id:
        raise not_found("API key", key_id)
    if not api_keys.revoke(session, row):  # a concurrent or earlier revoke got there first
        raise ApiError(status.HTTP_409_CONFLICT, f"API key {key_id} is already revoked", code="already_revoked")
    audit.append(
        session,
        "key.revoked",
        actor_id=principal.user.id,
        target=row.id,
        detail={"prefix": row.prefix},
        ip=ip,
    )
    session.commit()
    return Response(status_code=204)
