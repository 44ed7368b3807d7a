"""Speed and quality of every variant of the bundled model, the teacher and the students in turns.

    python benchmarks/speed.py [--variants teacher-20 fast-4 ...] [--repeats 3] [--n 32]
        [--teacher-quality benchmarks/results/quality.json] [--batch8-repeats 1]
        [--student RUN/student.safetensors] [--pruned RUN/student.safetensors]

One process loads every variant side by side (plus ``today``: the teacher at 30 steps, what
`scenecraft generate` made before variants), makes one untimed warm-up image with each, then times
them in turns, round by round (A B C ... A B C ...), so the noise of a shared machine hits all alike:

- seconds per image at batch 1: the CLI's request (a prompt, its subjects planned from it);
- seconds per image at batch 8: eight held-out requests in one call;
- peak memory: each variant in a fresh process of its own, one batch-1 image of one step (``VmHWM``,
  loading included; every step runs the same passes).

``--compiled V ...`` adds a row ``V+compiled`` for each: the same variant after
``GenerationPipeline.compile()`` (inductor, weights frozen on the CPU), warmed up on every shape it is
then timed on (compiling is start-up, as in a worker), timed in the same turns. Compiled rows are not
scored again: their images are the variant's up to float round-off, and the row records the largest
pixel difference of the CLI's image from the eager one's (``max_diff_vs_eager``, 8-bit levels).

``--student`` and ``--pruned`` give the students' weights from a run folder when they are not
installed: the first serves guided-20 and fast-1/2/4, the second pruned-4.

Quality: every metric of ``benchmarks/quality.py`` (its ``generate`` and ``score_mode``), for the
held-out requests of the modes full, context and prompt, same seeds for every variant. The
teacher's rows may be read from a ``quality.py`` results file of the same weights, steps, ``n`` and
judges (``--teacher-quality``), which saves the slowest part of the run; the file used is recorded.

A variant is *within 2 %* of the teacher when its quality score, the mean of material fidelity,
layout recall, binding, pose PCK and count accuracy over the modes scored, is at least 98 % of the
teacher's. Where both were scored image by image (``per_image`` in the rows: every row this script
scores, and ``quality.py`` results written since 2026-12-08), the ratio also gets a 90 % paired
bootstrap interval over the requests (``quality_vs_teacher_90pct``), which says how far n requests
can tell the two apart. Writes benchmarks/results/speed.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "speed.json"
PROMPT = "a person waving next to a red metal sphere on grass"  # the CLI example
MODES = ("full", "context", "prompt")
METRICS = ("material_fidelity", "layout_recall", "binding", "pose_pck", "count_accuracy")
TODAY = "today"  # the teacher at 30 steps: the CLI's default before variants
SIZE = 64


STUDENT: Path | None = None  # --student: the students' weights when they are not installed
PRUNED: Path | None = None  # --pruned: the depth-pruned student's weights when they are not installed
COMPILED = "+compiled"  # a row id's suffix: the variant after pipe.compile()


def load(variant: str) -> tuple[Any, int]:
    """(pipeline, steps) of a variant id, or of ``today``; ``ID+compiled``: compiled (not warmed up)."""
    if variant.endswith(COMPILED):
        pipe, steps = load(variant.removesuffix(COMPILED))
        pipe.compile()
        return pipe, steps
    from scenecraft.pipeline import GenerationPipeline
    from scenecraft.variants import PRUNED_WEIGHTS, STUDENT_WEIGHTS, VARIANTS

    chosen = VARIANTS["teacher-20" if variant == TODAY else variant]
    override = {STUDENT_WEIGHTS: STUDENT, PRUNED_WEIGHTS: PRUNED}.get(chosen.weights)
    if override is not None:
        pipe = GenerationPipeline.from_settings("seed-12M", checkpoint=override)
        pipe.variant = chosen
    else:
        pipe = GenerationPipeline.from_variant(chosen.id)
    assert pipe.variant is not None
    return pipe, 30 if variant == TODAY else pipe.variant.steps


def cli_spec(seed: int = 0) -> Any:
    from scenecraft.pipeline import SampleSpec
    from scenecraft.planner import plan_subjects
    from scenecraft.scene_conditions import SceneRequest

    return SampleSpec(seed=seed, request=SceneRequest(PROMPT, plan_subjects(PROMPT)))


def batch_specs(n: int = 8) -> list[Any]:
    from scenecraft.pipeline import SampleSpec
    from scenecraft.train.validation import held_out_requests

    return [SampleSpec(seed=i, request=r) for i, r in enumerate(held_out_requests(n, SIZE).requests)]


def generate_seconds(pipe: Any, steps: int, specs: list[Any]) -> float:
    start = time.perf_counter()
    pipe.generate(specs, size=SIZE, steps=steps, sampler="euler", guidance=3.0)
    return (time.perf_counter() - start) / len(specs)


def timed_in_turns(
    ids: list[str], repeats: int, batch8_repeats: int, batch8_skip: list[str]
) -> dict[str, dict[str, Any]]:
    pipes = {v: load(v) for v in ids}
    one, eight = [cli_spec()], batch_specs()
    for v, (pipe, _) in pipes.items():  # warm-up, untimed: one step runs every kernel a step runs
        generate_seconds(pipe, 1, one)
        if v.endswith(COMPILED) and batch8_repeats and v not in batch8_skip:
            generate_seconds(pipe, 1, eight)  # a compiled model compiles each new shape on first use
        print(f"warm {v}", file=sys.stderr, flush=True)
    times: dict[str, dict[str, list[float]]] = {v: {"b1": [], "b8": []} for v in ids}
    for r in range(max(repeats, batch8_repeats)):
        for v, (pipe, steps) in pipes.items():
            if r < repeats:
                times[v]["b1"].append(generate_seconds(pipe, steps, one))
            if r < batch8_repeats and v not in batch8_skip:
                times[v]["b8"].append(generate_seconds(pipe, steps, eight))
        print(f"round {r + 1}: " + " ".join(f"{v}={times[v]['b1'][-1]:.2f}s" for v in ids), file=sys.stderr)
    out: dict[str, dict[str, Any]] = {}
    for v, (pipe, steps) in pipes.items():
        out[v] = {
            "steps": steps,
            "passes_per_step": 1 if pipe.variant.passes_per_step == 1 else _teacher_passes(pipe),
            "s_per_image_b1": statistics.median(times[v]["b1"]),
            "s_per_image_b8": statistics.median(times[v]["b8"]) if times[v]["b8"] else None,
            "b1_runs": times[v]["b1"],
            "b8_runs": times[v]["b8"],
        }
        base = v.removesuffix(COMPILED)
        if v != base and base in pipes:
            out[v]["max_diff_vs_eager"] = image_difference(pipe, pipes[base][0], steps, one)
    return out


def image_difference(a: Any, b: Any, steps: int, specs: list[Any]) -> int:
    """The largest difference, in 8-bit levels, between two pipelines' images of the same specs."""
    first, second = (
        np.asarray(p.generate(specs, size=SIZE, steps=steps, sampler="euler", guidance=3.0)[0]).astype(int)
        for p in (a, b)
    )
    return int(np.abs(first - second).max())


