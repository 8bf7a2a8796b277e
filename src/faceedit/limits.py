"""Caps and checks for everything a user hands over: counts, sizes, numbers, number lists, ranges, durations, files.

Every user-given size is checked against a cap *before* anything is allocated or expanded: a range such as
``0-999999999`` is refused from its two ends, never built. Every failure raises
:class:`~faceedit.errors.FaceEditError` with one line naming the option, the value and what is allowed.

The caps (module constants, in the units their names say) are generous for real use and small enough that no
single request can exhaust a machine's memory.
"""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path
from typing import Iterable

import numpy as np

from faceedit.errors import FaceEditError

#: Smallest image side (pixels) handed to a face detector. dlib's HOG window is 80 px and the project upsamples
#: small images at most 4×, so the smallest face it can find is 20 px; an alignable face needs its eyes at least
#: 8 px apart, i.e. a face of about 24-32 px. Below 10 px dlib's CNN detector corrupts memory and crashes the
#: process (measured: 2×300 px, 1×1 px, 9×9 px): 32 px keeps a 3× margin and loses no detectable face.
MIN_DETECT_SIDE = 32
#: Seeds in one seed list (``--seeds``; one image each).
MAX_SEEDS = 100_000
#: Values in one comma-separated number list (edit strengths, alphas, λ).
MAX_LIST = 1_000
#: Frames of one animation or morph (per output file).
MAX_FRAMES = 2_000
#: Pixels of all frames of one animation together (GIF frames are held in memory until the file is written).
MAX_ANIMATION_PIXELS = 500_000_000
#: Pixels of one grid image (the grid is one array in memory).
MAX_GRID_PIXELS = 200_000_000
#: Optimisation / training steps of one run.
MAX_STEPS = 10_000_000
#: Random samples drawn for fitting or measuring (directions, channel statistics, metrics).
MAX_SAMPLES = 2_000_000
#: Images per forward pass.
MAX_BATCH = 4_096
#: CPU threads / worker processes.
MAX_THREADS = 1_024
#: Image side (pixels) of any image the project makes or resizes to.
MAX_IMAGE_SIDE = 8_192
#: |ψ| of truncation (1 = none, 0 = the average face; beyond ±10 images are only noise or overflow).
MAX_TRUNCATION = 10.0
#: Largest |value| accepted in a latent code (trained StyleGAN w codes stay within about ±20; a file with larger
#: values is corrupt or not a latent file).
MAX_LATENT_ABS = 1_000.0
#: Longest duration (seconds) of a time budget: one year.
MAX_DURATION_S = 366 * 86_400.0
#: Memory one command may plan to hold for its samples (bytes).
MAX_MEMORY_BYTES = 8 * 2 ** 30
#: Characters of a user string given to a parser (seed lists, ranges, number lists).
MAX_TEXT = 10_000

#: Bounds of every whole-number command-line option, by option name (the command line applies them to every
#: command that has the option; a command may check a narrower range itself). A test keeps this table complete.
OPTION_CAPS: dict[str, tuple[int, int]] = {
    "--batch": (1, MAX_BATCH),
    "--frames": (1, MAX_FRAMES),
    "--steps": (0, MAX_STEPS),
    "--invert-steps": (0, MAX_STEPS),
    "--warmup-steps": (0, MAX_STEPS),
    "--samples": (1, MAX_SAMPLES),
    "--sigma-samples": (1, MAX_SAMPLES),
    "--edit-samples": (1, MAX_SAMPLES),
    "--n": (1, MAX_SAMPLES),
    "--n-real": (1, MAX_SAMPLES),
    "--limit": (1, 100_000_000),
    "--data-limit": (1, 100_000_000),
    "--real-limit": (1, 100_000_000),
    "--threads": (0, MAX_THREADS),
    "--workers": (1, MAX_THREADS),
    "--size": (1, MAX_IMAGE_SIDE),
    "--res": (1, MAX_IMAGE_SIDE),
    "--upscale": (1, MAX_IMAGE_SIDE),
    "--feature-size": (1, MAX_IMAGE_SIDE),
    "--cols": (1, 10_000),
    "--columns": (1, 10_000),
    "--top": (1, 100_000),
    "--top-k": (1, 100_000),
    "--k": (1, 10_000),
    "--probes": (1, 1_000),
    "--quality": (1, 100),
    "--seed": (0, 2 ** 32 - 1),
    "--port": (1, 65_535),
    "--max-sessions": (1, 100_000),
    "--client-sessions": (1, 100_000),
    "--queue": (1, 10_000),
    "--face-index": (-10_000, 10_000),
    "--trunc-cutoff": (0, 64),
    "--encoder-iterations": (0, 100),
    "--refine-iterations": (1, 100),
    "--z-dim": (1, 4_096),
    "--w-dim": (1, 4_096),
    "--mapping-layers": (1, 64),
    "--channel-base": (1, 1 << 22),
    "--channel-max": (1, 4_096),
    "--d-channel-base": (1, 1 << 22),
    "--d-channel-max": (1, 4_096),
    "--r1-interval": (0, 1_000_000),
    "--groups": (1, 4_096),          # faceedit register: HOUV's MAX_GROUPS
    "--iterations": (1, MAX_STEPS),  # faceedit register: Adam steps
    "--points": (3, 20_000),         # faceedit register: MAX_REGISTER_POINTS
    "--per-row": (1, 30),
    "--max-images": (1, 20_000),
    "--epochs": (0, 2_000),
    "--rounds": (0, 20),
    "--dz": (2, 256),
}

