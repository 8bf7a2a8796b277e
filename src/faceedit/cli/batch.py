"""Commands over many files: one bad file never stops the batch.

Each file's work runs through :meth:`FileBatch.run`; a failure of any kind (a user error, a corrupt file, an
unexpected exception from a library) is printed as ``skip: FILE: reason`` and the batch goes on. When nothing was
processed, :meth:`FileBatch.finish` raises one :class:`FaceEditError` whose line gives the real reason (the
file's own error when there was one file, else the common or first reason and the count).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

from faceedit.errors import FaceEditError

#: Returned by :meth:`FileBatch.run` for a skipped file.
SKIPPED = object()


def _reason(exc: BaseException, name: str) -> str:
    """One line for ``exc`` without a repeated ``name`` at its start or end."""
    if isinstance(exc, FaceEditError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "out of memory"
    else:
        detail = " ".join(str(exc).split())
        text = f"unexpected {type(exc).__name__}" + (f": {detail}" if detail else "")
    if text.endswith(f": {name}") and len(text) > len(name) + 2:
        text = text[:-len(name) - 2]
    if text.startswith(f"{name}: "):
        text = text[len(name) + 2:]
    return text


class FileBatch:
    """Per-file steps of a many-file command. ``total``: the number of files; a single-file batch prints no skip
    line (its reason is the final error's)."""

    def __init__(self, total: int, write: Callable[[str], None] | None = None):
        self.total = int(total)
        self.skipped: list[tuple[str, str]] = []
        self.done = 0
        self._write = write or (lambda line: print(line, file=sys.stderr, flush=True))

    def run(self, path: str | os.PathLike, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, or :data:`SKIPPED` after reporting why it failed for ``path``."""
        try:
            return fn(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one file skips that file only
            if os.environ.get("FACEEDIT_DEBUG") and not isinstance(exc, FaceEditError):
                raise
            self.skip(path, _reason(exc, str(path)))
            return SKIPPED

    def skip(self, path: str | os.PathLike, reason: str, echo: bool = True) -> None:
        """Record (and, in a batch of several files, print) ``skip: FILE: reason``; ``echo=False``: record only
        (the command printed its own, finer lines)."""
        self.skipped.append((str(path), reason))
        if echo and self.total > 1:
            self._write(f"skip: {path}: {reason}")

    def ok(self) -> None:
        """Count one processed file."""
        self.done += 1

    def finish(self, nothing: str) -> None:
        """Raise ``FaceEditError('<nothing>: <reason>')`` when no file was processed."""
        if self.done:
            return
        if not self.skipped:
            raise FaceEditError(f"{nothing}: no input files")
        path, reason = self.skipped[0]
        if self.total == 1:  # the file's own reason is the error
            raise FaceEditError(reason if path in reason else f"{path}: {reason}")
        if len(self.skipped) == 1:
            raise FaceEditError(f"{nothing}: {path}: {reason}")
        same = all(r == reason for _, r in self.skipped)
        raise FaceEditError(f"{nothing}: all {len(self.skipped)} files were skipped ("
                            + (f"each: {reason}" if same else f"first: {Path(path).name}: {reason}") + ")")
