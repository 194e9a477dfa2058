"""A logical copy of one lineage namespace on Neo4j to a JSON Lines file, and back into an empty database.

Neo4j keeps deleted records in its store and index files until the space is reused, and Community Edition has no
offline copy that leaves them behind (``neo4j-admin database copy`` is Enterprise only; ``dump`` and ``load`` copy
the files as they are). Exporting the live graph, starting the server on an empty database and importing it gives
files that never held what was erased (docs/privacy.md, "Erasure on Neo4j"). The file holds the graph as it is:
pseudonyms, no raw subject ids; keep it as safe as the store, and delete it once imported.

The first line names the format and the namespace; then every node (``{"node": id, "labels": [...], "props":
{...}}``), then every relationship (``{"rel": id, "type": ..., "from": id, "to": id, "props": {...}}``), ids being
the source's element ids. Temporal values are written as ``{"$datetime": ISO 8601}`` (``$date``, ``$time``,
``$localdatetime``, ``$duration`` likewise). Labels and relationship types are those of the lineage model only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import neo4j
from neo4j import time as neo4j_time

FORMAT = "privacy-lineage/neo4j-graph/v1"
PAGE = 2000
_TEMPORAL: dict[str, Any] = {
    "$datetime": neo4j_time.DateTime,
    "$date": neo4j_time.Date,
    "$time": neo4j_time.Time,
}


class TransferError(ValueError):
    """The file is not an export of this format, names something outside the lineage model, or the target is not
    empty; the message says where (line number) and what."""


@dataclass(frozen=True)
class TransferCounts:
    nodes: int
    relationships: int


Run = Callable[[str, dict[str, Any]], list[neo4j.Record]]


def export_graph(run: Run, namespace: str, out: TextIO) -> TransferCounts:
    """Write every node of ``namespace`` and every relationship between them to ``out``, page by page."""
    out.write(json.dumps({"format": FORMAT, "namespace": namespace}) + "\n")
    nodes = rels = 0
    after = ""
    while True:
        page = run(
            "MATCH (n {ns: $ns}) WHERE elementId(n) > $after WITH n ORDER BY elementId(n) LIMIT $page "
            "RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props",
            {"ns": namespace, "after": after, "page": PAGE},
        )
        for r in page:
            out.write(json.dumps({"node": r["id"], "labels": r["labels"], "props": _encode(r["props"])}) + "\n")
        nodes += len(page)
        if len(page) < PAGE:
            break
        after = page[-1]["id"]
    after = ""
    while True:
        page = run(
            "MATCH (a {ns: $ns})-[x]->(b) WHERE elementId(x) > $after WITH a, x, b ORDER BY elementId(x) LIMIT $page "
            "RETURN elementId(x) AS id, type(x) AS type, elementId(a) AS a, elementId(b) AS b, properties(x) AS props",
            {"ns": namespace, "after": after, "page": PAGE},
        )
        for r in page:
            doc = {"rel": r["id"], "type": r["type"], "from": r["a"], "to": r["b"], "props": _encode(r["props"])}
            out.write(json.dumps(doc) + "\n")
        rels += len(page)
        if len(page) < PAGE:
            break
        after = page[-1]["id"]
    return TransferCounts(nodes, rels)


def import_graph(
    run: Run,
    namespace: str,
    lines: Callable[[], Iterable[str]],
    labels: frozenset[str],
    types: frozenset[str],
) -> TransferCounts:
    """Create the exported nodes and relationships in ``namespace``, which must hold nothing but its ``Meta`` node
    (made when the store was opened: the exported one's properties are set on it). ``lines`` gives the file's lines
    (called twice: the whole file is checked before anything is created). ``labels`` and ``types`` are the lineage
    model's; anything else is refused."""
    counts = _check(lines(), namespace, labels, types)
    present = run("MATCH (n {ns: $ns}) WHERE NOT n:Meta RETURN count(n) AS n", {"ns": namespace})[0]["n"]
    if present:
        raise TransferError(
            f"namespace {namespace!r} of the target already holds {present} node(s): import into an empty database"
        )
    new_ids: dict[str, str] = {}
    pending: dict[tuple[str, ...], list[list[Any]]] = {}
    pending_rels: dict[str, list[list[Any]]] = {}

    def flush_nodes(key: tuple[str, ...]) -> None:
        batch = pending.pop(key, [])
        if key == ("Meta",):  # the store made its own when it was opened: it takes the exported properties
            for old, props in batch:
                found = run(
                    "MERGE (m:Meta {ns: $ns, name: $name}) SET m += $props RETURN elementId(m) AS id",
                    {"ns": namespace, "name": props.get("name"), "props": props},
                )
                new_ids[old] = found[0]["id"]
        elif batch:  # labels checked against the model's: safe to name in the statement
            created = run(
                f"UNWIND $rows AS r CREATE (n:{':'.join(key)}) SET n = r[1] RETURN r[0] AS old, elementId(n) AS id",
                {"rows": batch},
            )
            new_ids.update((r["old"], r["id"]) for r in created)

    def flush_rels(kind: str) -> None:
        batch = pending_rels.pop(kind, [])
        if batch:
            run(
                "UNWIND $rows AS r MATCH (a) WHERE elementId(a) = r[0] MATCH (b) WHERE elementId(b) = r[1] "
                f"CREATE (a)-[x:{kind}]->(b) SET x = r[2]",
                {"rows": batch},
            )

    for _, doc in _documents(lines()):
        if "node" in doc:
            key = tuple(sorted(doc["labels"]))
            pending.setdefault(key, []).append([str(doc["node"]), _decode(doc.get("props") or {})])
            if len(pending[key]) >= PAGE:
                flush_nodes(key)
        elif "rel" in doc:
            for key in list(pending):
                flush_nodes(key)
            kind = str(doc["type"])
            ends = [new_ids[str(doc["from"])], new_ids[str(doc["to"])]]
            pending_rels.setdefault(kind, []).append([*ends, _decode(doc.get("props") or {})])
            if len(pending_rels[kind]) >= PAGE:
                flush_rels(kind)
    for key in list(pending):
        flush_nodes(key)
    for kind in list(pending_rels):
        flush_rels(kind)
    return counts


def _check(lines: Iterable[str], namespace: str, labels: frozenset[str], types: frozenset[str]) -> TransferCounts:
    """The whole file, before anything is written: its format and namespace, labels and types of the model, every
    relationship between nodes it holds (nodes first)."""
    rows = _documents(lines)
    first = next(rows, None)
    if first is None or first[1].get("format") != FORMAT:
        raise TransferError(f"line 1: not a privacy-lineage Neo4j export (expected format {FORMAT!r})")
    if first[1].get("namespace") != namespace:
        raise TransferError(
            f"line 1: the export is of namespace {first[1].get('namespace')!r}, not {namespace!r} "
            "(set LINEAGE_NEO4J_NAMESPACE or ?namespace= to import it there)"
        )
    nodes: set[str] = set()
    rels = 0
    for line_no, doc in rows:
        if "node" in doc:
            key = doc.get("labels")
            if not isinstance(key, list) or not key or not set(map(str, key)) <= labels:
                raise TransferError(f"line {line_no}: labels {key} are not the lineage model's")
            props = doc.get("props")
            if not isinstance(props, dict) or props.get("ns") != namespace:
                raise TransferError(f"line {line_no}: a node of another namespace")
            nodes.add(str(doc["node"]))
        elif "rel" in doc:
            if doc.get("type") not in types:
                raise TransferError(f"line {line_no}: relationship type {doc.get('type')!r} is not the lineage model's")
            if str(doc.get("from")) not in nodes or str(doc.get("to")) not in nodes:
                raise TransferError(f"line {line_no}: a relationship to a node the file does not hold (before it)")
            rels += 1
        else:
            raise TransferError(f"line {line_no}: neither a node nor a relationship")
    return TransferCounts(len(nodes), rels)


def _documents(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            raise TransferError(f"line {n}: not JSON") from None
        if not isinstance(doc, dict):
            raise TransferError(f"line {n}: not a JSON object")
        yield n, doc


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    for tag, kind in _TEMPORAL.items():
        if isinstance(value, kind):
            return {tag: value.iso_format()}
    if isinstance(value, neo4j_time.Duration):
        return {"$duration": value.iso_format()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, text),) = value.items()
            if tag in _TEMPORAL:
                return _TEMPORAL[tag].from_iso_format(text)
            if tag == "$duration":
                return neo4j_time.Duration.from_iso_format(text)
        return {k: _decode(v) for k, v in value.items()}
    return value
