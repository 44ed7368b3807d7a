"""Administration: users, passwords, master-key rotation, audit verification.

scenecraft admin create-user --data-dir D --username U --password-stdin [--admin]
scenecraft admin reset-password --data-dir D --username U --password-stdin   (also ends sessions, revokes API keys)
scenecraft admin rotate-keys --data-dir D [--new-key]
scenecraft admin verify-audit --data-dir D
scenecraft admin migrate --database-url URL   (the Kubernetes migration Job, before a rollout)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("SCENECRAFT_DATA_DIR", "data")))
        p.add_argument("--database-url", default=None, help="default: the data dir's SQLite database")
        return p

    for name, help_text in [("create-user", "add an account"), ("reset-password", "set a new password")]:
        p = common(sub.add_parser(name, help=help_text))
        p.add_argument("--username", required=True)
        p.add_argument(
            "--password-stdin",
            action="store_true",
            required=True,
            help="read the password from standard input (never from the command line)",
        )
        if name == "create-user":
            p.add_argument("--admin", action="store_true", help="give the admin role")
    p = common(sub.add_parser("rotate-keys", help="re-wrap every blob's data key under the active master key"))
    p.add_argument(
        "--new-key",
        action="store_true",
        help="first add a fresh master key to the data dir's settings file and make it active",
    )
    common(sub.add_parser("verify-audit", help="check the audit trail's hash chain"))
    common(sub.add_parser("migrate", help="bring the database schema to the newest revision, then exit"))


def _password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        from scenecraft.cli import UsageError

        raise UsageError("no password on standard input")
    return password


def run(args: argparse.Namespace) -> int:
    from scenecraft import audit
    from scenecraft.auth import accounts
    from scenecraft.auth.api_keys import revoke_all
    from scenecraft.auth.sessions import end_all_sessions
    from scenecraft.cli import UsageError
    from scenecraft.config import load_settings
    from scenecraft.db import Database

    data_dir = args.data_dir.resolve()
    if args.action == "rotate-keys" and args.new_key:
        _add_master_key(data_dir)
    settings = load_settings(data_dir, database_url=args.database_url)
    db = Database(settings.resolved_database_url)
    db.migrate()
    try:
        if args.action == "migrate":
            from sqlalchemy import text

            with db.engine.connect() as conn:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            print(f"migrate: schema at revision {revision} ({db.dialect})")
            return 0
        if args.action in ("create-user", "reset-password"):
            password = _password()
            revoked = 0
            with db.session() as s:
                try:
                    if args.action == "create-user":
                        user = accounts.create_user(s, args.username, password, "admin" if args.admin else "user")
                        audit.append(
                            s,
                            "admin.user_created",
                            actor_id=None,
                            target=user.id,
                            detail={"username": user.username, "role": user.role, "by": "cli"},
                        )
                    else:
                        # Whoever held the account may have made API keys: they go with the sessions.
                        user = accounts.set_password(s, args.username, password)
                        end_all_sessions(s, user.id)
                        revoked = revoke_all(s, user.id)
                        audit.append(
                            s,
                            "admin.password_reset",
                            actor_id=None,
                            target=user.id,
                            detail={"by": "cli", "keys_revoked": revoked},
                        )
                except accounts.AccountError as exc:
                    raise UsageError(str(exc)) from None
            print(f"{args.action}: {args.username} ({user.role}) done")
            if args.action == "reset-password":
                print(f"reset-password: ended every session and revoked {revoked} API keys of {args.username}")
            return 0
        if args.action == "rotate-keys":
            from scenecraft.storage.store import BlobStore

            store = BlobStore.from_settings(settings)
            with db.session() as s:
                count = store.rotate(s)
                audit.append(
                    s,
                    "admin.keys_rotated",
                    actor_id=None,
                    target=settings.active_master_key_id,
                    detail={"rewrapped": count},
                )
            print(f"rotate-keys: re-wrapped {count} data keys under master key {settings.active_master_key_id!r}")
            return 0
        with db.session() as s:
            report = audit.verify(s)
        if report.ok:
            print(f"verify-audit: OK, {report.records} records, chain intact")
            return 0
        print(f"verify-audit: BROKEN after {report.records} good records: {report.problem}")
        return 1
    finally:
        db.dispose()


def _add_master_key(data_dir: Path) -> None:
    import base64
    import secrets
    import tomllib

    from scenecraft.cli import UsageError
    from scenecraft.config import CONFIG_FILE_NAME, write_settings_file

    path = data_dir / CONFIG_FILE_NAME
    if not path.exists():
        raise UsageError(
            f"--new-key edits {path}, which does not exist; set master keys in your environment "
            f"(SCENECRAFT_MASTER_KEYS__<id>, SCENECRAFT_ACTIVE_MASTER_KEY_ID) and rerun without it"
        )
    values = tomllib.loads(path.read_text())
    keys = dict(values.get("master_keys", {}))
    n = len(keys) + 1
    while f"k{n}" in keys:
        n += 1
    keys[f"k{n}"] = base64.b64encode(secrets.token_bytes(32)).decode()
    values["master_keys"] = keys
    values["active_master_key_id"] = f"k{n}"
    write_settings_file(path, values)
    print(f"rotate-keys: added master key k{n} to {path} and made it active")
