"""The pseudonym key: hex of at least 16 bytes, created 0600 in a 0700 directory, a warning when others can read it."""

from __future__ import annotations

import io
import logging
import stat
from pathlib import Path

import pytest

from graph.pseudonym import MIN_KEY_BYTES, PseudonymKeyError, key_from_text, load_or_create_key_file
from lineage.cli import main


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("0123abcd", "4 bytes (8 hex digits)"),  # once taken as 8 ASCII bytes, then 16 in padded forms
        ("0123456789abcdef", "8 bytes (16 hex digits)"),  # once accepted as 16 ASCII bytes
        ("ab" * (MIN_KEY_BYTES - 1), "15 bytes"),
        ("correct horse battery staple", "not hexadecimal"),
        ("abc", "not hexadecimal"),  # an odd number of digits
    ],
)
def test_short_empty_or_non_hex_keys_are_refused_without_quoting_them(text: str, why: str) -> None:
    with pytest.raises(PseudonymKeyError) as caught:
        key_from_text(text, origin="LINEAGE_PSEUDONYM_KEY")
    message = str(caught.value)
    assert why in message and "LINEAGE_PSEUDONYM_KEY" in message
    assert not text.strip() or text.strip() not in message


def test_a_key_of_16_bytes_or_more_is_its_bytes() -> None:
    assert key_from_text("ab" * MIN_KEY_BYTES) == b"\xab" * MIN_KEY_BYTES
    assert key_from_text(" " + "0f" * 32 + "\n") == b"\x0f" * 32


def test_a_new_key_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "privacy-lineage" / "pseudonym.key"
    key = load_or_create_key_file(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key_file(path) == key


def test_a_key_file_others_can_read_draws_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_text("cd" * 32 + "\n", encoding="utf-8")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="graph.pseudonym"):
        assert load_or_create_key_file(path) == b"\xcd" * 32
    assert [r.getMessage() for r in caplog.records] == [
        f"the pseudonym key file {path} is readable by others (mode 0644): run chmod 600 {path}"
    ]
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="graph.pseudonym"):
        load_or_create_key_file(path)
    assert caplog.records == []


@pytest.mark.parametrize(("content", "why"), [("", "is empty"), ("0123456789abcdef\n", "8 bytes")])
def test_the_cli_answers_a_bad_key_file_with_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, why: str
) -> None:
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text(content, encoding="utf-8")
    key_file.chmod(0o600)
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY_FILE", str(key_file))
    out, err = io.StringIO(), io.StringIO()
    code = main(["who-has", "alice@example.com", "--store", f"sqlite:///{tmp_path / 'l.db'}"], out, err)
    assert code == 2
    assert err.getvalue().startswith(f"lineage who-has: the pseudonym key file {key_file} ") and why in err.getvalue()


def test_the_cli_refuses_a_short_key_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "deadbeef")
    out, err = io.StringIO(), io.StringIO()
    assert main(["who-has", "alice@example.com", "--store", f"sqlite:///{tmp_path / 'l.db'}"], out, err) == 2
    assert "LINEAGE_PSEUDONYM_KEY is 4 bytes" in err.getvalue() and "deadbeef" not in err.getvalue()
