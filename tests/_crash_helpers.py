"""Worker functions for faceedit.align.isolated.IsolatedDetector tests (importable by name in a spawned process)."""

from __future__ import annotations

#: Images of this size make :func:`segfault_on_crash_size` crash.
CRASH_SIZE = (66, 66)


def segfault_on_crash_size(path: str, detector: str = "auto") -> list:
    """Die with a segmentation fault (as dlib did on tiny images) for a CRASH_SIZE image, else find no face."""
    from PIL import Image

    with Image.open(path) as im:
        size = im.size
    if size == CRASH_SIZE:
        import faulthandler

        faulthandler.disable()  # no dump on the test's stderr
        faulthandler._sigsegv()
    return []
