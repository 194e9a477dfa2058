"""Loading and checking policy files: every fault reported with its line and field, via `lineage policy check`."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from lineage.cli import main
from policies import DEFAULT_POLICY_FILE, SOURCE_DIR, PolicyFileError, load_policy


def broken(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled policy, beside a copy of its source, with one edit."""
    text = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    assert old in text
    if not (tmp_path / "source").exists():
        shutil.copytree(SOURCE_DIR, tmp_path / "source")
    target = tmp_path / "policy.yaml"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_unknown_taxonomy_key_is_reported_with_its_line(tmp_path: Path) -> None:
    path = broken(tmp_path, "data_categories: [user.content]\n", "data_categories: [user.contnet]\n")
    with pytest.raises(PolicyFileError) as info:
        load_policy(path)
    (problem,) = info.value.problems  # the readings of that field are not reported again
    assert problem.path == "collections[0].data_categories[0]"
    assert "user.contnet" in problem.message and "data category" in problem.message
    assert problem.line == line_of(path, "user.contnet")


def test_malformed_entry_and_unknown_field(tmp_path: Path) -> None:
    path = broken(
        tmp_path, "    recipient_types: [affiliate]\n", "    recipient_types: [affiliates]\n    colour: blue\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert main(["policy", "check", str(path)], out, err) == 1
    report = err.getvalue()
    assert f"line {line_of(path, '[affiliates]')}, disclosures[5].recipient_types[0]:" in report
    assert f"line {line_of(path, 'colour: blue')}, disclosures[5].colour: unknown field" in report
    assert "2 problem(s)" in report
    assert out.getvalue() == ""


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = broken(tmp_path, 'version: "2024.2"\n', 'version: ["2024.2"\n')
    with pytest.raises(PolicyFileError) as info:
        load_policy(path)
    assert "not valid YAML" in str(info.value)
    assert info.value.problems[0].line is not None


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["policy", "check", str(tmp_path / "nope.yaml")], io.StringIO(), err) == 1
    assert "cannot read" in err.getvalue()


def test_custom_key_with_unknown_parent(tmp_path: Path) -> None:
    path = broken(tmp_path, "    - key: operations.business_transfer\n", "    - key: nosuch.business_transfer\n")
    with pytest.raises(PolicyFileError) as info:
        load_policy(path)
    assert "nosuch" in str(info.value)
