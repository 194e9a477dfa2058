"""The audit trail's integrity: truncation, deletion, edit and a rebuilt chain are all detected (by
GET /api/audit/verify and `lineage audit verify`); a torn last line is quarantined (503) until `lineage audit repair`;
a trail written before the audit key existed is continued once its unkeyed chain checks."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from lineage.cli import main
from lineage.web.audit import AuditBroken, AuditLog, AuditTorn
from lineage.web.audit_chain import seal
from lineage.web.tokens import Principal, Role
from tests.conftest import TEST_AUDIT_KEY
from tests.web.conftest import Site, World

DPO = Principal("alice", Role.DPO)


def _trail(tmp_path: Path, entries: int = 6) -> AuditLog:
    trail = AuditLog(tmp_path / "logs" / "audit.jsonl", TEST_AUDIT_KEY, tmp_path / "keys" / "audit.head")
    for i in range(entries):
        trail.record(
            DPO,
            action="who-has",
            endpoint="GET /api/subjects/{subject_id:path}",
            returned={"categories": i},
            subject=f"p_{i:040x}",
        )
    return trail


def _lines(trail: AuditLog) -> list[str]:
    return trail.path.read_text(encoding="utf-8").splitlines()


def _write(trail: AuditLog, lines: list[str]) -> None:
    trail.path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _rechained(lines: list[str], key: bytes | None) -> list[str]:
    """What someone without the audit key can do after removing a line: renumber and recompute every link, with
    the trail's first format (plain SHA-256, no MAC) or with a key of their own."""
    out, prev = [], "0" * 64
    for seq, line in enumerate(lines, start=1):
        doc = json.loads(line)
        doc.pop("mac", None)
        doc["seq"], doc["prev"] = seq, prev
        body = json.dumps(doc, separators=(",", ":"))
        if key is None:
            out.append(body)
            prev = hashlib.sha256(body.encode()).hexdigest()
        else:
            out.append(seal(body, key))
            prev = json.loads(out[-1])["mac"]
    return out


