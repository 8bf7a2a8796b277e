"""Request guard of the web app (ASGI middleware), checked before any route runs:

* **Host** (DNS rebinding): the ``Host`` header must name an address the server listens on — the loopback names
  (``127.0.0.1``, ``localhost``, ``::1``) for a loopback server, the listen address otherwise, any IP literal for a
  wildcard listen address (``0.0.0.0`` / ``::``), plus names allowed explicitly (``serve --allow-host NAME``).
  A web page from another site whose DNS name was re-pointed to this machine sends its own name: refused (421).
* **Origin**: a state-changing request (POST, PUT, PATCH, DELETE) from a browser must come from the server's own
  origin (``Origin`` header, else ``Sec-Fetch-Site``); a cross-site form or fetch is refused (403). Clients that
  send neither (curl, scripts) pass this check.
* **Token** (optional, ``serve --token`` or ``FACEEDIT_TOKEN``): every request must carry it — header
  ``Authorization: Bearer TOKEN`` or ``X-Faceedit-Token``, or the cookie that opening ``/?token=TOKEN`` once sets
  (HttpOnly, SameSite=Strict) — else 401.
* **Body size**: a request other than an upload may send at most :data:`MAX_BODY_BYTES` (413).

Every refusal is one line of JSON, ``{"error": "..."}``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Largest body of a request other than a photo upload (JSON edits, mixes, morphs).
MAX_BODY_BYTES = 256 * 1024
COOKIE = "faceedit_token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def _ip(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def host_name(header: str) -> str:
    """The host part of a ``Host`` header or URL netloc, lowercased, without port, brackets or trailing dot."""
    h = header.strip().lower()
    if h.startswith("["):
        h = h[1:h.find("]")] if "]" in h else h[1:]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


class HostPolicy:
    """Which ``Host`` header values a server listening on ``listen`` answers (see the module doc)."""

    def __init__(self, listen: str = "127.0.0.1", allowed: Iterable[str] = ()):
        self.listen = host_name(listen or "0.0.0.0")
        ip = _ip(self.listen)
        self.wildcard = self.listen in ("", "0.0.0.0", "::") or (ip is not None and ip.is_unspecified)
        self.loopback = self.listen == "localhost" or (ip is not None and ip.is_loopback)
        names = set(host_name(a) for a in allowed if a.strip())
        if self.loopback or self.wildcard:
            names |= LOOPBACK_NAMES
        names.add(self.listen)
        self.names = frozenset(n for n in names if n)

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        if not name:
            return False
        if name in self.names:
            return True
        return self.wildcard and _ip(name) is not None

    def describe(self) -> str:
        extra = " or any IP address" if self.wildcard else ""
        return ", ".join(sorted(self.names)) + extra


def same_origin(headers: dict[str, str]) -> bool:
    """True unless the browser says the request comes from another site (``Origin``, else ``Sec-Fetch-Site``)."""
    origin = headers.get("origin")
    if origin is not None:
        if origin.strip().lower() == "null":
            return False
        parts = urlsplit(origin.strip())
        return bool(parts.netloc) and parts.netloc.lower() == headers.get("host", "").strip().lower()
    site = headers.get("sec-fetch-site")
    return site is None or site.lower() in ("same-origin", "none")


class RequestGuard:
    """ASGI middleware applying :class:`HostPolicy`, the same-origin rule, the optional token and the body cap.
    ``upload_paths``: paths whose bodies are capped by their route instead (photo uploads)."""

    def __init__(self, app, hosts: HostPolicy, token: str | None = None, upload_paths: Iterable[str] = (),
                 max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.hosts = hosts
        self.token = token or None
        self.upload_paths = frozenset(upload_paths)
        self.max_body = int(max_body)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        method = scope.get("method", "GET").upper()
        path = scope.get("path", "/")
        if not self.hosts.allows(headers.get("host", "")):
            return await _deny(send, 421, f"this server answers only for {self.hosts.describe()} (Host header "
                                          f"{headers.get('host', '')[:80]!r}; add names with 'serve --allow-host')")
        if method not in SAFE_METHODS and not same_origin(headers):
            return await _deny(send, 403, "cross-origin request refused: use the page this server serves")
        if self.token is not None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if method == "GET" and "token" in query and not path.startswith("/api/"):
                return await self._login(scope, send, query)
            if not self._authorised(headers):
                return await _deny(send, 401, "this server needs its access token: open /?token=TOKEN once, or "
                                              "send 'Authorization: Bearer TOKEN'")
        if path not in self.upload_paths and method not in SAFE_METHODS:
            length = headers.get("content-length", "")
            too_large = f"request body too large (at most {self.max_body // 1024} KiB)"
            if length.isdigit() and int(length) > self.max_body:
                return await _deny(send, 413, too_large)
            body = await self._read_capped(receive)  # also bodies sent without a length (chunked)
            if body is None:
                return await _deny(send, 413, too_large)
            receive = _replay(body, receive)
        return await self.app(scope, receive, send)

    def _authorised(self, headers: dict[str, str]) -> bool:
        given = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        if "x-faceedit-token" in headers:
            given.append(headers["x-faceedit-token"].strip())
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                given.append(value)
        expected = self.token.encode()
        return any(hmac.compare_digest(g.encode("latin-1", "replace"), expected) for g in given)

    async def _login(self, scope, send, query: dict[str, str]):
        """``GET /page?token=T``: with the right token, set the cookie and redirect to the page without it."""
        if not hmac.compare_digest(query.get("token", "").encode("latin-1", "replace"), self.token.encode()):
            return await _deny(send, 401, "wrong access token")
        rest = {k: v for k, v in query.items() if k != "token"}
        location = scope.get("path", "/") + (f"?{urlencode(rest)}" if rest else "")
        cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def _read_capped(self, receive) -> bytes | None:
        """The whole request body, or None as soon as it grows past the cap."""
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message.get("type") != "http.request":
                return b"".join(chunks)  # the client went away: let the app see an empty body
            part = message.get("body", b"")
            seen += len(part)
            if seen > self.max_body:
                return None
            chunks.append(part)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive):
    """A ``receive`` that hands the buffered ``body`` over once, then passes on (disconnect messages)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _deny(send, status: int, message: str) -> None:
    body = json.dumps({"error": " ".join(message.split())}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
