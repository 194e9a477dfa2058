"""When the cyclic garbage collector runs while batches are processed: between batches, not while one is held.

A batch keeps thousands of parsed events and their graph changes alive until it is stored, and the collector,
triggered by allocations, traverses them (and, in its oldest generation, everything the process holds) again and
again while the batch is built and written. Both runners pause it for a batch and collect the young generations once
the batch is done: :func:`collector_between_batches` for ``lineage ingest``, :func:`collector_paused` for each batch
of a Kafka worker.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def collector_between_batches() -> Iterator[Callable[[], object]]:
    """Pause automatic cyclic garbage collection; yield what to call between batches to collect then instead.

    A batch keeps thousands of parsed events and their graph changes alive until it is applied, and the collector,
    triggered by allocations, traverses them again and again while the batch is built: about a fifth of the CPU of
    an ingest on the bench. :func:`streams.embedded.ingest_lines` collects the young generations right after each
    batch is applied, when its events and changes are gone (collecting while a batch is held traverses all of it:
    on the bench that was ~0.4 s of a ~7 s ingest), and after every batch's worth of rejected lines (each leaves
    garbage in a cycle), so that input that is mostly rejected is collected as it comes. Trade-off: the pause is
    process-wide, so other threads of the process (there are none in ``lineage ingest``) see no automatic
    collection while an ingest runs. When the caller had already disabled the collector, it stays disabled and
    nothing is collected.
    """
    if not gc.isenabled():
        yield lambda: None
        return
    gc.disable()
    try:
        yield lambda: gc.collect(1)
    finally:
        gc.enable()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause automatic cyclic garbage collection for one batch of a Kafka worker; collect the young generations when
    the batch is done, then resume it.

    In a worker with batches of 5,000 events the collector took 36 % of the worker's CPU (some 250 collections of
    the older generations per worker in a bench run, 21 of them full, each traversing the held batch and what Faust
    and the driver keep); paused per batch, 11 %, and the workers' CPU per event 0.73-0.79x (bench/RESULTS.md,
    "2026-12-04 21:34-23:10 UTC"). The pause is process-wide (the event loop, which
    fetches and decodes the next batch meanwhile, and the thread that writes the batch), and automatic collection
    comes back between batches. When the caller had already disabled the collector, it stays disabled and nothing is
    collected. A batch held through a store outage is retried inside the pause: :func:`streams.agents.retrying`
    collects the young generations at each failed try, so that a long outage does not pile up garbage.
    """
    with collector_between_batches() as collect:
        try:
            yield
        finally:
            collect()