def _teacher_passes(pipe: Any) -> int:
    """Passes per step of the teacher on the CLI's request: the empty level plus one per condition."""
    cond = pipe.scene_conditions([cli_spec()], SIZE)
    return 1 + int(cond.present.any(dim=0).sum())


def peak_memory(variant: str) -> float:
    """MiB high-water mark of a fresh process that loads ``variant`` and makes one image (of one
    step: every step runs the same passes, so the peak of one is the peak of all)."""
    paths = "".join(f"speed.{name} = speed.Path({str(path)!r}); " for name, path in weight_paths().items())
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import speed; "
        + paths
        + f"pipe, steps = speed.load({variant!r}); "
        f" speed.generate_seconds(pipe, 1, [speed.cli_spec()]); "
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def weight_paths() -> dict[str, Path]:
    """The weights given on the command line in place of installed ones (name of the global: path)."""
    return {name: path for name, path in (("STUDENT", STUDENT), ("PRUNED", PRUNED)) if path is not None}


def mode_requests(mode: str, n: int) -> Any:
    from scenecraft.planner import plan_subjects
    from scenecraft.scene_conditions import SceneRequest
    from scenecraft.train.validation import held_out_requests

    held = held_out_requests(n, SIZE)
    if mode == "context":
        return held, held_out_requests(n, SIZE, with_scene=True).requests
    if mode == "prompt":
        return held, [SceneRequest(r.prompt, plan_subjects(r.prompt)) for r in held.requests]
    return held, held.requests