def test_an_untouched_trail_verifies_and_its_head_counts_every_entry(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    found = trail.verify()
    assert (found.ok, found.entries, found.head_entries, found.first_broken, found.problem) == (True, 6, 6, None, None)
    assert found.last_mac == json.loads(_lines(trail)[-1])["mac"]
    assert oct(trail.path.stat().st_mode & 0o777) == oct(trail.head_path.stat().st_mode & 0o777) == "0o600"


def test_an_entry_written_while_the_trail_is_verified_is_no_alarm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from lineage.web import audit_chain

    trail = _trail(tmp_path)
    read_head = audit_chain.read_head
    writer: list[threading.Thread] = []

    def head_after_a_write(path: Path, key: bytes) -> object:
        if writer:  # the writer's own reads
            return read_head(path, key)
        # another request records an entry between verify's read of the lines and its read of the head
        what = {"action": "who-has", "endpoint": "GET /x", "returned": {}}
        t = threading.Thread(target=trail.record, args=(DPO,), kwargs=what)
        t.start()
        writer.append(t)
        t.join(timeout=0.5)  # long enough to land, were the trail not locked
        return read_head(path, key)

    monkeypatch.setattr(audit_chain, "read_head", head_after_a_write)
    result = trail.verify()
    monkeypatch.setattr(audit_chain, "read_head", read_head)
    writer[0].join()
    assert result.ok, result.problem
    assert result.entries == 6
    assert trail.verify().entries == 7  # the write went through once verify let go


def test_truncation_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    _write(trail, _lines(trail)[:4])  # the last two entries cut off: the rest still chains perfectly
    found = trail.verify()
    assert not found.ok and found.entries == 4 and found.first_broken == 5
    assert found.problem is not None and "2 entries were removed from the end" in found.problem
    with pytest.raises(AuditBroken, match="removed from the end"):
        trail.record(DPO, action="who-has", endpoint="GET /x", returned={})
    assert len(_lines(trail)) == 4  # nothing appended to a trail that does not verify


def test_a_second_trail_on_the_first_ones_head_is_refused_and_the_message_says_why(tmp_path: Path) -> None:
    first = _trail(tmp_path, entries=2)
    second = AuditLog(tmp_path / "elsewhere" / "audit.jsonl", TEST_AUDIT_KEY, first.head_path)
    with pytest.raises(AuditBroken, match=r"or that head is another trail's \(two trails need two heads"):
        second.record(DPO, action="who-has", endpoint="GET /x", returned={})
    assert first.verify().ok  # the first trail is untouched


def test_deletion_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    lines = _lines(trail)
    _write(trail, lines[:2] + lines[3:])
    found = trail.verify()
    assert not found.ok and found.first_broken == 3 and "a line was removed" in (found.problem or "")


def test_an_edit_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    lines = _lines(trail)
    lines[2] = lines[2].replace('"actor":"alice"', '"actor":"bob"')  # who looked someone up, changed
    _write(trail, lines)
    found = trail.verify()
    assert not found.ok and found.first_broken == 3 and "does not match its MAC" in (found.problem or "")


@pytest.mark.parametrize("key", [None, b"\x01" * 32], ids=["unkeyed-sha256", "another-key"])
def test_a_rebuilt_chain_is_detected(tmp_path: Path, key: bytes | None) -> None:
    trail = _trail(tmp_path)
    lines = _lines(trail)
    _write(trail, _rechained(lines[:2] + lines[3:], key))  # one entry removed, the chain made whole again
    found = trail.verify()
    assert not found.ok and found.first_broken == 1


def test_a_rebuilt_chain_of_the_first_format_is_not_taken_for_an_old_trail(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    _write(trail, _rechained(_lines(trail), None))  # every line rewritten unkeyed, nothing removed
    found = trail.verify()
    assert not found.ok and found.first_broken is not None and found.legacy_entries == 6


def test_the_cli_detects_the_four_tamperings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys" / "audit.key"
    key_file.parent.mkdir()
    key_file.write_text(TEST_AUDIT_KEY.hex() + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("LINEAGE_AUDIT_KEY_FILE", str(key_file))
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "logs" / "audit.jsonl"))

    def verify() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(["audit", "verify"], out, err), out.getvalue(), err.getvalue()

    trail = _trail(tmp_path)
    original = _lines(trail)
    code, out, _ = verify()
    assert code == 0 and out.startswith("ok: 6 entries; the head records 6; last MAC ")
    tamperings = {
        "truncated": original[:5],
        "deleted": original[:1] + original[2:],
        "edited": [*original[:3], original[3].replace('"categories":3', '"categories":0'), *original[4:]],
        "rebuilt": _rechained(original[:1] + original[2:], None),
    }
    detected = {}
    for name, lines in tamperings.items():
        _write(trail, lines)
        code, out, err = verify()
        detected[name] = code == 1 and out == "" and "does not verify" in err
    _write(trail, original)
    assert detected == dict.fromkeys(tamperings, True) and verify()[0] == 0
    out = io.StringIO()
    assert main(["audit", "verify", "--format", "json"], out, io.StringIO()) == 0
    assert json.loads(out.getvalue())["entries"] == 6


def test_a_torn_last_line_is_quarantined_until_repaired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trail = _trail(tmp_path, 3)
    whole = trail.path.read_bytes()
    torn = b'{"seq":4,"at":"2026-12-03T07:00:00Z","actor":"ali'
    trail.path.write_bytes(whole + torn)  # a write cut short by a crash or a full disk
    with pytest.raises(AuditTorn, match="lineage audit repair"):
        trail.record(DPO, action="who-has", endpoint="GET /x", returned={})
    with pytest.raises(AuditTorn):
        trail.entries()
    assert trail.verify().problem == "line 4 is incomplete (a write cut short): run lineage audit repair"
    repaired = trail.repair()
    assert repaired.quarantined is not None and repaired.quarantined.read_bytes() == torn
    assert repaired.quarantined_bytes == len(torn) and repaired.quarantined.stat().st_mode & 0o777 == 0o600
    assert repaired.verification.ok and trail.path.read_bytes() == whole
    assert trail.record(DPO, action="who-has", endpoint="GET /x", returned={}).seq == 4
    assert trail.repair().quarantined is None  # nothing more to do


def test_the_api_answers_503_while_the_trail_is_torn(client: TestClient, site: Site, world: World) -> None:
    url = f"/api/subjects/{quote(world.person, safe='')}"
    assert client.get(url, headers=site.auth("dpo")).status_code == 200
    with site.audit_path.open("ab") as fh:
        fh.write(b'{"seq":2,"at":"2026-')
    for path in (url, "/api/audit"):
        res = client.get(path, headers=site.auth("dpo"))
        assert res.status_code == 503 and "lineage audit repair" in res.json()["detail"]
        assert world.person not in res.text and "categories" not in res.text
    verified = client.get("/api/audit/verify", headers=site.auth("dpo")).json()
    assert not verified["ok"] and verified["first_broken"] == 2
    assert site.console.audit.repair().verification.ok
    assert client.get(url, headers=site.auth("dpo")).status_code == 200


def test_the_api_refuses_lookups_on_a_trail_cut_short(client: TestClient, site: Site, world: World) -> None:
    url = f"/api/subjects/{quote(world.person, safe='')}"
    for _ in range(3):
        assert client.get(url, headers=site.auth("dpo")).status_code == 200
    lines = site.audit_path.read_text().splitlines()
    site.audit_path.write_text("\n".join(lines[:2]) + "\n")
    res = client.get(url, headers=site.auth("dpo"))
    assert res.status_code == 503 and "does not verify" in res.json()["detail"] and world.person not in res.text
    verified = client.get("/api/audit/verify", headers=site.auth("dpo")).json()
    assert (verified["ok"], verified["entries"], verified["head_entries"]) == (False, 2, 3)


def _legacy_trail(path: Path, entries: int) -> list[str]:
    """A trail as the first format wrote it: each line the SHA-256 of the one before, no MAC, no head."""
    lines, prev = [], "0" * 64
    for seq in range(1, entries + 1):
        line = json.dumps(
            {
                "seq": seq,
                "at": "2026-11-01T10:00:00Z",
                "actor": "alice",
                "role": "dpo",
                "action": "who-has",
                "endpoint": "GET /api/subjects/{subject_id:path}",
                "client": "api",
                "subject": f"p_{seq:040x}",
                "target": None,
                "returned": {"categories": 1},
                "prev": prev,
            },
            separators=(",", ":"),
        )
        lines.append(line)
        prev = hashlib.sha256(line.encode()).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(x + "\n" for x in lines))
    return lines


