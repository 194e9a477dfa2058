"""Node examples under examples/: installed with `npm ci` from their committed lock file, once per lock file.

`npm ci` deletes and rewrites node_modules, which takes a while; the install is skipped when node_modules was made
from the same package-lock.json by the same Node (a stamp file inside node_modules, which git ignores). npm's
download cache is kept under .cache/npm (also ignored), so a clean clone downloads each package once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAMP = ".privacy-lineage-installed"


def require_node() -> tuple[str, str]:
    """The node and npm executables; skips without them locally, fails under CI (CI=true)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    message = "node and npm are needed for the examples under examples/ (Node 18 or later)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing tool is a failure, not a skip)")
    pytest.skip(message)


def run(
    argv: list[str], folder: Path, *, timeout: float = 300, env: dict[str, str] | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command in ``folder``; with ``ok``, fail the test when it exits non-zero (showing its output)."""
    done = subprocess.run(  # noqa: S603 - node and npm with fixed arguments
        argv, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    if ok and done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({done.returncode}) in {folder}:\n{done.stdout[-3000:]}\n{done.stderr}")
    return done


def installed(example: str) -> Path:
    """examples/<example> with its packages installed (`npm ci`, unless already done from this lock file) and
    built (`npm run build`)."""
    node, npm = require_node()
    folder = REPO / "examples" / example
    version = run([node, "--version"], folder).stdout.strip()
    lock = hashlib.sha256((folder / "package-lock.json").read_bytes() + version.encode()).hexdigest()
    stamp = folder / "node_modules" / STAMP
    if not stamp.is_file() or stamp.read_text() != lock:
        cache = REPO / ".cache" / "npm"
        run([npm, "ci", "--no-audit", "--no-fund", "--cache", str(cache)], folder, timeout=600)
        stamp.write_text(lock)
    run([npm, "run", "--silent", "build"], folder)
    return folder
