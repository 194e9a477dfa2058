"""Lookups through the command line go on the console's audit trail: who-has and the per-person reports are recorded,
by pseudonym, before they are answered (who: the OS user, or --as NAME), with the console's writer, file and key
(WebSettings.audit_trail)."""

from __future__ import annotations

import argparse
import getpass
import os

from config import Settings
from lineage.cli_common import UsageError
from lineage.web.audit import AuditTrailError
from lineage.web.console import WebSettings
from lineage.web.tokens import Principal, Role


def add_actor(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --as NAME (who is looking, for the audit trail) to a per-person command."""
    sp.add_argument(
        "--as",
        dest="actor",
        metavar="NAME",
        help="who is looking, as the audit trail records it (default: the OS user); the trail is the console's "
        "($LINEAGE_AUDIT_LOG or audit.jsonl beside the pseudonym key file)",
    )
    return sp


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a container's bare uid)
        return f"uid {os.getuid()}"


def actor_name(args: argparse.Namespace) -> str:
    """Who the audit trail records as acting: --as NAME, else the OS user."""
    return getattr(args, "actor", None) or _os_user()


def record_lookup(
    args: argparse.Namespace,
    settings: Settings,
    *,
    action: str,
    pseudonym: str,
    returned: dict[str, int],
    target: str | None = None,
    refusing: str = "lookup",
) -> None:
    """Record a per-person lookup (or action: ``refusing`` names it in the refusal) before it is answered or done,
    with the id it acts on (``target``, e.g. a notice id) if any; a trail that cannot be written refuses it."""
    web = WebSettings.from_env(settings)
    # a command-line user reads the store directly, with everything a DPO token may do: recorded as that role, and
    # told apart from the console's lookups by the client ('cli')
    who = Principal(name=actor_name(args), role=Role.DPO)
    try:
        web.audit_trail().record(
            who, action=action, endpoint=args.prog, returned=returned, subject=pseudonym, target=target, client="cli"
        )
    except OSError as exc:
        raise UsageError(
            f"the audit trail {web.audit_log} cannot be written ({exc.strerror or type(exc).__name__}), so the "
            f"{refusing} is refused"
        ) from None
    except AuditTrailError as exc:  # edited, cut short or torn: the console refuses lookups on it too
        raise UsageError(
            f"the audit trail {web.audit_log} does not verify ({exc}), so the {refusing} is refused"
        ) from None
