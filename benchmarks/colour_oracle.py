"""Is a subject's colour in its pixels? An oracle against the colour judge, on the held-out renders.

    python benchmarks/colour_oracle.py [--n 200] [--size 64] [--seed 10007]

For every subject that the binding metric counts (scenes of two or more subjects; people, and objects
large enough to judge) in renders 0..N-1 of the held-out seed, at the generator's size:

- the **oracle** knows the whole request but the subject's colour. It renders the request once per
  colour name, without render noise, and names the colour whose render is nearest the judged
  render's pixels over the subject's true pixels (mean absolute difference). What it cannot name
  is not in the pixels at this size;
- the **judges** name the colour of the detection matched to the subject at IoU >= 0.5 (as the
  binding metric does; an unmatched subject counts as missed).

Per material (for a person: the top garment), to show where the judges lose colours that the
pixels hold. The oracle is not a judge: it needs the exact scene, which a generated image does not
have. Writes benchmarks/results/colour_oracle.json.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

RESULTS = Path(__file__).parent / "results" / "colour_oracle.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=10_007)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit(f"--n must be >= 1, got {args.n}")
    import torch

    from scenecraft.atomic_write import write_text
    from scenecraft.evaluate.judges import Evaluators
    from scenecraft.evaluate.metrics import _large, match_boxes
    from scenecraft.evaluate.views import iou
    from scenecraft.world.dataset import WorldSampler
    from scenecraft.world.render import render
    from scenecraft.world.spec import COLOUR_NAMES, ObjectSubject

    torch.set_num_threads(1)
    judges = Evaluators.load()
    sampler = WorldSampler(seed=args.seed)
    oracle: dict[str, list[bool]] = defaultdict(list)
    judged: dict[str, list[bool]] = defaultdict(list)
    for i in range(args.n):
        r = sampler.render(i, args.size)
        spec = r.spec
        if len(spec.subjects) < 2:
            continue
        dets = judges.detect(r.image)
        truth = [(k, b) for k, b in enumerate(r.boxes) if b is not None]
        match = dict(zip((k for k, _ in truth), match_boxes([b for _, b in truth], [d.box for d in dets]), strict=True))
        for k, box in truth:
            s = spec.subjects[k]
            is_object = isinstance(s, ObjectSubject)
            mask = r.instance == k
            if (is_object and not _large(box, args.size)) or mask.sum() < 3:
                continue
            field = "colour" if is_object else "top_colour"
            want = getattr(s, field)
            seen = r.image[mask].astype(np.float32)
            distances = []
            for name in COLOUR_NAMES:
                subjects = list(spec.subjects)
                subjects[k] = s.model_copy(update={field: name})
                clean = render(spec.model_copy(update={"subjects": subjects}), size=args.size, noise=0.0).image
                distances.append(float(np.abs(clean[mask].astype(np.float32) - seen).mean()))
            material = s.material if isinstance(s, ObjectSubject) else "person"
            oracle[material].append(COLOUR_NAMES[int(np.argmin(distances))] == want)
            j = match[k]
            judged[material].append(j is not None and iou(box, dets[j].box) >= 0.5 and dets[j].colour == want)
    rows = [
        {"material": m, "subjects": len(oracle[m]), "oracle": float(np.mean(oracle[m])), "judges": float(np.mean(v))}
        for m, v in sorted(judged.items())
    ]
    every_o = [hit for hits in oracle.values() for hit in hits]
    every_j = [hit for hits in judged.values() for hit in hits]
    total = {"subjects": len(every_o), "oracle": float(np.mean(every_o)), "judges": float(np.mean(every_j))}
    result = {
        "benchmark": "colour_oracle",
        "seed": args.seed,
        "n": args.n,
        "size": args.size,
        "judges_version": judges.version,
        "rows": rows,
        "all": total,
    }
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(f"colours of bound subjects in {args.n} renders of seed {args.seed} at {args.size} px ({judges.version})")
    print("| material | subjects | oracle | judges |")
    print("|---|---:|---:|---:|")
    for row in [*rows, {"material": "all", **total}]:
        print(f"| {row['material']} | {row['subjects']} | {row['oracle']:.3f} | {row['judges']:.3f} |")


if __name__ == "__main__":
    main()
