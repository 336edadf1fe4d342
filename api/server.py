"""Serve the API with uvicorn, every connection with TCP_NODELAY.

uvicorn with `--workers N` binds the listening socket itself with protocol 0, and asyncio then does
not turn Nagle's algorithm off on the accepted connections (it does so only for sockets whose
protocol is IPPROTO_TCP). A response goes out as two writes (headers, then body); with Nagle on, the
body waits for the client's delayed ACK of the headers: every small response took 40 ms more
(measured: `GET /healthz` 44 ms with `--workers 2`, 3 ms with one worker). `H11NoDelay` sets the
option on each connection, whatever bound the socket:

    uvicorn --factory api.main:create_app --workers 2 --http api.server:H11NoDelay

or `python -m api.server --workers 2` (the same, with host and port options).

`AccessLogWithoutQuery` keeps query strings out of uvicorn's access log (`create_app` installs it).
"""

from __future__ import annotations

import argparse
import logging
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def _no_delay(transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket after all
            pass


class H11NoDelay(H11Protocol):
    def connection_made(self, transport) -> None:
        _no_delay(transport)
        super().connection_made(transport)


class AccessLogWithoutQuery(logging.Filter):
    """Logs the path of each request without its query string: an audio link carries its token
    there, and list filters name agents; access logs are kept longer and read more widely than the
    API. uvicorn logs `'%s - "%s %s HTTP/%s" %d'` with (client, method, path?query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0], *args[3:])
        return True


def install_access_log_filter() -> None:
    """Once per process, on the logger uvicorn writes access lines to (every worker builds its app)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogWithoutQuery) for f in logger.filters):
        logger.addFilter(AccessLogWithoutQuery())


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description="Serve the qa-engine API (uvicorn, TCP_NODELAY on every connection).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--log-level", default="info")
    p.add_argument("--no-access-log", action="store_true")
    a = p.parse_args(argv)
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=a.host,
        port=a.port,
        workers=a.workers,
        http="api.server:H11NoDelay",
        log_level=a.log_level,
        access_log=not a.no_access_log,
    )


if __name__ == "__main__":
    main()
