"""The web studio (web/, React + Vite) served at `/` by the API process, so a user needs no other server.

Files come from the built folder (`scripts/setup-web` runs `npm run build` into web/dist). Hashed
bundles under /assets/ are cached for a year; everything else (index.html, sw.js, the manifest) is
revalidated on every load so a new build shows at once. The app routes by URL hash (#/gallery), so
no server-side fallback is needed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

REPO_WEB_DIST = Path(__file__).resolve().parents[3] / "web" / "dist"


class StudioFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        if path.endswith(".webmanifest"):
            response.headers["Content-Type"] = "application/manifest+json"
        return response


def studio_dir(configured: Path | None) -> Path | None:
    """The folder to serve: the configured one, else the repository's web/dist; None when not built."""
    folder = configured if configured is not None else REPO_WEB_DIST
    return folder if (folder / "index.html").is_file() else None


def mount_studio(app: FastAPI, configured: Path | None) -> bool:
    """Serves the built studio at `/`; True when there was one to serve."""
    folder = studio_dir(configured)
    if folder is None:
        return False
    app.mount("/", StudioFiles(directory=folder, html=True), name="studio")
    return True
