#!/usr/bin/env bash
# The test command: installs the project into .venv if needed, starts the real Kafka and Neo4j
# from docker/local/ (Maven jars cached under .cache/), runs the whole suite, stops what it started.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "tests/run.sh: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "tests/run.sh: installing privacy-lineage[dev,kafka,neo4j,bot] into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev,kafka,neo4j,bot]'
  rm -f .venv/.installed-* && touch "$stamp"
fi

# Kafka and Neo4j run from Maven jars: they need Java 17+ and mvn (installed by the machine image; else from Debian)
if [ "${LINEAGE_TEST_SERVICES:-yes}" != "no" ] && { ! command -v mvn >/dev/null || ! command -v java >/dev/null; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tests/run.sh: installing maven and a JDK from Debian" >&2
    apt-get update -qq && apt-get install -y -qq maven openjdk-17-jdk-headless >/dev/null
  else
    echo "tests/run.sh: mvn and java are needed to start Kafka and Neo4j (or set LINEAGE_TEST_SERVICES=no)" >&2
  fi
fi

# The examples under examples/ (producers in other languages) are tested with Node and npm (Debian's, when missing)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tests/run.sh: installing nodejs and npm from Debian" >&2
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "tests/run.sh: node and npm are needed for the tests of examples/ (under CI=true they fail without)" >&2
  fi
fi

# The web console's browser tests drive Debian's Chromium (installed once; a no-op when present)
if [ "${LINEAGE_TEST_BROWSER:-yes}" != "no" ]; then
  bash tests/web/install-browser.sh || echo "tests/run.sh: could not install Chromium; browser tests will not run" >&2
fi

started=()
cleanup() {
  for svc in "${started[@]}"; do
    bash "docker/local/$svc.sh" stop || echo "tests/run.sh: could not stop $svc" >&2
  done
}
trap cleanup EXIT

if [ "${LINEAGE_TEST_SERVICES:-yes}" != "no" ]; then
  for svc in kafka neo4j; do
    if [ -f "docker/local/$svc.sh" ]; then
      if bash "docker/local/$svc.sh" status >/dev/null 2>&1; then
        echo "tests/run.sh: $svc already running, using it" >&2
      else
        bash "docker/local/$svc.sh" start
        started+=("$svc")
      fi
    fi
  done
fi

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
exit $rc
