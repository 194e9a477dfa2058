"""Run the console under uvicorn: uvicorn's access log off (its lines carry URL paths, and so subject ids)."""

from __future__ import annotations

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


def serve(console: Console, host: str = "127.0.0.1", port: int = 8400, log_level: str = "INFO") -> None:
    """Serve until interrupted."""
    import uvicorn

    uvicorn.run(
        create_app(console),
        host=host,
        port=port,
        access_log=False,
        log_config=log_config(log_level),
        server_header=False,
        proxy_headers=False,
    )
