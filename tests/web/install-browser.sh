#!/usr/bin/env bash
# Debian's Chromium, its WebDriver and fonts for the browser tests of the web console (tests/web/test_page.py).
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver are there. Needs root (or sudo).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-browser.sh: need root to apt-get install chromium chromium-driver" >&2; exit 1
  fi
fi
echo "install-browser.sh: installing Debian's chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-liberation fonts-dejavu-core >/dev/null
/usr/bin/chromium --version >&2 || true
