"""``bench.profiling.pin``, which ``python -m bench ingest --split-cores`` uses to give Neo4j a CPU of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _allowed(pid: int) -> set[str]:
    """The CPUs each thread of a process may run on, as the kernel lists them."""
    return {
        line.split(":", 1)[1].strip()
        for task in Path(f"/proc/{pid}/task").iterdir()
        for line in (task / "status").read_text().splitlines()
        if line.startswith("Cpus_allowed_list:")
    }


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_every_thread_of_a_process_and_those_it_starts_later_are_pinned() -> None:
    from bench.profiling import pin

    code = (
        "import threading, time, sys\n"
        "threads = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(3)]\n"
        "[t.start() for t in threads]\n"
        "sys.stdin.readline()\n"  # then one more thread, started after the pin
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while len(list(Path(f"/proc/{child.pid}/task").iterdir())) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        first = min(os.sched_getaffinity(0))
        assert pin(child.pid, {first}) == 4
        assert child.stdin is not None
        child.stdin.write(b"\n")
        child.stdin.flush()
        while len(list(Path(f"/proc/{child.pid}/task").iterdir())) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(list(Path(f"/proc/{child.pid}/task").iterdir())) == 5
        assert _allowed(child.pid) == {str(first)}
    finally:
        child.kill()
        child.wait()
