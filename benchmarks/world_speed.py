"""Scene-world render throughput: renders per second at 64, 128 and 256 px.

Renders scenes 0..N-1 of seed 0 (the default sampler: 1-4 subjects, about a third people) through
the torch ``WorldDataset``, with 1 and 2 DataLoader worker processes (each single-threaded), and
prints a table. Writes benchmarks/results/world_speed.json.

    python benchmarks/world_speed.py [--n 60] [--sizes 64 128 256] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def measure(size: int, n: int, workers: int) -> float:
    """Renders per second of n scenes at ``size`` through a DataLoader with ``workers`` processes."""
    from torch.utils.data import DataLoader

    from scenecraft.world.dataset import WorldDataset, collate_renders

    ds = WorldDataset(seed=0, size=size, length=n)
    loader = DataLoader(ds, batch_size=4, num_workers=workers, collate_fn=collate_renders)
    t0 = time.perf_counter()
    count = sum(len(b["index"]) for b in loader)
    dt = time.perf_counter() - t0
    assert count == n
    return n / dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    rows = []
    for size in args.sizes:
        for w in args.workers:
            rate = measure(size, args.n if size <= 128 else max(args.n // 2, 8), w)
            row = {"size": size, "workers": w, "renders_per_s": round(rate, 2)}
            rows.append({**row, "ms_per_render": round(1000 / rate, 1)})
    print(f"{'size':>6}{'workers':>9}{'renders/s':>11}{'ms/render':>11}")
    for r in rows:
        print(f"{r['size']:>6}{r['workers']:>9}{r['renders_per_s']:>11.2f}{r['ms_per_render']:>11.1f}")
    out = {
        "benchmark": "world_speed",
        "rows": rows,
        "n": args.n,
        "cpu_count": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    path = Path(__file__).parent / "results" / "world_speed.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
