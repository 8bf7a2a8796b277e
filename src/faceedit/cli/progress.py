"""Progress of long commands on stderr: stage names (aligning, inverting, rendering …) with the seconds so far, and
step counts on one rewritten line. Silent when stderr is not a terminal (logs and pipes stay clean), with a
command's ``--quiet`` or with ``faceedit --quiet``.

    progress = Progress(quiet)
    face = resolve_shown("me.jpg", model, 0.7, progress, method="hybrid")   # "aligning and inverting me.jpg …"
    for i, frame in enumerate(frames):
        progress.step("rendering", i + 1, len(frames))
    progress.stage("writing edit.gif")
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

#: Set by ``faceedit --quiet``: no progress from any command.
QUIET_ALL = {"on": False}
#: Seconds between two updates of a step line.
STEP_INTERVAL = 0.25


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def quiet_bars(quiet: bool = False, stream: TextIO | None = None) -> bool:
    """Switch off the tqdm progress bars of this process (and of the workers it starts) when ``quiet`` or when
    ``stream`` (stderr) is not a terminal, through tqdm's ``TQDM_DISABLE`` (read when tqdm is first imported:
    commands import it lazily, after this runs). Returns whether bars are off."""
    import os

    off = quiet or QUIET_ALL["on"] or not _is_terminal(stream if stream is not None else sys.stderr)
    if off and "tqdm" not in sys.modules:
        os.environ.setdefault("TQDM_DISABLE", "1")
    return off


class Progress:
    """Stage lines and step counts of one command on ``stream`` (default stderr), shown only when that is a
    terminal and neither ``quiet`` nor ``faceedit --quiet`` was given."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.on = not quiet and not QUIET_ALL["on"] and _is_terminal(self.stream)
        self.t0 = time.monotonic()
        self._open = False  # a step line waits for its end
        self._last = 0.0

    def _elapsed(self) -> str:
        return f"[{time.monotonic() - self.t0:5.1f} s]"

    def _end_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def stage(self, name: str) -> None:
        """Start stage ``name`` (one line: ``[  3.2 s] inverting me.jpg …``)."""
        if not self.on:
            return
        self._end_line()
        self.stream.write(f"{self._elapsed()} {name} …\n")
        self.stream.flush()

    def step(self, name: str, done: int, total: int) -> None:
        """``done`` of ``total`` steps of ``name``, on one line rewritten at most every 0.25 s (and at the end)."""
        if not self.on:
            return
        now = time.monotonic()
        if done < total and now - self._last < STEP_INTERVAL:
            return
        self._last = now
        self.stream.write(f"\r{self._elapsed()} {name}: {done}/{total}")
        self._open = True
        if done >= total:
            self._end_line()
        self.stream.flush()

    def steps(self, name: str):
        """A ``fn(step, steps, *rest)`` callback (the inverters' ``progress=``) that shows ``name``'s steps."""
        def report(done, total, *_rest) -> None:
            self.step(name, int(done), int(total))
        return report

    def close(self) -> None:
        self._end_line()


def resolve_shown(spec: str, model, truncation: float, progress: Progress, **options):
    """:func:`faceedit.face.resolve_face` with the photo stages shown: "aligning and inverting NAME (METHOD)",
    then its optimisation steps. Seeds and latent files resolve silently (they take no time)."""
    from faceedit.face import is_photo, resolve_face

    if not is_photo(str(spec)):
        return resolve_face(spec, model, truncation, **options)
    how = options.get("method")
    where = "inverting" if options.get("aligned") else "aligning and inverting"
    progress.stage(f"{where} {Path(str(spec)).name}" + (f" ({how})" if how else ""))
    return resolve_face(spec, model, truncation, progress=progress.steps("inverting steps"), **options)
