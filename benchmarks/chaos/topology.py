"""A multi-node scenecraft on one machine, with real processes (scripts/cluster):

    clients ──► HAProxy :P ──► 2 × `scenecraft serve --workers 0` (API)
                                    │            ▲
                PostgreSQL (own initdb, own port, own socket dir)  ◄── 3 × `scenecraft worker`
                Redis (rate limits, event bus)                      │
                S3 = moto's server (blobs, encrypted)  ◄────────────┘

Every piece can be killed and started again on the same port (scripts/chaos does that). Nothing
listens beyond 127.0.0.1. HAProxy health-checks the APIs on /readyz, retries a request whose
connection failed on the other API, and adds X-Forwarded-For, which the APIs trust only from
127.0.0.1 (SCENECRAFT_TRUSTED_PROXIES).

    python -m benchmarks.chaos.topology [--workdir DIR]   # up until Ctrl-C; prints the URLs
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "scenecraft-chaos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _pg_bin(name: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (Debian: postgresql)")
    return found


@dataclass
class Postgres:
    """Its own cluster (initdb) in `root`, on its own port and socket dir, trust auth on 127.0.0.1."""

    root: Path
    port: int = field(default_factory=free_port)

    def _as_owner(self, args: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root: run them as the `postgres` account then
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://scenecraft@127.0.0.1:{self.port}/scenecraft"

    @property
    def libpq_url(self) -> str:
        return f"postgresql://scenecraft@127.0.0.1:{self.port}/scenecraft"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        subprocess.run(
            self._as_owner([_pg_bin("initdb"), "-D", str(data), "-U", "scenecraft", "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "scenecraft", "scenecraft"],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        subprocess.run(
            self._as_owner(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.root / "data"),
                    "-l",
                    str(self.root / "pg.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._as_owner([_pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop"]),
            check=False,
            capture_output=True,
        )


@dataclass
class Proc:
    """One long-running child: started again with the same command, port and log."""

    name: str
    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, cwd=ROOT
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


HAPROXY = """global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
frontend scenecraft
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend api
backend api
    balance roundrobin
    option httpchk GET /readyz
    timeout check 5s
    default-server inter 1s fall 3 rise 1
{servers}
"""


class Cluster:
    def __init__(
        self, workdir: Path, *, workers: int = 3, apis: int = 2, lease_seconds: float = 5.0, lazy_model: bool = False
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pg = Postgres(self.dir / "pg")
        self.redis_port, self.s3_port, self.lb_port = free_port(), free_port(), free_port()
        self.api_ports = [free_port() for _ in range(apis)]
        master = base64.b64encode(secrets.token_bytes(32)).decode()
        self.env = {
            "SCENECRAFT_ENVIRONMENT": "production",
            "SCENECRAFT_SECRET_KEY": secrets.token_urlsafe(48),
            "SCENECRAFT_MASTER_KEYS": json.dumps({"k1": master}),
            "SCENECRAFT_ACTIVE_MASTER_KEY_ID": "k1",
            "SCENECRAFT_DATABASE_URL": self.pg.url,
            "SCENECRAFT_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "SCENECRAFT_STORAGE_BACKEND": "s3",
            "SCENECRAFT_S3_BUCKET": BUCKET,
            "SCENECRAFT_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.s3_port}",
            "SCENECRAFT_COOKIE_SECURE": "false",  # plain HTTP on loopback
            "SCENECRAFT_TRUSTED_PROXIES": '["127.0.0.1/32"]',  # HAProxy's X-Forwarded-For
            "SCENECRAFT_LEASE_SECONDS": str(lease_seconds),
            "SCENECRAFT_MAX_ATTEMPTS": "8",
            "SCENECRAFT_RETRY_BACKOFF_SECONDS": "0.5",
            "SCENECRAFT_QUOTA_MAX_QUEUED": "1000",
            "SCENECRAFT_QUOTA_MAX_RUNNING": "4",
            # one source IP (HAProxy) and a few users make all the load: limits far above it
            "SCENECRAFT_RATE_LIMIT_IP": "1000000/minute",
            "SCENECRAFT_RATE_LIMIT_USER": "1000000/minute",
            "SCENECRAFT_RATE_LIMIT_KEY": "1000000/minute",
            "SCENECRAFT_RATE_LIMIT_GENERATION": "1000000/minute",
            "SCENECRAFT_RATE_LIMIT_LOGIN": "1000/minute",
            "AWS_ACCESS_KEY_ID": "chaos",
            "AWS_SECRET_ACCESS_KEY": "chaos",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        bin_dir = Path(sys.executable).parent
        self.redis = Proc(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            self.dir / "redis.log",
        )
        self.s3 = Proc(
            "s3", [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)], self.dir / "moto.log"
        )
        scenecraft = [sys.executable, "-m", "scenecraft"]
        self.apis = [
            Proc(
                f"api-{i}",
                [
                    *scenecraft,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "0",
                    "--data-dir",
                    str(self.dir / f"api-{i}"),
                ],
                self.dir / f"api-{i}.log",
                self.env,
            )
            for i, port in enumerate(self.api_ports)
        ]
        self.workers = [
            Proc(
                f"worker-{i}",
                [
                    *scenecraft,
                    "worker",
                    "--data-dir",
                    str(self.dir / f"worker-{i}"),
                    "--threads",
                    "1",
                    "--drain-seconds",
                    "5",
                    *(["--lazy-model"] if lazy_model else []),
                ],
                self.dir / f"worker-{i}.log",
                self.env,
            )
            for i in range(workers)
        ]
        servers = "\n".join(f"    server api{i} 127.0.0.1:{p} check" for i, p in enumerate(self.api_ports))
        (self.dir / "haproxy.cfg").write_text(HAPROXY.format(port=self.lb_port, servers=servers))
        self.haproxy = Proc(
            "haproxy", ["haproxy", "-f", str(self.dir / "haproxy.cfg"), "-db"], self.dir / "haproxy.log"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    # -- bring-up -------------------------------------------------------------------------
    def up(self, users: dict[str, str]) -> None:
        """Everything, in order; `users` (name -> password) are created before the APIs start
        (a first API start on an empty users table would create an `admin` of its own)."""
        for tool in ("haproxy", "redis-server"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: apt-get install {tool.replace('-server', '')}")
        self.pg.init()
        self.redis.start()
        self.s3.start()
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{self.s3_port}/").status_code < 500, 60, "moto's S3 server")
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.s3_port}",
            region_name="us-east-1",
            aws_access_key_id="chaos",
            aws_secret_access_key="chaos",
        ).create_bucket(Bucket=BUCKET)
        migrate = [sys.executable, "-m", "scenecraft", "admin", "migrate", "--data-dir", str(self.dir / "admin")]
        subprocess.run(migrate, env={**os.environ, **self.env}, check=True, capture_output=True, cwd=ROOT)
        for name, password in users.items():
            self.create_user(name, password)
        for proc in [*self.apis, *self.workers]:
            proc.start()
        for port in self.api_ports:
            self.wait_api(port)
        self.haproxy.start()
        wait_until(lambda: httpx.get(f"{self.url}/healthz").status_code == 200, 30, "HAProxy")

    def wait_api(self, port: int, timeout: float = 600) -> None:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, timeout, f"API :{port}")

    def create_user(self, username: str, password: str) -> None:
        command = [
            sys.executable,
            "-m",
            "scenecraft",
            "admin",
            "create-user",
            "--data-dir",
            str(self.dir / "admin"),
            "--username",
            username,
            "--password-stdin",
        ]
        subprocess.run(
            command,
            input=password + "\n",
            text=True,
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            cwd=ROOT,
        )

    def down(self) -> None:
        for proc in [self.haproxy, *self.apis]:
            proc.kill(signal.SIGTERM)
        for proc in self.workers:
            proc.kill(signal.SIGTERM)
        for proc in [self.redis, self.s3]:
            proc.kill(signal.SIGTERM)
        self.pg.stop("fast")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="logs and data (default: a new temp dir)")
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scenecraft-cluster-"))
    cluster = Cluster(workdir, workers=args.workers)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        password = secrets.token_urlsafe(12)
        cluster.up({"admin": password})
        print(f"cluster up: {cluster.url}  (HAProxy -> APIs on {cluster.api_ports})", flush=True)
        print(f"  PostgreSQL {cluster.pg.libpq_url}   Redis :{cluster.redis_port}   S3 :{cluster.s3_port}", flush=True)
        print(f"  log in as admin / {password}; logs in {workdir}; Ctrl-C stops it", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
