"""Detection recall of the post-processing alone: perfect segmenter outputs on a 64 or 128 px grid.

Feeds the true kind and border maps of renders (seed 7, 128 px), resampled to the grid as the
training targets are, through :func:`evaluators.components` and counts true boxes matched at
IoU >= 0.5. This is the ceiling any segmenter on that grid can reach with this post-processing.

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
    from scenecraft.world.dataset import WorldSampler
    from scenecraft.world.evaluator_data import scene_labels
    from scenecraft.world.evaluator_training import segment_targets
    from scenecraft.world.evaluators import SEG_KINDS, components
    from scenecraft.world.metrics import iou, match_boxes

    renders = [WorldSampler(seed=args.seed).render(i, 128) for i in range(args.n)]
    for grid in args.grid:
        hits = []
        for r in renders:
            kind, _, border = segment_targets(r.instance, scene_labels(r), grid)
            kind_prob = np.eye(len(SEG_KINDS))[kind].transpose(2, 0, 1)
            found = components(
                kind_prob, np.ones((12, grid, grid)) / 12, border, round(5 * (grid / 64) ** 2), round(2 * grid / 64)
            )
            scale = 128 / grid
            dets = [tuple(v * scale for v in f[0]) for f in found]
            truth = [b for b in r.boxes if b is not None]
            hits += [
                j is not None and iou(t, dets[j]) >= 0.5 for t, j in zip(truth, match_boxes(truth, dets), strict=True)
            ]
        print(f"grid {grid:>3}: recall at IoU 0.5 with perfect segmentation {np.mean(hits):.3f} ({len(hits)} subjects)")


if __name__ == "__main__":
    main()
