"""Run the console under uvicorn: uvicorn's access log off (its lines carry URL paths, and so subject ids)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from lineage.web.app import create_app
from lineage.web.console import Console


def log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging with its access logger silenced; our access lines name route templates only."""
    fmt = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": fmt},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "lineage.web": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


class ServeError(RuntimeError):
    """The server could not start (the address in use, for one)."""


class Stopped(Exception):
    """The server was asked to stop by a signal (SIGTERM, SIGHUP) and has shut down."""


def serve(console: Console, host: str = "127.0.0.1", port: int = 8400, log_level: str = "INFO") -> None:
    """Serve until interrupted; return normally after a SIGTERM or SIGHUP, raise KeyboardInterrupt after SIGINT.

    Either way the caller's ``finally`` runs, so the store is closed (and a SQLite store's write-ahead log written
    back): uvicorn, after a graceful shutdown, raises the signal it caught again with the handler that was there
    before it, and the default SIGTERM handler ends the process on the spot.
    """
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(console),
            host=host,
            port=port,
            access_log=False,
            log_config=log_config(log_level),
            server_header=False,
            proxy_headers=False,
        )
    )

    def stopped(sig: int, frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(sig).name)

    def hang_up(sig: int, frame: FrameType | None) -> None:  # uvicorn does not handle SIGHUP: shut down as on SIGTERM
        server.should_exit = True

    handlers: dict[signal.Signals, Callable[[int, FrameType | None], None]] = {
        signal.SIGTERM: stopped,
        signal.SIGHUP: hang_up,
    }
    in_main = threading.current_thread() is threading.main_thread()  # signals can only be handled there
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()} if in_main else {}
    try:
        server.run()
    except Stopped:
        return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        raise ServeError(f"the server did not start on {host}:{port} (see the log above)")
