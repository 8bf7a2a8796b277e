"""How many CPU threads torch uses by default.

torch starts one thread per core. On a machine that is already busy (other processes keep the cores loaded) that
is much slower than one thread: the threads wait on each other at every operation while the scheduler hands their
cores to someone else (on a loaded 2-core VM, ``invert`` took 153 s with torch's 2 threads and 23 s with one;
``benchmarks/threads.py`` measures it). So the default is the cores left free by the recent load: all cores on an
idle machine, fewer as the 1-minute load average rises, and one when the load reaches the core count.
``FACEEDIT_THREADS=N`` or ``--threads N`` overrides it.
"""

from __future__ import annotations

import math
import os
import sys

from faceedit.limits import MAX_THREADS

#: Environment variable that fixes the thread count (a whole number ≥ 1).
ENV = "FACEEDIT_THREADS"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), None where the OS has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """The thread count for ``cores`` cores under a 1-minute ``load`` (defaults: this machine's): the cores not
    busy with other work, rounded to the nearest whole one, at least 1 and at most ``cores``. ``$FACEEDIT_THREADS``
    wins when set. An unknown load counts as idle."""
    fixed = os.environ.get(ENV, "").strip()
    if fixed:
        try:
            n = int(fixed)
        except ValueError:
            n = 0
        if 1 <= n <= MAX_THREADS:
            return n
        print(f"warning: {ENV}={fixed!r} is not a whole number from 1 to {MAX_THREADS}; ignored", file=sys.stderr)
    cores = usable_cores() if cores is None else max(1, int(cores))
    load = load_average() if load is None else load
    if load is None or not math.isfinite(load):
        return cores
    free = cores - max(0.0, load)
    return int(min(cores, max(1, math.floor(free + 0.5))))


def set_threads(threads: int | None = None) -> int:
    """Make torch use ``threads`` threads (None: :func:`default_threads`, or the user's own ``OMP_NUM_THREADS``
    when that is set and ``$FACEEDIT_THREADS`` is not) and return the count. Before torch is imported this only
    sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` (read at import), so it costs nothing for a command that never
    loads torch."""
    if threads is None and not os.environ.get(ENV) and os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    n = default_threads() if threads is None else max(1, min(MAX_THREADS, int(threads)))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)
        os.environ["MKL_NUM_THREADS"] = str(n)
    return n