def quality_rows(variant: str, n: int, modes: list[str]) -> list[dict[str, Any]]:
    import quality  # benchmarks/quality.py: the one definition of the quality table

    pipe, steps = load(variant)
    rows = []
    for mode in modes:
        held, requests = mode_requests(mode, n)
        images, seconds = quality.generate(pipe, requests, SIZE, steps, 8, seed0=1_000)
        rows.append(quality.score_mode(mode, held, images, SIZE, seconds))
    return rows


def teacher_rows_from(path: Path, n: int, modes: list[str]) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    if data.get("n") != n or data.get("steps") != 20 or data.get("checkpoint") != "bundled":
        raise SystemExit(f"{path} is not a 20-step run of the bundled weights on {n} requests")
    rows = [r for r in data["rows"] if r["mode"] in modes]
    if {r["mode"] for r in rows} != set(modes):
        raise SystemExit(f"{path} lacks one of the modes {modes}")
    from scenecraft.evaluate.judges import WEIGHTS_DIR, read_version

    current = read_version(WEIGHTS_DIR)  # the students are scored by these judges: the teacher must be too
    if any(r.get("judges_version") != current for r in rows):
        found = sorted({str(r.get("judges_version")) for r in rows})
        raise SystemExit(f"{path} was scored by judges {found}, not the current {current}: score the teacher again")
    return rows


def quality_score(rows: list[dict[str, Any]]) -> float:
    values = [r[k] for r in rows for k in METRICS if r.get(k) is not None]
    return sum(values) / len(values)


PER_IMAGE = {"binding": "attribute_binding"}  # a row's metric -> its name in the per-image records


def _image_counts(rows: list[dict[str, Any]]) -> np.ndarray:
    """(modes x metrics, 2, n) hits and judged per image, from the rows' ``per_image`` records."""
    return np.array(
        [
            [[rec.get(PER_IMAGE.get(k, k), (0, 0))[j] for rec in r["per_image"]] for j in (0, 1)]
            for r in rows
            for k in METRICS
        ],
        dtype=float,
    )


def paired_interval(
    teacher: list[dict[str, Any]], variant: list[dict[str, Any]], draws: int = 2000, level: float = 0.9, seed: int = 0
) -> tuple[float, float] | None:
    """A paired bootstrap interval of ``quality_score(variant) / quality_score(teacher)``.

    Both were scored on the same requests with the same seeds, so the requests are resampled
    together: each draw takes n of them with replacement, recomputes every metric of both from the
    per-image hits (each the sum of hits over the sum judged, as the table's), and the ratio of the
    two scores. -> the central ``level`` interval of the draws, or None where either side lacks
    per-image records of the same modes and requests."""
    modes = [r["mode"] for r in teacher]
    if [r["mode"] for r in variant] != modes or any("per_image" not in r for r in (*teacher, *variant)):
        return None
    n = {len(r["per_image"]) for r in (*teacher, *variant)}
    if len(n) != 1:
        return None
    size = n.pop()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, size, (draws, size))
    weights = np.stack([np.bincount(p, minlength=size) for p in picks]).astype(float)  # (draws, n)

    def scores(rows: list[dict[str, Any]]) -> np.ndarray:
        counts = _image_counts(rows)  # (m, 2, n)
        hits, judged = weights @ counts[:, 0].T, weights @ counts[:, 1].T  # (draws, m)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(judged > 0, hits / judged, np.nan)  # a metric nothing judged is left out
        return np.nanmean(values, axis=1)

    ratio = scores(variant) / scores(teacher)
    return float(np.quantile(ratio, (1 - level) / 2)), float(np.quantile(ratio, (1 + level) / 2))


