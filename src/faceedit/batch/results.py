"""The results manifest of a job: one JSON record per finished item, written as each item finishes.

In a local output folder the records go to ``results.jsonl``, one line each, flushed to the operating system as it
is written: a killed driver loses no finished item (a torn last line is ignored when read back). On an object store,
which cannot append, records are buffered and written as whole parts ``results/part-<run>-<n>.jsonl`` every
:data:`PART_RECORDS` records or :data:`PART_SECONDS` seconds (a kill there loses at most the records of the last
few seconds: those items are redone on resume). At the end of a run ``results.csv`` is written atomically: the
latest record of every item, one row each.

Record fields: ``input``, ``output``, ``status`` (``ok``; ``skip`` — a bad file, reported and not retried; ``error``
— a crash, a timeout or an unexpected failure, retried by the next ``--resume``), ``reason``, ``key`` (settings
key), ``sha256`` (of the input's bytes), ``size`` and ``mtime_ns`` (of a local input: a quick check on resume),
``seconds`` (per stage and ``total``), ``worker``, ``attempts``, ``run``, ``time`` (UTC, ISO 8601).
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from typing import Iterable, Iterator

from faceedit.batch.storage import Storage

LOG_NAME = "results.jsonl"
CSV_NAME = "results.csv"
PART_RECORDS = 64
PART_SECONDS = 15.0
#: Statuses that finish an item for good (a re-run with the same content and settings skips it).
FINAL = ("ok", "skip")
CSV_FIELDS = ("input", "output", "status", "reason", "seconds", "read_s", "align_s", "invert_s", "edit_s",
              "render_s", "write_s", "attempts", "worker", "sha256", "time")


def new_run_id() -> str:
    """A short id for one run of a job (time + random), sortable by start time."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def _parse_lines(text: str) -> Iterator[dict]:
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # the torn last line of a killed run
        if isinstance(rec, dict):
            yield rec


class ResultsLog:
    """Append records of one run to ``storage``; read the records of earlier runs."""

    def __init__(self, storage: Storage, run_id: str | None = None, log_name: str = LOG_NAME):
        self.storage = storage
        self.run_id = run_id or new_run_id()
        self.log_name = log_name
        self.parts_dir = log_name.rsplit(".", 1)[0]  # where an object store gets the parts
        self._buffer: list[str] = []
        self._parts = 0
        self._last_flush = time.monotonic()
        self.written = 0

    # ------------------------------------------------------------------------------------------------ reading
    def records(self) -> Iterator[dict]:
        """Every record written so far by any run (local log first, then the parts in name order)."""
        data = self.storage.read_bytes(self.log_name)
        if data:
            yield from _parse_lines(data.decode("utf-8", errors="replace"))
        parts = sorted(p for p in self.storage.listing(self.parts_dir)
                       if p.rsplit("/", 1)[-1].startswith("part-") and p.endswith(".jsonl"))
        for rel in parts:
            chunk = self.storage.read_bytes(rel)
            if chunk:
                yield from _parse_lines(chunk.decode("utf-8", errors="replace"))

    def latest(self) -> dict[str, dict]:
        """The latest record of each input (by ``source``: its absolute path or URI), over all runs."""
        out: dict[str, dict] = {}
        for rec in self.records():
            src = rec.get("source", rec.get("input"))
            if isinstance(src, str):
                out[src] = rec
        return out

    def exists(self) -> bool:
        """True when an earlier run left records here."""
        return self.storage.exists(self.log_name) or bool(self.storage.listing(self.parts_dir))

    # ------------------------------------------------------------------------------------------------ writing
    def append(self, record: dict) -> None:
        """Add one record (``run`` and ``time`` filled in)."""
        rec = {**record, "run": self.run_id, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        line = json.dumps(rec, sort_keys=True, default=str)
        self.written += 1
        if self.storage.local is not None:
            self.storage.append_line(self.log_name, line)
            return
        self._buffer.append(line)
        if len(self._buffer) >= PART_RECORDS or time.monotonic() - self._last_flush > PART_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write buffered records as one part (object stores only; local records are already written)."""
        if not self._buffer:
            return
        self._parts += 1
        name = f"{self.parts_dir}/part-{self.run_id}-{self._parts:05d}.jsonl"
        self.storage.write_bytes(name, ("\n".join(self._buffer) + "\n").encode())
        self._buffer.clear()
        self._last_flush = time.monotonic()

    def write_csv(self, sources: Iterable[str] | None = None, name: str = CSV_NAME) -> str:
        """Write ``results.csv`` atomically: the latest record of each input (of ``sources`` when given, in that
        order; else of every input ever recorded). Returns what to show the user."""
        self.flush()
        latest = self.latest()
        keys = list(sources) if sources is not None else list(latest)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(CSV_FIELDS)
        for k in keys:
            rec = latest.get(k)
            if rec is not None:
                w.writerow(csv_row(rec))
        self.storage.write_bytes(name, buf.getvalue().encode())
        return self.storage.url(name)


def csv_row(rec: dict) -> list:
    """One CSV row of a record (stage timings in seconds, 3 decimals)."""
    sec = rec.get("seconds") or {}

    def s(k):
        v = sec.get(k)
        return f"{v:.3f}" if isinstance(v, (int, float)) else ""

    return [rec.get("input", ""), rec.get("output", ""), rec.get("status", ""), rec.get("reason", ""),
            s("total"), s("read"), s("align"), s("invert"), s("edit"), s("render"), s("write"),
            rec.get("attempts", ""), rec.get("worker", ""), rec.get("sha256", ""), rec.get("time", "")]