def test_a_trail_of_the_first_format_is_checked_then_continued_under_the_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    old = _legacy_trail(path, 3)
    trail = AuditLog(path, TEST_AUDIT_KEY, tmp_path / "keys" / "audit.head")
    assert trail.verify().ok and trail.verify().legacy_entries == 3  # no head yet: not continued under a key
    assert trail.record(DPO, action="who-has", endpoint="GET /x", returned={}).seq == 4
    found = trail.verify()
    assert (found.ok, found.entries, found.legacy_entries, found.head_entries) == (True, 4, 3, 4)
    # from now on the old part is bound too: the first keyed line names the last old line's hash
    path.write_text("".join(x + "\n" for x in [old[0], old[2], *_lines(trail)[3:]]))
    assert trail.verify().first_broken == 2


def test_a_broken_trail_of_the_first_format_is_not_continued(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    old = _legacy_trail(path, 3)
    path.write_text("".join(x + "\n" for x in [old[0], old[2]]))
    trail = AuditLog(path, TEST_AUDIT_KEY, tmp_path / "audit.head")
    with pytest.raises(AuditBroken, match="line 2 does not follow line 1"):
        trail.record(DPO, action="who-has", endpoint="GET /x", returned={})
    assert not (tmp_path / "audit.head").exists()


def test_a_lost_head_is_reported_and_a_new_one_signed_only_on_request(tmp_path: Path) -> None:
    trail = _trail(tmp_path, 2)
    trail.head_path.unlink()
    assert "head" in (trail.verify().problem or "") and not trail.verify().ok
    with pytest.raises(AuditBroken, match="missing"):
        trail.record(DPO, action="who-has", endpoint="GET /x", returned={})
    assert trail.repair().verification.ok is False
    repaired = trail.repair(new_head=True)
    assert repaired.new_head and repaired.verification.ok and repaired.verification.head_entries == 2


def test_the_trail_holds_only_the_actions_of_its_one_table(tmp_path: Path) -> None:
    from lineage.audit_actions import ACTIONS

    trail = _trail(tmp_path, entries=0)
    # the actions the last sessions added (Art. 19 notices) and every per-person report are in the table
    assert {"notice-ack", "notify-art19", "subject-notices", "notify-list", "report:access", "report:art19"} <= set(
        ACTIONS
    )
    with pytest.raises(ValueError, match="unknown audit action 'who-had'"):
        trail.record(DPO, action="who-had", endpoint="GET /x", returned={})
    assert not trail.path.exists() or not _lines(trail)  # nothing written
