#!/usr/bin/env bash
# Set up everything (environment, services, browser), check style and types, and run the
# whole test suite. The README's second command; `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
echo "[test] ruff check, ruff format --check, mypy" >&2
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
scripts/services.sh up
scripts/browser.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: the set-up is broken" >&2
  exit 1
fi
exit "$rc"
