"""Server-side face sessions: the latents of one face (from a seed, a photo or a mix), kept in memory by id.

Ids are random UUIDs (hex); the store evicts the least recently used session past ``max_sessions`` and any
session idle for more than ``max_age_s`` seconds. Thread-safe: routes and worker threads share it.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

_ID = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    return uuid.uuid4().hex


def valid_id(text: str) -> bool:
    """Ids are 32 lowercase hex digits: nothing else from a request is ever looked up."""
    return bool(_ID.match(text or ""))


@dataclass
class FaceSession:
    """One face. ``ws``: w+ [1, num_ws, w_dim] on the model's device. ``source``: "seed", "photo" or "mix".
    ``inversion``: the inversion result of a photo (``.paste`` puts edits back into the photo), else None."""

    id: str
    ws: torch.Tensor
    source: str
    seed: int | None = None
    truncation: float | None = None
    parents: tuple[str, ...] = ()
    inversion: Any = None
    note: str | None = None
    created: float = field(default_factory=time.time)
    used: float = field(default_factory=time.monotonic)
    latest_seq: int = -1
    cache: dict = field(default_factory=dict)

    def info(self) -> dict:
        return {"id": self.id, "source": self.source, "seed": self.seed, "truncation": self.truncation,
                "parents": list(self.parents), "has_photo": self.inversion is not None, "note": self.note,
                "created": self.created}

    def newest(self, seq: int | None) -> bool:
        """Record a request's sequence number; False when a newer one was already seen (the request is stale)."""
        if seq is None:
            return True
        if seq < self.latest_seq:
            return False
        self.latest_seq = seq
        return True


class SessionStore:
    """Sessions by id with LRU and idle-age eviction. Photo sessions hold the whole uploaded photo (up to the
    pixel cap), so at most ``max_photos`` of them are kept (the least recently used go first)."""

    def __init__(self, max_sessions: int = 64, max_age_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic, max_photos: int = 8):
        if max_sessions < 1 or max_photos < 1:
            raise ValueError("max_sessions and max_photos must be at least 1")
        self.max_sessions = int(max_sessions)
        self.max_photos = int(max_photos)
        self.max_age_s = float(max_age_s)
        self.clock = clock
        self._items: OrderedDict[str, FaceSession] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        now = self.clock()
        while self._items:
            sid, s = next(iter(self._items.items()))
            if now - s.used <= self.max_age_s:
                break
            del self._items[sid]
            self.evicted += 1

    def add(self, session: FaceSession) -> FaceSession:
        with self._lock:
            session.used = self.clock()
            self._items[session.id] = session
            self._items.move_to_end(session.id)
            self._expire()
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)
                self.evicted += 1
            photos = [sid for sid, s in self._items.items() if s.inversion is not None]
            for sid in photos[:max(0, len(photos) - self.max_photos)]:
                del self._items[sid]
                self.evicted += 1
        return session

    def get(self, sid: str) -> FaceSession | None:
        if not valid_id(sid):
            return None
        with self._lock:
            self._expire()
            s = self._items.get(sid)
            if s is not None:
                s.used = self.clock()
                self._items.move_to_end(sid)
            return s

    def remove(self, sid: str) -> bool:
        with self._lock:
            return self._items.pop(sid, None) is not None
