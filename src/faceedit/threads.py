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


def _read_proc_stat() -> tuple[int, int] | None:
    """(busy, total) CPU jiffies of the whole machine from /proc/stat, None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values)
    return total - idle, total


class SpareCores:
    """Follows how many cores other processes leave free, for a long job that should use the idle cores and
    give them back when someone else needs them (the background GAN training: two threads on an idle 2-core
    machine train ~2× faster than one, but fall to a fifth of one thread's speed when a test run takes the
    other core, because torch's threads wait on each other at every operation).

    :meth:`threads` compares the machine's busy CPU time (``/proc/stat``) with this process's own
    (``time.process_time``) since the last call: what is left is the other processes' share, in cores."""

    def __init__(self, limit: int, cores: int | None = None, read_stat=_read_proc_stat, own_cpu=None,
                 clock=None) -> None:
        import time

        self.limit = max(1, min(MAX_THREADS, int(limit)))
        self.cores = usable_cores() if cores is None else max(1, int(cores))
        self._read_stat = read_stat
        self._own_cpu = own_cpu or time.process_time
        self._clock = clock or time.monotonic
        self._last = self._sample()

    def _sample(self) -> tuple:
        return self._read_stat(), self._own_cpu(), self._clock()

    def others(self) -> float | None:
        """Cores the other processes kept busy since the last call (None where the OS does not say)."""
        now = self._sample()
        (last_stat, last_own, last_t), (stat, own, t) = self._last, now
        self._last = now
        if stat is None or last_stat is None or stat[1] <= last_stat[1] or t <= last_t:
            return None
        machine = self.cores * (stat[0] - last_stat[0]) / (stat[1] - last_stat[1])  # cores busy in all
        mine = (own - last_own) / (t - last_t)                                      # cores this process used
        return max(0.0, machine - mine)

    def threads(self) -> int:
        """Threads for the next stretch: the cores the others leave free (at least 1, at most ``limit``); the
        limit itself where the OS does not say."""
        others = self.others()
        if others is None:
            return self.limit
        return max(1, min(self.limit, math.floor(self.cores - others + 0.25)))
