"""A scriptable HTTP server on 127.0.0.1 for the download tests.

Each path (query string ignored) gets a list of :class:`Reply`; requests consume them in
order and the last one repeats. Replies can fail in the ways real servers do: a status
code, a body cut short (with or without a Content-Length announcing more), a stall
before any byte, a connection dropped mid-stream. Every request is counted per path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    body: bytes = b""
    status: int = 200
    send_bytes: int | None = None  # send only this many body bytes, then close the connection
    content_length: int | None = None  # announce this instead of len(body); -1: no header at all
    stall: float = 0.0  # seconds to wait before the status line (the client should time out)
    headers: tuple[tuple[str, str], ...] = ()  # extra response headers, e.g. (("Content-Encoding", "gzip"),)


class Server:
    """``with Server() as s: s.route("/x", Reply(b"..")); requests.get(s.url("/x"))``."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.counts: dict[str, int] = {}
        self.seen: list[str] = []  # full request targets, query included, in order
        self.headers: list[dict[str, str]] = []  # request headers, in the same order
        self._lock = threading.Lock()
        self._closing = threading.Event()  # ends stalls at shutdown
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.routes[path] = list(replies)

    def requests(self, path: str | None = None) -> int:
        """Requests received for ``path`` (all paths if None)."""
        with self._lock:
            return self.counts.get(path, 0) if path else sum(self.counts.values())

    def _next(self, target: str, headers: dict[str, str]) -> Reply | None:
        path = urlsplit(target).path
        with self._lock:
            self.seen.append(target)
            self.headers.append(headers)
            self.counts[path] = self.counts.get(path, 0) + 1
            replies = self.routes.get(path)
            if not replies:
                return None
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                reply = server._next(self.path, dict(self.headers.items()))
                if reply is None:
                    reply = Reply(b"not found", status=404)
                if reply.stall and server._closing.wait(reply.stall):
                    return
                self.send_response(reply.status)
                length = len(reply.body) if reply.content_length is None else reply.content_length
                if length >= 0:
                    self.send_header("Content-Length", str(length))
                self.send_header("Content-Type", "application/octet-stream")
                for key, value in reply.headers:
                    self.send_header(key, value)
                self.end_headers()
                body = reply.body if reply.send_bytes is None else reply.body[: reply.send_bytes]
                try:
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def log_message(self, *args) -> None:  # keep pytest output quiet
                pass

        return Handler

    def __enter__(self) -> "Server":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
