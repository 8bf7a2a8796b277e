"""Engines: run one worker per process over many tasks — a local process pool, or Ray actors on a cluster.

Both take a *factory*, a picklable callable that builds the worker inside each process (so the model is loaded
once per worker, not once per task), and a (lazy) iterable of tasks; ``map`` yields an :class:`Outcome` per task
as tasks finish (not in input order). Both bound the work in flight (backpressure: a worker holds at most
``queue_per_worker`` tasks and the task iterable is read only as slots free up, so neither the driver's memory nor
the cluster's queues grow with the job), and both survive their workers: a worker that dies (a native crash, the
out-of-memory killer, a lost node) or runs past ``timeout_s`` is replaced, and the task it was running is tried
again up to ``retries`` more times before it comes back with ``Outcome.error`` set. A worker that cannot start at
all (a model that does not load) stops the job with one :class:`FaceEditError`.

    pool = LocalPool(workers=2)                        # or RayPool("auto") / RayPool("ray://head:10001")
    for out in pool.map(functools.partial(MyWorker, settings), tasks):
        out.task, out.value, out.error, out.attempts, out.worker, out.seconds

A worker is any callable ``worker(task) -> value``; values and tasks must pickle. Exceptions a worker raises come
back as ``Outcome.error`` without a retry (they are the task's own problem); workers of this package catch their
per-task errors themselves and return a record instead.
"""

from __future__ import annotations

import collections
import logging
import math
import multiprocessing
import os
import pickle
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for
from typing import Any, Callable, Iterable, Iterator

from faceedit.errors import FaceEditError

#: How long a worker may take to start (import, load the model) before the job gives up, seconds.
START_TIMEOUT_S = 900.0
#: Seconds between checks of timeouts while waiting for results.
TICK_S = 0.5


@dataclass
class Outcome:
    """What became of one task: ``value`` (the worker's return value) or ``error`` (why the engine could not run
    it: a crash, a timeout, a lost node — after the retries — or an exception the worker raised); ``attempts``:
    how many times it was started; ``worker``: ``host:pid`` of the worker that ran it last; ``seconds``: wall time
    of the last attempt, dispatch to result."""

    task: Any
    value: Any = None
    error: str | None = None
    attempts: int = 1
    worker: str = ""
    seconds: float = 0.0


