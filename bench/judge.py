"""The alerter's CPU per event, in process: `python -m bench.judge [--people N] [--days D] [--repeats R] [--profile]`.

What `lineage alerter` does with each batch once aiokafka has handed it the messages, without Kafka or any server:
the simulator's events (as measurement 4 emits them: ``--people`` x ``--days``, seed ``--seed``) encoded once as the
wire's bytes, cut into batches of ``--batch`` (the alerter's 500), each parsed (``parse_messages``) and judged
(``AlertJudge.findings``: the policy's rules, consent and erasures, the transfer and new-recipient rules, as the
alerter's handler is built by ``lineage.wiring.build_handler``), over an empty SQLite store (the alerter reads the
store only in bulk, between batches). No recipient registry, as in measurement 4 (``--registry``: the simulated
world's). One pass warms up the judgement's memos, as a running alerter's are; then ``--repeats`` passes, each with a
new AlertJudge (so every pass sees the same new recipients), each timed with the process's CPU clock: parse and judge
apart. Prints the CPU microseconds per event of each (median of the passes, min-max), the findings per rule and a
digest of every finding (equal digests: equal answers, so two versions of the code can be compared on the same
events; ``--lines FILE`` reads the events from a JSON-lines file instead of simulating them). ``--profile`` runs
one more pass under cProfile and prints the functions by their own time. Records nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import KEY, dataset
from config import Settings
from lineage.wiring import build_handler
from streams.alerts.judge import AlertJudge

try:
    from streams.messages import RawMessage, parse_messages
except ImportError:  # older layouts of the code (A/B against an earlier commit)
    from streams.agents import RawMessage, parse_messages  # type: ignore[attr-defined,no-redef]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.judge", description=__doc__.split("\n\n")[0])
    p.add_argument("--people", type=int, default=1000, help="simulated people (default 1,000)")
    p.add_argument("--days", type=int, default=6, help="simulated days (default 6, as measurement 4)")
    p.add_argument("--seed", type=int, default=2, help="simulator seed (default 2, as measurement 4's)")
    p.add_argument("--lines", type=Path, help="read the events from this JSON-lines file instead of simulating")
    p.add_argument("--batch", type=int, default=500, help="events per batch (default 500, the alerter's)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes (default 5)")
    p.add_argument("--registry", action="store_true", help="judge with the simulated world's recipient registry")
    p.add_argument("--profile", action="store_true", help="one more pass under cProfile: functions by own time")
    return p


def _messages(lines: Sequence[str], batch: int) -> list[list[RawMessage]]:
    raw = [RawMessage(line.encode(), "events", 0, offset) for offset, line in enumerate(lines)]
    return [raw[i : i + batch] for i in range(0, len(raw), batch)]


def _settings(folder: Path, registry: bool) -> Settings:
    env = {"LINEAGE_STORE": f"sqlite:///{folder / 'judge.db'}", "LINEAGE_PSEUDONYM_KEY": KEY}
    if registry:
        from lineage.simulator import registry_yaml

        path = folder / "registry.yaml"
        path.write_text(registry_yaml())
        env["LINEAGE_RECIPIENTS"] = str(path)
    return Settings.from_env(env)


def one_pass(handler: Any, batches: Sequence[Sequence[RawMessage]]) -> tuple[float, float, int, list[Any]]:
    """Parse and judge every batch with a new AlertJudge: (parse CPU-s, judge CPU-s, events judged, findings)."""
    judge = AlertJudge(handler, inline_refresh=False)
    judge.load()  # the store's consent and erasures, before the first batch (as the alerter does; untimed)
    clock = time.process_time
    parsing = judging = 0.0
    judged = 0
    findings: list[Any] = []
    for messages in batches:
        t0 = clock()
        valid, _ = parse_messages(messages, handler.taxonomy, handler.window)
        t1 = clock()
        found = judge.findings(valid)
        t2 = clock()
        parsing += t1 - t0
        judging += t2 - t1
        judged += len(valid)
        findings.extend(found)
    return parsing, judging, judged, findings


def digest(findings: Sequence[Any]) -> str:
    """A digest of every finding's fields, in the order they were raised (equal digests: equal answers)."""
    h = hashlib.sha256()
    for f in findings:
        h.update(repr(tuple(getattr(f, name) for name in f.__dataclass_fields__)).encode())
    return h.hexdigest()[:16]


def spread(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def profile(fn: Callable[[], object], top: int = 30) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.lines is not None:
        lines = args.lines.read_text().splitlines()
        source = f"{len(lines):,} events from {args.lines.name}"
    else:
        data = dataset(args.people, args.days, args.seed)
        lines, source = data.lines, data.describe()
    batches = _messages(lines, args.batch)
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        handler = build_handler(_settings(Path(tmp), args.registry))
        one_pass(handler, batches)  # warm-up: the evaluator's memos fill as a running alerter's have
        runs = [one_pass(handler, batches) for _ in range(args.repeats)]
        prof = profile(lambda: one_pass(handler, batches)) if args.profile else ""
        handler.store.close()
    parse_us = [1e6 * p / n for p, _, n, _ in runs]
    judge_us = [1e6 * j / n for _, j, n, _ in runs]
    total_us = [1e6 * (p + j) / n for p, j, n, _ in runs]
    _, _, judged, findings = runs[-1]
    digests = {digest(f) for *_, f in runs}
    rules = Counter(f.rule for f in findings)
    registry = "simulated" if args.registry else "none"
    print(f"events: {source}; {judged:,} valid, batches of {args.batch}, registry: {registry}")
    print(f"passes: {args.repeats} after one warm-up; CPU us/event, median (min-max)")
    print(f"parse+judge us/event: {spread(total_us)}")
    print(f"parse us/event: {spread(parse_us)}")
    print(f"judge us/event: {spread(judge_us)}")
    print(f"findings: {len(findings):,} ({', '.join(f'{r} {n:,}' for r, n in sorted(rules.items()))})")
    print(f"digest: {', '.join(sorted(digests))}")
    if prof:
        print(prof)
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
