"""`lineage neo4j export|import`: the lineage graph of a Neo4j store to a file and back into an empty database, how
an erasure is made to leave Neo4j Community's files (docs/privacy.md, "Erasure on Neo4j")."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from config import Settings
from lineage.cli_common import EXIT_OK, UsageError, with_store

if TYPE_CHECKING:
    from graph.neo4j_store import Neo4jGraphStore


def _neo4j_store(settings: Settings) -> Neo4jGraphStore:
    from graph.neo4j_store import Neo4jGraphStore
    from lineage.wiring import open_configured_store

    store = open_configured_store(settings)
    if not isinstance(store, Neo4jGraphStore):
        store.close()
        raise UsageError(f"lineage neo4j: {settings.store} is not a Neo4j store")
    return store


def cmd_neo4j(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from graph.neo4j_transfer import TransferError

    path = Path(args.file)
    if args.neo4j_command == "export":
        try:  # the file holds the graph (pseudonyms): owner only, and never over another file
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise UsageError(f"lineage neo4j export: {path} exists; name a new file") from None
        store = _neo4j_store(settings)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                counts = store.export_graph(fh)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            store.close()
        out.write(
            f"exported {counts.nodes} nodes and {counts.relationships} relationships of namespace "
            f"{store.namespace!r} to {path} (it holds the graph: keep it safe and delete it once imported)\n"
        )
        return EXIT_OK
    if not path.is_file():
        raise UsageError(f"lineage neo4j import: no such file: {path}")
    store = _neo4j_store(settings)
    try:
        counts = store.import_graph(lambda: _lines(path))
    except TransferError as exc:
        raise UsageError(f"lineage neo4j import: {path}: {exc}") from None
    finally:
        store.close()
    out.write(
        f"imported {counts.nodes} nodes and {counts.relationships} relationships into namespace {store.namespace!r}\n"
    )
    return EXIT_OK


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        yield from fh


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``neo4j export`` and ``neo4j import`` to the `lineage` parser."""
    group = sub.add_parser(
        "neo4j", help="copy the lineage graph of a Neo4j store to a file and back (to compact it after erasures)"
    ).add_subparsers(dest="neo4j_command", required=True, metavar="ACTION")
    sp = with_store(
        group.add_parser(
            "export",
            help="write the graph of the store's namespace to a new file (mode 0600)",
            description="Writes every node and relationship of the namespace as JSON Lines. Stop the writers "
            "first. The file holds the graph (pseudonyms, no raw ids): keep it as safe as the store and delete it "
            "once imported.",
        )
    )
    sp.add_argument("file", metavar="FILE", help="the export to write (a new file)")
    sp.set_defaults(func=cmd_neo4j)
    sp = with_store(
        group.add_parser(
            "import",
            help="load an export into the store's namespace, which must be empty (a database started afresh)",
            description="Creates the exported nodes and relationships in the namespace; refuses a namespace that holds "
            "anything but the store's own Meta node. See docs/privacy.md (Erasure on Neo4j) for the whole procedure.",
        )
    )
    sp.add_argument("file", metavar="FILE", help="an export written by lineage neo4j export")
    sp.set_defaults(func=cmd_neo4j)
