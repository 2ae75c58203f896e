#!/usr/bin/env bash
# Installs the Debian packages Neuromod builds, runs and tests with, if any is missing.
# Usage: scripts/install-deps.sh [--test]   (--test adds what only the test suite needs)
set -euo pipefail
packages=(libsqlite3-dev libcurl4-openssl-dev libopenblas-dev zlib1g-dev libpq-dev dataset-fashion-mnist)
# The tests lint GET /metrics with promtool (Debian prometheus), drive the dashboard in headless
# Chromium (Debian chromium + chromium-driver) and start throwaway PostgreSQL servers (postgresql-15).
[ "${1:-}" = "--test" ] && packages+=(prometheus chromium chromium-driver postgresql-15)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi
