"""Run standalone workers against a shared database (and shared storage): scale out across GPUs.

Each process claims batches under leases; kill one (even with SIGKILL) and its jobs are taken up
by the others once their lease expires. SIGTERM/SIGINT stop it after the current batch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import threading
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="e.g. postgresql://user@host/db (default: the data dir's SQLite)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SCENECRAFT_DATA_DIR", "data")),
        help="settings file and local blobs (default ./data)",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="worker threads in this process")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default: settings.device)")
    parser.add_argument("--checkpoint", default=None, help="model weights (default: settings.checkpoint)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--engine",
        default="pipeline",
        help="'pipeline' (the generation pipeline) or module:callable returning an Engine",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run(args: argparse.Namespace) -> int:
    from scenecraft.api.platform import policy_from_settings
    from scenecraft.config import load_settings
    from scenecraft.db import Database
    from scenecraft.jobs.engine import Engine, PipelineEngine
    from scenecraft.jobs.events import make_bus
    from scenecraft.jobs.webhooks import Deliverer
    from scenecraft.jobs.worker import WorkerPool
    from scenecraft.observability import configure_logging, log
    from scenecraft.storage.store import BlobStore

    settings = load_settings(
        args.data_dir.resolve(), database_url=args.database_url, device=args.device, checkpoint=args.checkpoint
    )
    configure_logging(args.log_level)
    db = Database(settings.resolved_database_url)
    db.migrate()
    if args.engine == "pipeline":

        def factory() -> Engine:
            return PipelineEngine(
                settings.checkpoint, settings.device, threads=args.threads, compile=settings.compile_model
            )
    else:
        module, _, name = args.engine.partition(":")
        factory = getattr(importlib.import_module(module), name)
    bus = make_bus(settings.event_bus, database_url=settings.resolved_database_url, redis_url=settings.redis_url)
    pool = WorkerPool(
        db=db,
        store=BlobStore.from_settings(settings),
        bus=bus,
        policy=policy_from_settings(settings),
        engine_factory=factory,
        count=args.concurrency,
        preview_every=settings.preview_every_steps,
        deliverer=Deliverer(
            db, max_attempts=settings.webhook_max_attempts, backoff_seconds=settings.webhook_backoff_seconds
        ),
        warm_model=settings.model,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    pool.start()
    log.info("worker started", concurrency=args.concurrency, database=db.dialect)
    print("scenecraft worker: ready", flush=True)
    done.wait()
    pool.stop()
    bus.close()
    db.dispose()
    return 0
