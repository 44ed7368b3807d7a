"""The monitoring manifests name only metrics that /metrics really exports, and KEDA's queue query
counts what workers would claim, run against a real PostgreSQL queue."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform
from scenecraft.auth.accounts import create_user
from scenecraft.db import Database
from scenecraft.db.models import Job, utcnow
from scenecraft.jobs import queue
from scenecraft.observability import Metrics
from tests.deploy.rendering import dashboard, find, render
from tests.utils.databases import temporary_database
from tests.utils.fixtures import make_settings

_NAME = re.compile(r"\bscenecraft_[a-z0-9_]+")
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",)}


def exported(tmp_path: Path) -> set[str]:
    """Every series name the API's /metrics and a worker's /metrics can carry."""
    platform = Platform.from_settings(make_settings(tmp_path, f"sqlite:///{tmp_path / 'm.db'}"))
    platform.db.migrate()
    api_text = TestClient(create_app(platform=platform)).get("/metrics").text
    platform.close()
    worker = Metrics()  # what `scenecraft worker --metrics-port` registers (jobs/worker_cli.py)
    worker.watch_workers()
    worker.watch_gpu()
    worker.watch_disk(tmp_path)
    names: set[str] = set()
    for text_ in (api_text, worker.render().decode()):
        for family in text_string_to_metric_families(text_):
            names.add(family.name)
            names.update(family.name + s for s in _SUFFIXES.get(family.type, ()))
    return names


def expressions(objects: tuple[dict[str, Any], ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    rule = find(objects, "PrometheusRule", "scenecraft")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            found[f"rule {r['alert']}"] = str(r["expr"])
    for panel in dashboard(objects)["panels"]:
        for target in panel["targets"]:
            found[f"panel {panel['title']!r}"] = target["expr"]
    for o in objects:
        if o["kind"] == "AnalysisTemplate":
            for m in o["spec"]["metrics"]:
                found[f"analysis {o['metadata']['name']}/{m['name']}"] = m["provider"]["prometheus"]["query"]
        if o["kind"] == "ScaledObject":
            for t in o["spec"]["triggers"]:
                if t["type"] == "prometheus":
                    found[f"keda trigger {t['name']}"] = t["metadata"]["query"]
    return found


def test_every_metric_named_in_alerts_dashboards_and_analysis_is_exported(tmp_path: Path) -> None:
    names = exported(tmp_path)
    exprs: dict[str, str] = {}
    for overlay in ("cluster", "cluster-prometheus-scaler", "cluster-rollouts"):
        exprs.update(expressions(render(overlay)))
    assert len(exprs) >= 20
    missing = {where: sorted(set(_NAME.findall(e)) - names) for where, e in exprs.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"not exported by /metrics: {missing}"
    for where, e in exprs.items():
        assert _NAME.search(e), f"{where} names no scenecraft metric: {e}"


def test_alerts_cover_what_the_issue_lists() -> None:
    rule = find(render("cluster"), "PrometheusRule", "scenecraft")
    exprs = " ".join(str(r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"])
    for metric in [
        'scenecraft_job_phase_duration_seconds_bucket{phase="queued"}',  # queue age
        "scenecraft_oldest_queued_job_age_seconds",
        'status=~"5.."',
        "histogram_quantile(0.99",
        "scenecraft_jobs_lease_expired",  # worker heartbeats missing
        "scenecraft_gpu_memory_used_bytes",
        "scenecraft_data_dir_free_bytes",
        'scenecraft_audit_chain_checks_total{result="broken"}',
    ]:
        assert metric in exprs, metric


def test_keda_query_counts_due_and_running_jobs_on_postgresql(tmp_path: Path) -> None:
    so = find(render("cluster"), "ScaledObject", "scenecraft-worker")
    query = so["spec"]["triggers"][0]["metadata"]["query"]
    with temporary_database("postgresql", tmp_path) as url:
        db = Database(url)
        try:
            db.migrate()
            with db.session() as s:
                ids = _jobs(s, 7)
                # 2 running, 1 waiting out a retry backoff (not due: no worker could claim it), 1 done, 1 cancelled
                s.execute(update(Job).where(Job.id.in_(ids[:2])).values(status="running", lease_owner="w"))
                s.execute(update(Job).where(Job.id == ids[2]).values(available_at=utcnow() + timedelta(minutes=5)))
                s.execute(update(Job).where(Job.id == ids[3]).values(status="succeeded"))
                s.execute(update(Job).where(Job.id == ids[4]).values(status="cancelled"))
            with db.engine.connect() as conn:
                assert conn.execute(text(query)).scalar() == 2 + 2  # running + due queued
        finally:
            db.dispose()


def _jobs(s: Any, n: int) -> list[str]:
    user = create_user(s, "alice", "long password")
    policy = queue.QueuePolicy(quota_max_queued=100)
    params = {"prompt": "p", "width": 8, "height": 8, "steps": 2, "sampler": "euler", "guidance": 1.0}
    return [queue.enqueue(s, user_id=user.id, params={**params, "seed": i}, policy=policy)[0].id for i in range(n)]
