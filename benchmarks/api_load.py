"""API load and queue throughput, on SQLite and PostgreSQL.

For each database: starts `scenecraft serve` (no workers, limits raised out of the way) as its own
process, then 50 concurrent clients (asyncio + httpx) submit jobs and poll job status with an API
key; reports requests/s and p50/p99 latency. Then measures how many jobs/s the queue can claim
(`jobs.queue.claim`, 4 claiming threads, batch size 1, then 4) straight against the database.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--requests 20] [--jobs 2000]

Writes benchmarks/results/api_load.json. Numbers depend on the machine: the table says which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from statistics import quantiles

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("SCENECRAFT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
JOB = {"prompt": "a lamp on a desk", "width": 64, "height": 64, "steps": 20}
UNLIMITED = {
    "SCENECRAFT_RATE_LIMIT_IP": "100000000/minute",
    "SCENECRAFT_RATE_LIMIT_USER": "100000000/minute",
    "SCENECRAFT_RATE_LIMIT_KEY": "100000000/minute",
    "SCENECRAFT_RATE_LIMIT_GENERATION": "100000000/minute",
    "SCENECRAFT_QUOTA_MAX_QUEUED": "100000",
    "OMP_NUM_THREADS": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Schema:
    """A throw-away PostgreSQL schema (dropped afterwards) or None for SQLite."""

    def __init__(self, backend: str, sqlite_path: Path) -> None:
        self.backend, self.name = backend, f"bench_{uuid.uuid4().hex[:12]}"
        self.url = f"sqlite:///{sqlite_path}"
        if backend == "postgresql":
            self.url = f"{POSTGRES}?options=-csearch_path%3D{self.name}"

    def __enter__(self) -> Schema:
        if self.backend == "postgresql":
            with psycopg.connect(POSTGRES.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(f'CREATE SCHEMA "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        if self.backend == "postgresql":
            with psycopg.connect(POSTGRES.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(f'DROP SCHEMA "{self.name}" CASCADE')


def pct(values: list[float], q: int) -> float:
    return quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


async def load(base: str, key: str, clients: int, per_client: int) -> dict[str, dict[str, float]]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    results: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:
        job_ids: list[str] = []

        async def submit_worker(i: int, lat: list[float]) -> None:
            for n in range(per_client):
                t = time.perf_counter()
                r = await http.post("/v1/jobs", json={**JOB, "seed": i * 1000 + n})
                lat.append(time.perf_counter() - t)
                assert r.status_code == 202, r.text
                job_ids.append(r.json()["id"])

        async def status_worker(i: int, lat: list[float]) -> None:
            for n in range(per_client):
                job_id = job_ids[(i * per_client + n) % len(job_ids)]
                t = time.perf_counter()
                r = await http.get(f"/v1/jobs/{job_id}")
                lat.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text

        for name, worker in [("submit (POST /v1/jobs)", submit_worker), ("status (GET /v1/jobs/{id})", status_worker)]:
            lat: list[float] = []
            start = time.perf_counter()
            await asyncio.gather(*(worker(i, lat) for i in range(clients)))
            elapsed = time.perf_counter() - start
            results[name] = {
                "requests": len(lat),
                "rps": len(lat) / elapsed,
                "p50_ms": pct(lat, 50),
                "p99_ms": pct(lat, 99),
            }
    return results


def claim_rate(url: str, jobs: int, batch: int, threads: int = 4) -> float:
    sys.path.insert(0, str(ROOT / "src"))
    from scenecraft.auth.accounts import create_user
    from scenecraft.db import Database
    from scenecraft.jobs import queue
    from scenecraft.jobs.queue import QueuePolicy

    db = Database(url, pool_size=threads + 2)
    db.migrate()
    # a long lease: nothing heartbeats here, and an expired lease would (rightly) be claimed again
    policy = QueuePolicy(max_batch_size=batch, quota_max_running=10**6, quota_max_queued=10**6, lease_seconds=3600)
    with db.session() as s:
        users = [create_user(s, f"claim{batch}u{i}_{uuid.uuid4().hex[:6]}", "long password").id for i in range(8)]
    with db.session() as s:
        for i in range(jobs):
            queue.enqueue(
                s,
                user_id=users[i % 8],
                params={**JOB, "seed": i, "sampler": "ddim", "guidance": 1.0, "model": "seed-12M"},
                policy=policy,
            )
    claimed = 0
    lock = threading.Lock()

    def run(worker: str) -> None:
        nonlocal claimed
        while True:
            with db.session() as s:
                got = queue.claim(s, worker, policy)
            if not got:
                return
            with lock:
                claimed += len(got)

    ts = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - start
    db.dispose()
    assert claimed == jobs, (claimed, jobs)
    return jobs / elapsed


def bench(backend: str, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with Schema(backend, tmp / "data" / "scenecraft.db") as schema:
            port = free_port()
            env = {**os.environ, **UNLIMITED, "SCENECRAFT_DATABASE_URL": schema.url}
            env.pop("SCENECRAFT_DATA_DIR", None)
            log = (tmp / "serve.log").open("w")
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scenecraft",
                    "serve",
                    "--data-dir",
                    str(tmp / "data"),
                    "--port",
                    str(port),
                    "--workers",
                    "0",
                    "--log-level",
                    "WARNING",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            base = f"http://127.0.0.1:{port}"
            try:
                for _ in range(300):
                    try:
                        if httpx.get(f"{base}/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                text = (tmp / "serve.log").read_text()
                password = re.search(r"password: (\S+)", text)
                assert password, text
                with httpx.Client(base_url=base) as c:
                    csrf = c.post("/v1/auth/login", json={"username": "admin", "password": password.group(1)}).json()[
                        "csrf_token"
                    ]
                    key = c.post("/v1/keys", json={"name": "bench"}, headers={"X-CSRF-Token": csrf}).json()["key"]
                http_results = asyncio.run(load(base, key, args.clients, args.requests))
            except Exception:
                print(f"server exit status: {server.poll()}", file=sys.stderr)
                print((tmp / "serve.log").read_text()[-5000:], file=sys.stderr)
                raise
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
        claims = {}
        for b in (1, 4):
            with Schema(backend, tmp / f"claims{b}.db") as fresh:
                claims[f"batch {b}"] = claim_rate(fresh.url, args.jobs, b)
    return {"http": http_results, "claims_per_s": claims}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client and operation")
    parser.add_argument("--jobs", type=int, default=2000, help="jobs queued for the claim benchmark")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    machine = f"{host.processor() or host.machine()}, {os.cpu_count()} CPUs, Python {host.python_version()}"
    results = {
        "machine": machine,
        "clients": args.clients,
        "requests_per_client": args.requests,
        "claim_jobs": args.jobs,
        "databases": {},
    }
    for backend in args.databases.split(","):
        results["databases"][backend] = bench(backend, args)  # type: ignore[index]
    print(f"\nAPI load: {args.clients} concurrent clients, one uvicorn process, no workers ({machine})\n")
    print("| database | operation | requests | req/s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for backend, r in results["databases"].items():  # type: ignore[union-attr]
        for op, m in r["http"].items():
            print(f"| {backend} | {op} | {m['requests']} | {m['rps']:.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} |")
    print(f"\nQueue claims ({args.jobs} queued jobs, 4 claiming threads)\n")
    print("| database | batch size | jobs claimed/s |")
    print("|---|---:|---:|")
    for backend, r in results["databases"].items():  # type: ignore[union-attr]
        for batch, rate in r["claims_per_s"].items():
            print(f"| {backend} | {batch.split()[1]} | {rate:.0f} |")
    out = ROOT / "benchmarks" / "results" / "api_load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
