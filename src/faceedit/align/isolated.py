"""Face detection in a worker process, for servers: a native crash inside dlib kills the worker, not the caller.

dlib is C++; on some inputs it corrupts memory or aborts (``munmap_chunk``, segfault, bus error). The checks of
:func:`~faceedit.align.detect.detect_faces` refuse every input known to do that, but a long-running server must not
depend on that list being complete. :class:`IsolatedDetector` runs detection in a single spawned worker process
(kept warm between calls); when the worker dies, the call raises :class:`FaceEditError` and the next call starts a
fresh worker.

    det = IsolatedDetector()
    faces = det.detect("upload.jpg")       # list[Face], as detect_faces returns
    det.close()
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from faceedit.errors import FaceEditError


def detect_file(path: str, detector: str = "auto") -> list:
    """The worker's job: read ``path`` and detect its faces (68 landmarks each), largest first."""
    from faceedit.align.detect import detect_faces
    from faceedit.align.image import load_image

    return detect_faces(load_image(path), detector=detector, name=os.path.basename(path))


class IsolatedDetector:
    """Detect faces in a separate process. ``worker(path, detector) -> list[Face]`` runs there (default:
    :func:`detect_file`; it must be importable by name). ``timeout_s``: a detection running longer is killed.
    Thread-safe: calls are served one at a time."""

    def __init__(self, worker: Callable[[str, str], list] | None = None, detector: str = "auto",
                 timeout_s: float = 300.0):
        self.worker = worker or detect_file
        self.detector = detector
        self.timeout_s = float(timeout_s)
        self.crashes = 0
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def _discard(self) -> None:
        """Kill the worker (if still alive) and forget the pool; the next call starts a fresh one."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            try:
                proc.kill()
            except Exception:  # noqa: BLE001 - already gone
                pass
        pool.shutdown(wait=False, cancel_futures=True)

    def detect(self, path: str | os.PathLike) -> list:
        """Faces in the image file ``path`` (see :func:`~faceedit.align.detect.detect_faces`). Raises
        :class:`FaceEditError` for the image's own problems, and when the worker crashed or timed out."""
        with self._lock:
            future = self._start().submit(self.worker, str(path), self.detector)
            try:
                return future.result(timeout=self.timeout_s)
            except BrokenProcessPool:
                self.crashes += 1
                self._discard()
                raise FaceEditError("face detection crashed on this image (the detector's process died; nothing "
                                    "else was affected): try another photo") from None
            except FutureTimeout:
                self._discard()
                raise FaceEditError(f"face detection took longer than {self.timeout_s:g} s and was stopped") from None

    def close(self) -> None:
        with self._lock:
            self._discard()
