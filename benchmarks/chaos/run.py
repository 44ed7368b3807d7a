"""scripts/chaos: a bounded load through the cluster of topology.py while faults hit it, then an
audit of the database and the blob store. Prints one summary line and a table of the faults, and
writes benchmarks/results/chaos.json.

Faults, in turn, one every --fault-every seconds:
    worker   SIGKILL a worker mid-batch, start it again (its jobs come back when the lease ends)
    api      SIGKILL an API process, start it again (HAProxy sends new requests to the other)
    postgres stop PostgreSQL with `-m immediate` (no checkpoint: crash recovery on start), start it
    redis    SIGKILL Redis (rate limits and the event bus), start it again after 2 s

A fault's window runs from just before it until the component answers again plus --grace seconds;
a 5xx (or a request with no answer) counts against the platform only outside every window.

Checked afterwards, from the database and the store, not from the load's own bookkeeping:
    lost        accepted jobs (an id was answered) that did not end `succeeded`
    duplicated  an Idempotency-Key with more than one job; a job with more than one result
                (effects: versions naming the job; generate: assets naming it)
    partial     a confirmed upload whose bytes read back differ; any version in the database whose
                blob is missing from S3 or does not decrypt to its SHA-256
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from benchmarks.chaos.load import Record, User, run_user
from benchmarks.chaos.topology import Cluster, wait_until

RESULTS = Path(__file__).resolve().parents[1] / "results" / "chaos.json"
KINDS = ("worker", "api", "postgres", "redis")


@dataclass
class Fault:
    kind: str
    target: str
    started: float
    recovered: float


def wait_busy(cluster: Cluster, proc: Any, timeout: float = 10.0) -> bool:
    """Waits (up to `timeout` s) until the worker process holds a running job's lease; True if so.
    Worker ids are `host:pid:random` (jobs/worker.py)."""
    from sqlalchemy import create_engine, func, select

    from scenecraft.db.models import Job

    engine = create_engine(cluster.pg.url)
    pattern = f"%:{proc.popen.pid}:%"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                held = conn.execute(
                    select(func.count()).select_from(Job).where(Job.status == "running", Job.lease_owner.like(pattern))
                ).scalar()
            if held:
                return True
            time.sleep(0.05)
        return False
    finally:
        engine.dispose()


def inject(cluster: Cluster, kind: str, n: int) -> Fault:
    started = time.monotonic()
    if kind == "worker":
        proc = cluster.workers[n % len(cluster.workers)]
        busy = wait_busy(cluster, proc)  # kill it while it holds a job, so the job must be rerun elsewhere
        started = time.monotonic()
        proc.kill()
        time.sleep(1.0)
        proc.start()
        target = proc.name + (" (mid-job)" if busy else " (idle)")
    elif kind == "api":
        i = n % len(cluster.apis)
        cluster.apis[i].kill()
        time.sleep(1.0)
        cluster.apis[i].start()
        cluster.wait_api(cluster.api_ports[i])
        target = cluster.apis[i].name
    elif kind == "postgres":
        cluster.pg.stop("immediate")
        time.sleep(1.0)
        cluster.pg.start()
        target = "postgres"
    else:
        cluster.redis.kill()
        time.sleep(2.0)
        cluster.redis.start()
        target = "redis"
    for port in cluster.api_ports:  # recovered = every API ready again (database, storage) through its port
        cluster.wait_api(port)
    return Fault(kind, target, started, time.monotonic())


def audit_store(cluster: Cluster, record: Record, users: dict[str, User]) -> dict[str, Any]:
    """Reads the database and S3 directly (plus confirmed uploads through the API)."""
    saved = dict(os.environ)
    os.environ.update(cluster.env)  # the same settings (and S3 credentials) the servers have
    try:
        return _audit(cluster, record, users)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _audit(cluster: Cluster, record: Record, users: dict[str, User]) -> dict[str, Any]:
    from sqlalchemy import func, select

    from scenecraft.config import Settings
    from scenecraft.db import Database
    from scenecraft.db.models import Asset, AssetVersion, Job
    from scenecraft.storage.store import BlobStore

    settings = Settings(data_dir=cluster.dir / "audit")
    db = Database(settings.resolved_database_url)
    store = BlobStore.from_settings(settings)
    ids = set(record.jobs.values())
    try:
        with db.session() as s:
            statuses = dict(s.execute(select(Job.id, Job.status).where(Job.id.in_(ids))).all())
            reruns = s.scalar(select(func.count()).select_from(Job).where(Job.id.in_(ids), Job.attempts > 1))
            keys = s.execute(
                select(Job.user_id, Job.idempotency_key, func.count())
                .where(Job.idempotency_key.is_not(None))
                .group_by(Job.user_id, Job.idempotency_key)
                .having(func.count() > 1)
            ).all()
            versions = s.scalars(select(AssetVersion)).all()
            results: dict[str, int] = {}
            for v in versions:
                job_id = (v.operation or {}).get("job_id")
                if (v.operation or {}).get("op") == "effects" and job_id in ids:
                    results[job_id] = results.get(job_id, 0) + 1
            generated = dict(
                s.execute(
                    select(Asset.source_job_id, func.count())
                    .where(Asset.source_job_id.in_(ids))
                    .group_by(Asset.source_job_id)
                ).all()
            )
            unreadable, problems = 0, []
            for v in versions:
                try:
                    store.read_version(s, v)
                except Exception as exc:
                    unreadable += 1
                    problems.append(f"version {v.number} of {v.asset_id}: {type(exc).__name__}: {exc}"[:300])
    finally:
        db.dispose()
        close = getattr(getattr(store.backend, "client", None), "close", None)
        if close is not None:
            close()
    succeeded = sum(1 for j in ids if statuses.get(j) == "succeeded")
    duplicated = len(keys)
    for job_id in ids:
        if statuses.get(job_id) != "succeeded":
            continue
        expected_assets = 1 if record.kinds[job_id] == "generate" else 0
        if results.get(job_id, 0) != 1 or generated.get(job_id, 0) != expected_assets:
            duplicated += 1
    mismatched = 0
    for asset_id, (owner, sha) in record.uploads.items():
        r = users[owner].get(f"/v1/assets/{asset_id}/versions/1/content")
        if hashlib.sha256(r.content).hexdigest() != sha:
            mismatched += 1
            problems.append(f"upload {asset_id}: read back {len(r.content)} bytes ({r.status_code}), not what was sent")
    return {
        "submitted": len(ids),
        "succeeded": succeeded,
        "lost": len(ids) - succeeded,
        "duplicated": duplicated,
        "uploads": len(record.uploads),
        "partial_uploads": mismatched + unreadable,
        "versions_checked": len(versions),
        "jobs_rerun": int(reruns or 0),
        "partial_detail": problems[:20],
        "not_succeeded": {j: statuses.get(j, "missing") for j in ids if statuses.get(j) != "succeeded"},
    }


def outside_windows(record: Record, faults: list[Fault], grace: float) -> list[dict[str, Any]]:
    windows = [(f.started - 0.5, f.recovered + grace) for f in faults]
    bad = []
    for r in record.responses:
        if r.status is not None and r.status < 500:
            continue
        if not any(r.started <= end and r.ended >= start for start, end in windows):
            bad.append({"op": r.op, "status": r.status, "at": round(r.ended, 2)})
    return bad


def wait_for_jobs(cluster: Cluster, record: Record, timeout: float) -> None:
    """Until every accepted job is terminal, read from the database (as the platform's truth)."""
    from sqlalchemy import create_engine, func, select

    from scenecraft.db.models import Job

    engine = create_engine(cluster.pg.url, pool_pre_ping=True)
    ids = list(record.jobs.values())
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    open_jobs = conn.execute(
                        select(func.count())
                        .select_from(Job)
                        .where(Job.id.in_(ids), Job.status.in_(("queued", "running")))
                    ).scalar()
                if open_jobs == 0:
                    return
            except Exception:  # the database is down for a moment: look again
                pass
            time.sleep(1.0)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="chaos run on the scripts/cluster topology")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--effects-jobs", type=int, default=200, help="in all, split between the users")
    parser.add_argument("--generate-jobs", type=int, default=0, help="jobs through the real pipeline (~10 s each)")
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--faults", type=int, default=24)
    parser.add_argument("--fault-every", type=float, default=5.0, help="seconds between faults")
    parser.add_argument("--grace", type=float, default=3.0, help="seconds after recovery still inside a window")
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between one user's requests")
    parser.add_argument("--timeout", type=float, default=2400, help="for the whole run")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scenecraft-chaos-"))
    users = {f"user{i}": secrets.token_urlsafe(12) for i in range(args.users)}
    cluster = Cluster(workdir, lazy_model=args.generate_jobs == 0)
    started = time.monotonic()
    deadline = started + args.timeout
    record, faults = Record(schedule=0.0 if args.faults else 1.0), []
    clients: list[User] = []
    errors: list[str] = []
    try:
        cluster.up(users)
        clients += [User(cluster.url, name, pw, record, deadline) for name, pw in users.items()]

        def share(total: int, i: int) -> int:
            return total // args.users + (1 if i < total % args.users else 0)

        def one(i: int, client: User) -> None:
            try:
                run_user(
                    client,
                    effects=share(args.effects_jobs, i),
                    generate=share(args.generate_jobs, i),
                    uploads=share(args.uploads, i),
                    pace=args.pace,
                    seed=i + 1,
                )
            except Exception as exc:
                errors.append(f"{client.name}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=one, args=(i, c), daemon=True) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        time.sleep(args.fault_every)
        for n in range(args.faults):
            kind = KINDS[n % len(KINDS)]
            record.schedule = (n + 1) / args.faults  # the next share of the load goes out with this fault
            faults.append(inject(cluster, kind, n // len(KINDS)))
            print(
                f"fault {n + 1}/{args.faults}: {kind} {faults[-1].target}, back after "
                f"{faults[-1].recovered - faults[-1].started:.1f} s",
                flush=True,
            )
            time.sleep(args.fault_every)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        wait_for_jobs(cluster, record, max(10.0, deadline - time.monotonic()))
        wait_until(lambda: httpx.get(f"{cluster.url}/readyz").status_code == 200, 60, "the cluster after the run")
        audit = audit_store(cluster, record, {c.name: c for c in clients})
    finally:
        for client in clients:
            client.http.close()
        cluster.down()
    bad = outside_windows(record, faults, args.grace)
    result = {
        "submitted": audit["submitted"],
        "succeeded": audit["succeeded"],
        "lost": audit["lost"],
        "duplicated": audit["duplicated"],
        "uploads": audit["uploads"],
        "partial_uploads": audit["partial_uploads"],
        "faults": len(faults),
        "errors_5xx": len(bad),
        "fault_kinds": {k: sum(f.kind == k for f in faults) for k in KINDS},
        "versions_checked": audit["versions_checked"],
        "jobs_rerun_after_a_fault": audit["jobs_rerun"],
        "requests": len(record.responses),
        "answers_5xx_or_none_in_fault_windows": sum(1 for r in record.responses if r.status is None or r.status >= 500)
        - len(bad),
        "jobs": {
            "effects": sum(k == "effects" for k in record.kinds.values()),
            "generate": sum(k == "generate" for k in record.kinds.values()),
        },
        "seconds": round(time.monotonic() - started, 1),
        "load_errors": errors,
        "not_succeeded": audit["not_succeeded"],
        "errors_5xx_detail": bad[:20],
        "partial_detail": audit["partial_detail"],
        "fault_log": [
            asdict(f) | {"started": round(f.started - started, 2), "recovered": round(f.recovered - started, 2)}
            for f in faults
        ],
        "workdir": str(workdir),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| fault | target | at s | back after s |\n|---|---|---:|---:|")
    for f in result["fault_log"]:
        print(f"| {f['kind']} | {f['target']} | {f['started']} | {f['recovered'] - f['started']:.1f} |")
    print(
        f"\n{result['requests']} requests, "
        f"{result['answers_5xx_or_none_in_fault_windows']} failed inside fault windows; "
        f"{result['versions_checked']} versions read back from S3; {result['seconds']} s; logs in {workdir}"
    )
    print(
        f"jobs: {result['submitted']} submitted, {result['succeeded']} succeeded, {result['lost']} lost, "
        f"{result['duplicated']} duplicated; uploads: {result['uploads']}, {result['partial_uploads']} partial; "
        f"5xx outside fault windows: {result['errors_5xx']}"
    )
    ok = (
        not errors
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["partial_uploads"] == 0
        and result["errors_5xx"] == 0
        and result["submitted"] == args.effects_jobs + args.generate_jobs
    )
    if errors:
        print("load errors: " + "; ".join(errors), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
