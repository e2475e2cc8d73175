"""Serving the workshop app safely: bind 127.0.0.1 by default, refuse foreign hosts and origins.

A browser lets any web page open a websocket to any address, including
``127.0.0.1``; without a check, a page on another site open in the same
browser could drive the app. :func:`guard` wraps the Solara (Starlette) app
in an ASGI middleware that

* refuses HTTP requests and websockets whose ``Host`` header is not one of
  the app's own addresses (a DNS-rebinding page has a foreign Host), and
* refuses a websocket whose ``Origin`` is not the app's own origin (a page of
  another site sends its own origin; browsers do not let pages forge it).

``sim-app host=<address>`` serves a room's network on that address of this
machine; the allowed hosts are then that address (and this machine's name).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sim.config import ConfigError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def allowed_hosts(host: str, port: int) -> set[str]:
    """``Host`` header values the app answers to when served on ``host:port``."""
    names = {host}
    if host in ("127.0.0.1", "localhost", "::1"):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    else:
        names.add(socket.gethostname())
    return {f"{n}:{port}" for n in names} | ({*names} if port == 80 else set())


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def guard(app: ASGIApp, hosts: Iterable[str]) -> ASGIApp:
    """The ASGI app ``app``, answering only requests for ``hosts`` and websockets from their origins."""
    hosts = {h.lower() for h in hosts}
    origins = {f"http://{h}" for h in hosts} | {f"https://{h}" for h in hosts}

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        host = (_header(scope, b"host") or "").lower()
        origin = _header(scope, b"origin")
        ok = host in hosts and (kind == "http" or (origin is not None and origin.lower() in origins))
        if ok:
            await app(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: the client gets HTTP 403
            return
        body = b"This app only answers requests for its own address."
        await send({"type": "http.response.start", "status": 403 if host in hosts else 400,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return guarded


def check_host(text: str) -> str:
    """A host to bind: an IP address of this machine, 127.0.0.1 by default."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(f"Invalid value '{text}' for 'host': allowed is an IP address of this machine, e.g. "
                          "127.0.0.1 (the default, this machine only) or its address on the room's network.") from None
    if addr.is_unspecified:
        raise ConfigError(f"Invalid value '{text}' for 'host': give this machine's address on the room's network "
                          "rather than all addresses, so the app knows its own address.")
    return str(addr)


def check_port(host: str, text: str) -> int:
    """A free port on ``host`` (0 picks one)."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ConfigError(f"Invalid value '{text}' for 'port': allowed is a whole number in [0, 65535] "
                          "(0 picks a free port).")
    port = int(text)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigError(f"Port {port} on {host} is already in use (or not allowed): choose another with "
                              "port=<1024-65535>, or port=0 for any free port.") from None
        return sock.getsockname()[1]


def serve(host: str, port: int) -> None:
    """Serve the app page (:mod:`sim.app.page`) on ``host:port`` behind :func:`guard` (blocks until stopped)."""
    os.environ["SOLARA_APP"] = "sim.app.page"
    os.environ["SERVER_NAME"], os.environ["SERVER_PORT"] = host, str(port)
    import warnings

    import solara.server.settings as solara_settings
    import uvicorn

    # Solara warns on every page load that its samesite=none cookie needs https; on plain http it falls back
    # to samesite=lax, which is what a local app wants.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    solara_settings.main.mode = "production"
    solara_settings.telemetry.mixpanel_enable = False
    from solara.server.starlette import app

    where = "this machine only" if ipaddress.ip_address(host).is_loopback else "the room's network"
    print(f"sim-app: workshop app at http://{host}:{port}/ ({where}; Ctrl+C stops it)", flush=True)
    uvicorn.run(guard(app, allowed_hosts(host, port)), host=host, port=port, log_level="warning",
                ws_max_size=64 * 1024 * 1024)
