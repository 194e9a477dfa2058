"""Text renderings of answers for the terminal (the JSON forms are the models' own dumps).

Names come from events, so from anyone who can send one: each line goes through ``printable``, so that an ANSI or
OSC escape in a recipient's name is shown as ``\x1b...`` instead of driving the terminal, and a line break in a
value cannot fake a line of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from graph.changes import Tombstone
from reports.escaping import printable
from reports.vocab import Vocabulary
from schemas.answers import Alert, PersonAlert, WhoHas


def _lines(out: list[str]) -> str:
    return "\n".join(printable(line) for line in out) + "\n"


def _day(value: object) -> str:
    return str(value)[:19].replace("T", " ")


def _erased(erasures: Sequence[Tombstone]) -> list[str]:
    return [
        f"Erased as of {_day(t.erased_at)} UTC (erasure event {t.event_id}"
        + (f", reason: {t.reason}" if t.reason else "")
        + f"); recipients told or to tell (Art. 19): {', '.join(t.recipients) if t.recipients else 'none'}."
        for t in erasures
    ]


def who_has_text(
    answer: WhoHas,
    alerts: Sequence[PersonAlert] = (),
    erasures: Sequence[Tombstone] = (),
    vocab: Vocabulary | None = None,
) -> str:
    """The answer for a terminal: categories and recipients with their labels, flows an alert marks as UNDECLARED,
    the person's erasures, and the alerts that concern them (counted for this person)."""
    if not answer.categories:
        if erasures:
            return _lines([f"No data is recorded for {answer.subject}: the person was erased.", *_erased(erasures)])
        return _lines([f"No data is recorded for {answer.subject}."])
    category = (lambda k: f"{vocab.category(k).label} ({k})") if vocab else (lambda k: k)
    purpose = (lambda k: f"{vocab.purpose(k).label} ({k})") if vocab else (lambda k: k)
    used = {(a.category, a.purpose) for a in alerts if not a.recipient}
    # an alert on the category itself (never declared, or from an undeclared source or kind of person) marks the
    # category's own line: its purposes may all be declared
    whole = {a.category for a in alerts if not a.recipient and not a.purpose}
    to = {a.recipient for a in alerts if a.recipient}
    out = [f"Data held about {answer.subject}" + (f" ({answer.subject_type})" if answer.subject_type else "") + ":"]
    out += _erased(erasures)
    out += ["", f"Categories ({len(answer.categories)}):"]
    for c in answer.categories:
        out.append(
            f"  - {category(c.category)}  [{', '.join(c.roles)}]  {c.event_count} event(s), "
            f"{_day(c.first_seen)} .. {_day(c.last_seen)}" + ("  UNDECLARED" if c.category in whole else "")
        )
        if c.sources:
            out.append("      from: " + ", ".join(f"{s.type}" + (f" ({s.name})" if s.name else "") for s in c.sources))
        if c.purposes:
            marked = [purpose(p) + (" UNDECLARED" if (c.category, p) in used else "") for p in c.purposes]
            out.append("      for:  " + ", ".join(marked))
        if c.kept_until:
            out.append("      kept: " + c.kept_until)
    out.append("")
    if not answer.recipients:
        out.append("Recipients: none recorded.")
    else:
        out.append(f"Recipients ({len(answer.recipients)}):")
        for r in answer.recipients:
            where = f", {r.country}" if r.country else ""
            flag = "  UNDECLARED" if r.id in to else ""
            out.append(f"  - {r.name} ({r.type}{where}) id={r.id}{flag}")
            out.append(f"      received: {', '.join(category(c) for c in r.categories)}")
            out.append(f"      for:      {', '.join(purpose(p) for p in r.purposes)}")
            out.append(
                f"      when:     {_day(r.first_shared_at)} .. {_day(r.last_shared_at)} ({len(r.event_ids)} event(s))"
            )
    if alerts:
        out += ["", f"Undeclared flows ({len(alerts)} alert(s); counts are this person's events):"]
        names = {r.id: r.name for r in answer.recipients}
        for a in alerts:  # in words, as the lists above name them (the keys in brackets)
            target = f" -> {names.get(a.recipient, a.recipient)} ({a.recipient_type})" if a.recipient else ""
            what = f" for {purpose(a.purpose)}" if a.purpose else ""
            out.append(f"  - [{a.severity.upper()}] {a.rule}: {category(a.category)}{what}{target}  x{a.person_events}")
            out.append(f"      {a.reason} (alert {a.alert_id}, {a.status})")
    return _lines(out)


def alerts_text(alerts: list[Alert]) -> str:
    if not alerts:
        return "No alerts.\n"
    out = []
    for a in alerts:
        target = f" -> {a.recipient} ({a.recipient_type})" if a.recipient else ""
        purpose = f" for {a.purpose}" if a.purpose else ""
        out.append(
            f"[{a.severity.upper()}] {a.rule}  {a.category}{purpose}{target}  x{a.count}  ({a.status}, id {a.alert_id})"
        )
        out.append(f"    {a.reason}")
        if a.clause_text:
            text = " ".join(a.clause_text.split())  # a clause quoted over several lines, on one
            quote = text if len(text) < 200 else text[:197] + "..."
            out.append(f"    policy {a.policy_version}, {a.clause_section}: \u201c{quote}\u201d")
        else:
            out.append(f"    policy {a.policy_version}: no clause declares this")
        more = a.count - min(len(a.event_ids), 3)
        shown = ", ".join(a.event_ids[:3]) + (f" (+{more} more: lineage evidence {a.alert_id})" if more > 0 else "")
        out.append(f"    events: {shown}")
    return _lines(out)
