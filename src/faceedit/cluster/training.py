"""The small training loop shared by DERC and DEC: batches, time budget, progress bar, timing.

Data are one tensor held in memory: ``uint8`` images ``[N, C, H, W]`` (converted to [0, 1] floats one batch at a
time, so 10,000 faces at 64 px take 120 MB, not 480) or float feature vectors ``[N, D]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def as_input(batch: torch.Tensor) -> torch.Tensor:
    """uint8 images → float in [0, 1]; float tensors pass through."""
    return batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index arrays covering ``range(n)`` once in random order (the last batch may be smaller, never empty)."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@torch.no_grad()
def encode_all(model: nn.Module, data: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """All embeddings ``[N, d_z]`` (float32 numpy) with the model in eval mode."""
    was = model.training
    model.eval()
    out = [model.encode(as_input(data[i:i + batch_size])).float() for i in range(0, len(data), batch_size)]
    model.train(was)
    return torch.cat(out).numpy()


@dataclass
class Budget:
    """A wall-clock deadline (``seconds`` None: none)."""

    seconds: float | None = None
    start: float = field(default_factory=time.monotonic)

    def expired(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.start >= self.seconds


@dataclass
class Stopwatch:
    """CPU and wall seconds of a stage: ``with watch: ...`` adds to the totals."""

    cpu: float = 0.0
    wall: float = 0.0

    def __enter__(self) -> "Stopwatch":
        self._c, self._w = time.process_time(), time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu += time.process_time() - self._c
        self.wall += time.monotonic() - self._w


def run_epochs(step: Callable[[np.ndarray], float], n: int, epochs: range, batch_size: int, rng: np.random.Generator,
               budget: Budget, desc: str, progress: bool, after_epoch: Callable[[int, float], None] | None = None
               ) -> int:
    """Call ``step(indices) -> loss`` over shuffled batches for each epoch in ``epochs``; after each epoch call
    ``after_epoch(epoch, mean_loss)``. Stops early (between batches) when the budget runs out. Returns the number
    of epochs completed (the last, interrupted one is not counted)."""
    from tqdm import tqdm

    done = 0
    bar = tqdm(total=len(epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    try:
        for epoch in epochs:
            losses = []
            for idx in shuffled_batches(n, batch_size, rng):
                if budget.expired():
                    return done
                losses.append(step(idx))
            mean = float(np.mean(losses)) if losses else float("nan")
            done += 1
            bar.update(1)
            bar.set_postfix(loss=f"{mean:.4g}")
            if after_epoch is not None:
                after_epoch(epoch, mean)
    finally:
        bar.close()
    return done


__all__ = ["Budget", "Stopwatch", "as_input", "encode_all", "run_epochs", "shuffled_batches"]
