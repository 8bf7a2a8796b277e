"""The driver of a job: decide what is left to do, hand it to an engine, record every result as it comes.

    summary = run_photo_job(job, tasks, "out/", LocalPool(2), resume=True)

What is left (:func:`plan`): with ``resume``, an item is finished for good when the results manifest holds a
record for the same input (absolute path or URI) with the same settings key, a final status (``ok`` or ``skip``)
and, for ``ok``, its output still in the output folder; a local input must also have the same content — the same
size and modification time, else the same sha256. Everything else runs (again). Without ``resume`` a folder that
holds an earlier run's manifest is refused, so a typo never mixes two jobs.

Every result is appended to the manifest the moment it arrives (:mod:`faceedit.batch.results`), so a killed driver
loses only the items in flight; a bad item is printed as ``skip: INPUT: reason`` and the job goes on.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from faceedit.batch.engines import Outcome
from faceedit.batch.job import PhotoJob, PhotoTask, settings_key
from faceedit.batch.results import FINAL, ResultsLog
from faceedit.batch.storage import Storage, file_sha256, is_uri, local_path, stat_identity
from faceedit.errors import FaceEditError


class Task(Protocol):
    """What the driver needs of a task: its input (as shown), ``source`` (as matched across runs), ``output``
    (relative to the output folder) and settings ``key``."""

    input: str
    output: str
    key: str

    @property
    def source(self) -> str: ...


@dataclass
class Summary:
    """Counts of one run: ``total`` items, ``done_before`` (finished by earlier runs), ``ok``, ``skipped`` (bad
    input), ``errors`` (crashes, timeouts, unexpected failures); ``seconds`` of wall time; ``csv``: the results
    table written; ``workers``: the engine's description."""

    total: int = 0
    done_before: int = 0
    ok: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    csv: str = ""
    workers: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.ok + self.skipped + self.errors

    @property
    def rate(self) -> float:
        """Finished items per second of wall time in this run."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def _same_content(rec: dict, src: str) -> bool:
    ident = stat_identity(src)
    if ident is not None and rec.get("size") == ident[0] and rec.get("mtime_ns") == ident[1]:
        return True
    if not rec.get("sha256"):
        return False
    try:
        return file_sha256(src) == rec["sha256"]
    except (OSError, FaceEditError):
        return False


def plan(tasks: list, log: ResultsLog, storage: Storage, resume: bool, check_content: bool = True) -> tuple[list, int]:
    """(the tasks left to do, how many are finished already). ``check_content``: inputs are files whose content
    must be unchanged (photos); off for generated items (seed shards)."""
    if not resume:
        return list(tasks), 0
    latest = log.latest()
    listing = storage.listing() if any(r.get("status") == "ok" for r in latest.values()) else set()
    todo, done = [], 0
    for t in tasks:
        rec = latest.get(t.source)
        if (rec is not None and rec.get("key") == t.key and rec.get("status") in FINAL
                and (rec["status"] == "skip" or t.output in listing)
                and (not check_content or _same_content(rec, t.input))):
            done += 1
        else:
            todo.append(t)
    return todo, done


def _progress(total: int, unit: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, disable=quiet or total < 2, dynamic_ncols=True,
                smoothing=0.05)


def drive(engine, factory: Callable, todo: list, log: ResultsLog, summary: Summary, unit: str = "item",
          quiet: bool = False, on_record: Callable[[dict], None] | None = None) -> Summary:
    """Run ``todo`` on ``engine`` with workers from ``factory``; append each record to ``log`` as it arrives,
    print ``skip: INPUT: reason`` for every item that did not succeed, count them in ``summary``."""
    t0 = time.perf_counter()
    bar = _progress(len(todo), unit, quiet)

    def say(line: str) -> None:
        bar.write(line, file=sys.stderr) if not bar.disable else print(line, file=sys.stderr, flush=True)

    try:
        for out in engine.map(factory, todo):
            rec = record_of(out)
            log.append(rec)
            status = rec.get("status")
            if status == "ok":
                summary.ok += 1
                for stage, s in (rec.get("seconds") or {}).items():
                    summary.stage_seconds[stage] = summary.stage_seconds.get(stage, 0.0) + float(s)
            else:
                if status == "skip":
                    summary.skipped += 1
                else:
                    summary.errors += 1
                say(f"skip: {rec.get('input')}: {rec.get('reason') or status}")
            if on_record is not None:
                on_record(rec)
            bar.update(1)
            bar.set_postfix_str(f"ok {summary.ok}, skipped {summary.skipped + summary.errors}", refresh=False)
    finally:
        bar.close()
        log.flush()
        summary.seconds = time.perf_counter() - t0
    return summary


def record_of(out: Outcome) -> dict[str, Any]:
    """The manifest record of an outcome: the worker's own record, or an ``error`` record naming why the engine
    could not run the task."""
    t = out.task
    if isinstance(out.value, dict):
        rec = dict(out.value)
    else:
        rec = {"input": t.input, "source": t.source, "output": t.output, "key": t.key, "status": "error",
               "reason": out.error or "no result"}
        if out.seconds:
            rec["seconds"] = {"total": round(out.seconds, 4)}
    rec.update(attempts=out.attempts, worker=out.worker)
    return rec


def absolute_root(root: str) -> str:
    """A local output folder as an absolute path (workers may run in another folder); a URI as it is."""
    path = local_path(root)
    return str(path.resolve()) if path is not None and not is_uri(root) else str(root)


def refuse_earlier_run(log: ResultsLog, resume: bool, root: str) -> None:
    if log.exists() and not resume:
        raise FaceEditError(f"{root} holds the results of an earlier run: add --resume to go on with it (finished "
                            "items are skipped), or choose another output folder")


def run_photo_job(job: PhotoJob, tasks: list[PhotoTask], out_root: str, engine, resume: bool = False,
                  problems: Iterable[tuple[str, str]] = (), quiet: bool = False) -> Summary:
    """Edit every photo of ``tasks`` into ``out_root`` on ``engine``; ``problems``: bad manifest rows (reported
    and recorded as skipped). Returns the run's :class:`Summary`; ``results.csv`` is written at the end (also
    after an interruption)."""
    from faceedit.batch.pipeline import PhotoWorker

    problems = list(problems)
    out_root = absolute_root(out_root)
    storage = Storage(out_root)
    log = ResultsLog(storage)
    refuse_earlier_run(log, resume, out_root)
    for t in tasks:
        t.key = settings_key(job, t)
        if getattr(engine, "kind", "local") == "ray":  # actors may run in another folder or on another node
            t.input = t.source
    summary = Summary(total=len(tasks), workers=engine.describe())
    for where, reason in problems:
        print(f"skip: {where}: {reason}", file=sys.stderr, flush=True)
        log.append({"input": where, "source": where, "output": "", "status": "skip", "reason": reason})
        summary.skipped += 1
    todo, summary.done_before = plan(tasks, log, storage, resume)
    try:
        if todo:
            drive(engine, functools.partial(PhotoWorker, job, out_root), todo, log, summary, "photo", quiet)
    finally:
        sources = [w for w, _ in problems] + [t.source for t in tasks]
        try:
            summary.csv = log.write_csv(sources)
        except Exception as exc:  # noqa: BLE001 - the manifest itself is already written
            print(f"warning: could not write results.csv: {exc}", file=sys.stderr)
    return summary


def run_generate_job(job, first: int, count: int, out_root: str, engine, resume: bool = False,
                     quiet: bool = False) -> Summary:
    """Draw seeds ``first … first+count-1`` into ``out_root`` in shards on ``engine``
    (:mod:`faceedit.batch.seeds`); the summary counts shards."""
    from faceedit.batch.seeds import GenerateWorker, seed_shards

    out_root = absolute_root(out_root)
    storage = Storage(out_root)
    log = ResultsLog(storage)
    refuse_earlier_run(log, resume, out_root)
    shards = seed_shards(first, count)
    key = job.key()
    for s in shards:
        s.key = key
    summary = Summary(total=len(shards), workers=engine.describe())
    todo, summary.done_before = plan(shards, log, storage, resume, check_content=False)
    try:
        if todo:
            drive(engine, functools.partial(GenerateWorker, job, out_root), todo, log, summary, "shard", quiet)
    finally:
        summary.csv = log.write_csv([s.source for s in shards])
    return summary
