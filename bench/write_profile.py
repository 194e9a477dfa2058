"""Where Neo4j's time goes per batch: `python -m bench.write_profile [--people N] [--days D] [--batch B]`.

The simulator's events, turned into ChangeSets by the handler (policy on, as the workers do), are applied with
``Neo4jGraphStore.apply`` in batches of ``--batch`` events from one thread, into a fresh namespace of the default
server (``LINEAGE_TEST_NEO4J_URI`` or bolt://127.0.0.1:7687), deleted afterwards. Every statement the store runs is
timed (sent, and its records read) and named; the rest of a batch's time is the commit and the store's Python.
One batch in the middle is then profiled (``PROFILE``): the database hits of each statement. Prints a table;
records nothing.

With ``--handler`` each batch goes through ``Handler.handle`` instead, as a worker's does: the handler's reads before
the write (consent records, recipients, tombstones, retention) are timed as statements of their own (named
``reads.NAME``), and the time to judge and project the batch is shown apart.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import neo4j
from neo4j._sync.work.transaction import TransactionBase

from bench.common import KEY, batches, dataset, writer_of
from bench.profiling import cpu_seconds, pid_file
from bench.services import PASSWORD, REPO
from graph import neo4j_aggregates, neo4j_erasure, neo4j_plan, neo4j_reads
from graph.changes import Rel
from graph.pseudonym import Pseudonymizer, key_from_text
from policies import default_policy
from policies.transfers import RecipientRules
from schemas.parsing import parse_event
from streams.handler import Handler


def statement_names() -> dict[str, str]:
    """The store's write statements by their text: every upper-case string constant of the modules that hold the
    write path's Cypher, named ``module.NAME`` (the batch's own statements without a prefix), and the lineage edges."""
    names: dict[str, str] = {}
    modules = (
        (neo4j_plan, ""),
        (neo4j_erasure, "erasure."),
        (neo4j_aggregates, "aggregates."),
        (neo4j_reads, "reads."),
    )
    for module, prefix in modules:
        for name, value in vars(module).items():
            if isinstance(value, str) and name.lstrip("_").isupper() and "$" in value:
                names.setdefault(value, prefix + name.lstrip("_"))
    names |= {neo4j_plan.EDGES[rel]: f"EDGES[{rel.value}]" for rel in Rel}
    return names


class Recorder:
    """Times (and, when profiling, PROFILEs) every statement run in a transaction."""

    def __init__(self) -> None:
        self.names = statement_names()
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        self.profiling = False
        self.in_transaction = 0.0  # seconds inside the transaction's work (statements and the store's Python)
        self.attempts = 0  # transaction functions run: more than the batches when the driver retried some
        self.lock = threading.Lock()  # the writers' threads add to the same figures

    def name(self, query: str) -> str:
        return self.names.get(query, " ".join(query.split())[:50])

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = TransactionBase.run
        recorder = self

        def run(tx: Any, query: Any, parameters: Any = None, **kw: Any) -> Any:
            name = recorder.name(query)
            if recorder.profiling:
                result = original(tx, "PROFILE " + query, parameters, **kw)
                result._buffer_all()
                summary = result._summary or result.consume()
                recorder.hits[name] = recorder.hits.get(name, 0) + _db_hits(summary.profile)
                return result
            start = time.perf_counter()
            result = original(tx, query, parameters, **kw)
            result._buffer_all()
            took = time.perf_counter() - start
            rows = (parameters or {}).get("rows", kw.get("rows", kw.get("keys")))
            with recorder.lock:
                recorder.seconds[name] = recorder.seconds.get(name, 0.0) + took
                recorder.calls[name] = recorder.calls.get(name, 0) + 1
                if isinstance(rows, list):
                    recorder.rows[name] = recorder.rows.get(name, 0) + len(rows)
            return result

        from graph import neo4j_writes

        original_batch = neo4j_writes.apply_batch

        def apply_batch(*args: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return original_batch(*args, **kw)
            finally:
                if not recorder.profiling:
                    with recorder.lock:
                        recorder.in_transaction += time.perf_counter() - start
                        recorder.attempts += 1

        TransactionBase.run = run  # type: ignore[method-assign]
        neo4j_writes.apply_batch = apply_batch
        try:
            yield
        finally:
            TransactionBase.run = original  # type: ignore[method-assign]
            neo4j_writes.apply_batch = original_batch


def _db_hits(plan: dict[str, Any] | None) -> int:
    if not plan:
        return 0
    return int(plan.get("dbHits", 0)) + sum(_db_hits(child) for child in plan.get("children", ()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.write_profile", description=__doc__)
    p.add_argument("--people", type=int, default=600)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--batch", type=int, default=1000, help="events per apply() (the workers' batch size)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--handler", action="store_true", help="each batch through Handler.handle (its reads included)")
    p.add_argument(
        "--writers", type=int, default=1, help="threads writing at once, people split between them as partitions are"
    )
    args = p.parse_args(argv)

    from config import Settings
    from graph.neo4j_store import Neo4jGraphStore

    uri = os.environ.get("LINEAGE_TEST_NEO4J_URI", "bolt://127.0.0.1:7687")
    namespace = f"bench-profile-{uuid.uuid4().hex[:8]}"
    settings = Settings(neo4j_user="neo4j", neo4j_password=PASSWORD, neo4j_max_retry_time=120.0)
    data = dataset(args.people, args.days, args.seed)
    policy = default_policy()
    taxonomy = policy.taxonomy()
    events = [parse_event(line, taxonomy) for line in data.lines]
    stores = [Neo4jGraphStore.from_url(f"{uri}?namespace={namespace}", settings) for _ in range(args.writers)]
    store = stores[0]
    state = os.environ.get("LINEAGE_STATE_DIR") or str(REPO / ".local-services")
    pid = pid_file(Path(state) / "neo4j" / "neo4j.pid")
    recorder = Recorder()
    try:
        pseudonym = Pseudonymizer(key_from_text(KEY))
        handlers = [Handler(s, policy, pseudonym, recipients=RecipientRules(None)) for s in stores]
        shares: list[list[Any]] = [[] for _ in stores]
        for e in events:  # by person, as Kafka partitions split them between workers
            shares[writer_of(pseudonym(e.subject.id), len(stores))].append(e)
        if args.handler:  # events in, as the workers' handler takes them (their reads happen in the loop)
            work: list[tuple[Any, list[Any]]] = [
                (h.handle, batches(share, args.batch)) for h, share in zip(handlers, shares, strict=True)
            ]
        else:  # changes built up front: the store's apply() alone
            both = zip(stores, handlers, shares, strict=True)
            work = [(s.apply, batches(h.changes(share), args.batch)) for s, h, share in both]
        apply0, batches0 = work[0]
        profiled = len(batches0) // 2
        busy = [0.0] * len(work)  # seconds each writer spent in its calls

        def write(k: int) -> None:
            apply, mine = work[k]
            for i, batch in enumerate(mine):
                if k == 0 and i == profiled:
                    continue
                start = time.perf_counter()
                apply(batch)
                busy[k] += time.perf_counter() - start

        cpu0 = cpu_seconds(pid) if pid else float("nan")
        with recorder.installed():
            start = time.perf_counter()
            writers = [threading.Thread(target=write, args=(k,)) for k in range(len(work))]
            for t in writers:
                t.start()
            for t in writers:
                t.join()
            elapsed = time.perf_counter() - start
            cpu = (cpu_seconds(pid) if pid else float("nan")) - cpu0
            recorder.profiling = True
            apply0(batches0[profiled])
        timed = len(events) - len(batches0[profiled])
        wall = sum(busy)
        applied = sum(len(mine) for _, mine in work) - 1
        stats = store.stats()
    finally:
        for s in stores:
            s.close()
        with (
            neo4j.GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as driver,
            driver.session(database="neo4j") as session,
        ):
            session.run(
                "MATCH (n) WHERE n.ns = $ns CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", ns=namespace
            ).consume()
    reading = sum(v for k, v in recorder.seconds.items() if k.startswith("reads."))
    in_statements = sum(recorder.seconds.values()) - reading
    python = recorder.in_transaction - in_statements
    commit = wall - recorder.in_transaction - reading
    how = "Handler.handle" if args.handler else "apply()"
    threads = "one thread" if args.writers == 1 else f"{args.writers} threads (seconds below: summed over them)"
    print(
        f"{data.describe()}: {timed:,} events through {how} in {applied} batches of up to {args.batch}"
        f" ({recorder.attempts - applied} retried) from {threads}"
        f" in {elapsed:.1f} s ({timed / elapsed:,.0f} events/s);"
        f" Neo4j CPU {cpu:.1f} s ({1e6 * cpu / timed:.0f} us/event);"
        f" the handler's reads {reading:.1f} s, statements {in_statements:.1f} s,"
        f" the store's Python in the transaction {python:.1f} s, commit and the rest"
        f" {commit:.1f} s."
    )
    print(f"graph: {stats}")
    print(f"db hits of batch {profiled} ({len(batches0[profiled])} events): {sum(recorder.hits.values()):,}")
    print("| statement | calls | rows/event | seconds | us/event | share | db hits/event (profiled batch) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    n_prof = len(batches0[profiled])
    for name, secs in sorted(recorder.seconds.items(), key=lambda kv: -kv[1]):
        rows = recorder.rows.get(name)
        print(
            f"| {name} | {recorder.calls[name]} | {rows / timed if rows else 0:.2f} | {secs:.2f} |"
            f" {1e6 * secs / timed:.0f} | {100 * secs / wall:.0f}% | {recorder.hits.get(name, 0) / n_prof:.1f} |"
        )
    print(
        f"| the store's Python in the transaction | | | {python:.2f} | {1e6 * python / timed:.0f} |"
        f" {100 * python / wall:.0f}% | |"
    )
    rest = "the handler's judging and projecting, the commit and the rest" if args.handler else "commit and the rest"
    print(f"| {rest} of {how} | | | {commit:.2f} | {1e6 * commit / timed:.0f} | {100 * commit / wall:.0f}% | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
