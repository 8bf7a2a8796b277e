"""Server-side face sessions: the latents of one face (from a seed, a photo or a mix), kept in memory by id.

Ids are random UUIDs (hex); the store forgets any session idle for more than ``max_age_s`` seconds. Each session
has an owner (the client's address): a client holds at most ``max_per_client`` sessions (its own least recently
used go first), and when the whole store is full the client holding the most sessions loses its least recently
used one — so one client's requests evict only its own sessions, never those of a client holding fewer.
Thread-safe: routes and worker threads share it.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from faceedit.face import Face

_ID = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    return uuid.uuid4().hex


def valid_id(text: str) -> bool:
    """Ids are 32 lowercase hex digits: nothing else from a request is ever looked up."""
    return bool(_ID.match(text or ""))


@dataclass
class FaceSession:
    """One face: a :class:`~faceedit.face.Face` (its w+, generator, noise maps and, for an upload, the photo).
    ``source``: "seed", "photo" or "mix"."""

    id: str
    face: Face
    source: str
    seed: int | None = None
    truncation: float | None = None
    parents: tuple[str, ...] = ()
    note: str | None = None
    created: float = field(default_factory=time.time)
    used: float = field(default_factory=time.monotonic)
    latest_seq: int = -1
    cache: dict = field(default_factory=dict)
    owner: str = ""

    def info(self) -> dict:
        return {"id": self.id, "source": self.source, "seed": self.seed, "truncation": self.truncation,
                "parents": list(self.parents), "has_photo": self.face.photo is not None, "note": self.note,
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
    """Sessions by id with per-client caps, LRU and idle-age eviction (see the module doc). Photo sessions hold the
    whole uploaded photo (up to the pixel cap), so at most ``max_photos`` of them are kept in all and
    ``max_photos_per_client`` per client."""

    def __init__(self, max_sessions: int = 64, max_age_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic, max_photos: int = 8,
                 max_per_client: int | None = None, max_photos_per_client: int | None = None):
        if max_sessions < 1 or max_photos < 1:
            raise ValueError("max_sessions and max_photos must be at least 1")
        self.max_sessions = int(max_sessions)
        self.max_photos = int(max_photos)
        self.max_per_client = int(max_per_client or max(2, max_sessions // 4))
        self.max_photos_per_client = int(max_photos_per_client or max(1, max_photos // 2))
        self.max_age_s = float(max_age_s)
        self.clock = clock
        self._items: OrderedDict[str, FaceSession] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def count(self, owner: str) -> int:
        """Sessions held by ``owner``."""
        with self._lock:
            return sum(1 for s in self._items.values() if s.owner == owner)

    def _expire(self) -> None:
        now = self.clock()
        while self._items:
            sid, s = next(iter(self._items.items()))
            if now - s.used <= self.max_age_s:
                break
            del self._items[sid]
            self.evicted += 1

    def _evict(self, keep: Callable[[FaceSession], bool], per_client: int, total: int, adder: str) -> None:
        """Of the sessions ``keep`` selects, leave at most ``per_client`` per owner (the owner's least recently used
        go) and ``total`` in all (the least recently used session of the owner holding the most goes; on a tie,
        the adding client's)."""
        while True:
            chosen = [(sid, s.owner) for sid, s in self._items.items() if keep(s)]
            counts: dict[str, int] = {}
            for _, owner in chosen:
                counts[owner] = counts.get(owner, 0) + 1
            over = [o for o, n in counts.items() if n > per_client]
            if over:
                victim_owner = adder if adder in over else over[0]
            elif len(chosen) > total:
                top = max(counts.values())
                victim_owner = adder if counts.get(adder) == top else next(o for o, n in counts.items() if n == top)
            else:
                return
            sid = next(sid for sid, owner in chosen if owner == victim_owner)
            del self._items[sid]
            self.evicted += 1

    def add(self, session: FaceSession, owner: str | None = None) -> FaceSession:
        """Store ``session`` for client ``owner`` (default: the session's own), evicting as the module doc says."""
        if owner is not None:
            session.owner = owner
        with self._lock:
            session.used = self.clock()
            self._items[session.id] = session
            self._items.move_to_end(session.id)
            self._expire()
            self._evict(lambda s: True, self.max_per_client, self.max_sessions, session.owner)
            self._evict(lambda s: s.face.photo is not None, self.max_photos_per_client, self.max_photos,
                        session.owner)
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
