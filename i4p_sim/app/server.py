"""Serving the app: waitress (a production WSGI server), security headers, quiet logs.

:func:`serve` binds the port *before* saying it serves (a taken port is a one-line error,
exit 2), binds beyond loopback only when asked (and then warns that the app has no
authentication), logs one line at start and errors only. :func:`harden` adds the security
headers to every response and answers a malformed callback request with a 4xx, never a
500 or an exception text.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from typing import Any

import dash

from i4p_sim.config.errors import ConfigError

__all__ = ["CSP", "SECURITY_HEADERS", "harden", "is_loopback", "serve"]

log = logging.getLogger(__name__)

#: Content security policy: only the app's own origin. Dash's renderer evaluates callback
#: code and Plotly injects styles, so scripts need 'unsafe-eval' and 'unsafe-inline'
#: ('unsafe-inline' also covers the inline config script of the index page); plotly draws
#: images from data: and blob: URLs. Nothing may frame the app.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Server": "i4p",  # never the Python or server version
}
#: Worker threads of waitress (requests served at once; models are built one at a time).
THREADS = 8


def harden(app: dash.Dash) -> dash.Dash:
    """Add security headers and 4xx answers for malformed requests to ``app``'s server."""
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = 1 << 20  # a callback payload is a few KiB

    @server.after_request
    def _headers(response: Any) -> Any:
        for key, value in SECURITY_HEADERS.items():
            response.headers[key] = value
        return response

    from werkzeug.exceptions import HTTPException

    @server.errorhandler(Exception)
    def _error(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        # a payload Dash could not dispatch (wrong shapes, types, ids): the client's fault;
        # the server log gets one line, the client a short 400 without exception text
        log.error("bad request answered 400: %s: %s", type(exc).__name__, exc)
        return {"error": "bad request"}, 400

    return app


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line ConfigError (port taken, bad
    address)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ConfigError("command line", "--host", f"cannot use {host!r}: {exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = "already in use" if exc.errno in (98, 48) else (exc.strerror or str(exc))
        raise ConfigError(
            "command line", "--port", f"cannot listen on {host}:{port}: {reason}"
        ) from None
    return sock


def quiet_logs() -> None:
    """Errors only from the server and the app; no line per request."""
    for name in ("waitress", "waitress.queue", "werkzeug", "dash", "i4p_sim"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.ERROR, format="i4p viz: %(levelname)s: %(message)s")


def serve(app: dash.Dash, host: str = "127.0.0.1", port: int = 8050, *, threads: int = THREADS):
    """Serve ``app`` with waitress until interrupted.

    Raises
    ------
    ConfigError
        If the port is taken or the address cannot be bound (before anything is said).
    """
    from waitress import create_server

    sock = bind(host, port)
    quiet_logs()
    if not is_loopback(host):
        print(
            f"i4p viz: warning: listening on {host}, reachable from other machines; "
            "the app has no authentication",
            file=sys.stderr,
        )
    shown = f"[{host}]" if ":" in host else host
    server = create_server(app.server, sockets=[sock], threads=threads, ident="i4p")
    print(f"i4p viz: serving on http://{shown}:{sock.getsockname()[1]}/ (Ctrl+C to stop)")
    sys.stdout.flush()
    try:
        server.run()
    finally:
        server.close()
