"""An independent reference for the custom resources: validators generated from the upstream CRDs
(npm's @kubernetes-models packages for KEDA, Argo Rollouts and the Prometheus Operator, pinned in
crd_crosscheck/package-lock.json) accept every rendered ScaledObject, TriggerAuthentication,
Rollout, AnalysisTemplate, PrometheusRule and PodMonitor, and refuse a wrong type. This checks
deploy/k8s/schemas (written from the docs) against something we did not write."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.rendering import render

HERE = Path(__file__).parent / "crd_crosscheck"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is needed (scripts/setup-web installs Node.js)")
        pytest.skip(f"{name} not installed")
    return found


@pytest.mark.slow
def test_upstream_crd_validators_accept_the_rendered_resources(tmp_path: Path) -> None:
    npm, node = _tool("npm"), _tool("node")
    for name in ("package.json", "package-lock.json", "check.mjs"):
        shutil.copy(HERE / name, tmp_path / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp_path, check=True)
    files = []
    for overlay in ("cluster", "cluster-prometheus-scaler", "cluster-rollouts"):
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(yaml.safe_dump_all(render(overlay)))
        files.append(str(path))
    out = subprocess.run([node, "check.mjs", *files], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("15 custom resources checked against @kubernetes-models validators, 0 invalid")
    # and they can fail: a string where the CRD says integer
    broken = yaml.safe_load_all((tmp_path / "cluster.yaml").read_text())
    docs = [d for d in broken if d["kind"] == "ScaledObject"]
    docs[0]["spec"]["minReplicaCount"] = "zero"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump_all(docs))
    out = subprocess.run([node, "check.mjs", "bad.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert out.returncode == 1 and "minReplicaCount must be integer" in out.stdout
