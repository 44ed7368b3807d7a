"""The worker's own small HTTP port (`scenecraft worker --metrics-port`): what Kubernetes probes and
Prometheus scrape in a process that serves no API.

    GET /metrics   Prometheus text: job phases and outcomes, loop heartbeat, GPU memory, disk
    GET /healthz   200 while the process runs (liveness)
    GET /readyz    200 once the engine has loaded its model, 503 before or on a load error
                   (the startup probe waits on it through a long model load)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from scenecraft.observability import Metrics


def serve_worker_http(
    host: str, port: int, metrics: Metrics, model_status: Callable[[], str]
) -> ThreadingHTTPServer:
    """Starts the server on a daemon thread and returns it (`.shutdown()` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._json(200, {"status": "ok"})
            elif self.path == "/readyz":
                status = model_status()
                ready = status == "ok"
                self._json(200 if ready else 503, {"ready": ready, "checks": {"model": status}})
            else:
                self._json(404, {"detail": f"{self.path} not found (try /metrics, /healthz, /readyz)"})

        def _json(self, code: int, body: dict[str, object]) -> None:
            self._send(code, json.dumps(body).encode(), "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: not logged
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    return server
