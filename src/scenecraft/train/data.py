"""Training examples from the scene world, rendered by a pool of processes into a growing buffer.

One example is a world scene at ``size`` px with everything the conditions need:

    image      (size, size, 3) uint8      the target
    context    (64, 64, 3) uint8          the same scene without its subjects (same surfaces, light)
    material   (64, 64) int8              the context's material map (-1 = sky), for scene parsing
    light      (3,) float32               unit vector towards the light
    pose       (3, size, size) uint8      the skeletons of the visible people (draw_skeletons * 255)
    boxes      (M, 4) float32             visible subjects' boxes in 0..1 (zeros past ``count``)
    count      int                        how many of the M rows are subjects
    caption    str; phrases  list[str]    the scene's caption and each visible subject's phrase

:class:`WorldStream` keeps ``workers`` processes rendering chunks of examples (scene indices of
its seed, disjoint across DDP ranks) and hands them over as they finish, so training can start
after the first chunk and the buffer keeps growing while it runs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from scenecraft.scene_conditions import draw_skeletons
from scenecraft.world.captions import subject_phrase
from scenecraft.world.dataset import WorldSampler
from scenecraft.world.render import render
from scenecraft.world.spec import MATERIALS

CONTEXT_SIZE = 64
SKY = len(MATERIALS)  # parsing class of sky pixels


@dataclass
class Chunk:
    """``n`` examples as stacked arrays (see the module doc); captions and phrases as lists."""

    image: np.ndarray  # (n, S, S, 3) uint8
    context: np.ndarray  # (n, 64, 64, 3) uint8
    material: np.ndarray  # (n, 64, 64) int8, SKY for sky
    light: np.ndarray  # (n, 3) float32
    pose: np.ndarray  # (n, 3, S, S) uint8
    boxes: np.ndarray  # (n, M, 4) float32
    count: np.ndarray  # (n,) int64
    captions: list[str]
    phrases: list[list[str]]
    indices: np.ndarray  # (n,) scene indices

    def __len__(self) -> int:
        return len(self.captions)


def render_example(sampler: WorldSampler, index: int, size: int, max_subjects: int) -> dict[str, Any]:
    """Scene ``index`` of ``sampler`` as one example (see the module doc)."""
    r = sampler.render(index, size)
    spec = r.spec
    empty = spec.model_copy(update={"subjects": []})
    ctx = render(empty, size=CONTEXT_SIZE, seed=index)
    rng = np.random.default_rng([sampler.seed, index, 1])
    visible = [k for k, b in enumerate(r.boxes) if b is not None][:max_subjects]
    boxes = np.zeros((max_subjects, 4), np.float32)
    for j, k in enumerate(visible):
        boxes[j] = np.asarray(r.boxes[k], np.float32) / size
    skeletons = [r.joints2d[k] for k in visible if k in r.joints2d]
    material = ctx.material.astype(np.int8)
    material[material < 0] = SKY
    return {
        "image": r.image,
        "context": ctx.image,
        "material": material,
        "light": np.asarray(spec.light.direction(), np.float32),
        "pose": (draw_skeletons(skeletons, size) * 255).round().astype(np.uint8),
        "boxes": boxes,
        "count": len(visible),
        "caption": r.caption,
        "phrases": [subject_phrase(spec.subjects[k], rng) for k in visible],
        "index": index,
    }


def render_chunk(seed: int, indices: list[int], size: int, max_subjects: int) -> Chunk:
    sampler = WorldSampler(seed=seed)
    rows = [render_example(sampler, i, size, max_subjects) for i in indices]
    return Chunk(
        image=np.stack([r["image"] for r in rows]),
        context=np.stack([r["context"] for r in rows]),
        material=np.stack([r["material"] for r in rows]),
        light=np.stack([r["light"] for r in rows]),
        pose=np.stack([r["pose"] for r in rows]),
        boxes=np.stack([r["boxes"] for r in rows]),
        count=np.array([r["count"] for r in rows], np.int64),
        captions=[r["caption"] for r in rows],
        phrases=[r["phrases"] for r in rows],
        indices=np.array(indices, np.int64),
    )


class WorldStream:
    """Chunks of examples rendered by ``workers`` processes, in index order per rank.

    Rank ``rank`` of ``world_size`` renders scene indices ``start + rank + k * world_size``. With
    ``limit`` it stops after that many examples per rank (None: until closed).
    """

    def __init__(
        self,
        seed: int,
        size: int,
        max_subjects: int,
        workers: int = 1,
        chunk: int = 64,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        limit: int | None = None,
    ):
        if workers < 1 or chunk < 1:
            raise ValueError(f"workers and chunk must be >= 1, got {workers} and {chunk}")
        self.seed, self.size, self.max_subjects = seed, size, max_subjects
        self.chunk, self.rank, self.world_size = chunk, rank, world_size
        self.next_index = start + rank
        self.limit = limit
        self.issued = 0
        # One thread per rendering process: they are many, and numpy's BLAS threads in each of them
        # would oversubscribe the cores (the training process started its own pools already).
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
        self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
        self.pending: list[Future[Chunk]] = []
        for _ in range(2 * workers):
            self._submit()

    def _submit(self) -> None:
        n = self.chunk if self.limit is None else min(self.chunk, self.limit - self.issued)
        if n <= 0:
            return
        indices = [self.next_index + k * self.world_size for k in range(n)]
        self.next_index += n * self.world_size
        self.issued += n
        self.pending.append(self.pool.submit(render_chunk, self.seed, indices, self.size, self.max_subjects))

    def ready(self, most: int = 4) -> Iterator[Chunk]:
        """Up to ``most`` chunks finished so far, without waiting (new work is queued for each).

        Bounded, so that a consumer slower than the renderers still gets back to training."""
        for _ in range(most):
            if not (self.pending and self.pending[0].done()):
                return
            yield self.pending.pop(0).result()
            self._submit()

    def wait(self) -> Chunk | None:
        """The next chunk, waiting for it; None when ``limit`` is reached."""
        if not self.pending:
            return None
        chunk = self.pending.pop(0).result()
        self._submit()
        return chunk

    def close(self) -> None:
        for f in self.pending:
            f.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
