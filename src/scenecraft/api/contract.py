"""The OpenAPI document says what the server does (checked by Schemathesis, tests/api/test_contract.py):

- security schemes (session cookie + CSRF header, bearer key, signed request), applied to each
  operation from the dependencies its handler really has: a session-only handler lists the
  session, any other authenticated one lists all three, a public one lists none;
- every status the server can answer, each 4xx with the one error model (api/errors.py): the
  gateway's 403/413/429 on every operation, 401/403/429 where a caller is authenticated, 422 where
  there is input, 404 where the path names an object, plus what each route declares itself;
- links from the operations that create objects to those that use them (stateful testing, and a
  map for client generators).

Derived from the route table when the spec is first asked for, so a route added later (another
issue's) gets the same treatment without a list kept by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from scenecraft.api import deps
from scenecraft.api.errors import ErrorBody, all_routes

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
PROBES = {"/healthz", "/readyz", "/metrics"}  # not rate-limited (the gateway skips them)
WRITES = {"post", "put", "patch", "delete"}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": deps.SESSION_COOKIE,
        "description": "set by POST /v1/auth/login; writes also need the csrf header",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "the csrf_token of the login response; needed with the session cookie on writes",
    },
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key, sc_<8 hex>_<43 characters>"},
    "signed": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Scenecraft-Signature",
        "description": "a signing key's HMAC-SHA256 of the request, with X-Scenecraft-Key, "
        "X-Scenecraft-Timestamp and X-Scenecraft-Nonce (docs/api.md)",
    },
}

# Generic reasons, by status; a route's own description (its `responses=`) wins.
REASONS = {
    400: "the body could not be parsed",
    401: "not signed in, or the key is unknown, revoked or wrongly signed",
    403: "not allowed: address refused (ip_allow / ip_deny), missing CSRF token, scope or role",
    404: "no such object of yours",
    413: "the body is larger than max_body_bytes",
    422: "invalid input; `errors` names each bad field",
    429: "over a rate limit or quota; see Retry-After",
}

# (operation that creates, its status) -> links to operations that use the object it returns.
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("submit_job", "202"): {
        "GetJob": ("get_job", {"job_id": "$response.body#/id"}),
        "CancelJob": ("cancel_job", {"job_id": "$response.body#/id"}),
        "JobEvents": ("job_events", {"job_id": "$response.body#/id"}),
    },
    ("upload_asset", "201"): {
        "GetAsset": ("get_asset", {"asset_id": "$response.body#/id"}),
        "ListVersions": ("list_versions", {"asset_id": "$response.body#/id"}),
        "VersionContent": (
            "version_content",
            {"asset_id": "$response.body#/id", "number": "$response.body#/latest_version"},
        ),
        "ApplyEffects": ("apply_effects", {"asset_id": "$response.body#/id"}),
        "DeleteAsset": ("delete_asset", {"asset_id": "$response.body#/id"}),
    },
    ("create_world_scene", "201"): {
        "GetScene": ("get_asset", {"asset_id": "$response.body#/id"}),
        "DeleteScene": ("delete_asset", {"asset_id": "$response.body#/id"}),
    },
    ("create_key", "201"): {"RevokeKey": ("revoke_key", {"key_id": "$response.body#/id"})},
    ("apply_effects", "202"): {"GetEffectsJob": ("get_job", {"job_id": "$response.body#/id"})},
}


def _calls(dependant: Any) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(sub.call)
        found |= _calls(sub)
    return found


def auth_kind(route: Any) -> str:
    """'session' (logged-in browser only), 'any' (session, bearer or signed key) or 'public'."""
    calls = _calls(route.dependant)
    if deps.session_only in calls:
        return "session"
    return "any" if deps.get_principal in calls else "public"


def _security(kind: str, method: str) -> list[dict[str, list[str]]]:
    session: dict[str, list[str]] = {"session": [], "csrf": []} if method in WRITES else {"session": []}
    if kind == "session":
        return [session]
    if kind == "any":
        return [session, {"bearer": []}, {"signed": []}]
    return []


def _statuses(path: str, method: str, op: dict[str, Any], kind: str) -> set[int]:
    statuses = {403}  # ip_allow / ip_deny applies everywhere
    if path not in PROBES:
        statuses.add(429)
    if "requestBody" in op:
        statuses |= {400, 413, 422}
    if op.get("parameters"):
        statuses.add(422)
    if kind != "public":
        statuses |= {401, 403, 429}
    if "{" in path:
        statuses.add(404)
    return statuses


def _describe_errors(op: dict[str, Any], statuses: set[int]) -> None:
    responses = op.setdefault("responses", {})
    for status in sorted(statuses | {int(s) for s in responses if s.isdigit() and int(s) >= 400}):
        entry = responses.setdefault(str(status), {})
        entry.setdefault("description", REASONS.get(status, "error"))
        if status != 503:  # /readyz answers its own Readiness model
            entry["content"] = {"application/json": {"schema": ERROR_REF}}


def _add_links(spec: dict[str, Any], operation_ids: dict[str, str]) -> None:
    for path_ops in spec["paths"].values():
        for op in path_ops.values():
            name = operation_ids.get(op.get("operationId", ""), "")
            for (creator, status), links in LINKS.items():
                if name != creator or status not in op["responses"]:
                    continue
                op["responses"][status]["links"] = {
                    link: {"operationId": _op_id(operation_ids, target), "parameters": params}
                    for link, (target, params) in links.items()
                    if _op_id(operation_ids, target)
                }


def _op_id(operation_ids: dict[str, str], name: str) -> str:
    return next((op_id for op_id, n in operation_ids.items() if n == name), "")


def build_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = spec.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    schemas = components.setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["ErrorBody"].pop("$defs", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    operation_ids: dict[str, str] = {}
    for route in all_routes(app.routes):
        if not getattr(route, "include_in_schema", False) or not hasattr(route, "dependant"):
            continue
        kind = auth_kind(route)
        for method in sorted(m.lower() for m in route.methods if m != "HEAD"):
            op = spec["paths"].get(route.path_format, {}).get(method)
            if op is None:
                continue
            operation_ids[op["operationId"]] = route.name
            op["security"] = _security(kind, method)
            _describe_errors(op, _statuses(route.path_format, method, op, kind))
    _add_links(spec, operation_ids)
    return spec


def install(app: FastAPI) -> None:
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "spec" not in cache:
            cache["spec"] = build_openapi(app)
        return cache["spec"]  # type: ignore[no-any-return]

    app.openapi = openapi  # type: ignore[method-assign]
