"""`lineage serve` (the web console and HTTP API) and `lineage tokens add|list|revoke` (its API tokens)."""

from __future__ import annotations

import argparse
import ipaddress
import json
from pathlib import Path
from typing import TextIO

from config import Settings
from lineage.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, positive_int, with_store
from lineage.web.console import WebSettings
from lineage.web.tokens import Role, TokenError, TokenFile


def _web_settings(args: argparse.Namespace, settings: Settings) -> WebSettings:
    return WebSettings.from_env(
        settings,
        tokens_file=Path(args.tokens_file) if getattr(args, "tokens_file", None) else None,
        audit_log=Path(args.audit_log) if getattr(args, "audit_log", None) else None,
        max_body=getattr(args, "max_body", None),
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    try:
        from lineage.web.console import open_console
        from lineage.web.server import ServeError, serve
    except ImportError as exc:
        err.write(f"lineage serve needs the web extra: pip install 'privacy-lineage[web]' ({exc.name} is missing)\n")
        return EXIT_USAGE
    web = _web_settings(args, settings)
    console = open_console(settings, web)
    try:
        tokens = console.tokens.list_tokens()
        err.write(
            f"privacy-lineage console on http://{args.host}:{args.port}/ — store {settings.store}; "
            f"{len(tokens)} token(s) in {web.tokens_file}; audit trail {web.audit_log}\n"
        )
        if not tokens:
            err.write(
                "no API tokens yet: every request will get 401. Make one: lineage tokens add --role dpo --name NAME\n"
            )
        if not _loopback(args.host):
            err.write(
                f"warning: listening on {args.host}, beyond this machine, over plain HTTP: put TLS in front of it\n"
            )
        err.flush()
        serve(console, args.host, args.port, log_level="WARNING" if args.quiet else "INFO")
    except ServeError as exc:
        err.write(f"lineage serve: {exc}\n")
        return EXIT_FAILED
    finally:
        console.close()  # on every way out: a SQLite store's write-ahead log is written back and cleared
    return EXIT_OK


def cmd_tokens(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    web = _web_settings(args, settings)
    tokens = TokenFile(web.tokens_file)
    try:
        if args.tokens_command == "add":
            secret = tokens.add(args.name, args.role)
            out.write(secret + "\n")
            err.write(
                f"token {args.name!r} ({args.role}) stored hashed in {web.tokens_file}; "
                "this is the only time it is shown\n"
            )
        elif args.tokens_command == "list":
            items = tokens.list_tokens()
            if args.format == "json":
                out.write(
                    json.dumps(
                        [{"name": t.name, "role": t.role.value, "created_at": t.created_at} for t in items], indent=2
                    )
                    + "\n"
                )
            else:
                for t in items:
                    out.write(f"{t.name}\t{t.role.value}\t{t.created_at}\n")
                if not items:
                    err.write(f"no tokens in {web.tokens_file}\n")
        else:
            tokens.revoke(args.name)
            out.write(f"revoked {args.name}\n")
    except TokenError as exc:
        err.write(f"lineage tokens: {exc}\n")
        return EXIT_FAILED
    return EXIT_OK


_TOKENS_FILE = "API tokens file (default: $LINEAGE_TOKENS_FILE or tokens.json beside the pseudonym key file)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve` and `tokens` to the `lineage` command line."""
    sp = with_store(sub.add_parser("serve", help="the web console and HTTP API (FastAPI + uvicorn)"))
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    sp.add_argument("--port", type=int, default=8400, help="port to listen on")
    sp.add_argument("--tokens-file", metavar="FILE", help=_TOKENS_FILE)
    sp.add_argument(
        "--audit-log",
        metavar="FILE",
        help="audit trail file (default: $LINEAGE_AUDIT_LOG or audit.jsonl beside the pseudonym key file)",
    )
    sp.add_argument(
        "--max-body",
        type=positive_int,
        metavar="BYTES",
        help="largest request body accepted; larger ones get 413 before they are read "
        "(default: $LINEAGE_WEB_MAX_BODY or 1048576)",
    )
    sp.add_argument("--quiet", action="store_true", help="log warnings only (no per-request lines)")
    sp.set_defaults(func=cmd_serve)

    tok = sub.add_parser("tokens", help="API tokens of the web console: add, list, revoke")
    tsub = tok.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    sp = tsub.add_parser("add", help="make a token and print it once")
    sp.add_argument("--role", required=True, choices=[r.value for r in Role], help="what the token may do (README)")
    sp.add_argument("--name", required=True, help="who or what holds it (unique)")
    sp.add_argument("--tokens-file", metavar="FILE", help=_TOKENS_FILE)
    sp.set_defaults(func=cmd_tokens)
    sp = tsub.add_parser("list", help="tokens by name and role (never the secrets)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    sp.add_argument("--tokens-file", metavar="FILE", help=_TOKENS_FILE)
    sp.set_defaults(func=cmd_tokens)
    sp = tsub.add_parser("revoke", help="remove a token; a running server refuses it at once")
    sp.add_argument("name", metavar="NAME", help="the token's name")
    sp.add_argument("--tokens-file", metavar="FILE", help=_TOKENS_FILE)
    sp.set_defaults(func=cmd_tokens)