_INT = re.compile(r"[0-9]{1,12}")


def _n(x: int) -> str:
    """A whole number as people read it: 1024, 100,000."""
    return f"{x:,}" if abs(x) >= 10_000 else str(x)


def check_int(value, name: str, lo: int, hi: int) -> int:
    """``value`` as an int within ``[lo, hi]``, else a one-line error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise FaceEditError(f"{name} must be a whole number from {_n(lo)} to {_n(hi)}, got {value!r}")
    if not lo <= int(value) <= hi:
        raise FaceEditError(f"{name} must be from {_n(lo)} to {_n(hi)}, got {_n(int(value))}")
    return int(value)


def check_float(value, name: str, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> float:
    """``value`` as a finite float within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), else a one-line error."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise FaceEditError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise FaceEditError(f"{name} must be a finite number, got {value!r}")
    below = (lo is not None) and (x <= lo if lo_open else x < lo)
    above = hi is not None and x > hi
    if below or above:
        left = "" if lo is None else (f"above {lo:g}" if lo_open else f"at least {lo:g}")
        right = "" if hi is None else f"at most {hi:g}"
        raise FaceEditError(f"{name} must be {' and '.join(p for p in (left, right) if p)}, got {x:g}")
    return x


def check_text(text, name: str, max_chars: int = MAX_TEXT) -> str:
    """``text`` as a str of at most ``max_chars`` characters (checked before any parsing)."""
    if not isinstance(text, str):
        raise FaceEditError(f"{name} must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise FaceEditError(f"{name} is too long ({len(text):,} characters; at most {max_chars:,})")
    return text


def parse_int_ranges(text: str, name: str, lo: int, hi: int, max_count: int, open_end: int | None = None,
                     example: str = "0-15 or 1,4,7-9") -> list[int]:
    """Expand ``'1,4,7-9'`` into ``[1, 4, 7, 8, 9]`` (order and repeats kept), every value within ``[lo, hi]``
    and at most ``max_count`` values in all. Both ends of a range and the total count are checked *before* the
    range is expanded. ``open_end``: the value ``'a-'`` runs to (None: ``'a-'`` is refused)."""
    text = check_text(text, name)
    bounds: list[tuple[int, int]] = []
    count = 0
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        a, dash, b = part.partition("-")
        if not _INT.fullmatch(a) or (dash and b and not _INT.fullmatch(b)) or (dash and not b and open_end is None):
            raise FaceEditError(f"bad {name} {text!r}: use numbers and ranges like {example}")
        first = int(a)
        last = first if not dash else (open_end if not b else int(b))
        for v in (first, last):
            if not lo <= v <= hi:
                raise FaceEditError(f"{name}: {v} is out of range ({lo} to {hi})")
        if last < first:
            raise FaceEditError(f"bad {name} {text!r}: the range {part} ends before it starts")
        count += last - first + 1
        if count > max_count:
            raise FaceEditError(f"too many values in {name} {text[:60]!r} (at most {max_count:,})")
        bounds.append((first, last))
    if not bounds:
        raise FaceEditError(f"bad {name} {text!r}: no values")
    out: list[int] = []
    for first, last in bounds:
        out.extend(range(first, last + 1))
    return out


def parse_floats(text: str, name: str, lo: float | None = None, hi: float | None = None,
                 max_count: int = MAX_LIST) -> list[float]:
    """``'-5,0,5'`` → ``[-5.0, 0.0, 5.0]``: finite numbers within ``[lo, hi]``, at most ``max_count`` of them."""
    text = check_text(text, name)
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise FaceEditError(f"bad {name} {text!r}: no values")
    if len(parts) > max_count:
        raise FaceEditError(f"too many values in {name} ({len(parts):,}; at most {max_count:,})")
    out = []
    for p in parts:
        try:
            x = float(p)
        except ValueError:
            raise FaceEditError(f"bad {name} {text[:60]!r}: use numbers separated by commas, e.g. -5,0,5") from None
        out.append(check_float(x, name, lo, hi))
    return out


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?:(\d{1,9}(?:\.\d{1,9})?)([smhd]))+")


