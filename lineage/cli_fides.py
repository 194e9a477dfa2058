"""`lineage policy export-fides` and `import-fides`: the policy as a Fides system manifest, and a Fides system read
into a policy skeleton whose declarations still need a quotation from the published policy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

import yaml

from config import Settings
from lineage.cli_common import EXIT_OK, UsageError
from lineage.wiring import load_configured_policy
from policies.fides import FidesImportError, export_fides, import_fides, needs_quote, policy_document


def cmd_export_fides(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    policy = load_configured_policy(settings)
    manifest = export_fides(policy)
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=120)
    _write(text, args.output, out)
    count = len(manifest["system"][0]["privacy_declarations"])
    err.write(f"policy {policy.id} version {policy.version}: Fides system {policy.id!r}, {count} declaration(s)\n")
    return EXIT_OK


def cmd_import_fides(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    try:
        manifest = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{args.file}: not valid YAML: {exc}") from None
    if not isinstance(manifest, dict):
        raise UsageError(f"{args.file}: a Fides manifest is a mapping (system: [...]) at the top level")
    try:
        policy = import_fides(manifest, args.system)
    except FidesImportError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    missing = needs_quote(policy)
    header = (
        f"# Policy skeleton imported from the Fides system {policy.id!r} ({args.file}).\n"
        f"# Each clause marked NEEDS QUOTE ({len(missing)}) must be replaced by the sentence of the published policy\n"
        "# it rests on, and each assumption it names checked; `lineage policy check` lists those left.\n"
    )
    body = yaml.safe_dump(policy_document(policy), sort_keys=False, allow_unicode=True, width=120)
    _write(header + body, args.output, out)
    err.write(
        f"policy skeleton {policy.id}: {len(policy.collections)} collection, {len(policy.uses)} use and "
        f"{len(policy.disclosures)} disclosure declaration(s); {len(missing)} need a quote from the policy text\n"
    )
    return EXIT_OK


def _write(text: str, output: str | None, out: TextIO) -> None:
    if output in (None, "-"):
        out.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


def register(policy: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export-fides`` and ``import-fides`` to ``lineage policy``."""
    sp = policy.add_parser("export-fides", help="write the policy as a Fides system manifest (YAML) for fides")
    sp.add_argument("--policy", help="policy file (default: $LINEAGE_POLICY or the bundled S Plus policy)")
    sp.add_argument("--output", "-o", help="manifest file (default: stdout)")
    sp.set_defaults(func=cmd_export_fides)
    sp = policy.add_parser("import-fides", help="read a Fides system into a policy skeleton to complete with quotes")
    sp.add_argument("file", help="a Fides manifest (YAML or JSON) with a system resource")
    sp.add_argument("--system", help="the system's fides_key, when the manifest has several")
    sp.add_argument("--output", "-o", help="policy file to write (default: stdout)")
    sp.set_defaults(func=cmd_import_fides)
