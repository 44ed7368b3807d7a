"""Depth pruning by measurement: which blocks can a student lose at least cost?

TinyFusion (Fang et al. 2024, https://arxiv.org/abs/2412.01199) learns which layers to drop by how
well the pruned model can be recovered. On our budget we measure directly instead: the student's
distillation loss on held-out teacher trajectories with each block removed, then drop greedily —
the block whose removal hurts least, then, from what is left, the next one, and so on. Greedy
search sees interactions that a one-shot ranking misses (two blocks doing the same work) at
``drop * depth`` evaluations rather than ``C(depth, drop)``. The pruned student is then recovered
by distilling it on the same trajectories (``scenecraft distill --drop-blocks N``).

Removed for real: ``model.student.drop_blocks`` builds a shallower model, so each dropped block
saves its whole forward time (``torch.nn.utils.prune`` only masks weights and saves nothing).
"""

from __future__ import annotations

import sys
from typing import Any

from scenecraft.model.conditioning import SceneDiT
from scenecraft.model.student import drop_blocks
from scenecraft.train.distill import Examples, held_out_loss


def pruning_loss(model: SceneDiT, keep: list[int], held: Examples, step_counts: tuple[int, ...]) -> float:
    """Mean held-out velocity error over ``step_counts`` of ``model`` keeping only ``keep``."""
    losses = held_out_loss(drop_blocks(model, keep), held, step_counts)
    return sum(losses.values()) / len(losses)


def choose_blocks(
    model: SceneDiT, held: Examples, drop: int, step_counts: tuple[int, ...] = (4,)
) -> tuple[list[int], list[dict[str, Any]]]:
    """Greedily drops ``drop`` blocks; returns the kept indices and every measurement made."""
    depth = len(model.blocks)
    if not 0 < drop < depth:
        raise ValueError(f"can drop 1 to {depth - 1} of {depth} blocks, not {drop}")
    keep = list(range(depth))
    log: list[dict[str, Any]] = [{"keep": keep, "loss": pruning_loss(model, keep, held, step_counts)}]
    for _ in range(drop):
        trials = []
        for block in keep:
            candidate = [b for b in keep if b != block]
            loss = pruning_loss(model, candidate, held, step_counts)
            trials.append((loss, block, candidate))
            log.append({"drop": block, "keep": candidate, "loss": loss})
            print(f"prune: without block {block}: held-out loss {loss:.4f}", file=sys.stderr, flush=True)
        loss, block, keep = min(trials)
        print(f"prune: drop block {block} (loss {loss:.4f}); keep {keep}", file=sys.stderr, flush=True)
    return keep, log