class _Item:
    __slots__ = ("task", "attempts")

    def __init__(self, task: Any):
        self.task = task
        self.attempts = 0


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def one_line(exc: BaseException) -> str:
    """An exception as one line (its type when the message would not say what happened)."""
    if isinstance(exc, FaceEditError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        what = {"SIGSEGV": "a native crash", "SIGKILL": "killed, e.g. out of memory", "SIGABRT": "aborted",
                "SIGBUS": "a native crash"}.get(name, "a signal")
        return f"the worker process died ({name}: {what})"
    return f"the worker process exited with status {code}"


class _Retry:
    """Bookkeeping of attempts shared by both engines."""

    def __init__(self, retries: int):
        self.retries = max(0, int(retries))
        self.pending: collections.deque[_Item] = collections.deque()

    def charge(self, item: _Item, reason: str, worker: str, seconds: float) -> Outcome | None:
        """Count a failed attempt of ``item``: queue it again (first in line), or give it up with ``reason``."""
        if item.attempts > self.retries:
            return Outcome(item.task, error=f"{reason} (tried {item.attempts} times)", attempts=item.attempts,
                           worker=worker, seconds=seconds)
        self.pending.appendleft(item)
        return None


class _Source:
    """The task iterable, read one task at a time (retries first)."""

    def __init__(self, tasks: Iterable, retry: _Retry):
        self._it = iter(tasks)
        self.retry = retry
        self.exhausted = False

    def next(self) -> _Item | None:
        if self.retry.pending:
            return self.retry.pending.popleft()
        if self.exhausted:
            return None
        try:
            return _Item(next(self._it))
        except StopIteration:
            self.exhausted = True
            return None

    @classmethod
    def open(cls, tasks: Iterable, retries: int) -> "_Source | None":
        """A source over ``tasks`` with ``retries`` retries per task, or None when there is no task at all (no
        worker is started for an empty job)."""
        source = cls(tasks, _Retry(retries))
        first = source.next()
        if first is None:
            return None
        source.push_back(first)
        return source

    def push_back(self, item: _Item) -> None:
        self.retry.pending.appendleft(item)

    @property
    def empty(self) -> bool:
        return self.exhausted and not self.retry.pending


# ---------------------------------------------------------------------------------------------- local processes
def _child_main(conn, factory: Callable[[], Callable[[Any], Any]], env: dict[str, str]) -> None:
    """A local worker process: build the worker from the factory (multiprocessing hands it over from the driver),
    then serve tasks until told to stop."""
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the driver, which stops the workers
    try:
        worker = factory()
    except BaseException as exc:  # noqa: BLE001 - reported to the driver, which stops the job
        conn.send(("init_error", one_line(exc)))
        return
    conn.send(("ready", worker_name()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if task is None:
            return
        try:
            conn.send(("done", worker(task)))
        except Exception as exc:  # noqa: BLE001 - the task's own failure
            conn.send(("failed", one_line(exc)))


class _Proc:
    """One local worker process and its pipe."""

    def __init__(self, ctx, factory: Callable[[], Callable[[Any], Any]], env: dict[str, str]):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child_main, args=(child, factory, env), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.name = f"local:{self.proc.pid}"
        self.item: _Item | None = None
        self.since = time.monotonic()

    def send(self, item: _Item) -> None:
        item.attempts += 1
        self.item = item
        self.since = time.monotonic()
        self.conn.send(item.task)

    def stop(self, kill: bool = False) -> None:
        if not kill and self.proc.is_alive():
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5.0)
        self.conn.close()


class LocalPool:
    """``workers`` worker processes on this machine (default: one per usable core), each with ``threads`` torch
    threads. ``devices``: GPU ids handed out round-robin as ``CUDA_VISIBLE_DEVICES`` (one GPU box, several workers
    per GPU or one each). ``queue_per_worker`` is 1 here: a local worker takes its next task the moment it sends a
    result, through a pipe, with no scheduler in between."""

    kind = "local"

    def __init__(self, workers: int | None = None, retries: int = 2, timeout_s: float | None = None,
                 threads: int = 1, devices: list[str] | None = None, start_timeout_s: float = START_TIMEOUT_S):
        self.workers = int(workers or usable_cores())
        if not 1 <= self.workers <= 1024:
            raise FaceEditError("--workers must be from 1 to 1024")
        self.retry_count = int(retries)
        self.timeout_s = timeout_s
        self.threads = int(threads)
        self.devices = list(devices or [])
        self.start_timeout_s = float(start_timeout_s)
        self.notes: list[str] = []

    def describe(self) -> str:
        return f"{self.workers} local worker{'s' if self.workers != 1 else ''}"

    def _env(self, i: int) -> dict[str, str]:
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if self.devices:
            env["CUDA_VISIBLE_DEVICES"] = self.devices[i % len(self.devices)]
        return env

    def map(self, factory: Callable[[], Callable[[Any], Any]], tasks: Iterable) -> Iterator[Outcome]:
        source = _Source.open(tasks, self.retry_count)
        if source is None:
            return
        retry = source.retry
        ctx = multiprocessing.get_context("spawn")  # fork after torch's threads started can deadlock
        pickle.dumps(factory)  # a factory that cannot travel to the workers fails here, in the driver
        procs = [_Proc(ctx, factory, self._env(i)) for i in range(self.workers)]
        try:
            while True:
                for p in procs:
                    if p.ready and p.item is None:
                        item = source.next()
                        if item is None:
                            break
                        p.send(item)
                if source.empty and all(p.item is None for p in procs):
                    return
                ready = set(wait_for([p.conn for p in procs] + [p.proc.sentinel for p in procs], timeout=TICK_S))
                for i, p in enumerate(procs):
                    if p.conn in ready:
                        try:
                            kind, value = p.conn.recv()
                        except (EOFError, OSError):
                            kind, value = "died", None
                    elif p.proc.sentinel in ready:
                        kind, value = "died", None
                    elif p.item is not None and self.timeout_s and time.monotonic() - p.since > self.timeout_s:
                        kind, value = "timeout", None
                    elif not p.ready and time.monotonic() - p.since > self.start_timeout_s:
                        raise FaceEditError(f"a worker did not start within {self.start_timeout_s:g} s")
                    else:
                        continue
                    if kind == "ready":
                        p.ready, p.name = True, value
                    elif kind == "init_error":
                        raise FaceEditError(f"a worker could not start: {value}")
                    elif kind in ("done", "failed"):
                        item, p.item = p.item, None
                        yield Outcome(item.task, value=value if kind == "done" else None,
                                      error=value if kind == "failed" else None, attempts=item.attempts,
                                      worker=p.name, seconds=time.monotonic() - p.since)
                    else:  # died or timed out: replace the process, charge its task
                        if not p.ready:
                            p.proc.join(1.0)
                            raise FaceEditError(f"a worker could not start: {_exit_reason(p.proc.exitcode)}")
                        p.stop(kill=True)
                        reason = (f"timed out after {self.timeout_s:g} s" if kind == "timeout"
                                  else _exit_reason(p.proc.exitcode))
                        item, name, took = p.item, p.name, time.monotonic() - p.since
                        procs[i] = _Proc(ctx, factory, self._env(i))
                        if item is not None:
                            out = retry.charge(item, reason, name, took)
                            if out is not None:
                                yield out
        finally:
            for p in procs:
                p.stop(kill=p.item is not None)


# ---------------------------------------------------------------------------------------------- Ray
def import_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise FaceEditError("--ray needs Ray: pip install 'faceedit[batch]' (or pip install ray)") from None
    return ray


class _RayWorker:
    """The actor class (made remote at run time, so that Ray is imported only when used)."""

    def __init__(self, factory: Callable[[], Callable[[Any], Any]]):
        self.error = None
        try:
            self.worker = factory()
        except BaseException as exc:  # noqa: BLE001 - reported by ready()
            self.error = one_line(exc)

    def ready(self) -> tuple[str, str]:
        return ("init_error", self.error) if self.error else ("ready", worker_name())

    def run(self, task: Any) -> tuple[str, Any]:
        try:
            return "done", self.worker(task)
        except Exception as exc:  # noqa: BLE001 - the task's own failure
            return "failed", one_line(exc)


class _Actor:
    def __init__(self, remote_cls, factory):
        self.handle = remote_cls.remote(factory)
        self.ready_ref = self.handle.ready.remote()
        self.ready = False
        self.name = "ray"
        self.queue: collections.deque = collections.deque()  # [ref, item, submitted]
        self.since = time.monotonic()  # start of the actor, then of its running task


def connect_ray(address: str = "auto", local_cpus: int | None = None) -> bool:
    """Connect this process to Ray: ``auto`` — a running cluster (``RAY_ADDRESS``, or one started with ``ray
    start`` on this machine), else a new local instance; ``local`` — always a new local instance; else the
    address of a cluster (``host:6379`` or ``ray://host:10001``). Returns True when this call connected (and the
    caller should disconnect), False when Ray was already initialised in this process."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    local = {"include_dashboard": False, "num_cpus": local_cpus, "object_store_memory": 256 * 2 ** 20, **quiet}
    try:
        if address == "local":
            ray.init(address="local", **local)
        elif address == "auto":
            try:
                ray.init(address="auto", **quiet)
            except ConnectionError:
                ray.init(**local)
        else:
            ray.init(address=address, **quiet)
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - connection refused, bad address, version mismatch …
        raise FaceEditError(f"cannot connect to Ray at {address}: {one_line(exc)}") from None
    return True


class RayPool:
    """Ray actors, each holding one worker (the model loaded once per actor), ``cpus_per_worker`` CPUs and
    ``gpus_per_worker`` GPUs each (default: one GPU when the cluster has GPUs, else none; fractions pack several
    actors on one GPU). ``workers``: default as many as the cluster's CPUs (or GPUs) hold. ``queue_per_worker``:
    tasks in flight per actor (2: the next task waits on the actor while one runs, hiding the round trip).
    ``address``: see :func:`connect_ray`."""

    kind = "ray"

    def __init__(self, address: str = "auto", workers: int | None = None, retries: int = 2,
                 timeout_s: float | None = None, cpus_per_worker: float = 1.0, gpus_per_worker: float | None = None,
                 queue_per_worker: int = 2, start_timeout_s: float = START_TIMEOUT_S, local_cpus: int | None = None):
        self.address = str(address)
        self.requested = workers
        self.retry_count = int(retries)
        self.timeout_s = timeout_s
        self.cpus = float(cpus_per_worker)
        self.gpus = gpus_per_worker
        self.queue_per_worker = max(1, int(queue_per_worker))
        self.start_timeout_s = float(start_timeout_s)
        self.local_cpus = local_cpus
        self.workers = int(workers or 0)
        self.notes: list[str] = []
        self._owned = False

    def describe(self) -> str:
        gpu = f", {self.gpus:g} GPU each" if self.gpus else ""
        return f"{self.workers} Ray worker{'s' if self.workers != 1 else ''}{gpu}"

    def start(self) -> None:
        """Connect to Ray and size the pool from the cluster's resources (idempotent)."""
        if self.workers and self.gpus is not None:
            return
        ray = import_ray()
        self._owned = connect_ray(self.address, self.local_cpus or self.requested) or self._owned
        res = ray.cluster_resources()
        cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
        if self.gpus is None:
            self.gpus = 1.0 if gpus >= 1 else 0.0
        if self.gpus and gpus < self.gpus:
            raise FaceEditError(f"the Ray cluster has {gpus:g} GPUs; each worker asks for {self.gpus:g}")
        fit = int(math.floor(gpus / self.gpus + 1e-9)) if self.gpus else int(math.floor(cpus / self.cpus + 1e-9))
        if fit < 1:
            raise FaceEditError(f"the Ray cluster has {cpus:g} CPUs; each worker asks for {self.cpus:g}")
        if self.requested and self.requested > fit:
            self.notes.append(f"the Ray cluster holds {fit} workers of {self.cpus:g} CPU / {self.gpus:g} GPU now; "
                              f"{self.requested} asked for: the others start when resources appear")
        self.workers = int(self.requested or fit)

    def close(self) -> None:
        """Disconnect from Ray when this pool connected (a local instance it started stops)."""
        if self._owned:
            import_ray().shutdown()
            self._owned = False

    def map(self, factory: Callable[[], Callable[[Any], Any]], tasks: Iterable) -> Iterator[Outcome]:
        ray = import_ray()
        from ray.exceptions import RayActorError, RayError

        source = _Source.open(tasks, self.retry_count)
        if source is None:
            return
        retry = source.retry
        self.start()
        remote_cls = ray.remote(_RayWorker).options(num_cpus=self.cpus, num_gpus=self.gpus or 0, max_restarts=0,
                                                    max_task_retries=0)
        actors = [_Actor(remote_cls, factory) for _ in range(self.workers)]
        owner: dict = {}  # ref → (actor index, "ready" | "task")
        for i, a in enumerate(actors):
            owner[a.ready_ref] = (i, "ready")

        def lose(i: int, reason: str, settle_s: float = 0.0) -> Iterator[Outcome]:
            """Actor ``i`` is gone (or stuck): hand on the results it finished before (Ray may report the death
            before them; an actor runs its tasks in order, so the first task without a result is the one that was
            running), charge that task, re-queue the ones waiting behind it, replace the actor. ``settle_s``: how
            long to wait for each earlier result of a dead actor to resolve (to a value or an error)."""
            a = actors[i]
            entries = list(a.queue)
            for ref, _, _ in entries:
                owner.pop(ref, None)
            owner.pop(a.ready_ref, None)
            while entries:
                ref, item, submitted = entries[0]
                if not ray.wait([ref], num_returns=1, timeout=settle_s)[0]:
                    break
                try:
                    state, value = ray.get(ref)
                except RayError:
                    break  # this is the task that was running when the actor died
                entries.pop(0)
                yield Outcome(item.task, value=value if state == "done" else None,
                              error=value if state == "failed" else None, attempts=item.attempts, worker=a.name,
                              seconds=time.monotonic() - max(submitted, a.since))
            for _, item, _ in reversed(entries[1:]):
                item.attempts -= 1  # never started: no attempt used
                source.push_back(item)
            try:
                ray.kill(a.handle, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            took = time.monotonic() - a.since
            actors[i] = _Actor(remote_cls, factory)
            owner[actors[i].ready_ref] = (i, "ready")
            if entries:
                out = retry.charge(entries[0][1], reason, a.name, took)
                if out is not None:
                    yield out

        try:
            while True:
                for i, a in enumerate(actors):
                    while a.ready and len(a.queue) < self.queue_per_worker:
                        item = source.next()
                        if item is None:
                            break
                        item.attempts += 1
                        ref = a.handle.run.remote(item.task)
                        if not a.queue:
                            a.since = time.monotonic()
                        a.queue.append((ref, item, time.monotonic()))
                        owner[ref] = (i, "task")
                if source.empty and not any(a.queue for a in actors):
                    return
                done, _ = ray.wait(list(owner), num_returns=1, timeout=TICK_S)
                for ref in done:
                    if ref not in owner:
                        continue
                    i, kind = owner.pop(ref)
                    a = actors[i]
                    if kind == "ready":
                        try:
                            state, value = ray.get(ref)
                        except RayError as exc:
                            raise FaceEditError(f"a Ray worker could not start: {one_line(exc)}") from None
                        if state == "init_error":
                            raise FaceEditError(f"a worker could not start: {value}")
                        a.ready, a.name = True, value
                        continue
                    try:
                        state, value = ray.get(ref)
                    except RayActorError as exc:
                        yield from lose(i, f"the Ray worker died ({one_line(exc)[:200]})", settle_s=10.0)
                        continue
                    except RayError as exc:  # the task's result was lost (e.g. its node went away)
                        entry = next(e for e in a.queue if e[0] == ref)
                        a.queue.remove(entry)
                        out = retry.charge(entry[1], one_line(exc)[:200], a.name, time.monotonic() - entry[2])
                        if out is not None:
                            yield out
                        continue
                    entry = next(e for e in a.queue if e[0] == ref)
                    a.queue.remove(entry)
                    took = time.monotonic() - max(entry[2], a.since)
                    a.since = time.monotonic()
                    yield Outcome(entry[1].task, value=value if state == "done" else None,
                                  error=value if state == "failed" else None, attempts=entry[1].attempts,
                                  worker=a.name, seconds=took)
                now = time.monotonic()
                for i, a in enumerate(actors):
                    if a.queue and self.timeout_s and now - a.since > self.timeout_s:
                        yield from lose(i, f"timed out after {self.timeout_s:g} s")
                    elif not a.ready and now - a.since > self.start_timeout_s:
                        raise FaceEditError(f"a Ray worker did not start within {self.start_timeout_s:g} s (does "
                                            f"the cluster have {self.cpus:g} CPU / {self.gpus:g} GPU free per "
                                            "worker?)")
        finally:
            for a in actors:
                try:
                    ray.kill(a.handle, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass


def make_engine(workers: int | None = None, ray: str | None = None, retries: int = 2,
                timeout_s: float | None = None, threads: int = 1, gpus_per_worker: float | None = None,
                devices: list[str] | None = None):
    """A :class:`RayPool` when ``ray`` is given (``auto``, ``local`` or an address), else a :class:`LocalPool`."""
    if ray:
        return RayPool(ray, workers=workers, retries=retries, timeout_s=timeout_s, cpus_per_worker=threads,
                       gpus_per_worker=gpus_per_worker)
    return LocalPool(workers=workers, retries=retries, timeout_s=timeout_s, threads=threads, devices=devices)
