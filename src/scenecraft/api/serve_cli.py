"""Start the platform: API, in-process workers, storage and database, in one command.

On first run it creates the data directory, a settings file with fresh random secrets
(<data-dir>/scenecraft.toml, mode 0600) and an admin account, and prints how to log in.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SCENECRAFT_DATA_DIR", "data")),
        help="database, blobs and settings live here (default ./data)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="in-process workers (default: settings.embedded_workers, 1)"
    )
    parser.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate chain: serve HTTPS (with HSTS)")
    parser.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def first_run(data_dir: Path) -> bool:
    """Creates the data directory and its settings file; True when this is the first run."""
    from scenecraft.config import CONFIG_FILE_NAME, generate_secrets_toml

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CONFIG_FILE_NAME
    if path.exists() or os.environ.get("SCENECRAFT_CONFIG"):
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(generate_secrets_toml(data_dir))
    return True


def ensure_admin(platform: object) -> tuple[str, str] | None:
    """Creates `admin` with a random password when there is no user yet."""
    from sqlalchemy import func, select

    from scenecraft import audit
    from scenecraft.auth.accounts import create_user
    from scenecraft.db.models import User

    db = platform.db  # type: ignore[attr-defined]
    with db.session() as s:
        if s.scalar(select(func.count()).select_from(User)):
            return None
        password = secrets.token_urlsafe(18)
        user = create_user(s, "admin", password, role="admin")
        audit.append(
            s,
            "admin.user_created",
            actor_id=None,
            target=user.id,
            detail={"username": "admin", "role": "admin", "by": "first run"},
        )
        return "admin", password


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from scenecraft.api.app import create_app
    from scenecraft.api.platform import Platform
    from scenecraft.cli import UsageError
    from scenecraft.config import load_settings
    from scenecraft.observability import configure_logging

    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together: give both or neither")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: no such file")
    data_dir = args.data_dir.resolve()
    created = first_run(data_dir)
    settings = load_settings(data_dir, embedded_workers=args.workers, tls_cert=args.tls_cert, tls_key=args.tls_key)
    configure_logging(args.log_level)
    platform = Platform.from_settings(settings)
    platform.db.migrate()
    admin = ensure_admin(platform)
    url = f"{'https' if settings.tls else 'http'}://{args.host}:{args.port}"
    print(f"scenecraft: data in {data_dir}" + (" (created)" if created else ""), flush=True)
    if admin is not None:
        user, password = admin
        print(
            f"scenecraft: created the admin account (shown once; change it with "
            f"`scenecraft admin reset-password --data-dir {data_dir} --username admin --password-stdin`)\n"
            f"  username: {user}\n  password: {password}\n"
            f"Log in:\n  curl -c cookies.txt -H 'Content-Type: application/json' "
            f'-d \'{{"username":"{user}","password":"{password}"}}\' {url}/v1/auth/login\n'
            f"Then see docs/api.md (API keys, jobs, live previews).",
            flush=True,
        )
    print(f"scenecraft: serving on {url}  (OpenAPI: {url}/openapi.json)", flush=True)
    uvicorn.run(
        create_app(platform=platform),
        host=args.host,
        port=args.port,
        access_log=False,
        log_level=args.log_level.lower(),
        timeout_keep_alive=30,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        # X-Forwarded-* are read by our gateway only, from settings.trusted_proxies (auth/gateway.py);
        # uvicorn's own default trusts them from 127.0.0.1, which lets a local client forge its address.
        proxy_headers=False,
    )
    return 0
