"""The embedded ingest on two processes: each prepares every other batch (parse, judge, project) while the other
stores its own, and the batches are stored in input order, so the outcome is the one process's.

The second process is forked when the input has a second batch; it opens the store again
(:meth:`graph.store.GraphStore.reopen`) and never touches the first process's connection. Only lines go to it and
only each batch's outcome comes back (counts, findings, dead letters): graph changes never cross between the two.
With each turn goes what the store's last batch recorded in its flow aggregates (pseudonyms and unit ids: Memory).

Memory. A store object remembers between its batches what it knows is recorded (the SQLite store: each person's
months and units in the flow aggregates), and forgets it when another connection wrote. The two processes hand each
other, with the turn, what their last batch taught their store (:meth:`graph.store.GraphStore.handoff`), so that
each goes on as one process would; the store takes it only if that batch is the only one written in between.

Order. Batch k+1 is stored once batch k is: the process holding k+1 waits for word that k is committed, and that
word names the people whose records batch k changed that a judgement reads (its consent and erasure events, and under
a policy with retention periods in days, their data such a period covers: :attr:`streams.handler.Prepared.touched`).
Batch k+1 was judged against the store as it was while k was being written, so those people's events in it are
judged again, against the store as it is now, before it is stored (:meth:`streams.handler.Handler.commit`): the
findings are those of one process taking the batches in turn. Everything else a batch's writing decides
(duplicates, erasures, cut-offs) is read inside its own write transaction, after the one before it.

Channels. Chunks go to the second process on a queue and outcomes come back on another (each written by a thread of
its own, so that neither process waits while a chunk of lines or an outcome is sent). The turns go on a pipe, written
at once by the process that gives the turn: every turn is on the ingest's critical path (the other process waits for
it to store), and a queue's thread must first get the interpreter from the process's main thread, which is busy
letting go of the batch it has just stored; that delayed each turn by 10-30 ms (bench/RESULTS.md, 2026-12-04
18:48-19:20 UTC). A turn larger than the pipe holds (a handoff of hundreds of kilobytes) waits for its reader, who
reads it as soon as its own chunk is prepared.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from graph.store import GraphStore
from streams.handler import Handler
from streams.ingest_chunks import Chunk, ChunkOutcome, commit_chunk, prepare_chunk

_log = logging.getLogger(__name__)
_JOIN_SECONDS = 30.0


class SecondProcessFailed(RuntimeError):
    """The ingest's second process stopped with an error that could not be passed on as it was."""


def _receive(inbox: Any, parent: int) -> Any:
    """The next chunk from the first process; when that process has gone (killed, say), this one ends at once:
    nobody is left to tell, and what it had not committed is rolled back by SQLite."""
    while True:
        try:
            return inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                os._exit(1)


def _receive_turn(turns: Connection, parent: int) -> Any:
    """The next turn from the first process (see :func:`_receive`)."""
    while not turns.poll(1.0):
        if os.getppid() != parent:
            os._exit(1)
    return turns.recv()


def _helper(
    handler: Handler,
    reopen: Callable[[], GraphStore],
    origin: str,
    inbox: Any,
    outbox: Any,
    turns: Connection,
    parent: int,
) -> None:
    """The second process: for each chunk sent, prepare it, wait for its turn, store it, send back its outcome."""
    store: GraphStore | None = None
    try:
        store = reopen()
        own = handler.for_store(store)
        while True:
            chunk = _receive(inbox, parent)
            if chunk is None:
                return
            read = prepare_chunk(chunk, own, origin)
            recheck, handoff = _receive_turn(turns, parent)  # the chunk before this one is stored
            store.receive_handoff(handoff)
            out = commit_chunk(read, own, origin, recheck)
            # the turn back first, written at once (what the first process needs before it stores), then the outcome
            turns.send(("turn", (out.touched, store.handoff())))
            outbox.put(("done", out))
            del read
            gc.collect(1)
    except BaseException as exc:  # noqa: BLE001 - passed on to the first process, which raises it
        try:
            blob = pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled is described instead
            blob = pickle.dumps(SecondProcessFailed(f"{type(exc).__name__} in the ingest's second process"))
        # on both channels: the first process waits on one of them (small; the turn's channel is written at once)
        outbox.put(("error", blob))
        with contextlib.suppress(OSError):
            turns.send(("error", blob))
    finally:
        if store is not None:
            store.close()


def ingest_in_pair(
    pieces: Iterator[Chunk],
    handler: Handler,
    origin: str,
    deliver: Callable[[ChunkOutcome], None],
    collect: Callable[[], object],
) -> None:
    """Ingest the chunks, every other one in a second process when there are two or more and the store can be
    reopened; ``deliver`` gets each chunk's outcome in input order."""
    own = next(pieces, None)
    theirs = next(pieces, None) if own is not None else None
    reopen = handler.store.reopener() if theirs is not None else None
    if own is None or theirs is None or reopen is None:
        for chunk in itertools.chain((c for c in (own, theirs) if c is not None), pieces):
            deliver(commit_chunk(prepare_chunk(chunk, handler, origin), handler, origin))
            collect()
        return
    context = multiprocessing.get_context("fork")
    inbox, outbox = context.Queue(), context.Queue()
    turns, helper_turns = context.Pipe()
    helper = context.Process(
        target=_helper, args=(handler, reopen, origin, inbox, outbox, helper_turns, os.getpid()), daemon=True
    )
    helper.start()
    helper_turns.close()
    waiting = False  # the helper holds the chunk just before ``own``

    def ended() -> SecondProcessFailed:
        return SecondProcessFailed(
            f"the ingest's second process ended (status {helper.exitcode}) before its batch was stored"
        )

    def receive(expected: str) -> Any:
        while True:
            try:
                if expected == "turn":
                    if not turns.poll(1.0):
                        raise queue.Empty
                    kind, value = turns.recv()
                else:
                    kind, value = outbox.get(timeout=1.0)
                break
            except queue.Empty:
                if not helper.is_alive():
                    raise ended() from None
            except EOFError:  # the helper's end of the pipe closed: it has ended
                helper.join(_JOIN_SECONDS)
                raise ended() from None
        if kind == "error":
            raise pickle.loads(value)  # noqa: S301 - from our own forked process
        if kind != expected:
            raise SecondProcessFailed(f"the ingest's second process sent {kind!r} where {expected!r} was expected")
        return value

    def turn() -> frozenset[str]:
        """Wait for the helper to have stored its chunk; take its handoff; the people to judge again."""
        touched, handoff = receive("turn")
        handler.store.receive_handoff(handoff)
        return frozenset(touched)

    try:
        while own is not None:
            if theirs is not None:
                inbox.put(theirs)
            read = prepare_chunk(own, handler, origin)
            recheck = turn() if waiting else frozenset[str]()
            mine = commit_chunk(read, handler, origin, recheck)
            if theirs is not None:  # the helper's turn, before anything else, written at once
                try:
                    turns.send((mine.touched, handler.store.handoff()))
                except OSError:  # the helper has ended: raise the error it sent on the pipe, or that it ended
                    receive("turn")
                    raise ended() from None
            if waiting:  # the outcomes in input order: the helper's chunk came before this one
                deliver(receive("done"))
            deliver(mine)
            waiting = theirs is not None
            del read
            collect()
            own = next(pieces, None)
            theirs = next(pieces, None) if own is not None else None
        if waiting:
            turn()
            deliver(receive("done"))
        inbox.put(None)
        helper.join(_JOIN_SECONDS)
    finally:
        if helper.is_alive():
            helper.kill()
            helper.join()
        inbox.close()
        outbox.close()
        turns.close()
