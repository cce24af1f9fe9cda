"""Serving the emulator for real: a threaded ``wsgiref`` server on loopback.

``running_server`` starts it on a free port in a background thread and yields the base
URL. The request handler hands the socket to the app (so a "drop" fault can reset the
connection without a response) and logs nothing.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .wsgi import SOCKET_KEY

WSGIApp = Callable[..., Any]


class QuietHandler(WSGIRequestHandler):
    """No access log; exposes the connection socket to the app."""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def get_environ(self) -> dict[str, Any]:
        """The standard environ plus the raw socket."""
        environ = super().get_environ()
        environ[SOCKET_KEY] = self.connection
        return environ


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One daemon thread per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are expected under fault injection; say nothing."""


def make_emulator_server(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """A bound, not yet serving, threaded server for ``app``."""
    return make_server(
        host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )


def base_url(server: WSGIServer) -> str:
    """``http://host:port`` of a bound server."""
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


@contextmanager
def running_server(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields the base URL; shuts down on exit."""
    server = make_emulator_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield base_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