def parse_duration(text, name: str = "duration") -> float | None:
    """``'90'`` (seconds), ``'45s'``, ``'30m'``, ``'2h'``, ``'1h30m'``, ``'1.5d'`` → seconds (None for None or
    ''); positive and at most :data:`MAX_DURATION_S`."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return check_float(text, name, 0.0, MAX_DURATION_S, lo_open=True)
    s = check_text(str(text), name, 100).strip().lower()
    if re.fullmatch(r"\d{1,12}(?:\.\d{1,9})?", s):
        total = float(s)
    elif _DURATION.fullmatch(s):
        total = sum(float(n) * _DURATION_UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhd])", s))
    else:
        raise FaceEditError(f"bad {name} {text!r} (use e.g. 90, 30m, 2h, 1h30m)")
    return check_float(total, name, 0.0, MAX_DURATION_S, lo_open=True)


def check_finite(x, what: str, max_abs: float | None = None) -> None:
    """Refuse a tensor or array with NaN / inf (or, with ``max_abs``, values beyond ±max_abs)."""
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.numel() == 0:
            return
        finite = bool(torch.isfinite(t).all())
        top = float(t.abs().max()) if finite and max_abs is not None else 0.0
    else:
        a = np.asarray(x)
        if a.size == 0:
            return
        finite = bool(np.isfinite(a).all())
        top = float(np.abs(a).max()) if finite and max_abs is not None else 0.0
    if not finite:
        raise FaceEditError(f"{what} holds NaN or infinite values")
    if max_abs is not None and top > max_abs:
        raise FaceEditError(f"{what} holds values up to {top:.3g}, beyond ±{max_abs:g} (corrupt, or not what it "
                            "should be)")


def check_latents(x, what: str = "the latent code") -> None:
    """A latent code must be finite and within ±:data:`MAX_LATENT_ABS`."""
    check_finite(x, what, MAX_LATENT_ABS)


def check_truncation(psi, name: str = "truncation ψ") -> float:
    """ψ as a finite float within ±:data:`MAX_TRUNCATION`."""
    return check_float(psi, name, -MAX_TRUNCATION, MAX_TRUNCATION)


def check_detectable(height: int, width: int, name: str = "the image") -> None:
    """Refuse an image too small for face detection (below :data:`MIN_DETECT_SIDE` on a side) before any native
    detector sees it."""
    if min(int(height), int(width)) < MIN_DETECT_SIDE:
        raise FaceEditError(f"image too small for face detection: {name} is {int(width)}x{int(height)} px (at least "
                            f"{MIN_DETECT_SIDE} px on each side)")


def check_pixels(count: int, cap: int, what: str, hint: str = "") -> None:
    """Refuse an output of ``count`` pixels above ``cap``."""
    if count > cap:
        raise FaceEditError(f"{what} would have {count:,} pixels, over the cap of {cap:,}" + (f": {hint}" if hint
                                                                                              else ""))


def check_memory(nbytes: int, what: str, hint: str = "") -> None:
    """Refuse a plan to hold more than :data:`MAX_MEMORY_BYTES` at once."""
    if nbytes > MAX_MEMORY_BYTES:
        raise FaceEditError(f"{what} would need {nbytes / 2 ** 30:.1f} GiB of memory, over the cap of "
                            f"{MAX_MEMORY_BYTES / 2 ** 30:g} GiB" + (f": {hint}" if hint else ""))


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` when it is an existing regular file (symlinks followed); a FIFO, device, socket or folder is
    refused without opening it (opening a FIFO blocks until a writer comes)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise FaceEditError(f"no such {what}: {p}") from None
    except OSError as exc:
        raise FaceEditError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise FaceEditError(f"{p} is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise FaceEditError(f"{p} is not a regular file (a pipe, device or socket): not a {what}")
    return p


def is_temporary_name(name: str) -> bool:
    """True for files this project (or an editor) leaves while writing: hidden ``.NAME.tmp.*`` temporaries of
    :func:`faceedit.atomic.atomic_path`, other dot-files, ``*.tmp`` and ``*.part`` downloads."""
    base = os.path.basename(str(name))
    return base.startswith(".") or ".tmp." in base or base.endswith((".tmp", ".part", "~"))


def regular_files(paths: Iterable[Path]) -> list[Path]:
    """The regular, non-temporary files among ``paths`` (a folder listing)."""
    out = []
    for p in paths:
        if is_temporary_name(p.name):
            continue
        try:
            if stat.S_ISREG(p.stat().st_mode):
                out.append(p)
        except OSError:
            continue
    return out
