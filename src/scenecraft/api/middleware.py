"""The gateway in front of every route, as one pure-ASGI middleware (streams pass through):

request id -> IP allow/deny (403) -> per-IP rate limit (429 + Retry-After) -> body size limit (413)
-> the app -> security headers, latency metric, one JSON access-log line.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from scenecraft.api.errors import error_body
from scenecraft.api.platform import Platform

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = structlog.get_logger("scenecraft.http")
RAW_BODY = "scenecraft.raw_body"  # scope key: the buffered body of a signed request


def security_headers(hsts: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        (
            b"content-security-policy",
            # The web studio (api/studio.py) has no inline script; it draws with data:/blob: images
            # (QR codes, previews) and registers a service worker and a manifest from this origin.
            b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            b"script-src 'self'; worker-src 'self'; manifest-src 'self'; connect-src 'self'; "
            b"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    ]
    if hsts:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


async def _send_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]], code: str | None = None
) -> None:
    body = error_body(status, detail, code)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self.headers = security_headers(hsts=platform.settings.hsts_enabled)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        ip = self._client_address(scope)
        status_holder = {"status": 500}
        extra = [*self.headers, (b"x-request-id", request_id.encode())]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self._guarded(scope, receive, send_wrapper, ip, extra)
        finally:
            self._record(scope, status_holder["status"], time.perf_counter() - started, ip)
            structlog.contextvars.unbind_contextvars("request_id")

    def _client_address(self, scope: Scope) -> str:
        """The client's address (trusted proxies decide whether X-Forwarded-* count), written back
        into the scope, so `request.client` and everything after see the same value."""
        client = scope.get("client")
        peer, port = (client[0], client[1]) if client else ("", 0)
        proxies = self.platform.proxies
        if not proxies.nets:
            return str(peer)
        headers = scope["headers"]
        forwarded = b",".join(v for k, v in headers if k == b"x-forwarded-for").decode("latin-1")
        proto = b",".join(v for k, v in headers if k == b"x-forwarded-proto").decode("latin-1")
        ip = proxies.client(peer, forwarded)
        scope["scheme"] = proxies.scheme(peer, proto, scope.get("scheme", "http"))
        scope["client"] = (ip, port if ip == peer else 0)
        return ip

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, ip: str, extra: list[tuple[bytes, bytes]]
    ) -> None:
        settings = self.platform.settings
        if not self.platform.ip_filter.permits(ip):
            await _send_json(
                send, 403, f"requests from {ip} are not allowed (ip_allow / ip_deny)", [], "ip_not_allowed"
            )
            return
        path = scope.get("path", "")
        if path not in ("/healthz", "/readyz", "/metrics"):
            verdict = self.platform.limiter.hit(settings.rate_limit_ip, "ip", ip)
            if not verdict.allowed:
                await _send_json(
                    send,
                    429,
                    f"rate limit for this IP exceeded ({verdict.limit}); retry in {verdict.retry_after} s",
                    [(b"retry-after", str(verdict.retry_after).encode())],
                )
                return
        limit = settings.max_body_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_json(send, 413, f"request body is {int(length)} bytes; at most {limit} are allowed", [])
            return
        received = 0
        too_big = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, too_big
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_big = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if too_big and not response_started:
                return  # the app saw a cut-off body; its answer is replaced by the 413 below
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        app_receive: Receive = limited_receive
        if b"x-scenecraft-signature" in dict(scope["headers"]):
            # Signed requests: buffer the raw body for the signature check (api/deps.py), then
            # replay it to the app, which may parse it in any way (JSON, multipart, ...).
            chunks: list[bytes] = []
            while True:
                message = await limited_receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            if too_big:
                await _send_json(send, 413, f"request body exceeds {limit} bytes", [])
                return
            scope[RAW_BODY] = b"".join(chunks)
            replayed = False

            async def replay_receive() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": scope[RAW_BODY], "more_body": False}
                return await receive()

            app_receive = replay_receive
        try:
            await self.app(scope, app_receive, tracking_send)
        except Exception:
            if not too_big:
                raise
        if too_big and not response_started:
            await _send_json(send, 413, f"request body exceeds {limit} bytes", [])

    def _record(self, scope: Scope, status: int, seconds: float, ip: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics = self.platform.metrics
        metrics.request_latency.labels(scope.get("method", ""), template, str(status)).observe(seconds)
        if status >= 500:
            metrics.errors.labels("http_5xx").inc()
        log.info(
            "request",
            method=scope.get("method"),
            path=scope.get("path"),
            route=template,
            status=status,
            ms=round(seconds * 1000, 2),
            ip=ip,
        )
