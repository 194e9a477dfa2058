"""``bench.profiling.CpuTrace`` and ``bench.common.sustained_window``: how ``python -m bench ingest`` reads Neo4j's CPU
inside each measurement's sustained window, the start and the tail left out."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.common import sustained_rate, sustained_window
from bench.profiling import CpuTrace


def test_the_sustained_window_is_where_10_and_90_percent_were_done() -> None:
    marks = [(0.0, 0), (5.0, 0), (6.0, 100), (8.0, 500), (9.0, 1000)]  # a slow start, then batches
    t_a, t_b = sustained_window(marks, 1000)
    assert t_a == pytest.approx(6.0)  # 100 done at 6.0
    assert t_b == pytest.approx(8.8)  # 900: four fifths of the way from 500 at 8.0 to 1000 at 9.0
    assert sustained_rate(marks, 1000) == pytest.approx(800 / 2.8)


def test_a_trace_gives_a_process_s_cpu_inside_a_span_and_not_outside_it() -> None:
    code = (
        "import time\n"
        "time.sleep(0.6)\n"
        "a = time.perf_counter()\n"
        "while time.perf_counter() - a < 0.8: pass\n"
        "b = time.perf_counter()\n"
        "time.sleep(0.6)\n"
        "print(a, b)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)  # noqa: S603
    with CpuTrace(child.pid, every=0.02) as trace:
        out, _ = child.communicate(timeout=30)
    a, b = map(float, out.split())
    busy = trace.between(a, b)
    assert busy == pytest.approx(0.8, abs=0.15)  # the spin, to a few clock ticks
    assert trace.between(b + 0.05, b + 0.5) < 0.05  # asleep after it
    assert trace.between(trace.times[0] - 1, trace.times[-1] + 1) == pytest.approx(trace.cpu[-1] - trace.cpu[0])
