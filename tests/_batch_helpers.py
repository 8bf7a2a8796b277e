"""Light workers for the engine tests of test_batch.py: picklable factories that import nothing heavy, so that a
spawned worker process starts in a fraction of a second."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


class Square:
    """``task → task²``; ``task == die_on`` kills its own process (SIGKILL, as the out-of-memory killer) the first
    time it is seen (a marker file in ``marks`` remembers), or every time with ``always``; ``task == raise_on``
    raises; ``task == sleep_on`` sleeps ``sleep_s``."""

    def __init__(self, marks: str, die_on: int | None = None, always: bool = False, raise_on: int | None = None,
                 sleep_on: int | None = None, sleep_s: float = 0.0):
        self.marks = Path(marks)
        self.die_on, self.always, self.raise_on = die_on, always, raise_on
        self.sleep_on, self.sleep_s = sleep_on, sleep_s
        self.pid = os.getpid()
        (self.marks / f"start-{self.pid}").touch()  # one file per worker process started

    def __call__(self, task: int) -> int:
        if task == self.die_on:
            mark = self.marks / f"died-{task}"
            if self.always or not mark.exists():
                mark.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        if task == self.raise_on:
            raise ValueError(f"bad task {task}")
        if task == self.sleep_on:
            time.sleep(self.sleep_s)
        return task * task


class Broken:
    """A worker whose start fails (a model that does not load)."""

    def __init__(self):
        raise RuntimeError("weights missing")


def mean_pixel_scorer(model):
    """A cheap attribute scorer for sampling tests: the mean of each image's channels, [N, 3]."""

    class _Scorer:
        names = ["red", "green", "blue"]

        def __call__(self, images):
            return images.float().mean(dim=(2, 3)).cpu()

    return _Scorer()

