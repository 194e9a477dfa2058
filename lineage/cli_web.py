"""`lineage serve` (the web console and HTTP API), `lineage tokens add|list|revoke` (its API tokens) and
`lineage audit verify|repair` (its audit trail)."""

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


def cmd_audit(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.web.audit import AuditLog, AuditVerification

    web = _web_settings(args, settings)
    if not web.audit_key_hex and not web.audit_key_file.exists():
        err.write(
            f"lineage audit: no audit key at {web.audit_key_file} (set LINEAGE_AUDIT_KEY_FILE or LINEAGE_AUDIT_KEY to "
            "the key the trail was written with)\n"
        )
        return EXIT_USAGE
    trail = AuditLog(web.audit_log, web.audit_key(), web.audit_head)
    if args.audit_command == "repair":
        repaired = trail.repair(new_head=args.new_head)
        if repaired.quarantined is not None:
            out.write(f"moved an incomplete last line ({repaired.quarantined_bytes} bytes) to {repaired.quarantined}\n")
        if repaired.new_head:
            out.write(
                f"signed a new head for the trail as it is ({repaired.verification.entries} entries): entries removed "
                "from its end before now cannot be detected\n"
            )
        if repaired.quarantined is None and not repaired.new_head:
            out.write("nothing to repair\n")
        result: AuditVerification = repaired.verification
    else:
        result = trail.verify()
    if args.format == "json":
        out.write(result.model_dump_json(indent=2) + "\n")
    elif result.ok:
        legacy = (
            f"; {result.legacy_entries} written before the trail had a key (checked by their unkeyed chain only)"
            if result.legacy_entries
            else ""
        )
        out.write(
            f"ok: {result.entries} entries{legacy}; the head records {result.head_entries}; "
            f"last MAC {result.last_mac}\n"
        )
    else:
        err.write(f"lineage audit: {web.audit_log} does not verify: {result.problem}\n")
    return EXIT_OK if result.ok else EXIT_FAILED


_TOKENS_FILE = "API tokens file (default: $LINEAGE_TOKENS_FILE or tokens.json beside the pseudonym key file)"
_AUDIT_LOG = "audit trail file (default: $LINEAGE_AUDIT_LOG or audit.jsonl beside the pseudonym key file)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve`, `audit` and `tokens` to the `lineage` command line."""
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

    audit = sub.add_parser(
        "audit",
        help="the audit trail of lookups: verify its MACs, chain and head; repair an incomplete last line",
    )
    asub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    sp = asub.add_parser(
        "verify",
        help="check every line's MAC and chain and the trail against its signed head (exit 0 ok, 1 not)",
    )
    sp.add_argument("--audit-log", metavar="FILE", help=_AUDIT_LOG)
    sp.add_argument(
        "--format", choices=("text", "json"), default="text", help="text, or the verification as JSON (default: text)"
    )
    sp.set_defaults(func=cmd_audit)
    sp = asub.add_parser(
        "repair",
        help="move an incomplete last line (a write cut short) to a quarantine file beside the trail",
        description="Moves an incomplete last line to TRAIL.torn-<UTC time> (mode 0600) so that lookups can be "
        "recorded again, then verifies. Nothing else is changed: a trail that still does not verify is evidence. "
        "--new-head signs a head for the trail as it is when the head is missing or unreadable (entries removed from "
        "the end before then cannot be detected). Exit 0 when the trail then verifies, 1 otherwise.",
    )
    sp.add_argument("--audit-log", metavar="FILE", help=_AUDIT_LOG)
    sp.add_argument("--new-head", action="store_true", help="sign a new head when it is missing or unreadable")
    sp.add_argument(
        "--format", choices=("text", "json"), default="text", help="text, or the verification as JSON (default: text)"
    )
    sp.set_defaults(func=cmd_audit)

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
