"""deploy/k8s: every overlay renders with `kubectl kustomize`; every object validates offline (core
kinds against the Kubernetes schemas that kubernetes-validate ships, custom resources against the
vendored schemas in deploy/k8s/schemas); and the rendered pods hold the security and scaling
properties docs/deploy.md promises."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate import utils as kv_utils

from tests.deploy.rendering import CRD_SCHEMAS, OVERLAYS, dashboard, find, render, schema

KUBERNETES = "1.30.0"  # the oldest Kubernetes the manifests target (preStop sleep, autoscaling/v2)
SECRETISH = ("SECRET", "KEY", "PASSWORD", "TOKEN", "DATABASE_URL", "REDIS_URL")


def pod_specs(objects: tuple[dict[str, Any], ...]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in ("Deployment", "Job")
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_offline(overlay: str) -> None:
    objects = render(overlay)
    assert objects, f"{overlay} rendered nothing"
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        where = f"{overlay}: {obj['kind']}/{obj['metadata']['name']}"
        if key in CRD_SCHEMAS:
            errors = list(jsonschema.Draft202012Validator(schema(CRD_SCHEMAS[key])).iter_errors(obj))
            assert not errors, f"{where}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kv_utils.SchemaNotFoundError:
            pytest.fail(f"{where}: no Kubernetes schema and no vendored CRD schema: nothing would check it")
        except kv_utils.ValidationError as exc:
            pytest.fail(f"{where}: {list(exc.path)}: {exc.message}")
    if any(o["kind"] == "ConfigMap" and o["metadata"]["name"] == "scenecraft-dashboard" for o in objects):
        jsonschema.Draft202012Validator(schema("grafana_dashboard.json")).validate(dashboard(objects))


def test_overlays_hold_what_they_promise() -> None:
    kinds = {o: {(x["kind"], x["metadata"]["name"]) for x in render(o)} for o in OVERLAYS}
    single = kinds["single-node"]
    assert ("PersistentVolumeClaim", "scenecraft-data") in single
    assert not {k for k, _ in single} & {"HorizontalPodAutoscaler", "ScaledObject", "Job"}
    assert ("Deployment", "scenecraft-worker") not in single
    cluster = kinds["cluster"]
    for need in [
        ("Deployment", "scenecraft-api"),
        ("Deployment", "scenecraft-worker"),
        ("HorizontalPodAutoscaler", "scenecraft-api"),
        ("Job", "scenecraft-migrate"),
        ("Service", "scenecraft-api"),
        ("Ingress", "scenecraft"),
        ("PodDisruptionBudget", "scenecraft-api"),
        ("PodDisruptionBudget", "scenecraft-worker"),
        ("NetworkPolicy", "scenecraft-default-deny"),
        ("ScaledObject", "scenecraft-worker"),
        ("PrometheusRule", "scenecraft"),
        ("ConfigMap", "scenecraft-dashboard"),
    ]:
        assert need in cluster, need
    assert ("Rollout", "scenecraft-api") in kinds["cluster-rollouts"]
    assert ("AnalysisTemplate", "scenecraft-api-canary-health") in kinds["cluster-rollouts"]
    assert not any(k == "Secret" for o in OVERLAYS for k, _ in kinds[o]), "secrets are referenced, never shipped"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down(overlay: str) -> None:
    for where, spec in pod_specs(render(overlay)):
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        for c in spec["containers"]:
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= c["resources"]["requests"].keys() <= c["resources"]["limits"].keys(), where
            for env in c.get("env", []):
                if any(word in env["name"] for word in SECRETISH):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], f"{where}: {env['name']}"
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert {"/data", "/tmp"} <= mounts, f"{where}: a read-only root needs /data and /tmp volumes"


@pytest.mark.parametrize("overlay", ["single-node", "cluster"])
def test_probes(overlay: str) -> None:
    objects = render(overlay)
    api = find(objects, "Deployment", "scenecraft-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    startup = api["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    if overlay == "single-node":  # this pod loads the model itself: the startup probe waits on /readyz
        assert startup["httpGet"]["path"] == "/readyz" and budget >= 300
    else:
        worker = find(objects, "Deployment", "scenecraft-worker")["spec"]["template"]["spec"]["containers"][0]
        w = worker["startupProbe"]
        assert w["httpGet"]["path"] == "/readyz" and w["periodSeconds"] * w["failureThreshold"] >= 300


def test_workers_get_gpus_and_drain_within_the_grace() -> None:
    objects = render("cluster")
    spec = find(objects, "Deployment", "scenecraft-worker")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    drain = float(find(objects, "ConfigMap", "scenecraft-config")["data"]["SCENECRAFT_DRAIN_SECONDS"])
    assert drain + 10 <= spec["terminationGracePeriodSeconds"], "the drain must end before Kubernetes' SIGKILL"


def test_keda_scales_to_zero_with_activation_and_cooldown() -> None:
    for overlay, kind in [("cluster", "postgresql"), ("cluster-prometheus-scaler", "prometheus")]:
        so = find(render(overlay), "ScaledObject", "scenecraft-worker")["spec"]
        assert so["minReplicaCount"] == 0 and so["cooldownPeriod"] > 0
        (trigger,) = so["triggers"]
        assert trigger["type"] == kind
        meta = trigger["metadata"]
        activation = meta.get("activationTargetQueryValue", meta.get("activationThreshold"))
        assert activation == "0"


def test_the_schemas_can_fail() -> None:
    """Each vendored schema refuses a typical mistake (so a pass above means something)."""
    cluster, rollouts = render("cluster"), render("cluster-rollouts")
    so = copy.deepcopy(find(cluster, "ScaledObject", "scenecraft-worker"))
    so["spec"]["minReplicas"] = 0  # the HPA's name, not KEDA's
    bad_trigger = copy.deepcopy(find(cluster, "ScaledObject", "scenecraft-worker"))
    del bad_trigger["spec"]["triggers"][0]["metadata"]["query"]  # the postgresql scaler needs its query
    rollout = copy.deepcopy(find(rollouts, "Rollout", "scenecraft-api"))
    rollout["spec"]["strategy"]["canary"]["steps"][0] = {"setWeight": 5, "pause": {}}  # one action per step
    rule = copy.deepcopy(find(cluster, "PrometheusRule", "scenecraft"))
    rule["spec"]["groups"][0]["rules"][0]["record"] = "x"  # a rule is an alert or a recording rule, not both
    board = copy.deepcopy(dashboard(cluster))
    board["panels"][0]["gridPos"]["w"] = 30  # the grid is 24 wide
    for obj, file_name in [
        (so, "keda.sh_v1alpha1_scaledobject.json"),
        (bad_trigger, "keda.sh_v1alpha1_scaledobject.json"),
        (rollout, "argoproj.io_v1alpha1_rollout.json"),
        (rule, "monitoring.coreos.com_v1_prometheusrule.json"),
        (board, "grafana_dashboard.json"),
    ]:
        assert not jsonschema.Draft202012Validator(schema(file_name)).is_valid(obj), file_name
    deployment = copy.deepcopy(find(cluster, "Deployment", "scenecraft-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kv_utils.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)
