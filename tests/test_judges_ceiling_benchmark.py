"""benchmarks/judges_ceiling.py keeps the rows of earlier judge versions beside the new ones."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.judges_ceiling import earlier_rows


def test_earlier_versions_rows_are_kept_and_the_rerun_versions_replaced(tmp_path: Path) -> None:
    path = tmp_path / "judges_ceiling.json"
    assert earlier_rows(path, {"judges-5"}, (10007, 200, 64)) == []  # no earlier run
    old = {
        "seed": 10007,
        "n": 200,
        "size": 64,
        "rows": [{"judges": "as frozen", "version": "judges-4"}, {"judges": "as frozen", "version": "judges-5"}],
        "earlier": [{"judges": "as frozen", "version": "judges-3"}],
    }
    path.write_text(json.dumps(old))
    kept = earlier_rows(path, {"judges-5"}, (10007, 200, 64))
    assert [r["version"] for r in kept] == ["judges-4", "judges-3"]
    assert earlier_rows(path, {"judges-5"}, (10007, 60, 64)) == []  # another run's numbers do not compare
