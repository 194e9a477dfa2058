"""Feedback on long work: a line on standard error for work over a second on a terminal, erased at the end; nothing
on a file or a pipe, and nothing for quick work."""

from __future__ import annotations

import io
import time

from lineage.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_phase_draws_a_bar_then_erases_it() -> None:
    err = _Tty()
    with Progress(err, delay=0.05) as p:
        p.phase("writing the evidence", total=200)
        p.advance(50)
        time.sleep(0.4)
        assert "writing the evidence [#######---------------------] 50/200" in err.getvalue()
        p.phase("writing the PDF")
        time.sleep(0.3)
    drawn = err.getvalue()
    assert "writing the PDF" in drawn
    assert drawn.endswith("\r") and drawn.split("\r")[-2].strip() == ""  # the last line drawn is blanked


def test_quick_work_and_non_terminals_get_nothing() -> None:
    quick = _Tty()
    with Progress(quick, delay=1.0) as p:
        p.phase("building the ropa report")
    assert quick.getvalue() == ""
    pipe = io.StringIO()
    with Progress(pipe, delay=0.0) as p:
        p.phase("writing the PDF")
        time.sleep(0.3)
    assert pipe.getvalue() == ""
