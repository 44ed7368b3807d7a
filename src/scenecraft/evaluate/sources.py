"""Where the judges' trainer gets its examples: scenes rendered while it trains, or stored chunks.

Both sources hand the trainer lists of :data:`~.examples.Examples`, cut by the same
:func:`~.examples.cut_examples`:

- :class:`LiveRenders` — a pool of spawn processes renders training scenes (:func:`~.examples.render_examples`)
  and is kept busy until its ``until`` time; what has finished is collected by :meth:`LiveRenders.poll`.
- :class:`StoredChunks` — scenes rendered ahead of time by :func:`build_chunks` into
  ``chunk_XXXX.npz`` (image, material and instance maps) + ``chunk_XXXX.json`` (labels), each file
  written atomically, so an interrupted build resumes where it stopped. Cut once, in the first poll.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenecraft.atomic_write import atomic_path, write_text
from scenecraft.evaluate.examples import Examples, cut_examples, render_examples, scene_labels
from scenecraft.world.dataset import SamplerConfig, WorldSampler

SCENES_PER_TASK = 4  # scenes a worker renders per task (fewer round trips)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _single_threaded_worker() -> None:
    """Pool initializer: one torch thread per render worker (the pool has a worker per core to fill)."""
    torch.set_num_threads(1)


def _start_pool(workers: int) -> Any:
    """A spawn pool whose workers start with single-threaded BLAS (the variables are read on import)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        # spawn, not fork: the parent holds CUDA and threads, and fork is unsafe with either
        return mp.get_context("spawn").Pool(workers, initializer=_single_threaded_worker)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LiveRenders:
    """Training scenes rendered by ``workers`` processes until the monotonic time ``until``."""

    def __init__(self, workers: int, size: int, names: tuple[str, ...], until: float) -> None:
        self.size, self.names, self.until = size, names, until
        self.workers, self.next_task, self.scenes = workers, 0, 0
        self.pool = _start_pool(workers)
        self.pending: list[Any] = []
        self.done = False

    def poll(self) -> list[Examples]:
        """The finished tasks' examples; tops the queue up while rendering time is left."""
        got, waiting = [], []
        for res in self.pending:
            if res.ready():
                got.append(res.get())
                self.scenes += SCENES_PER_TASK
            else:
                waiting.append(res)
        self.pending = waiting
        now = time.monotonic()
        while now < self.until and len(self.pending) < 3 * self.workers:
            task = (self.next_task, SCENES_PER_TASK, self.size)
            self.pending.append(self.pool.apply_async(render_examples, (task, self.names)))
            self.next_task += SCENES_PER_TASK
        if now >= self.until and (not self.pending or now >= self.until + 10.0):  # stragglers: stop waiting
            self.close()
        return got

    def close(self) -> None:
        if not self.done:
            self.pool.terminate()
            self.pool.join()
            self.pending, self.done = [], True


class StoredChunks:
    """Examples cut from pre-rendered chunk files (all of them, in the first :meth:`poll`)."""

    def __init__(self, paths: list[Path], size: int, names: tuple[str, ...], seed: int = 0) -> None:
        missing = [p for p in paths if not (p.is_file() and p.with_suffix(".json").is_file())]
        if not paths or missing:
            raise FileNotFoundError(f"no complete chunks at {missing[:3] or 'the given paths'} (build them first)")
        self.paths, self.size, self.names, self.seed = paths, size, names, seed
        self.scenes, self.done = 0, False

    def poll(self) -> list[Examples]:
        if self.done:
            return []
        out = []
        rng = np.random.default_rng(self.seed)
        for path in self.paths:
            labels = json.loads(path.with_suffix(".json").read_text())
            with np.load(path) as z:
                for i, lab in enumerate(labels):
                    out.append(
                        cut_examples(z["image"][i], z["material"][i], z["instance"][i], lab, rng, self.size, self.names)
                    )
            self.scenes += len(labels)
        self.done = True
        return out

    def close(self) -> None:
        self.done = True


def build_chunks(
    out_dir: str | Path,
    seed: int,
    n_scenes: int,
    size: int = 128,
    chunk: int = 250,
    config: SamplerConfig | None = None,
    log: bool = True,
) -> list[Path]:
    """Render scenes 0..n_scenes-1 of ``seed`` into chunk files; complete chunks already there are kept."""
    if n_scenes < 1 or chunk < 1:
        raise ValueError(f"n_scenes and chunk must be >= 1, got {n_scenes} and {chunk}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sampler = WorldSampler(config, seed)
    paths = []
    for c0 in range(0, n_scenes, chunk):
        path = out / f"chunk_{c0 // chunk:04d}.npz"
        paths.append(path)
        if path.exists() and path.with_suffix(".json").exists():
            continue
        renders = [sampler.render(i, size) for i in range(c0, min(c0 + chunk, n_scenes))]
        # The labels first, the arrays last: a chunk counts as complete once its .npz exists.
        write_text(path.with_suffix(".json"), json.dumps([scene_labels(r) for r in renders]))
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                image=np.stack([r.image for r in renders]),
                material=np.stack([r.material for r in renders]),
                instance=np.stack([r.instance for r in renders]).astype(np.int8),
            )
        if log:
            print(f"{path.name}: scenes {c0}..{c0 + len(renders) - 1}", flush=True)
    return paths


def chunk_files(folders: list[Path]) -> list[Path]:
    """The complete chunk files (``chunk_XXXX.npz`` with their ``.json``) in ``folders``, in order."""
    paths = [p for d in folders for p in sorted(Path(d).glob("chunk_*.npz")) if p.with_suffix(".json").is_file()]
    if not paths:
        raise FileNotFoundError(f"no chunk files in {', '.join(str(d) for d in folders)} (make them with eval chunks)")
    return paths
