"""Detection recall of the post-processing alone: perfect segmenter outputs on a 64 or 128 px grid.

Feeds the true maps of renders (seed 7, 128 px), resampled to the grid as the training targets are,
through both post-processings and counts true boxes matched at IoU >= 0.5: ``borders`` (kind and
border maps through :func:`evaluators.components`, the v1/v2 segmenters) and ``box votes`` (kind
and box-distance maps through :func:`evaluators.box_groups`, the v3 segmenter). This is the ceiling
any segmenter on that grid can reach with that post-processing.

    python benchmarks/detector_ceiling.py [--n 120] [--grid 64 128]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--grid", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()
    from scenecraft.evaluate.detection import box_groups, components
    from scenecraft.evaluate.examples import box_targets, scene_labels, segment_targets
    from scenecraft.evaluate.metrics import iou, match_boxes
    from scenecraft.evaluate.nets import SEG_KINDS
    from scenecraft.world.dataset import WorldSampler

    renders = [WorldSampler(seed=args.seed).render(i, 128) for i in range(args.n)]
    print("| grid | post-processing | recall at IoU 0.5, perfect maps | subjects |")
    print("|---|---|---|---|")
    for grid in args.grid:
        hits: dict[str, list[bool]] = {"borders": [], "box votes": []}
        min_area = round(5 * (grid / 64) ** 2)
        for r in renders:
            labels = scene_labels(r)
            kind, _, border = segment_targets(r.instance, labels, grid)
            kind_prob = np.eye(len(SEG_KINDS))[kind].transpose(2, 0, 1)
            colour = np.ones((12, grid, grid)) / 12
            found = {
                "borders": components(kind_prob, colour, border, min_area, round(2 * grid / 64)),
                "box votes": box_groups(kind_prob, colour, box_targets(r.instance, labels, grid), min_area),
            }
            truth = [b for b in r.boxes if b is not None]
            for name, groups in found.items():
                dets = [tuple(v * 128 / grid for v in f.box) for f in groups]
                matched = match_boxes(truth, dets)
                hits[name] += [j is not None and iou(t, dets[j]) >= 0.5 for t, j in zip(truth, matched, strict=True)]
        for name, h in hits.items():
            print(f"| {grid} | {name} | {np.mean(h):.3f} | {len(h)} |")


if __name__ == "__main__":
    main()
