"""The review page: a local web application where a data steward works through ``gold.review_queue``.

A FastAPI application over a :class:`~spark_lib.review.store.ReviewStore`, served by uvicorn (``rcu review``,
:mod:`jobs.review`). One HTML page (``templates/review.html``, ``static/review.js``, ``static/review.css``,
all served by the app: no CDN, nothing from the internet) shows a pair's two records side by side with the
fields that differ highlighted, the waterfall of the comparisons' match weights, the reasons and priority,
and three buttons: same person (``s``), different persons (``d``), unsure (``u``); ``n``/``j`` skips to the
next pair, ``k``/``p`` goes back, ``z`` undoes, ``/`` searches. A reviewer name is asked once (kept in the
browser's localStorage) and sent with every decision.

The page calls the JSON API, which a script can call too (``origin: "api"``)::

    GET  /api/queue?limit=50&after=PAIR_ID     progress and the next pending pairs (summaries)
    GET  /api/pairs/{pair_id}                  one pair: fields side by side, comparisons, hashes, its decision, the next pending
    POST /api/pairs/{pair_id}/decision         {"decision": "same|different|unsure", "reviewer": "...", "reason": "...",
                                               "origin": "page|api", "record_hash_l": "...", "record_hash_r": "..."} -> 201:
                                               the decision, progress, and the next pending pair whole ("next")
    GET  /api/search?q=helene%20le%20goff      pairs whose names, emails, record keys or customer ids hold every word
    GET  /api/decisions?reviewer=...&pair_id=...&limit=100    decisions, newest first
    POST /api/undo                             {"reviewer": "..."}: delete that reviewer's latest decision

Errors are JSON ``{"detail": ...}``: 422 for a bad or missing value (no reviewer, a decision not in the list,
a reason over 500 characters), 404 for a pair not queued or nothing to undo, 409 when the records changed
since they were shown or a match run applied the decision already.

Security, for a tool that shows personal data on a steward's machine:

- only loopback is served unless the command says ``--allow-remote`` (:func:`bind_socket`);
- a request whose ``Host`` header is not the address served is refused (400): a page of another site cannot
  reach this one by pointing its own name at 127.0.0.1 (DNS rebinding);
- a POST must be JSON (415 otherwise: an HTML form of another site cannot send it without a preflight this
  app never grants) and, when it comes from a browser (``Origin`` or ``Sec-Fetch-Site``), from this very
  origin (403 otherwise); a script on the machine (no ``Origin``) may post;
- every value is put in the page as text (Jinja autoescape, ``textContent`` in the script), and a
  Content-Security-Policy allows only the app's own script and style: an injected ``<script>`` would not
  run even if it reached the markup;
- no access log: a search's query string holds names and emails. The ``rcu.review`` logger writes one line per
  request with the method, the endpoint's name, the status and the latency, never a path or a value.

Example::

    store = ReviewStore("lakehouse")
    sock = bind_socket("127.0.0.1", 0)
    with ReviewServer(create_app(store, allowed_hosts(sock)), sock) as server:
        print(server.url)            # http://127.0.0.1:40123/
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any, Collection

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, ConfigDict

from spark_lib import tables
from spark_lib.review.store import (DECISIONS, MAX_QUERY, MAX_REASON, MAX_REVIEWER, NothingToUndoError,
                                    QueuedPair, ReviewConflictError, ReviewError, ReviewStore, UnknownPairError)

HERE = Path(__file__).parent
LOG = logging.getLogger("rcu.review")
#: the largest request body taken (a decision is a few hundred bytes)
MAX_BODY_BYTES = 16_384
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                 b"img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),   # personal data: never kept in the browser's cache
    (b"cross-origin-resource-policy", b"same-origin"),
]


class RemoteBindError(ValueError):
    """The server was asked to listen beyond loopback without ``allow_remote``."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str = "127.0.0.1", port: int = 8765, allow_remote: bool = False) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: a free one; read it from ``getsockname()``).

    Raises :class:`RemoteBindError` for an address that is not loopback unless ``allow_remote``: the page shows
    personal data and has no login, so serving it to a network is a decision made on the command line.
    """
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"'port' must be 0 to 65535, got {port!r}")
    if not is_loopback(host) and not allow_remote:
        raise RemoteBindError(
            f"{host} is not a loopback address: the review page shows personal data and has no login. "
            "Serve 127.0.0.1 (the default) or pass --allow-remote to serve the network anyway"
        )
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP. Without it a kept-alive
    # connection waits ~40 ms for the client's delayed ACK between a response's headers and its body.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def allowed_hosts(sock: socket.socket) -> frozenset[str] | None:
    """The ``Host`` headers the server bound to ``sock`` accepts: its address and port (and ``localhost`` for
    loopback); None for a wildcard address (``--allow-remote --host 0.0.0.0``), where any name may reach it."""
    host, port = sock.getsockname()[:2]
    if ipaddress.ip_address(host).is_unspecified:
        return None
    names = {f"[{host}]" if ":" in host else host}
    if ipaddress.ip_address(host).is_loopback:
        names |= {"localhost", "127.0.0.1", "[::1]"}
    return frozenset(f"{name}:{port}" for name in names) | (frozenset(names) if port == 80 else frozenset())


class Guard:
    """ASGI middleware: Host check, same-origin JSON POSTs, body size, security headers, a log line without
    values (see the module docstring)."""

    def __init__(self, app, hosts: Collection[str] | None):
        self.app = app
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").lower()
        method = scope["method"]
        status_seen = {"status": 0}
        refused = None
        if self.hosts is not None and host not in self.hosts:
            refused = (400, "this server answers only to its own address (Host header refused)")
        elif method not in ("GET", "HEAD", "OPTIONS"):
            origin, site = headers.get("origin"), headers.get("sec-fetch-site")
            if origin is not None and origin.lower() != f"{scope.get('scheme', 'http')}://{host}":
                refused = (403, "cross-origin request refused")
            elif site is not None and site not in ("same-origin", "none"):
                refused = (403, "cross-site request refused")
            elif headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                refused = (415, "send JSON (Content-Type: application/json)")
            elif not headers.get("content-length", "0").isdigit():
                refused = (411, "send the body with a Content-Length")
            elif int(headers.get("content-length", "0")) > MAX_BODY_BYTES:
                refused = (413, f"request body over {MAX_BODY_BYTES} bytes")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status_seen["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        if refused is not None:
            response = JSONResponse({"detail": refused[1]}, status_code=refused[0])
            await response(scope, receive, send_with_headers)
            endpoint = "refused"
        else:
            await self.app(scope, receive, send_with_headers)
            endpoint = getattr(scope.get("endpoint"), "__name__", None) or (
                "static" if scope.get("path", "").startswith("/static/") else "unknown")
        LOG.info("%s %s %d %.1f ms", method, endpoint, status_seen["status"], (time.perf_counter() - started) * 1000)


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str
    reviewer: str
    reason: str | None = None
    origin: str = "api"
    record_hash_l: str | None = None
    record_hash_r: str | None = None


class UndoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: str


def _next_pending(store: ReviewStore, pair_id: str | None) -> str | None:
    """The pending pair after ``pair_id`` in review order, else the first pending one other than it."""
    after = store.pending(limit=1, after=pair_id) if pair_id is not None else []
    if not after:
        after = [p for p in store.pending(limit=2) if p.pair_id != pair_id][:1]
    return after[0].pair_id if after else None


def _listed(store: ReviewStore, pair: QueuedPair) -> dict[str, Any]:
    decision = store.decision_of(pair.pair_id)
    return {**pair.summary(), "pending": store.is_pending(pair.pair_id),
            "decision": decision.decision if decision is not None else None}


def create_app(store: ReviewStore, hosts: Collection[str] | None) -> Guard:
    """The review application over ``store``. ``hosts``: the ``Host`` headers accepted (:func:`allowed_hosts`);
    None accepts any (a wildcard bind, only with ``--allow-remote``)."""
    if store is None:
        raise ValueError("'store' in create_app cannot be None")
    app = FastAPI(title="RCU review", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(ReviewError)
    async def review_error(request: Request, error: ReviewError):
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(UnknownPairError)
    async def unknown_pair(request: Request, error: UnknownPairError):
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(NothingToUndoError)
    async def nothing_to_undo(request: Request, error: NothingToUndoError):
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(ReviewConflictError)
    async def conflict(request: Request, error: ReviewConflictError):
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        html = templates.get_template("review.html").render(
            progress=store.progress(), queue_table=tables.REVIEW_QUEUE, queue_exists=store.queue_exists,
            decisions=DECISIONS, max_reviewer=MAX_REVIEWER, max_reason=MAX_REASON, max_query=MAX_QUERY,
        )
        return HTMLResponse(html)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)   # no icon: the browser asks anyway

    @app.get("/api/queue")
    def queue(limit: int = 50, after: str | None = None) -> dict[str, Any]:
        if not 0 <= limit <= 500:
            raise ReviewError(f"'limit' must be 0 to 500, got {limit}")
        pairs = store.pending(limit=limit, after=after)
        return {"queue_exists": store.queue_exists, "progress": store.progress(),
                "pairs": [p.summary() for p in pairs]}

    @app.get("/api/search")
    def search(q: str = "") -> dict[str, Any]:
        return {"pairs": [_listed(store, p) for p in store.search(q)]}

    @app.get("/api/decisions")
    def decisions(reviewer: str | None = None, pair_id: str | None = None, limit: int = 100) -> dict[str, Any]:
        if not 1 <= limit <= 10_000:
            raise ReviewError(f"'limit' must be 1 to 10000, got {limit}")
        return {"decisions": [d.as_json() for d in store.decisions(reviewer, pair_id, limit)]}

    @app.post("/api/undo")
    def undo(body: UndoBody) -> dict[str, Any]:
        undone = store.undo(body.reviewer)
        return {"undone": undone.as_json(), "progress": store.progress()}

    def shown(pair_id: str) -> dict[str, Any]:
        found = store.pair(pair_id)
        decision = store.decision_of(pair_id)
        return {**found.as_json(), "pending": store.is_pending(pair_id),
                "decision": decision.as_json() if decision is not None else None,
                "next_pair_id": _next_pending(store, pair_id), "progress": store.progress()}

    @app.post("/api/pairs/{pair_id:path}/decision", status_code=201)
    def decide(pair_id: str, body: DecisionBody) -> dict[str, Any]:
        made = store.decide(pair_id, body.decision, body.reviewer, body.reason, origin=body.origin,
                            record_hash_l=body.record_hash_l, record_hash_r=body.record_hash_r)
        following = _next_pending(store, pair_id)
        # the next pending pair comes whole: the page shows it without a second request
        return {"decision": made.as_json(), "next_pair_id": following, "progress": store.progress(),
                "next": shown(following) if following is not None else None}

    @app.get("/api/pairs/{pair_id:path}")
    def pair(pair_id: str) -> dict[str, Any]:
        return shown(pair_id)

    return Guard(app, hosts)


class ReviewServer:
    """uvicorn serving ``app`` on ``sock`` in a background thread (tests, the benchmark): a context manager
    whose ``url`` is the page's address. :func:`serve` is the blocking form ``rcu review`` uses."""

    def __init__(self, app, sock: socket.socket):
        self.sock = sock
        self.server = uvicorn.Server(_config(app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True,
                                       name="rcu-review-server")

    @property
    def url(self) -> str:
        return page_url(self.sock)

    def __enter__(self) -> "ReviewServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the review server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def page_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def _config(app) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        access_log=False,      # a search's query string holds names: see Guard's log line instead
        log_level="warning",
        lifespan="off",        # the app keeps no resource to open or close
        proxy_headers=False,   # nothing stands in front of it: never trust X-Forwarded-*
        server_header=False,
    )


def serve(app, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl+C)."""
    uvicorn.Server(_config(app)).run(sockets=[sock])
