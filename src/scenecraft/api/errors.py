"""One error shape for every failed request, whoever raised it:

    {"detail": "what was wrong, in words", "code": "machine_readable_code", "errors": [...]?}

`errors` is present on validation failures only (one item per bad field: loc, msg, type). Handlers
raise `ApiError(status, detail, code=...)`; a plain HTTPException (FastAPI's, Starlette's 404/405)
gets the default code of its status. The gateway middleware writes the same shape (`error_body`).

A 405 lists in `Allow` every method some route serves at that path, not just the first route's
(Starlette answers from the first route whose path matched).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from scenecraft.observability import log

DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body/query/header/path, then the field's path")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    detail: str = Field(description="what was wrong and what is allowed, in words")
    code: str = Field(description="machine-readable reason, e.g. validation_error, rate_limited, idempotency_conflict")
    errors: list[FieldError] | None = Field(default=None, description="validation failures only: one per bad field")


class ApiError(HTTPException):
    """An HTTPException with a machine-readable code (the default code of its status otherwise)."""

    def __init__(
        self,
        status_code: int,
        detail: str | list[dict[str, Any]],
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers=headers)
        self.code = code or DEFAULT_CODES.get(status_code, "error")


def error_body(status: int, detail: str, code: str | None = None, errors: list[dict[str, Any]] | None = None) -> bytes:
    body: dict[str, Any] = {"detail": detail, "code": code or DEFAULT_CODES.get(status, "error")}
    if errors is not None:
        body["errors"] = errors
    return json.dumps(body).encode()


def field_errors(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg")),
            "type": str(e.get("type")),
        }
        for e in errors
    ]


def _where(loc: list[str | int]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def validation_response(errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> JSONResponse:
    message = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse(
        {"detail": message, "code": "validation_error", "errors": errors}, status_code=422, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_response(field_errors(exc.errors()))


def all_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, also those inside included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from all_routes(inner.routes) if inner is not None else (route,)


def _allowed_methods(request: Request) -> list[str]:
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in all_routes(request.app.router.routes):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    detail = exc.detail
    if isinstance(detail, list):  # a handler that built field errors itself
        return validation_response(field_errors(detail), headers)
    code = getattr(exc, "code", None) or DEFAULT_CODES.get(exc.status_code, "error")
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
    return JSONResponse({"detail": str(detail), "code": code}, status_code=exc.status_code, headers=headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    body = {"detail": "internal error; the server log names it by the request id", "code": "internal_error"}
    return JSONResponse(body, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _server_error)
