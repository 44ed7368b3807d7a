"""A short scripts/chaos run in CI: the real topology (2 APIs behind HAProxy, 3 workers, PostgreSQL
of its own, Redis, moto's S3) under one fault of each kind; nothing lost, duplicated or partial, no
5xx outside the fault windows. The full run (>= 200 jobs, >= 20 faults) is `scripts/chaos`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from benchmarks.chaos import run


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_short_chaos_run_loses_nothing(tmp_path: Path) -> None:
    for tool in ("haproxy", "redis-server"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed (scripts/setup installs it with apt-get)")
    out = tmp_path / "chaos.json"
    argv = ["--users", "2", "--effects-jobs", "12", "--generate-jobs", "0", "--uploads", "4", "--faults", "4",
            "--fault-every", "2", "--timeout", "600", "--workdir", str(tmp_path / "cluster"), "--out", str(out)]
    code = run.main(argv)
    result = json.loads(out.read_text())
    assert result["faults"] == 4 and result["fault_kinds"] == {"worker": 1, "api": 1, "postgres": 1, "redis": 1}
    assert result["submitted"] == 12 and result["succeeded"] == 12, result
    faults = (result["lost"], result["duplicated"], result["partial_uploads"], result["errors_5xx"])
    assert faults == (0, 0, 0, 0), result
    assert result["uploads"] >= 4 + 2 and result["versions_checked"] >= 12 + 4 + 2
    assert code == 0