def main() -> None:
    from scenecraft.variants import VARIANTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=[TODAY, *VARIANTS])
    parser.add_argument("--repeats", type=int, default=3, help="timed batch-1 images per variant")
    parser.add_argument("--batch8-repeats", type=int, default=1, help="timed batches of 8 per variant")
    parser.add_argument("--n", type=int, default=32, help="held-out requests per quality mode")
    parser.add_argument("--teacher-quality", type=Path, default=None, help="a quality.py results file to reuse")
    parser.add_argument("--no-quality", action="store_true", help="timing only")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, help="quality modes")
    parser.add_argument("--quality-variants", nargs="+", default=None, help="variants scored (default: all)")
    parser.add_argument("--batch8-skip", nargs="+", default=[], help="variants not timed at batch 8")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--student", type=Path, default=None, help="students' weights, if not installed")
    parser.add_argument("--pruned", type=Path, default=None, help="the pruned student's weights, if not installed")
    parser.add_argument(
        "--compiled", nargs="+", default=[], help="also time these variants compiled (rows ID+compiled)"
    )
    args = parser.parse_args()
    global STUDENT, PRUNED
    STUDENT, PRUNED = args.student, args.pruned
    for given in (STUDENT, PRUNED):
        if given is not None and not given.is_file():
            raise SystemExit(f"weights not found: {given}")
    unknown = [v for v in args.compiled if v not in args.variants]
    if unknown:
        raise SystemExit(f"--compiled {' '.join(unknown)}: give each also in --variants (its eager row)")
    args.variants = [*args.variants, *(v + COMPILED for v in args.compiled)]

    timing = timed_in_turns(args.variants, args.repeats, args.batch8_repeats, args.batch8_skip)
    scored = args.quality_variants or args.variants
    rows = []
    for v in args.variants:
        row = {"variant": v, **timing[v], "peak_mib": round(peak_memory(v))}
        if not args.no_quality and v != TODAY and v in scored and not v.endswith(COMPILED):
            if v == "teacher-20" and args.teacher_quality is not None:
                row["quality"] = teacher_rows_from(args.teacher_quality, args.n, args.modes)
                row["quality_source"] = str(args.teacher_quality.resolve().relative_to(ROOT))
            else:
                row["quality"] = quality_rows(v, args.n, args.modes)
            row["quality_score"] = quality_score(row["quality"])
        rows.append(row)
        print(f"done {v}", file=sys.stderr, flush=True)
    by_id = {r["variant"]: r for r in rows}
    teacher = by_id.get("teacher-20", {})
    base = by_id.get(TODAY)
    for r in rows:
        if base is not None:
            r["speedup_vs_today_b1"] = base["s_per_image_b1"] / r["s_per_image_b1"]
        if "quality_score" in r and "quality_score" in teacher:
            r["quality_vs_teacher"] = r["quality_score"] / teacher["quality_score"]
            r["within_2pct"] = r["quality_vs_teacher"] >= 0.98
            interval = paired_interval(teacher["quality"], r["quality"])
            if interval is not None:
                r["quality_vs_teacher_90pct"] = list(interval)
    result = {
        "benchmark": "speed",
        "size": SIZE,
        "prompt": PROMPT,
        "n": args.n,
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "modes": args.modes,
        "student": str(args.student) if args.student else "installed",
        "pruned": str(args.pruned) if args.pruned else "installed",
        "criterion": "within_2pct: quality_score >= 0.98 x teacher-20's (mean of the 5 metrics over the modes)",
        "interval": "quality_vs_teacher_90pct: paired bootstrap over the requests (2000 draws), where both "
        "sides have per-image records",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(rows, args.modes)


def print_table(rows: list[dict[str, Any]], modes: list[str]) -> None:
    def f(v: Any, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt) if isinstance(v, float) else str(v)

    head = ["variant", "steps", "passes/step", "s/img b1", "s/img b8", "peak MiB", "x today (b1)"]
    head += [f"{m} ({mode})" for mode in modes for m in METRICS] + ["light (context)", "score", "vs teacher"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        q = {row["mode"]: row for row in r.get("quality", [])}
        cells = [r["variant"], r["steps"], r["passes_per_step"], f(r["s_per_image_b1"], ".2f")]
        cells += [f(r["s_per_image_b8"], ".2f"), r["peak_mib"], f(r.get("speedup_vs_today_b1"), ".1f")]
        cells += [f(q.get(mode, {}).get(m)) for mode in modes for m in METRICS]
        cells += [f(q.get("context", {}).get("context_light_agreement")), f(r.get("quality_score"))]
        interval = r.get("quality_vs_teacher_90pct")
        cells += [f(r.get("quality_vs_teacher")) + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
